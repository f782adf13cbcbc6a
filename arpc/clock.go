package arpc

import (
	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/clock"
)

// ClockMsg is a partial, index-based clock diff: pairs of state index and
// tick delta. Ticks and deltas are uint64 end to end, so nothing wraps
// silently (see package clock for the arithmetic).
type ClockMsg = clock.Diff

// NewClockMsg returns the diff that turns before into after.
func NewClockMsg(before, after am.Time) ClockMsg {
	return clock.Compute(before, after)
}

// ClockFromMsg returns a new time: before with msg applied. Pairs naming an
// index outside before are skipped.
func ClockFromMsg(before am.Time, msg ClockMsg) am.Time {
	return clock.Applied(before, msg)
}
