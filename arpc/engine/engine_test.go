package engine_test

import (
	"context"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/arpcbridge/arpcbridge/arpc/clock"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newWorker(t *testing.T) *am.Machine {
	t.Helper()
	schema := am.SchemaMerge(ss.WorkerSchema, am.Schema{"A": {}, "B": {},
		"M": {Multi: true}})
	names := am.SAdd(ss.WorkerStates.Names(), am.S{"A", "B", "M"})
	w, err := am.NewCommon(context.Background(), t.Name(), schema, names, nil,
		nil, nil)
	require.NoError(t, err)
	t.Cleanup(w.Dispose)
	return w
}

// replica applies a subscriber's updates like a remote worker does.
type replica struct {
	time am.Time
	seq  uint64
}

func (r *replica) apply(t *testing.T, u engine.Update) {
	t.Helper()
	if u.Full {
		r.time = make(am.Time, len(r.time))
	} else {
		require.Equal(t, r.seq, u.FromSeq, "chain broken")
	}
	require.NoError(t, clock.Apply(r.time, u.Diff))
	r.seq = u.ToSeq
	require.Equal(t, u.Sum, clock.Sum(r.time))
}

func TestAttachIsSharedAndRefcounted(t *testing.T) {
	w := newWorker(t)
	e1, err := engine.Attach(w)
	require.NoError(t, err)
	e2, err := engine.Attach(w)
	require.NoError(t, err)
	assert.Same(t, e1, e2)
	assert.Len(t, w.Tracers(), 1)
	e1.Release()
	assert.Len(t, w.Tracers(), 1)
	e2.Release()
	assert.Empty(t, w.Tracers())
}

func TestChainAndConvergence(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	sub := e.Subscribe()
	defer sub.Close()
	r := &replica{time: make(am.Time, len(w.StateNames()))}
	r.apply(t, sub.Full(true))
	for i := 0; i < 50; i++ {
		w.Add1("M", nil)
		w.Toggle1("A", nil)
		if i%7 == 0 {
			u, ok := sub.Next()
			require.True(t, ok)
			r.apply(t, u)
		}
	}
	w.Add1("M", nil)
	w.Add1("B", nil)
	u, ok := sub.Next()
	require.True(t, ok)
	assert.Equal(t, uint64(2), u.Coalesced)
	r.apply(t, u)
	assert.Equal(t, w.Time(nil), r.time)
	_, ok = sub.Next()
	assert.False(t, ok, "up to date")
}

func TestOneDiffPerPushForManySubscribers(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	subs := make([]*engine.Sub, 100)
	for i := range subs {
		subs[i] = e.Subscribe()
		subs[i].Full(true)
		defer subs[i].Close()
	}
	w.Add1("A", nil)
	before := e.Stats()
	for _, s := range subs {
		u, ok := s.Next()
		require.True(t, ok)
		require.Len(t, u.Diff, 1)
	}
	after := e.Stats()
	assert.Equal(t, uint64(1), after.DiffsComputed-before.DiffsComputed)
	assert.Equal(t, uint64(99), after.DiffsShared-before.DiffsShared)
}

func TestResumeIsOneMergedDiff(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	known := w.Time(nil)
	for i := 0; i < 1000; i++ {
		w.Add1("M", nil)
	}
	sub := e.Subscribe()
	defer sub.Close()
	u := sub.Resume(known, 42)
	assert.False(t, u.Full)
	assert.Equal(t, uint64(42), u.FromSeq)
	assert.Len(t, u.Diff, 1)
	assert.Equal(t, w.Time(nil), clock.Applied(known, u.Diff))
	assert.Zero(t, e.Stats().FullSyncs)

	// a time of the wrong length cannot resume: a counted full snapshot
	u = sub.Resume(am.Time{1}, 1)
	assert.True(t, u.Full)
	assert.Equal(t, uint64(1), e.Stats().FullSyncs)
}

func TestChangedAndPayloads(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	sub := e.Subscribe()
	defer sub.Close()
	sub.Full(true)
	ch := sub.Changed()
	select {
	case <-ch:
		t.Fatal("changed without a change")
	default:
	}
	w.Add1(ss.WorkerStates.SendPayload, am.A{"k": "v"})
	<-ch
	<-sub.PayloadsReady()
	got := sub.TakePayloads()
	require.Len(t, got, 1)
	assert.Equal(t, "v", got[0]["k"])
	assert.Empty(t, sub.TakePayloads())
}

func TestWorkerDisposalEndsEngine(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	w.Dispose()
	<-e.Done()
	assert.ErrorIs(t, e.Err(), engine.ErrWorkerGone)
}

func TestPayloadQueueIsBounded(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	sub := e.Subscribe()
	defer sub.Close()
	for i := range engine.PayloadQueue + 5 {
		w.Add1(ss.WorkerStates.SendPayload, am.A{"i": i})
	}
	got := sub.TakePayloads()
	require.Len(t, got, engine.PayloadQueue)
	// oldest first; the ones past the bound are dropped and counted
	assert.Equal(t, 0, got[0]["i"])
	assert.Equal(t, engine.PayloadQueue-1, got[len(got)-1]["i"])
	assert.EqualValues(t, 5, e.Stats().PayloadsDropped)
	// taking makes room again
	w.Add1(ss.WorkerStates.SendPayload, am.A{"i": -1})
	<-sub.PayloadsReady()
	assert.Len(t, sub.TakePayloads(), 1)
}

// Subscribers at the same base get one diff, encoded once: the same wire
// bytes, which decode to the diff.
func TestUpdatesShareOneEncoding(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	a, b := e.Subscribe(), e.Subscribe()
	defer a.Close()
	defer b.Close()
	a.Full(true)
	b.Full(true)
	w.Add1("A", nil)
	ua, ok := a.Next()
	require.True(t, ok)
	ub, ok := b.Next()
	require.True(t, ok)
	require.NotEmpty(t, ua.Binary)
	assert.Same(t, &ua.Binary[0], &ub.Binary[0], "encoded once")
	assert.Equal(t, clock.AppendBinary(nil, ua.Diff), ua.Binary)
	assert.Equal(t, uint64(1), e.Stats().DiffsComputed)
}
