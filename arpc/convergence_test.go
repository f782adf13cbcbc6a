package arpc_test

import (
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
)

// waitEqual waits until the replica's time equals the worker's.
func waitEqual(t *testing.T, w *am.Machine, rw *arpc.Worker) {
	t.Helper()
	want := w.Time(nil)
	ch := rw.WhenTime(rw.StateNames(), want, nil)
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("replica %v never reached %v", rw.Time(nil), want)
	}
	require.Equal(t, want, rw.Time(nil))
}

func TestConvergenceAfterWorkerBurst(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	for _, interval := range []time.Duration{time.Millisecond, 50 * time.Millisecond} {
		t.Run(interval.String(), func(t *testing.T) {
			p := newPair(t, pairOpts{pushInterval: interval})
			for i := 0; i < n; i++ {
				p.worker.Add1("E", nil)
				if i%3 == 0 {
					p.worker.Toggle1("G", nil)
				}
			}
			waitEqual(t, p.worker, p.rw)
			require.Zero(t, p.rw.Stats().Resyncs)
		})
	}
}

func TestConvergenceWithoutPushesViaSync(t *testing.T) {
	p := newPair(t, pairOpts{pushInterval: arpc.PushesDisabled})
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	for i := 0; i < n; i++ {
		p.worker.Add1("E", nil)
	}
	// no pushes: the replica stays behind until Sync
	require.NotEqual(t, p.worker.Time(nil), p.rw.Time(nil))
	require.Equal(t, p.worker.Time(nil), p.rw.Sync())

	// no-sync mutations then one Sync
	for i := 0; i < 100; i++ {
		p.rw.Add1NS("E", nil)
	}
	p.rw.Sync()
	require.Equal(t, p.worker.Time(nil), p.rw.Time(nil))
	require.Zero(t, p.rw.Stats().Resyncs)
}

// TestMixedMutationsConverge runs client mutations and worker-side ones at
// once: replies and pushes race, and the replica must still converge
// without a resync.
func TestMixedMutationsConverge(t *testing.T) {
	p := newPair(t, pairOpts{pushInterval: time.Millisecond})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20_000; i++ {
			p.worker.Add1("E", nil)
		}
	}()
	executed := 0
	for i := 0; i < 2_000; i++ {
		// Queued when the worker is busy with its own mutations, Canceled
		// when its queue is full: the machine's own rules
		if p.rw.Toggle1("G", nil) != am.Canceled {
			executed++
		}
	}
	require.NotZero(t, executed)
	<-done
	waitEqual(t, p.worker, p.rw)
	require.Zero(t, p.rw.Stats().Resyncs)
}
