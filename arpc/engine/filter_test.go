package engine_test

import (
	"slices"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc/engine"
)

// TestMaskHidesStates: a masked subscriber's updates (full, diffs, resume)
// never name a hidden state, their sums cover the visible states, and a
// plain subscriber sharing the diffs still sees everything.
func TestMaskHidesStates(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	idxB := slices.Index(w.StateNames(), "B")
	mask := engine.NewMask(e.Names(), func(s string) bool { return s != "B" })
	require.Equal(t, []int{idxB}, mask.Hidden())
	assert.Nil(t, engine.NewMask(e.Names(), func(string) bool { return true }))

	w.Add1("B", nil)
	masked, plain := e.Subscribe(), e.Subscribe()
	defer masked.Close()
	defer plain.Close()
	masked.SetMask(mask)
	n := len(w.StateNames())
	rm := &replica{time: make(am.Time, n)}
	rp := &replica{time: make(am.Time, n)}
	noB := func(u engine.Update) engine.Update {
		for _, p := range u.Diff {
			require.NotEqual(t, uint64(idxB), p[0], "%+v", u)
		}
		return u
	}
	rm.apply(t, noB(masked.Full(true)))
	rp.apply(t, plain.Full(true))
	for range 10 {
		w.Toggle1("B", nil)
		w.Toggle1("A", nil)
		u, ok := masked.Next()
		require.True(t, ok)
		rm.apply(t, noB(u))
		u, ok = plain.Next()
		require.True(t, ok)
		rp.apply(t, u)
	}
	assert.Equal(t, mask.Time(w.Time(nil)), rm.time)
	assert.Zero(t, rm.time[idxB])
	assert.Equal(t, w.Time(nil), rp.time, "the shared diff was not changed")

	// a resume that claims B's tick is ahead gets no full snapshot: the
	// hidden tick is taken as 0, so the answer says nothing about it
	forged := slices.Clone(rm.time)
	forged[idxB] = 1 << 40
	u := masked.Resume(forged, rm.seq)
	assert.False(t, u.Full)
	noB(u)
	// the stateless calls of the gRPC door
	noB(e.MaskedUpdateFrom(mask, nil))
	u = e.MaskedUpdateFromTime(mask, forged, rm.seq)
	assert.False(t, u.Full)
	noB(u)
	snap := e.MaskedSnapshot(mask)
	assert.Zero(t, snap.Time[idxB])
	assert.Equal(t, mask.Sum(w.Time(nil)), snap.Sum)
}
