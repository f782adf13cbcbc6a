package arpc_test

import (
	"context"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

// A consumer without WorkerPayload is refused up front, not found out by a
// panic when the first payload arrives.
func TestNewClientRefusesConsumerWithoutWorkerPayload(t *testing.T) {
	bad := am.New(context.Background(), am.Schema{"Other": {}}, nil)
	t.Cleanup(bad.Dispose)
	_, err := arpc.NewClient(context.Background(), "127.0.0.1:1", "c",
		testSchema, testNames, &arpc.ClientOpts{Consumer: bad})
	require.ErrorIs(t, err, arpc.ErrInvalidParams)
	require.ErrorContains(t, err, ss.ConsumerStates.WorkerPayload)
}

// A consumer set on the field after NewClient is checked per payload: the
// payload is dropped with an error on the client's machine, the client
// keeps working.
func TestPayloadToConsumerWithoutWorkerPayloadIsAnError(t *testing.T) {
	bad := am.New(context.Background(), am.Schema{"Other": {}}, nil)
	t.Cleanup(bad.Dispose)
	p := newPair(t, pairOpts{setup: func(_ *arpc.Server, c *arpc.Client) {
		c.Consumer = bad
	}})
	p.worker.Add1(ss.WorkerStates.SendPayload, arpc.Pass(&arpc.A{
		Name:    "p",
		Payload: &arpc.ArgsPayload{Name: "p", Data: 1},
	}))
	waitState(t, p.client.Mach, am.StateException)
	require.ErrorIs(t, p.client.Mach.Err(), arpc.ErrInvalidParams)
	require.Equal(t, am.Executed, p.rw.Add1("A", nil), "client still works")
}
