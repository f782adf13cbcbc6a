package wire

import (
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc/clock"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
)

// TestTicksRoundTrip: the transitions of an update survive the wire: type,
// called states, Auto, diff, scalar args (others left out), relay gaps,
// and the update's own gap; a Hello's PushAllTicks too.
func TestTicksRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		u    engine.Update
	}{
		{name: "gap only", u: engine.Update{FromSeq: 4, ToSeq: 9, Gap: 5}},
		{name: "transitions", u: engine.Update{FromSeq: 10, ToSeq: 13,
			Ticks: []*engine.Tick{
				{Seq: 11, Type: am.MutationAdd, Called: []int{2},
					Diff: clock.Diff{{2, 1}, {3, 1}},
					Args: am.A{"n": 3, "s": "x", "f": 1.5, "ch": make(chan int)}},
				{Seq: 12, Type: am.MutationRemove, Called: []int{2, 3},
					Diff: clock.Diff{{2, 1}}},
				{Seq: 13, Type: am.MutationSet, Auto: true, Gap: 7},
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := ticksBinary(&tt.u)
			require.NotEmpty(t, b)
			got := &engine.Update{FromSeq: tt.u.FromSeq}
			require.NoError(t, decodeTicks(got, b, 5))
			assert.Equal(t, tt.u.Gap, got.Gap)
			require.Len(t, got.Ticks, len(tt.u.Ticks))
			for i, want := range tt.u.Ticks {
				g := got.Ticks[i]
				assert.Equal(t, want.Seq, g.Seq)
				assert.Equal(t, want.Type, g.Type)
				assert.Equal(t, want.Auto, g.Auto)
				assert.Equal(t, want.Gap, g.Gap)
				assert.Equal(t, want.Diff, g.Diff)
				if len(want.Called) > 0 {
					assert.Equal(t, want.Called, g.Called)
				}
			}
			if len(tt.u.Ticks) > 0 {
				assert.Equal(t, am.A{"n": 3, "s": "x", "f": 1.5}, got.Ticks[0].Args)
				// a state index past the machine's is refused
				require.Error(t, decodeTicks(&engine.Update{}, b, 3))
			}
		})
	}
	var h ArgsHello
	r := &reader{b: (&ArgsHello{Version: ProtocolVersion, PushAllTicks: true}).appendRaw(nil, zipper{})}
	h.decodeRaw(r)
	require.NoError(t, r.end())
	assert.True(t, h.PushAllTicks)
}

// FuzzTicks: decoding any transitions section never panics, and what
// decodes stays within the machine's states.
func FuzzTicks(f *testing.F) {
	u := engine.Update{FromSeq: 1, ToSeq: 3, Ticks: []*engine.Tick{
		{Seq: 2, Called: []int{1}, Diff: clock.Diff{{1, 1}}, Args: am.A{"a": 1}},
		{Seq: 3, Type: am.MutationRemove, Gap: 2},
	}}
	f.Add(ticksBinary(&u))
	f.Add(ticksBinary(&engine.Update{Gap: 3}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var got engine.Update
		if err := decodeTicks(&got, b, 4); err != nil {
			return
		}
		for _, tk := range got.Ticks {
			for _, c := range tk.Called {
				if c < 0 || c >= 4 {
					t.Fatalf("called state %d", c)
				}
			}
			for i, p := range tk.Diff {
				if p[0] >= 4 || (i > 0 && p[0] <= tk.Diff[i-1][0]) {
					t.Fatalf("diff %v", tk.Diff)
				}
			}
		}
	})
}
