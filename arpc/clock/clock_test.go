package clock_test

import (
	"math"
	"math/rand/v2"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc/clock"
)

func TestComputeApply(t *testing.T) {
	tests := []struct {
		name          string
		before, after am.Time
		want          clock.Diff
	}{
		{"equal", am.Time{1, 2, 3}, am.Time{1, 2, 3}, nil},
		{"one", am.Time{0, 0, 0}, am.Time{0, 1, 0}, clock.Diff{{1, 1}}},
		{"partial", am.Time{0, 100, 0, 120}, am.Time{0, 105, 2, 121},
			clock.Diff{{1, 5}, {2, 2}, {3, 1}}},
		{"wrap", am.Time{math.MaxUint64}, am.Time{1}, clock.Diff{{0, 2}}},
		{"decrease", am.Time{5}, am.Time{3}, clock.Diff{{0, math.MaxUint64 - 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := clock.Compute(tt.before, tt.after)
			assert.Equal(t, tt.want, d)
			assert.True(t, d.Valid())
			got := clock.Applied(tt.before, d)
			assert.Equal(t, tt.after, got)
			inPlace := append(am.Time{}, tt.before...)
			require.NoError(t, clock.Apply(inPlace, d))
			assert.Equal(t, tt.after, inPlace)
		})
	}
}

func TestApplyOutOfRangeLeavesTimeUntouched(t *testing.T) {
	tm := am.Time{1, 1}
	err := clock.Apply(tm, clock.Diff{{0, 1}, {5, 1}})
	require.ErrorIs(t, err, clock.ErrIndex)
	assert.Equal(t, am.Time{1, 1}, tm)
}

func TestMergeIsAdditive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		n := 1 + r.IntN(20)
		t0 := randTime(r, n, nil)
		t1 := randTime(r, n, t0)
		t2 := randTime(r, n, t1)
		d01 := clock.Compute(t0, t1)
		d12 := clock.Compute(t1, t2)
		merged := clock.Merge(d01, d12)
		require.True(t, merged.Valid(), "%v", merged)
		require.Equal(t, clock.Compute(t0, t2), merged)
		require.Equal(t, t2, clock.Applied(t0, merged))
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		n := 1 + r.IntN(64)
		t0 := randTime(r, n, nil)
		d := clock.Compute(t0, randTime(r, n, t0))
		b := clock.AppendBinary(nil, d)
		got, err := clock.Decode(b, n)
		require.NoError(t, err)
		require.Equal(t, d, got)
	}
	// a single-state change of one tick is 3 bytes
	assert.Len(t, clock.AppendBinary(nil, clock.Diff{{3, 1}}), 3)
}

func TestDecodeRejects(t *testing.T) {
	tests := map[string][]byte{
		"empty":          {},
		"too many pairs": clock.AppendBinary(nil, clock.Diff{{0, 1}, {1, 1}, {2, 1}}),
		"out of range":   clock.AppendBinary(nil, clock.Diff{{9, 1}}),
		"truncated":      {2, 0, 1, 1},
		"trailing":       append(clock.AppendBinary(nil, clock.Diff{{0, 1}}), 7),
		"repeated index": {2, 0, 1, 0, 1},
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := clock.Decode(b, 2)
			assert.ErrorIs(t, err, clock.ErrEncoding)
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(clock.AppendBinary(nil, clock.Diff{{0, 1}, {3, 7}}), 4)
	f.Add([]byte{0xff, 0xff, 0xff}, 10)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		d, err := clock.Decode(b, n)
		if err != nil {
			return
		}
		tm := make(am.Time, n)
		require.NoError(t, clock.Apply(tm, d))
		// re-encoding a decoded diff gives a decodable equal diff
		d2, err := clock.Decode(clock.AppendBinary(nil, d), n)
		require.NoError(t, err)
		require.Equal(t, d, d2)
	})
}

func randTime(r *rand.Rand, n int, base am.Time) am.Time {
	t := make(am.Time, n)
	for i := range t {
		if base != nil {
			t[i] = base[i]
		}
		if r.IntN(3) == 0 {
			t[i] += uint64(r.IntN(1000))
		}
	}
	return t
}
