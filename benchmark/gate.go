package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrNotAllReached is returned when some clients did not see a change in
// time.
var ErrNotAllReached = errors.New("benchmark: not every client saw the change")

// gate tracks what each of n clients has seen and tells when all of them
// reached a target (a tick, a sequence number). Safe for concurrent use.
type gate struct {
	mu      sync.Mutex
	seen    []uint64
	target  uint64
	reached int
	done    chan struct{}
}

func newGate(n int) *gate {
	return &gate{seen: make([]uint64, n)}
}

// Arm sets a new target; the returned channel closes once every client has
// reported a value >= target (at once if they already have).
func (g *gate) Arm(target uint64) <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.target = target
	g.reached = 0
	for _, s := range g.seen {
		if s >= target {
			g.reached++
		}
	}
	g.done = make(chan struct{})
	if g.reached == len(g.seen) {
		close(g.done)
	}

	return g.done
}

// Seen records that client i has seen v.
func (g *gate) Seen(i int, v uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.seen[i]
	if v <= old {
		return
	}
	g.seen[i] = v
	if g.done != nil && old < g.target && v >= g.target {
		g.reached++
		if g.reached == len(g.seen) {
			close(g.done)
		}
	}
}

// Missing returns the clients that have not reached the armed target.
func (g *gate) Missing() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []int
	for i, s := range g.seen {
		if s < g.target {
			out = append(out, i)
		}
	}

	return out
}

// Wait blocks until the last armed target is reached or ctx ends.
func (g *gate) Wait(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		reached, n := g.reached, len(g.seen)
		g.mu.Unlock()
		return fmt.Errorf("%w: %d of %d (%w)", ErrNotAllReached, reached, n,
			context.Cause(ctx))
	}
}
