package engine_test

import (
	"context"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc/engine"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Waits with equal args but their own contexts are independent: one's
// cancel is not another's match (the worker's own WhenArgs shares a channel
// between them).
func TestWhenArgsWaitsAreIndependent(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	m := w.Index1("M")

	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	args := am.A{"id": "x", "list": []int{1, 2}}
	one := e.WhenArgs(m, args, ctx1)
	two := e.WhenArgs(m, args, ctx2)

	cancel1()
	<-one
	w.Add1("A", nil)
	require.False(t, closed(two), "another wait's cancel is no match")

	w.Add1("M", am.A{"id": "y", "list": []int{1, 2}})
	require.False(t, closed(two), "other args")
	w.Add1("B", am.A{"id": "x", "list": []int{1, 2}})
	require.False(t, closed(two), "other state")

	// a match: the multi state activated with args that include the wait's
	w.Add1("M", am.A{"id": "x", "list": []int{1, 2}, "more": 1})
	require.True(t, closed(two))
}
