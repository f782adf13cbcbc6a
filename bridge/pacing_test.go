package bridge_test

import (
	"sync"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/bridge"
)

// updateTimes records when a replica applied each update (its tracers get
// one TransitionEnd per applied update).
type updateTimes struct {
	am.TracerNoOp
	mx sync.Mutex
	at []time.Time
}

func (u *updateTimes) TransitionEnd(*am.Transition) {
	u.mx.Lock()
	u.at = append(u.at, time.Now())
	u.mx.Unlock()
}

func (u *updateTimes) times() []time.Time {
	u.mx.Lock()
	defer u.mx.Unlock()
	return append([]time.Time(nil), u.at...)
}

// doorReplicas serves w with PushInterval on one port and returns the
// replicas of an aRPC client and a gRPC client.
func doorReplicas(t *testing.T, w am.Api, push time.Duration) map[string]*arpc.Worker {
	t.Helper()
	s := startServer(t, w, &bridge.ServerOpts{
		Service: bridge.ServiceOpts{PushInterval: push}})
	addr := s.Addr().String()
	return map[string]*arpc.Worker{
		"aRPC": newARPCClient(t, addr, "pace-arpc").Worker,
		"gRPC": dial(t, addr, "pace-grpc", nil).Worker,
	}
}

// PushInterval means the same on both doors: 0 (the default) pushes a
// worker-side change at once, a positive value spaces updates at least that
// far apart, a negative one sends none.
func TestPushIntervalMeansTheSameOnBothDoors(t *testing.T) {
	t.Run("default: a change goes out at once", func(t *testing.T) {
		w := newWorker(t)
		for door, rw := range doorReplicas(t, w, 0) {
			w.Toggle1("G", nil)
			waitCh(t, rw.WhenTime1("G", w.Tick("G"), nil), door+" sees the change")
		}
	})

	t.Run("rate cap spaces updates, the last one arrives", func(t *testing.T) {
		const gap = 40 * time.Millisecond
		w := newWorker(t)
		reps := doorReplicas(t, w, gap)
		rec := map[string]*updateTimes{}
		for door, rw := range reps {
			rec[door] = &updateTimes{TracerNoOp: am.TracerNoOp{Id: "times-" + door}}
			_, err := rw.TracerBind(rec[door])
			require.NoError(t, err)
		}
		// both chains settled past their initial sync before counting
		w.Add1("E", nil)
		for door, rw := range reps {
			waitCh(t, rw.WhenTime1("E", w.Tick("E"), nil), door+" sees the first")
			rec[door].mx.Lock()
			rec[door].at = nil
			rec[door].mx.Unlock()
		}
		end := time.Now().Add(5 * gap)
		for time.Now().Before(end) {
			w.Add1("E", nil)
			time.Sleep(time.Millisecond) // the load: a change every ms
		}
		for door, rw := range reps {
			waitCh(t, rw.WhenTime1("E", w.Tick("E"), nil), door+" gets the last")
			at := rec[door].times()
			require.GreaterOrEqual(t, len(at), 2, door)
			for i := 1; i < len(at); i++ {
				// a lower bound (not a speed assertion), less the send's own
				// jitter
				assert.GreaterOrEqual(t, at[i].Sub(at[i-1]), gap-10*time.Millisecond,
					"%s update %d", door, i)
			}
		}
	})

	t.Run("disabled: replies and Sync only", func(t *testing.T) {
		w := newWorker(t)
		reps := doorReplicas(t, w, arpc.PushesDisabled)
		w.Add1("E", nil)
		want := w.Tick("E")
		// a bounded window in which a push would have arrived many times over
		for door, rw := range reps {
			select {
			case <-rw.WhenTime1("E", want, nil):
				t.Fatalf("%s got a push with pushes disabled", door)
			case <-time.After(200 * time.Millisecond):
			}
			rw.Sync()
			assert.Equal(t, want, rw.Tick("E"), "%s after Sync", door)
		}
	})
}
