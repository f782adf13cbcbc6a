package demo

import (
	"sync/atomic"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// handlers keeps the count of queued jobs in step with the machine, whoever
// mutates it: the driver in [Run] or a client over RPC. The machine calls the
// methods from its own goroutine; [Run] reads pending from another.
type handlers struct {
	pending atomic.Int64
}

// JobQueuedState counts one job per activation; JobQueued is multi, so
// adding it while active counts again.
func (h *handlers) JobQueuedState(_ *am.Event) {
	h.pending.Add(1)
}

// JobQueuedEnd drops the queue.
func (h *handlers) JobQueuedEnd(_ *am.Event) {
	h.pending.Store(0)
}

// DoneState takes the finished job off the queue.
func (h *handlers) DoneState(_ *am.Event) {
	for {
		n := h.pending.Load()
		if n <= 0 || h.pending.CompareAndSwap(n, n-1) {
			return
		}
	}
}
