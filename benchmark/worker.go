package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/benchmark/states"
)

var ws = states.WorkerStates

// Worker is the asyncmachine worker every machine transport exposes: it
// holds a value 1..3, processes CallOp (checking the op against the value,
// then picking a new random value and emitting Event), and has a Ping state
// for cheap mutations. Counters are safe for concurrent use.
type Worker struct {
	// Mach is the worker machine. Its parent context is the one passed to
	// [NewWorker]; cancel it (or call Mach.Dispose) to stop the worker.
	Mach *am.Machine

	oks  atomic.Int64
	errs atomic.Int64
}

// NewWorker creates a worker machine from schema, which must contain
// [states.WorkerSchema], and names, the verified order of its states
// (transports add their own states to both). The worker starts with Value1.
func NewWorker(
	ctx context.Context, id string, schema am.Schema, names am.S,
) (*Worker, error) {
	mach, err := am.NewCommon(ctx, id, schema, names, nil, nil, &am.Opts{
		Id:                id,
		DontLogStackTrace: true,
	})
	if err != nil {
		return nil, fmt.Errorf("new worker: %w", err)
	}
	w := &Worker{Mach: mach}
	h := &workerHandlers{w: w, rnd: rand.New(rand.NewPCG(1, 2))}
	if _, err := mach.HandlersBind(h); err != nil {
		mach.Dispose()
		return nil, fmt.Errorf("bind worker handlers: %w", err)
	}
	if res := mach.Add1(ws.Value1, nil); res == am.Canceled {
		mach.Dispose()
		return nil, fmt.Errorf("worker: initial value canceled")
	}

	return w, nil
}

// Errors is how many ops did not match the worker's value.
func (w *Worker) Errors() int64 { return w.errs.Load() }

// Oks is how many ops matched the worker's value.
func (w *Worker) Oks() int64 { return w.oks.Load() }

// Value returns the active value (1..3), 0 before the first one.
func (w *Worker) Value() int {
	return states.StateValue(w.Mach.Switch(states.WorkerGroups.Values))
}

// BaseWorkerSchema returns the worker schema and names with nothing merged
// in, for the in-process transport.
func BaseWorkerSchema() (am.Schema, am.S) {
	return states.WorkerSchema, ws.Names()
}

// opArg reads the op argument whatever number type the codec delivered
// (gob keeps int, JSON-like codecs give float64).
func opArg(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int32:
		return int(n), true
	case int64:
		return int(n), true
	case uint32:
		return int(n), true
	case uint64:
		return int(n), true
	case float64:
		return int(n), float64(int(n)) == n
	}

	return 0, false
}
