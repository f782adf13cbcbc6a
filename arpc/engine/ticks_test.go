package engine_test

import (
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc/clock"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
)

// TestPushAllTicks: every transition between two updates reaches the
// subscriber, in order, with its mutation; the bound turns a backlog into
// one merged diff with a gap, after which records resume; a subscriber
// without PushAllTicks gets merged diffs only.
func TestPushAllTicks(t *testing.T) {
	tests := []struct {
		name string
		max  int
		// n pairs of +A -A between two updates
		n        int
		wantGap  bool
		wantTick int
	}{
		{name: "one pair", max: 0, n: 1, wantTick: 2},
		{name: "many pairs", max: 0, n: 500, wantTick: 1000},
		{name: "at the bound", max: 10, n: 5, wantTick: 10},
		{name: "past the bound", max: 10, n: 6, wantGap: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorker(t)
			e, err := engine.Attach(w)
			require.NoError(t, err)
			defer e.Release()
			s := e.Subscribe()
			defer s.Close()
			s.PushAllTicks(tt.max)
			plain := e.Subscribe()
			defer plain.Close()
			r := &replica{time: make(am.Time, len(w.StateNames()))}
			r.apply(t, s.Full(true))
			plain.Full(true)
			for range tt.n {
				w.Add1("A", am.A{"k": "v"})
				w.Remove1("A", nil)
			}
			u, ok := s.Next()
			require.True(t, ok)
			r.apply(t, u)
			assert.Equal(t, uint64(2*tt.n), u.Coalesced)
			if tt.wantGap {
				assert.Nil(t, u.Ticks)
				assert.Equal(t, uint64(2*tt.n), u.Gap)
				assert.Equal(t, uint64(1), s.TickStats().Gaps)
			} else {
				require.Len(t, u.Ticks, tt.wantTick)
				assert.Zero(t, u.Gap)
				step := make(am.Time, len(r.time))
				copy(step, w.Time(nil))
				// the ticks' diffs add up to the merged one
				sum := clock.Diff(nil)
				for i, tk := range u.Ticks {
					assert.Equal(t, u.FromSeq+uint64(i)+1, tk.Seq)
					sum = clock.Merge(sum, tk.Diff)
					if i%2 == 0 {
						assert.Equal(t, am.MutationAdd, tk.Type)
						assert.Equal(t, am.A{"k": "v"}, tk.Args)
					} else {
						assert.Equal(t, am.MutationRemove, tk.Type)
						assert.Nil(t, tk.Args)
					}
					assert.Equal(t, []int{w.Index1("A")}, tk.Called)
				}
				assert.Equal(t, u.Diff, sum)
			}
			// recording resumes after a gap
			w.Add1("B", nil)
			u, ok = s.Next()
			require.True(t, ok)
			r.apply(t, u)
			require.Len(t, u.Ticks, 1)
			assert.Equal(t, []int{w.Index1("B")}, u.Ticks[0].Called)

			pu, ok := plain.Next()
			require.True(t, ok)
			assert.Nil(t, pu.Ticks)
			assert.Zero(t, pu.Gap)
			assert.False(t, plain.IsPushAllTicks())
		})
	}
}

// TestPushAllTicksMask: hidden states leave the ticks' diffs and called
// states, and args travel only when every called state is visible.
func TestPushAllTicksMask(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	s := e.Subscribe()
	defer s.Close()
	s.SetMask(engine.NewMask(w.StateNames(), func(n string) bool {
		return n != "B"
	}))
	s.PushAllTicks(0)
	s.Full(true)
	w.Add(am.S{"A", "B"}, am.A{"secret": 1})
	w.Add1("A", am.A{"ok": 1})
	u, ok := s.Next()
	require.True(t, ok)
	require.Len(t, u.Ticks, 2)
	assert.Equal(t, []int{w.Index1("A")}, u.Ticks[0].Called)
	assert.Nil(t, u.Ticks[0].Args)
	for _, p := range u.Ticks[0].Diff {
		assert.NotEqual(t, uint64(w.Index1("B")), p[0])
	}
	assert.Equal(t, am.A{"ok": 1}, u.Ticks[1].Args)
}

// TestTrimTicksAndHead: an update with transitions trims to a replica
// already inside it (the transitions it lacks, their merged diff), and
// Head names the subscription's snapshot without moving it.
func TestTrimTicksAndHead(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	s := e.Subscribe()
	defer s.Close()
	s.PushAllTicks(0)
	r := &replica{time: make(am.Time, len(w.StateNames()))}
	r.apply(t, s.Full(true))
	w.Add1("A", nil)
	at := w.Time(nil)
	atSeq := e.Snapshot().Seq
	w.Add1("B", nil)
	w.Remove1("A", nil)
	u, ok := s.Next()
	require.True(t, ok)
	require.Len(t, u.Ticks, 3)

	_, ok = u.TrimTicks(u.FromSeq)
	assert.False(t, ok, "nothing to trim at the base")
	tr, ok := u.TrimTicks(atSeq)
	require.True(t, ok)
	assert.Equal(t, atSeq, tr.FromSeq)
	require.Len(t, tr.Ticks, 2)
	other := &replica{time: at, seq: atSeq}
	other.apply(t, tr)
	assert.Equal(t, w.Time(nil), other.time)

	h := s.Head()
	assert.Equal(t, u.ToSeq, h.FromSeq)
	assert.Equal(t, u.ToSeq, h.ToSeq)
	assert.Empty(t, h.Diff)
	r.apply(t, u)
	r.apply(t, h)
}
