package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc/engine"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

// recSender records what Run sends. While gate is set, SendUpdate blocks
// until gate is closed: a write in flight.
type recSender struct {
	mx       sync.Mutex
	updates  []engine.Update
	at       []time.Time
	payloads []am.A
	beats    int
	gate     chan struct{}
	// entered receives once per SendUpdate call, before it blocks on gate
	entered chan struct{}
	// got receives once per recorded event
	got chan struct{}
}

func newRecSender() *recSender {
	return &recSender{entered: make(chan struct{}, 1000),
		got: make(chan struct{}, 1000)}
}

func (r *recSender) SendUpdate(u *engine.Update) error {
	r.entered <- struct{}{}
	r.mx.Lock()
	gate := r.gate
	r.mx.Unlock()
	if gate != nil {
		<-gate
	}
	r.mx.Lock()
	r.updates = append(r.updates, *u)
	r.at = append(r.at, time.Now())
	r.mx.Unlock()
	r.got <- struct{}{}
	return nil
}

func (r *recSender) SendPayloads(p []am.A) error {
	r.mx.Lock()
	r.payloads = append(r.payloads, p...)
	r.mx.Unlock()
	r.got <- struct{}{}
	return nil
}

func (r *recSender) SendHeartbeat() error {
	r.mx.Lock()
	r.beats++
	r.mx.Unlock()
	r.got <- struct{}{}
	return nil
}

func (r *recSender) snapshot() ([]engine.Update, []time.Time) {
	r.mx.Lock()
	defer r.mx.Unlock()
	return append([]engine.Update(nil), r.updates...),
		append([]time.Time(nil), r.at...)
}

// runSub starts Run on a fresh subscription (already past its full
// snapshot) and returns it with a stop function that returns Run's error.
func runSub(t *testing.T, e *engine.Engine, pace engine.Pace,
	send engine.Sender,
) (*engine.Sub, func() error) {
	t.Helper()
	sub := e.Subscribe()
	sub.Full(true)
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx, pace, send) }()
	stopped := false
	var err error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel(context.Canceled)
			err = <-done
			sub.Close()
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return sub, stop
}

func waitGot(t *testing.T, r *recSender) {
	t.Helper()
	select {
	case <-r.got:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing sent within 10 s")
	}
}

func TestNewPaceMeaning(t *testing.T) {
	assert.Equal(t, engine.Pace{MaxDelay: engine.DefaultMaxDelay,
		Heartbeat: time.Second}, engine.NewPace(0, time.Second))
	assert.Equal(t, engine.Pace{MinInterval: time.Millisecond,
		MaxDelay: engine.DefaultMaxDelay}, engine.NewPace(time.Millisecond, 0))
	assert.Equal(t, engine.Pace{Off: true}, engine.NewPace(engine.PushesDisabled, 0))
	assert.Equal(t, engine.Pace{Off: true}, engine.NewPace(-time.Hour, 0))
}

// A change with nothing in flight goes out at once, however long the cap:
// the cap only spaces the updates that follow it.
func TestRunFirstChangeNotHeldByCap(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	r := newRecSender()
	_, stop := runSub(t, e, engine.Pace{MinInterval: time.Hour}, r)
	w.Add1("A", nil)
	waitGot(t, r)
	ups, _ := r.snapshot()
	require.Len(t, ups, 1)
	assert.Equal(t, uint64(1), ups[0].Coalesced)
	require.ErrorIs(t, stop(), context.Canceled)
}

// Changes made while a write is in flight are merged into one update, sent
// when the write returns; the chain continues without gaps.
func TestRunCoalescesWhileWriteInFlight(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	r := newRecSender()
	gate := make(chan struct{})
	r.gate = gate
	_, stop := runSub(t, e, engine.Pace{}, r)

	w.Add1("M", nil)
	<-r.entered // the first update is being written
	for range 50 {
		w.Add1("M", nil)
	}
	w.Add1("A", nil)
	r.mx.Lock()
	r.gate = nil
	r.mx.Unlock()
	close(gate)
	waitGot(t, r)
	waitGot(t, r)
	ups, _ := r.snapshot()
	require.Len(t, ups, 2)
	assert.Equal(t, uint64(1), ups[0].Coalesced)
	assert.Equal(t, uint64(51), ups[1].Coalesced, "one merged update")
	assert.Equal(t, ups[0].ToSeq, ups[1].FromSeq)
	assert.Equal(t, e.Snapshot().Seq, ups[1].ToSeq)
	require.NoError(t, ignoreCanceled(stop()))
}

