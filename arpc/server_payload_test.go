package arpc_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

// newPayloadConsumer returns a consumer machine and the channel its
// WorkerPayload activations are delivered to.
func newPayloadConsumer(t *testing.T) (*am.Machine, <-chan *arpc.ArgsPayload) {
	t.Helper()
	m := am.New(context.Background(), ss.ConsumerSchema,
		&am.Opts{Id: "consumer-" + t.Name()})
	t.Cleanup(m.Dispose)
	require.NoError(t, m.VerifyStates(ss.ConsumerStates.Names()))
	got := make(chan *arpc.ArgsPayload, 16)
	_, err := m.HandlersBindMaps(nil, map[string]am.HandlerFinal{
		ss.ConsumerStates.WorkerPayload + am.SuffixState: func(e *am.Event) {
			got <- arpc.ParseArgs(e.Args).Payload
		},
	})
	require.NoError(t, err)
	return m, got
}

// nextPayload returns the next payload of ch, failing the test after 5s.
func nextPayload(t *testing.T, ch <-chan *arpc.ArgsPayload) *arpc.ArgsPayload {
	t.Helper()
	select {
	case p := <-ch:
		require.NotNil(t, p)
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("timeout waiting for a payload")
		return nil
	}
}

func TestServerSendPayload(t *testing.T) {
	consumer, got := newPayloadConsumer(t)
	p := newPair(t, pairOpts{consumer: consumer})
	ctx := context.Background()

	sent := &arpc.ArgsPayload{Name: "blob", Data: []byte{1, 2, 3}}
	require.NoError(t, p.server.SendPayload(ctx, sent))
	assert.Equal(t, p.worker.Id(), sent.Source, "source filled in")
	assert.NotEmpty(t, sent.Token, "token filled in")

	pl := nextPayload(t, got)
	assert.Equal(t, "blob", pl.Name)
	assert.Equal(t, []byte{1, 2, 3}, pl.Data)
	assert.Equal(t, p.worker.Id(), pl.Source)
	assert.Equal(t, sent.Token, pl.Token, "the caller learns the token")

	// given Source and Token are kept; the payload struct may be reused
	sent = &arpc.ArgsPayload{Name: "n", Source: "me", Token: "tok", Data: 7}
	require.NoError(t, p.server.SendPayload(ctx, sent))
	sent.Data = 8
	pl = nextPayload(t, got)
	assert.Equal(t, "me", pl.Source)
	assert.Equal(t, "tok", pl.Token)
	assert.Equal(t, 7, pl.Data)

	// the payload went the worker's way: a SendPayload activation
	assert.Equal(t, uint64(3), p.worker.Tick(ss.WorkerStates.SendPayload))
}

func TestServerSendPayloadErrors(t *testing.T) {
	consumer, got := newPayloadConsumer(t)
	p := newPair(t, pairOpts{consumer: consumer})
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		payload *arpc.ArgsPayload
		want    error
	}{
		{"nil payload", context.Background(), nil, arpc.ErrInvalidParams},
		{"unencodable data", context.Background(),
			&arpc.ArgsPayload{Name: "fn", Data: func() {}}, arpc.ErrInvalidParams},
		{"canceled ctx", canceled, &arpc.ArgsPayload{Name: "late"},
			context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.server.SendPayload(tt.ctx, tt.payload)
			assert.ErrorIs(t, err, tt.want)
		})
	}
	// none of them reached the worker or the client
	assert.Zero(t, p.worker.Tick(ss.WorkerStates.SendPayload))
	require.NoError(t, p.server.SendPayload(context.Background(),
		&arpc.ArgsPayload{Name: "ok"}))
	assert.Equal(t, "ok", nextPayload(t, got).Name, "first to arrive")
}

func TestServerSendPayloadWithoutClient(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(t, ctx)
	s := startServer(t, ctx, w, nil)

	err := s.SendPayload(ctx, &arpc.ArgsPayload{Name: "nobody"})
	require.ErrorIs(t, err, arpc.ErrNoConn)

	// connected, then gone
	consumer, got := newPayloadConsumer(t)
	c := newClient(t, ctx, s.Addr, "c", &arpc.ClientOpts{Consumer: consumer})
	startClient(t, c)
	require.NoError(t, s.SendPayload(ctx, &arpc.ArgsPayload{Name: "hi"}))
	assert.Equal(t, "hi", nextPayload(t, got).Name)
	stopClient(t, c, s)
	err = s.SendPayload(ctx, &arpc.ArgsPayload{Name: "gone"})
	require.ErrorIs(t, err, arpc.ErrNoConn)

	// a stopped server
	s.Stop(false)
	err = s.SendPayload(ctx, &arpc.ArgsPayload{Name: "stopped"})
	require.ErrorIs(t, err, arpc.ErrNoConn)
	assert.Equal(t, uint64(1), w.Tick(ss.WorkerStates.SendPayload))
}

// Servers of one worker (a Mux) each reach their own client only.
func TestServerSendPayloadTargetsItsClient(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(t, ctx)

	m, log := startLoggedMux(t, ctx, w)

	// clients connect one after the other: server i serves client i
	var gots []<-chan *arpc.ArgsPayload
	for i := range 2 {
		consumer, got := newPayloadConsumer(t)
		gots = append(gots, got)
		c := newClient(t, ctx, m.Addr, fmt.Sprintf("c%d", i),
			&arpc.ClientOpts{Consumer: consumer})
		startClient(t, c)
		servers := log.list()
		require.Len(t, servers, i+1)
		waitState(t, servers[i].Mach, ss.SharedStates.HandshakeDone)
	}
	servers := log.list()
	s0, s1 := servers[0], servers[1]

	require.NoError(t, s0.SendPayload(ctx, &arpc.ArgsPayload{Name: "to0"}))
	require.NoError(t, s1.SendPayload(ctx, &arpc.ArgsPayload{Name: "to1"}))
	// payloads of a connection arrive in order: client 1's first payload
	// being its own proves it never got client 0's
	assert.Equal(t, "to0", nextPayload(t, gots[0]).Name)
	assert.Equal(t, "to1", nextPayload(t, gots[1]).Name)
	require.NoError(t, s0.SendPayload(ctx, &arpc.ArgsPayload{Name: "again0"}))
	assert.Equal(t, "again0", nextPayload(t, gots[0]).Name,
		"client 0 did not get client 1's")
}
