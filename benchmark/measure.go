package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Bounds on waiting for clients, so a client that never catches up fails
// the measurement instead of stalling the run.
const (
	fanOutWait = 10 * time.Second
	burstWait  = 30 * time.Second
)

// Sample is one measurement: metric key → value.
type Sample map[string]float64

// Metric keys. Durations are in nanoseconds, sizes in bytes.
const (
	mNsOp      = "ns/op"
	mBytesOp   = "B/op"
	mCallsOp   = "calls/op"
	mErrors    = "errors"
	mCanceled  = "canceled"
	mP50       = "p50"
	mP99       = "p99"
	mLoop      = "loop"
	mSync      = "sync"
	mBytes     = "bytes"
	mCalls     = "calls"
	mFanP99    = "p99@"
	mPayRate   = "MB/s@"
	mPayPeak   = "peak@"
	mPayAllocs = "alloc/B@"
)

// calls returns s.Calls() as a float, NaN-free: -1 stays -1.
func callsDelta(s Session, before int64) float64 {
	if before < 0 {
		return -1
	}
	return float64(s.Calls() - before)
}

// perOp divides calls by ops, keeping -1 (no calls) as -1.
func perOp(calls float64, ops int) float64 {
	if calls < 0 {
		return -1
	}
	return calls / float64(ops)
}

// closeBoth closes a session, then its env.
func closeBoth(s Session, env *Env) error {
	var err error
	if s != nil {
		err = s.Close()
	}

	return errors.Join(err, env.Close())
}

// canceledCounter is a session that counts mutations its worker answered
// Canceled although they ran (asyncmachine's false Canceled).
type canceledCounter interface{ CanceledReplies() int64 }

// MeasureSGP runs n subscribe-get-process iterations after a warm-up.
func MeasureSGP(ctx context.Context, t SGPTransport, n int, sz Sizes) (_ Sample, err error) {
	env := &Env{}
	s, err := t.SetupSGP(ctx, env)
	defer func() { err = errors.Join(err, closeBoth(s, env)) }()
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	if err := s.Run(ctx, min(sz.Warmup, n)); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	errs0, b0, c0 := s.Errors(), env.Bytes(), s.Calls()
	cc, counts := s.(canceledCounter)
	var k0 int64
	if counts {
		k0 = cc.CanceledReplies()
	}
	start := time.Now()
	if err := s.Run(ctx, n); err != nil {
		return nil, err
	}
	d := time.Since(start)
	canceled := -1.0
	if counts {
		canceled = float64(cc.CanceledReplies() - k0)
	}

	return Sample{
		mNsOp:     float64(d) / float64(n),
		mBytesOp:  float64(env.Bytes()-b0) / float64(n),
		mCallsOp:  perOp(callsDelta(s, c0), n),
		mErrors:   float64(s.Errors() - errs0),
		mCanceled: canceled,
	}, nil
}

