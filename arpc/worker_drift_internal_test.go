package arpc

import (
	"context"
	"slices"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/require"

	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/internal/apitest"
)

// A replica that drifted (here: a tick corrupted in place) fails the next
// update's checksum, resyncs in full once, and ends equal to the worker.
func TestReplicaDriftIsDetectedAndResynced(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := am.NewCommon(ctx, "w-drift", apitest.Schema, apitest.Names,
		nil, nil, nil)
	require.NoError(t, err)
	defer w.Dispose()
	s, err := NewServer(ctx, "127.0.0.1:0", "s-drift", w, nil)
	require.NoError(t, err)
	s.PushInterval = time.Millisecond
	s.Start()
	defer s.Stop(true)
	<-s.Mach.When1(ss.ServerStates.RpcReady, ctx)
	c, err := NewClient(ctx, s.Addr, "c-drift", apitest.Schema, apitest.Names,
		nil)
	require.NoError(t, err)
	c.Start()
	defer c.Stop(ctx, true)
	select {
	case <-c.Mach.When1(ss.ClientStates.Ready, ctx):
	case <-ctx.Done():
		t.Fatal("client not Ready")
	}
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
