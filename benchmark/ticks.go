package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The ticks scenario: every worker transition delivered to every client
// (our PushAllTicks, upstream's SyncMutations).

// Metric keys of the ticks scenario (suffixed with the client count).
const (
	mTicksRate  = "transitions/s@"
	mTicksBytes = "B/transition@"
	mTicksShare = "delivered-%@"
	mTicksGaps  = "gaps@"
	mTicksLoop  = "worker/s@"
)

// ticksWait bounds the wait for every client to receive every transition.
const ticksWait = 30 * time.Second

// TicksTransport takes part in the ticks scenario.
type TicksTransport interface {
	Transport
	SetupTicks(ctx context.Context, env *Env, clients int) (TicksSession, error)
}

// TicksSession is one worker whose clients receive every transition.
type TicksSession interface {
	Session
	// Mutate makes n worker-side transitions, as fast as the worker takes
	// them, and returns when the last one is done.
	Mutate(ctx context.Context, n int) error
	// Delivered returns, per client, how many worker transitions it
	// received one by one (not merged) since setup.
	Delivered() []int64
	// Gaps returns how many transitions the clients received merged
	// (PushAllTicks' bound), all clients together; -1 when unknown.
	Gaps() int64
}

// ticksScenario is the ticks column group: one variant per client count.
func ticksScenario(sz Sizes) *scenario {
	vs := make([]string, len(sz.TicksClients))
	for i, n := range sz.TicksClients {
		vs[i] = fmt.Sprint(n)
	}

	return &scenario{
		name:  "ticks",
		title: "every transition (PushAllTicks)",
		desc: fmt.Sprintf("%d worker-side mutations (`Add1(Ping)`, one transition each) "+
			"with N clients that asked for every transition (ours: "+
			"`ClientOpts.PushAllTicks`; upstream: `ClientOpts.SyncMutations`); "+
			"transitions per second from the loop's start until every client received "+
			"every one of them, one by one (with N clients, N times as many were "+
			"delivered), the rate of the worker's own loop meanwhile (the ceiling: the "+
			"worker's transitions wait for no client), the wire bytes per transition per client, the share of "+
			"transitions the slowest client received one by one, and the transitions "+
			"merged past `MaxPendingTransitions` (a gap)", sz.TicksTransitions),
		variants:      vs,
		variantSuffix: " clients",
		maxRounds:     3,
		metrics: []metricDef{
			{key: mTicksRate, title: "transitions/s @", unit: unitPerSec, higherBetter: true},
			{key: mTicksLoop, title: "worker alone/s @", unit: unitPerSec, higherBetter: true,
				noRatio: true},
			{key: mTicksBytes, title: "B/transition @", unit: unitBytes},
			{key: mTicksShare, title: "delivered % @", unit: unitCount, higherBetter: true,
				noRatio: true},
			{key: mTicksGaps, title: "merged @", unit: unitCount, noRatio: true},
		},
		run: func(ctx context.Context, t Transport, sz Sizes, v int) (Sample, bool, error) {
			tt, ok := t.(TicksTransport)
			if !ok {
				return nil, false, nil
			}
			s, err := MeasureTicks(ctx, tt, sz.TicksClients[v], sz.TicksTransitions)
			if err != nil {
				return nil, true, err
			}
			out := Sample{}
			for k, val := range s {
				out[k+vs[v]] = val
			}
			return out, true, nil
		},
	}
}

// MeasureTicks makes n worker transitions with clients connected, and
// measures how fast every client received every one of them. When some
// client does not within ticksWait, the rate is left out and the share says
// how many the slowest received.
func MeasureTicks(
	ctx context.Context, t TicksTransport, clients, n int,
) (_ Sample, err error) {
	env := &Env{}
	s, err := t.SetupTicks(ctx, env, clients)
	defer func() { err = errors.Join(err, closeBoth(s, env)) }()
	if err != nil {
		return nil, fmt.Errorf("setup %d clients: %w", clients, err)
	}
	// warm-up: one transition reaches everyone
	base := minOf(s.Delivered())
	if err := s.Mutate(ctx, 1); err != nil {
		return nil, err
	}
	if _, err := waitDelivered(ctx, s, base+1, ticksWait); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	base = minOf(s.Delivered())
	g0 := s.Gaps()
	b0 := env.Bytes()
	start := time.Now()
	if err := s.Mutate(ctx, n); err != nil {
		return nil, err
	}
	loop := time.Since(start)
	got, werr := waitDelivered(ctx, s, base+int64(n), ticksWait)
	took := time.Since(start)
	out := Sample{
		mTicksBytes: float64(env.Bytes()-b0) / float64(n*clients),
		mTicksShare: 100 * float64(got-base) / float64(n),
		mTicksLoop:  float64(n) / loop.Seconds(),
	}
	if g := s.Gaps(); g >= 0 && g0 >= 0 {
		out[mTicksGaps] = float64(g - g0)
	}
	if werr == nil {
		out[mTicksRate] = float64(n) / took.Seconds()
	} else if ctx.Err() != nil {
		return nil, werr
	}

	return out, nil
}

// waitDelivered waits until every client received want transitions, or for
// at most wait; it returns the slowest client's count.
func waitDelivered(ctx context.Context, s TicksSession, want int64,
	wait time.Duration,
) (int64, error) {
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		got := minOf(s.Delivered())
		if got >= want {
			return got, nil
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("%w: slowest client received %d of %d transitions "+
				"within %v", ErrNotAllReached, got, want, wait)
		}
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-tick.C:
		}
	}
}

func minOf(xs []int64) int64 {
	if len(xs) == 0 {
		return 0
	}
	m := xs[0]
	for _, x := range xs[1:] {
		m = min(m, x)
	}

	return m
}