// MeasureRoundTrip times n single round trips.
func MeasureRoundTrip(ctx context.Context, t RoundTripTransport, n int, sz Sizes) (_ Sample, err error) {
	env := &Env{}
	s, err := t.SetupRoundTrip(ctx, env)
	defer func() { err = errors.Join(err, closeBoth(s, env)) }()
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	for range min(sz.Warmup, n) {
		if err := s.RoundTrip(ctx); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	lat := make([]time.Duration, n)
	b0, c0 := env.Bytes(), s.Calls()
	for i := range n {
		start := time.Now()
		if err := s.RoundTrip(ctx); err != nil {
			return nil, err
		}
		lat[i] = time.Since(start)
	}
	ns := durations(lat)

	return Sample{
		mP50:     percentile(ns, 50),
		mP99:     percentile(ns, 99),
		mBytesOp: float64(env.Bytes()-b0) / float64(n),
		mCallsOp: perOp(callsDelta(s, c0), n),
	}, nil
}

// MeasureBurst makes n worker-side mutations and times the loop and the
// wait for the client's clock to catch up after it.
func MeasureBurst(ctx context.Context, t BurstTransport, n int) (_ Sample, err error) {
	env := &Env{}
	s, err := t.SetupBurst(ctx, env)
	defer func() { err = errors.Join(err, closeBoth(s, env)) }()
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	b0, c0 := env.Bytes(), s.Calls()
	start := time.Now()
	if err := s.Mutate(ctx, n); err != nil {
		return nil, err
	}
	loopEnd := time.Now()
	wctx, cancel := context.WithTimeout(ctx, burstWait)
	defer cancel()
	if err := s.WaitSynced(wctx); err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	synced := time.Now()

	return Sample{
		mLoop:  float64(loopEnd.Sub(start)),
		mSync:  float64(synced.Sub(loopEnd)),
		mBytes: float64(env.Bytes() - b0),
		mCalls: callsDelta(s, c0),
	}, nil
}

// MeasureFanOut times changes reaching all of clients, one change at a
// time, back to back (each change made as soon as the previous one reached
// every client), and returns their p99 (and p50). wait bounds the wait for
// one change (0 means fanOutWait).
func MeasureFanOut(
	ctx context.Context, t FanOutTransport, clients, changes int, wait time.Duration,
) (Sample, error) {
	return MeasureFanOutSpaced(ctx, t, clients, changes, wait, 0)
}

// MeasureFanOutSpaced is [MeasureFanOut] with gap of quiet time between one
// change reaching every client and the next change (0: back to back).
func MeasureFanOutSpaced(
	ctx context.Context, t FanOutTransport, clients, changes int, wait, gap time.Duration,
) (_ Sample, err error) {
	if wait <= 0 {
		wait = fanOutWait
	}
	env := &Env{}
	s, err := t.SetupFanOut(ctx, env, clients)
	defer func() { err = errors.Join(err, closeBoth(s, env)) }()
	if err != nil {
		return nil, fmt.Errorf("setup %d clients: %w", clients, err)
	}
	change := func() error {
		if err := s.Change(ctx); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		if err := s.WaitAll(wctx); err != nil {
			return fmt.Errorf("within %v: %w", wait, err)
		}
		return nil
	}
	if err := change(); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	lat := make([]time.Duration, changes)
	b0 := env.Bytes()
	for i := range changes {
		if err := pause(ctx, gap); err != nil {
			return nil, err
		}
		start := time.Now()
		if err := change(); err != nil {
			return nil, err
		}
		lat[i] = time.Since(start)
	}
	ns := durations(lat)

	return Sample{
		mP50:     percentile(ns, 50),
		mP99:     percentile(ns, 99),
		mBytesOp: float64(env.Bytes()-b0) / float64(changes),
	}, nil
}

// MeasurePayload moves reps payloads of size from worker to client and
// returns the throughput, the peak heap above the start and the bytes
// allocated per payload byte.
func MeasurePayload(
	ctx context.Context, t PayloadTransport, size, reps int,
) (_ Sample, err error) {
	env := &Env{}
	s, err := t.SetupPayload(ctx, env)
	defer func() { err = errors.Join(err, closeBoth(s, env)) }()
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	if err := s.Fetch(ctx, size); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	b0 := env.Bytes()
	mem := startHeapSampler()
	start := time.Now()
	for range reps {
		if err := s.Fetch(ctx, size); err != nil {
			mem.Stop()
			return nil, err
		}
	}
	d := time.Since(start)
	peak, allocs := mem.Stop()
	total := float64(size) * float64(reps)

	return Sample{
		mPayRate:   total / d.Seconds() / 1e6,
		mPayPeak:   float64(peak),
		mPayAllocs: float64(allocs) / total,
		mBytesOp:   float64(env.Bytes()-b0) / float64(reps),
	}, nil
}

// pause waits d (nothing when d <= 0), or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
