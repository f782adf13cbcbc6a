package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ThroughputTransport takes part in the throughput scenario.
type ThroughputTransport interface {
	Transport
	// SetupThroughput connects clients separate clients (connections, each
	// through [Env.Expose]) to one worker.
	SetupThroughput(ctx context.Context, env *Env, clients int) (ThroughputSession, error)
}

// ThroughputSession is one worker with many clients making synchronous
// mutations at the same time.
type ThroughputSession interface {
	Session
	// MutateFrom makes one synchronous mutation as client i (0-based) and
	// returns when its reply arrived. It is called concurrently for
	// different clients, never concurrently for the same one.
	MutateFrom(ctx context.Context, i int) error
}

// Metric keys of the throughput scenario.
const (
	mTputRate     = "mut/s@"
	mTputP99      = "tp99@"
	mTputCanceled = "canceled%@"
)

// throughputWarmup caps the untimed mutations each client makes first.
const throughputWarmup = 20

// MeasureThroughput has clients clients mutate at once, each one
// synchronous mutation after the other, and returns the mutations per
// second of them all (mTputRate), the p50/p99 latency of one mutation, and
// the share of replies that were Canceled (in percent; more than half fails
// the measurement), and the calls made meanwhile (mCalls).
// The clients stop after d, or, when ops > 0, once ops mutations were
// started between them (the go test benchmarks size the run by b.N so).
// Every client first makes min(warmup, 20) untimed mutations.
func MeasureThroughput(
	ctx context.Context, t ThroughputTransport, clients int, d time.Duration, ops, warmup int,
) (_ Sample, err error) {
	if clients < 1 || (d <= 0 && ops <= 0) {
		return nil, fmt.Errorf("throughput: %d clients for %v or %d ops: %w",
			clients, d, ops, errBadSize)
	}
	env := &Env{}
	s, err := t.SetupThroughput(ctx, env, clients)
	defer func() { err = errors.Join(err, closeBoth(s, env)) }()
	if err != nil {
		return nil, fmt.Errorf("setup %d clients: %w", clients, err)
	}
	warm := min(warmup, throughputWarmup)
	if _, _, err := runClients(ctx, s, clients, func(_ int, done int) bool {
		return done < warm
	}); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}

	var started atomic.Int64
	start := time.Now()
	end := start.Add(d)
	more := func(int, int) bool { return time.Now().Before(end) }
	if ops > 0 {
		more = func(int, int) bool { return started.Add(1) <= int64(ops) }
	}
	b0, c0 := env.Bytes(), s.Calls()
	lat, canceled, err := runClients(ctx, s, clients, more)
	elapsed := time.Since(start)
	if err != nil {
		return nil, err
	}
	var all []float64
	for _, l := range lat {
		all = append(all, durations(l)...)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("throughput: no mutation completed in %v: %w", elapsed, errBadSize)
	}
	if 2*canceled > len(all) {
		return nil, fmt.Errorf("throughput: %d of %d replies: %w", canceled, len(all), ErrCanceled)
	}

	return Sample{
		mTputRate:     float64(len(all)) / elapsed.Seconds(),
		mP50:          percentile(all, 50),
		mP99:          percentile(all, 99),
		mBytesOp:      float64(env.Bytes()-b0) / float64(len(all)),
		mTputCanceled: 100 * float64(canceled) / float64(len(all)),
		mCalls:        callsDelta(s, c0),
	}, nil
}

// errBadSize means a measurement was asked for no work or did none.
var errBadSize = errors.New("benchmark: nothing to measure")

// runClients runs one goroutine per client, each calling s.MutateFrom while
// more(client, mutations done by it) says so, and returns every client's
// latencies and how many replies were Canceled (ErrCanceled: counted, not
// failed). Any other error stops every client.
func runClients(
	ctx context.Context, s ThroughputSession, clients int, more func(i, done int) bool,
) ([][]time.Duration, int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lat := make([][]time.Duration, clients)
	errs := make([]error, clients)
	var canceled atomic.Int64
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			for ctx.Err() == nil && more(i, len(lat[i])) {
				t0 := time.Now()
				err := s.MutateFrom(ctx, i)
				if errors.Is(err, ErrCanceled) {
					canceled.Add(1)
				} else if err != nil {
					errs[i] = fmt.Errorf("client %d of %d: %w", i+1, clients, err)
					cancel()
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, 0, err
	}

	return lat, int(canceled.Load()), context.Cause(ctx)
}

// throughputScenario is the throughput column group: one variant per
// client count.
func throughputScenario(sz Sizes) *scenario {
	vs := make([]string, len(sz.ThroughputClients))
	for i, n := range sz.ThroughputClients {
		vs[i] = fmt.Sprint(n)
	}

	return &scenario{
		name:  "throughput",
		title: "concurrent clients",
		desc: fmt.Sprintf("N clients (separate connections) each making synchronous "+
			"mutations (`Add1(Ping)`; gRPC: unary Ping; TCP: 9-byte ping; inproc: goroutines "+
			"calling the worker, waiting for a queued mutation to run) for %v; mutations "+
			"per second of all clients together, the p99 latency of one mutation, and "+
			"the share of replies that were Canceled (Ping has no handlers or relations: "+
			"asyncmachine v0.19.1's `Add` answers Canceled when another goroutine ran the "+
			"queued mutation before the caller looked at the queue; counted, not failed)",
			sz.ThroughputTime),
		variants:      vs,
		variantSuffix: " clients",
		maxRounds:     3,
		metrics: []metricDef{
			{key: mTputRate, title: "mutations/s @", unit: unitPerSec, higherBetter: true},
			{key: mTputP99, title: "p99 @", unit: unitDur},
			{key: mTputCanceled, title: "% Canceled @", unit: unitCount, noRatio: true},
		},
		run: func(ctx context.Context, t Transport, sz Sizes, v int) (Sample, bool, error) {
			tt, ok := t.(ThroughputTransport)
			if !ok {
				return nil, false, nil
			}
			s, err := MeasureThroughput(ctx, tt, sz.ThroughputClients[v],
				sz.ThroughputTime, 0, sz.Warmup)
			if err != nil {
				return nil, true, err
			}
			return Sample{
				mTputRate + vs[v]:     s[mTputRate],
				mTputP99 + vs[v]:      s[mP99],
				mTputCanceled + vs[v]: s[mTputCanceled],
			}, true, nil
		},
	}
}
