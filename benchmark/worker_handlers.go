package main

import (
	"math/rand/v2"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/benchmark/states"
)

// workerHandlers are the worker's state handlers. The machine runs them one
// at a time, so value and rnd need no lock.
type workerHandlers struct {
	w     *Worker
	value int
	rnd   *rand.Rand
}

func (h *workerHandlers) Value1State(_ *am.Event) { h.value = 1 }
func (h *workerHandlers) Value2State(_ *am.Event) { h.value = 2 }
func (h *workerHandlers) Value3State(_ *am.Event) { h.value = 3 }

func (h *workerHandlers) CallOpEnter(e *am.Event) bool {
	op, ok := opArg(e.Args[states.ArgOp])
	return ok && states.ValueState(op) != ""
}

func (h *workerHandlers) CallOpState(e *am.Event) {
	op, _ := opArg(e.Args[states.ArgOp])
	if op == h.value {
		h.w.oks.Add(1)
	} else {
		h.w.errs.Add(1)
	}
	next := states.ValueState(1 + h.rnd.IntN(3))
	e.Machine().EvAdd(e, am.S{next, ws.Event}, nil)
}
