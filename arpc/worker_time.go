package arpc

import (
	"context"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// TimeSum returns the sum of the replica's ticks of states, or of all
// states when states is nil. Unknown states count as 0, and a disposed
// Worker sums to 0. The sum is a cheap, coarse measure of how much the
// worker has changed: it grows with every activation and deactivation of the
// states summed. It wraps around on overflow, which takes 2^64 ticks.
func (w *Worker) TimeSum(states am.S) uint64 {
	var sum uint64
	for _, tick := range w.Time(states) {
		sum += tick
	}
	return sum
}

// WhenTicksEq returns a channel closed once the replica's tick of state is
// at least ticks (an absolute value, unlike WhenTicks), at once when it
// already is. It is WhenTime1 under another name: the channel also closes
// when ctx ends or the Worker is disposed, which is all that closes it for
// an unknown state (whose error goes to LastErr).
func (w *Worker) WhenTicksEq(state string, ticks uint64,
	ctx context.Context,
) <-chan struct{} {
	return w.WhenTime1(state, ticks, ctx)
}
