package demo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// Defaults for [Options].
const (
	// DefaultInterval is the time between two moves.
	DefaultInterval = 300 * time.Millisecond
	// DefaultFailRate is the share of jobs that fail before they succeed.
	DefaultFailRate = 0.2
	// maxBatch is the most jobs queued in one move.
	maxBatch = 3
)

var (
	// ErrMissingStates means the machine given to [Run] lacks some of
	// [Names].
	ErrMissingStates = errors.New("demo: machine lacks demo states")
	// ErrDisposed means the machine was disposed while [Run] drove it.
	ErrDisposed = errors.New("demo: machine disposed")
)

// Options configures [Run]. The zero value means the defaults.
type Options struct {
	// Interval is the time between two moves. Default: [DefaultInterval].
	Interval time.Duration
	// Seed seeds the random choices (batch sizes, failures). Runs with one
	// seed make the same moves, as long as nothing else mutates the machine.
	// Default: 0, itself a fixed seed.
	Seed uint64
	// Steps stops Run after this many moves. Default: 0, no limit.
	Steps int
	// FailRate is the chance in [0, 1] that a finished job fails. Default:
	// [DefaultFailRate]; a negative value means jobs never fail.
	FailRate float64
}

func (o Options) withDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	switch {
	case o.FailRate == 0:
		o.FailRate = DefaultFailRate
	case o.FailRate < 0:
		o.FailRate = 0
	case o.FailRate > 1:
		o.FailRate = 1
	}

	return o
}

// Run drives mach, which must have the states in [Names], until ctx is done,
// Options.Steps moves are made, or the machine is disposed. Each move, one
// per Options.Interval, reads the machine and does the next thing a worker
// would: queue a batch of jobs, start or retry a job, finish it with Done or
// Failed, or drop the empty queue.
//
// Run adds Running when it starts and removes it when it returns, binding
// its handlers for that time; run one Run per machine at a time. It starts
// no goroutines and returns nil when stopped by ctx or Steps, ErrDisposed
// when the machine is disposed, and ErrMissingStates or a binding error
// before it starts.
func Run(ctx context.Context, mach am.Api, opts Options) error {
	if missing := Names().Sub(mach.StateNames()); len(missing) > 0 {
		return fmt.Errorf("%w: %v", ErrMissingStates, missing)
	}
	opts = opts.withDefaults()

	h := &handlers{}
	id, err := mach.HandlersBind(h)
	if err != nil {
		return fmt.Errorf("demo: binding handlers: %w", err)
	}
	defer func() { _ = mach.HandlersDetach(id) }()
	defer mach.Remove1(Running, nil)
	mach.Add1(Running, nil)

	d := &driver{
		mach:     mach,
		h:        h,
		rng:      rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		failRate: opts.FailRate,
	}
	ticker := time.NewTicker(opts.Interval)
	defer ticker.Stop()

	for step := 0; opts.Steps <= 0 || step < opts.Steps; step++ {
		select {
		case <-ctx.Done():
			return nil
		case <-mach.WhenDisposed():
			return ErrDisposed
		case <-ticker.C:
		}
		d.move()
	}

	return nil
}

// driver makes the moves of [Run].
type driver struct {
	mach     am.Api
	h        *handlers
	rng      *rand.Rand
	failRate float64
}

// move makes one move, chosen from the current state of the machine.
func (d *driver) move() {
	m := d.mach
	switch {
	case m.Not1(Running):
		// a client removed Running; restart the worker
		m.Add1(Running, nil)
	case m.Is1(Working):
		if d.rng.Float64() < d.failRate {
			m.Add1(Failed, nil)
		} else {
			m.Add1(Done, nil)
		}
	case d.h.pending.Load() > 0:
		// start the next job, or retry the failed one, still queued
		m.Add1(Working, nil)
	case m.Is1(Retrying):
		// a client dropped the queue; nothing is left to retry
		m.Remove1(Retrying, nil)
	case m.Is1(JobQueued):
		// the queue is empty; Idle comes back on its own
		m.Remove1(JobQueued, nil)
	default:
		for range 1 + d.rng.IntN(maxBatch) {
			m.Add1(JobQueued, nil)
		}
	}
}
