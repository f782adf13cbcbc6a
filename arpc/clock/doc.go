// Package clock holds the pure arithmetic of aRPC's diff clock: computing,
// applying, merging and encoding diffs between two machine times.
//
// A machine time ([am.Time]) is a vector of per-state ticks. A [Diff] lists
// only the indexes whose tick changed, each with its delta. Deltas use
// modular (wrapping) uint64 arithmetic, so Apply(before, Compute(before,
// after)) == after holds for any two times of the same length, even when a
// tick went down (a reset worker). Diffs are additive: [Merge] of two
// consecutive diffs equals the diff across both, which lets a sender collapse
// any number of pending diffs into one without keeping history.
//
// The package knows nothing of networks or machines; it is fuzzed.
package clock
