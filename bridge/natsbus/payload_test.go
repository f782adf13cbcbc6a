package natsbus_test

import (
	"context"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge/natsbus"
)

type consumerHandlers struct{ got chan *arpc.ArgsPayload }

func (h *consumerHandlers) WorkerPayloadState(e *am.Event) {
	h.got <- arpc.ParseArgs(e.Args).Payload
}

// TestPayloads: payloads reach the consumers they are addressed to (or
// every one) on the payload subject.
func TestPayloads(t *testing.T) {
	s := startNATS(t, nil)
	w := newWorker(t, "pl")
	publish(t, connect(t, s.ClientURL()), w, nil)
	newConsumer := func(name string) (*natsbus.Client, chan *arpc.ArgsPayload) {
		m := am.New(context.Background(), ss.ConsumerSchema, nil)
		t.Cleanup(m.Dispose)
		got := make(chan *arpc.ArgsPayload, 4)
		_, err := m.HandlersBind(&consumerHandlers{got: got})
		require.NoError(t, err)
		return dial(t, connect(t, s.ClientURL()), "pl",
			&natsbus.ClientOpts{Name: name, Consumer: m}), got
	}
	c1, got1 := newConsumer("one")
	_, got2 := newConsumer("two")
	recv := func(ch chan *arpc.ArgsPayload, what string) *arpc.ArgsPayload {
		t.Helper()
		select {
		case p := <-ch:
			return p
		case <-time.After(5 * time.Second):
			t.Fatalf("no payload: %s", what)
			return nil
		}
	}
	w.Add1(ss.WorkerStates.SendPayload, arpc.Pass(&arpc.A{Id: c1.Id,
		Payload: &arpc.ArgsPayload{Name: "for-one", Data: "hi"}}))
	p := recv(got1, "addressed")
	assert.Equal(t, "for-one", p.Name)
	assert.Equal(t, "hi", p.Data)
	assert.Equal(t, "pl", p.Source)
	w.Add1(ss.WorkerStates.SendPayload, arpc.Pass(&arpc.A{
		Payload: &arpc.ArgsPayload{Name: "for-all", Data: []byte{1, 2}}}))
	assert.Equal(t, "for-all", recv(got1, "broadcast to one").Name)
	p = recv(got2, "broadcast to two")
	assert.Equal(t, "for-all", p.Name, "two never got for-one")
	assert.Equal(t, []byte{1, 2}, p.Data)
}
