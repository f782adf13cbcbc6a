package clock

import (
	"errors"
	"fmt"
	"slices"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// ErrIndex is returned when a diff names a state index outside the time it is
// applied to.
var ErrIndex = errors.New("clock: state index out of range")

// Pair is one changed state: its index in the machine's state list and the
// tick delta (after - before, modulo 2^64).
type Pair = [2]uint64

// Diff is a partial, index-based clock update: pairs of state index and tick
// delta, sorted by index, each index at most once. A nil Diff means "no
// change".
type Diff []Pair

// Compute returns the diff that turns before into after. Both times must have
// the same length; extra indexes of after (a longer time) are diffed against
// zero, indexes missing from after are ignored.
func Compute(before, after am.Time) Diff {
	var d Diff
	for i, a := range after {
		var b uint64
		if i < len(before) {
			b = before[i]
		}
		if a != b {
			d = append(d, Pair{uint64(i), a - b})
		}
	}
	return d
}

// Apply adds d to t in place. It checks every index first, so on error t is
// left untouched.
func Apply(t am.Time, d Diff) error {
	for _, p := range d {
		if p[0] >= uint64(len(t)) {
			return fmt.Errorf("%w: %d of %d", ErrIndex, p[0], len(t))
		}
	}
	for _, p := range d {
		t[p[0]] += p[1]
	}
	return nil
}

// Applied returns a copy of before with d applied, skipping pairs whose index
// is out of range.
func Applied(before am.Time, d Diff) am.Time {
	t := slices.Clone(before)
	for _, p := range d {
		if p[0] < uint64(len(t)) {
			t[p[0]] += p[1]
		}
	}
	return t
}

// Merge returns the diff equivalent to applying a then b. Neither input is
// modified. Deltas of the same index are summed; indexes whose summed delta is
// zero (a full wrap) are dropped.
func Merge(a, b Diff) Diff {
	if len(a) == 0 {
		return slices.Clone(b)
	}
	if len(b) == 0 {
		return slices.Clone(a)
	}
	out := make(Diff, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j >= len(b) || (i < len(a) && a[i][0] < b[j][0]):
			out = append(out, a[i])
			i++
		case i >= len(a) || b[j][0] < a[i][0]:
			out = append(out, b[j])
			j++
		default:
			if sum := a[i][1] + b[j][1]; sum != 0 {
				out = append(out, Pair{a[i][0], sum})
			}
			i++
			j++
		}
	}
	return out
}

// Sum returns the sum of all ticks of t, modulo 2^64. It serves as a cheap
// checksum of a replica's time.
func Sum(t am.Time) uint64 {
	var s uint64
	for _, v := range t {
		s += v
	}
	return s
}

// Valid reports whether d is sorted by strictly increasing index and has no
// zero delta, which is the form Compute and Merge produce.
func (d Diff) Valid() bool {
	for i, p := range d {
		if p[1] == 0 || (i > 0 && p[0] <= d[i-1][0]) {
			return false
		}
	}
	return true
}
