package arpc_test

import (
	"context"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWorkerTimeSum(t *testing.T) {
	p := newPair(t, pairOpts{})
	p.rw.Add(am.S{"A", "E"}, nil) // A adds B
	p.rw.Add1("E", nil)           // multi: +2
	p.rw.Remove1("A", nil)

	sum := func(ticks ...uint64) uint64 {
		var s uint64
		for _, t := range ticks {
			s += t
		}
		return s
	}
	tests := []struct {
		name   string
		states am.S
		want   uint64
	}{
		{"all", nil, sum(p.worker.Time(nil)...)},
		{"some", am.S{"A", "B", "E"}, p.worker.Tick("A") + p.worker.Tick("B") +
			p.worker.Tick("E")},
		{"one", am.S{"E"}, p.worker.Tick("E")},
		{"untouched", am.S{"H"}, 0},
		{"unknown counts 0", am.S{"A", "Nope"}, p.worker.Tick("A")},
		{"empty", am.S{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, p.rw.TimeSum(tt.states))
		})
	}
	// sanity: the replica matches the worker's own ticks
	assert.Equal(t, uint64(2), p.rw.TimeSum(am.S{"A"}))
	assert.Equal(t, uint64(3), p.rw.TimeSum(am.S{"E"}))

	p.rw.Dispose()
	assert.Zero(t, p.rw.TimeSum(nil), "disposed")
}

func TestWorkerWhenTicksEq(t *testing.T) {
	p := newPair(t, pairOpts{pushInterval: time.Millisecond})
	ctx := context.Background()

	// already reached: closed at once
	select {
	case <-p.rw.WhenTicksEq("A", 0, ctx):
	default:
		t.Fatal("tick 0 is reached from the start")
	}

	// reached by the worker's own changes, pushed to the replica
	ch := p.rw.WhenTicksEq("A", 3, ctx)
	p.worker.Add1("A", nil) // 1
	select {
	case <-ch:
		t.Fatal("closed at tick 1")
	default:
	}
	p.worker.Remove1("A", nil) // 2
	p.worker.Add1("A", nil)    // 3
	waitCh(t, ch, "tick 3 of A")
	assert.Equal(t, uint64(3), p.rw.Tick("A"))

	// passing the value counts too ("or more")
	ch = p.rw.WhenTicksEq("E", 2, ctx)
	p.worker.Add1("E", nil) // 1
	p.worker.Add1("E", nil) // 3
	waitCh(t, ch, "E past 2")

	// ctx ends the wait
	cctx, cancel := context.WithCancel(ctx)
	ch = p.rw.WhenTicksEq("A", 100, cctx)
	cancel()
	waitCh(t, ch, "canceled wait")

	// an unknown state never matches: only ctx closes it, and the error is
	// kept
	cctx, cancel = context.WithCancel(ctx)
	ch = p.rw.WhenTicksEq("Nope", 1, cctx)
	select {
	case <-ch:
		t.Fatal("unknown state closed the channel")
	default:
	}
	require.Error(t, p.rw.LastErr())
	cancel()
	waitCh(t, ch, "canceled wait on an unknown state")
}
