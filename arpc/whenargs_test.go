package arpc_test

import (
	"context"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
)

func TestWhenArgsRemote(t *testing.T) {
	for _, combo := range []wireCombo{wireCombos[0], wireCombos[3]} {
		t.Run(combo.String(), func(t *testing.T) { whenArgsRemote(t, combo) })
	}
}

func whenArgsRemote(t *testing.T, combo wireCombo) {
	p := newPair(t, pairOpts{wire: &combo})
	ch := p.rw.WhenArgs("E", am.A{"id": 5}, nil)
	other := p.rw.WhenArgs("E", am.A{"id": 6}, nil)
	select {
	case <-ch:
		t.Fatal("closed before a match")
	default:
	}
	p.worker.Add1("E", am.A{"id": 5})
	waitCh(t, ch, "WhenArgs match")
	select {
	case <-other:
		t.Fatal("closed on other args")
	case <-time.After(50 * time.Millisecond):
	}

	// canceling the context closes the channel and the server subscription
	ctx, cancel := context.WithCancel(context.Background())
	ch2 := p.rw.WhenArgs("E", am.A{"id": 7}, ctx)
	cancel()
	waitCh(t, ch2, "canceled WhenArgs")

	// unknown state: reported, channel closed
	assert.NotNil(t, p.rw.WhenArgs("Nope", nil, nil))
	assert.Error(t, p.rw.LastErr())
}

// A WhenArgs wait survives a reconnect: a broken connection does not close
// it (that would read as a match), and a match after the client is back
// does.
func TestWhenArgsSurvivesReconnect(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(t, ctx)
	m := startMux(t, ctx, w, nil)
	p := newProxy(t, m.Addr)
	c := resilientClient(t, ctx, p.Addr(), "wa")
	startClient(t, c)

	ch := c.Worker.WhenArgs("E", am.A{"id": "mine"}, nil)
	awayWhile(t, p, c, func() {
		select {
		case <-ch:
			t.Fatal("a broken connection closed the wait")
		default:
		}
	})
	// the wait is registered again before the client is Ready
	require.Equal(t, am.Executed, c.Worker.Add1("A", nil))
	select {
	case <-ch:
		t.Fatal("closed without a match")
	default:
	}
	w.Add1("E", am.A{"id": "other"})
	w.Add1("E", am.A{"id": "mine"})
	waitCh(t, ch, "WhenArgs match after reconnect")
}

// A WhenArgs the server refuses keeps its sentinel across the wire.
func TestWhenArgsRefusalKeepsSentinel(t *testing.T) {
	p := newPair(t, pairOpts{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// the server holds at most 1,024 open waits per client
	for i := range 1024 {
		p.rw.WhenArgs("E", am.A{"n": i}, ctx)
		require.NoError(t, p.rw.LastErr(), "wait %d", i)
	}
	ch := p.rw.WhenArgs("E", am.A{"n": "one too many"}, ctx)
	waitCh(t, ch, "refused wait closed")
	require.ErrorIs(t, p.rw.LastErr(), arpc.ErrInvalidParams)
}