// Under a stream of changes the cap spaces updates at least MinInterval
// apart (a lower bound, not a speed assertion) and the last change is
// always sent.
func TestRunCapSpacesUpdatesAndFlushesLast(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	r := newRecSender()
	const gap = 20 * time.Millisecond
	_, stop := runSub(t, e, engine.Pace{MinInterval: gap}, r)
	deadline := time.Now().Add(5 * gap)
	for time.Now().Before(deadline) {
		w.Add1("M", nil)
		time.Sleep(time.Millisecond) // the load: a change every ms
	}
	want := e.Snapshot().Seq
	for {
		ups, _ := r.snapshot()
		if len(ups) > 0 && ups[len(ups)-1].ToSeq == want {
			break
		}
		waitGot(t, r)
	}
	ups, at := r.snapshot()
	require.GreaterOrEqual(t, len(ups), 2)
	for i := 1; i < len(at); i++ {
		// the cap counts from the start of the previous send; the record is
		// taken after it, so allow for the send itself
		assert.GreaterOrEqual(t, at[i].Sub(at[i-1]), gap-5*time.Millisecond,
			"update %d", i)
		assert.Equal(t, ups[i-1].ToSeq, ups[i].FromSeq)
	}
	require.NoError(t, ignoreCanceled(stop()))
}

// Within a busy period changes wait for the worker to settle: a burst right
// after an update is merged (into one update when the machine does not pause
// within it for SettleTime), and its last change is sent once the burst is
// over, however long MaxDelay is.
func TestRunBusyPeriodWaitsForSettle(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	r := newRecSender()
	_, stop := runSub(t, e, engine.Pace{MaxDelay: time.Hour}, r)
	w.Add1("A", nil)
	waitGot(t, r) // the first change: at once
	for range 1000 {
		w.Add1("M", nil)
	}
	want := e.Snapshot().Seq
	for {
		waitGot(t, r) // the burst: once it settled
		ups, _ := r.snapshot()
		if ups[len(ups)-1].ToSeq == want {
			break
		}
	}
	ups, _ := r.snapshot()
	assert.Less(t, len(ups), 500, "a 1000-change burst merged")
	require.NoError(t, ignoreCanceled(stop()))
}

// A continuous stream of changes that never settles is still seen: an
// update at least every MaxDelay.
func TestRunMaxDelayDuringContinuousStream(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	r := newRecSender()
	_, stop := runSub(t, e, engine.Pace{MaxDelay: 10 * time.Millisecond}, r)
	w.Add1("A", nil)
	waitGot(t, r)
	// changes back to back, until two more updates arrived while they go on
	seen := 0
	for seen < 2 {
		w.Add1("M", nil)
		select {
		case <-r.got:
			seen++
		default:
		}
	}
	ups, _ := r.snapshot()
	require.GreaterOrEqual(t, len(ups), 3)
	require.NoError(t, ignoreCanceled(stop()))
}

// With pushes off, no update is sent, payloads and heartbeats still are.
func TestRunPushesDisabled(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	r := newRecSender()
	_, stop := runSub(t, e,
		engine.NewPace(engine.PushesDisabled, 20*time.Millisecond), r)
	w.Add1("A", nil)
	w.Add1(ss.WorkerStates.SendPayload, am.A{"k": 1})
	// a payload and at least one heartbeat arrive; no update ever does
	waitGot(t, r)
	waitGot(t, r)
	require.NoError(t, ignoreCanceled(stop()))
	ups, _ := r.snapshot()
	assert.Empty(t, ups)
	r.mx.Lock()
	defer r.mx.Unlock()
	assert.Len(t, r.payloads, 1)
	assert.Positive(t, r.beats)
}

// Run ends with the engine's error when the worker is disposed, and with a
// send's error when a write fails.
func TestRunEnds(t *testing.T) {
	t.Run("worker disposed", func(t *testing.T) {
		w := newWorker(t)
		e, err := engine.Attach(w)
		require.NoError(t, err)
		defer e.Release()
		sub := e.Subscribe()
		defer sub.Close()
		done := make(chan error, 1)
		go func() {
			done <- sub.Run(context.Background(), engine.Pace{}, newRecSender())
		}()
		w.Dispose()
		select {
		case err := <-done:
			require.ErrorIs(t, err, engine.ErrWorkerGone)
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not end")
		}
	})
	t.Run("send fails", func(t *testing.T) {
		w := newWorker(t)
		e, err := engine.Attach(w)
		require.NoError(t, err)
		defer e.Release()
		sub := e.Subscribe()
		defer sub.Close()
		sub.Full(true)
		boom := errors.New("boom")
		done := make(chan error, 1)
		go func() {
			done <- sub.Run(context.Background(), engine.Pace{}, failSender{boom})
		}()
		w.Add1("A", nil)
		select {
		case err := <-done:
			require.ErrorIs(t, err, boom)
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not end")
		}
	})
}

type failSender struct{ err error }

func (f failSender) SendUpdate(*engine.Update) error { return f.err }
func (f failSender) SendPayloads([]am.A) error       { return f.err }
func (f failSender) SendHeartbeat() error            { return f.err }

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
