package arpc

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A replica that drifted (here: a tick corrupted in place) fails the next
// update's checksum, resyncs in full once, and ends equal to the worker.
func TestReplicaDriftIsDetectedAndResynced(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, c := internalPair(t, ctx, "drift", time.Millisecond)
	rw := c.Worker

	// corrupt the replica: B looks two ticks older (same activity)
	b := w.Index1("B")
	rw.mx.Lock()
	rw.time[b] += 2
	rw.mx.Unlock()

	w.Add1("E", nil) // the push carrying this fails the checksum
	want := w.Time(nil)
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(rw.Time(nil), want) && time.Now().Before(deadline) {
		select {
		case <-rw.WhenTime(nil, want, ctx):
		case <-time.After(10 * time.Millisecond):
			// WhenTime waits for >=; the corrupted tick may already be above
		}
	}
	require.Equal(t, want, rw.Time(nil))
	require.EqualValues(t, 1, rw.Stats().Resyncs)
}
