package arpc

import (
	"context"
	"fmt"
	"slices"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/clock"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
)

// How a remote Worker applies clock updates: the chain rule, resyncs, and
// (worker_ticks.go) the steps of PushAllTicks updates.

// ApplyUpdate applies an engine update to the replica, respecting its chain:
// an update applies only on top of the sequence it names; a later one is
// held until the missing one arrives; an older one is dropped. A checksum
// mismatch or a broken chain triggers a full resync (counted in Stats).
//
// On a PushAllTicks replica (EnablePushAllTicks), an update's worker
// transitions (Update.Ticks) are applied one by one: waits are evaluated at
// every step, tracers get one TransitionEnd per transition, and bound final
// handlers run once per transition (worker_handlers.go). An update without
// them (a gap, or a resync) is one step marked as a gap (see Gap).
func (w *Worker) ApplyUpdate(u *engine.Update) {
	if u == nil || w.disposed.Load() {
		return
	}
	ticking := w.allTicks.Load()
	w.mx.Lock()
	before := slices.Clone(w.time)
	changed := false
	needResync := false
	var steps []step
	var fire []func()

	switch {
	case u.Full:
		next := make(am.Time, len(w.names))
		if err := clock.Apply(next, u.Diff); err != nil {
			needResync = true
			break
		}
		if ticking && w.seq != 0 && !slices.Equal(w.time, next) {
			// a resync: whatever happened in between is one merged step
			steps = append(steps, step{before: before, after: slices.Clone(next),
				gap: max(u.ToSeq-min(u.ToSeq, w.seq), 1)})
		}
		w.time, w.seq, w.queueTick = next, u.ToSeq, u.QueueTick
		changed = true
		if clock.Sum(w.time) != u.Sum {
			needResync = true
		}
	case u.FromSeq == w.seq:
		ok := w.applyLocked(u, ticking, &steps, &fire)
		changed = true
		needResync = !ok
	case u.FromSeq > w.seq:
		if len(w.pending) >= maxPending {
			needResync = true
		} else {
			w.pending[u.FromSeq] = u
		}
	default:
		// stale: the replica is already past it
	}
	// continue the chain with held updates
	for {
		p, ok := w.pending[w.seq]
		if !ok {
			break
		}
		delete(w.pending, w.seq)
		changed = true
		if !w.applyLocked(p, ticking, &steps, &fire) {
			needResync = true
			break
		}
	}
	for from := range w.pending {
		if from < w.seq {
			delete(w.pending, from)
		}
	}
	var after am.Time
	tracers := w.tracers
	if changed {
		if len(tracers) > 0 {
			// only tracers need a copy of the new time
			after = slices.Clone(w.time)
		}
		fire = append(fire, w.collectLocked(before)...)
	}
	if len(steps) > 0 {
		// queued in the order applied (pushes and replies are applied
		// from different goroutines)
		w.steps.add(steps, tracers)
	}
	w.mx.Unlock()

	w.updates.Add(1)
	for _, f := range fire {
		f()
	}
	if len(steps) > 0 {
		w.steps.drain(w)
	} else if changed && len(tracers) > 0 && !slices.Equal(before, after) {
		tx := &am.Transition{TimeBefore: before, TimeAfter: after, MachApi: w}
		tx.IsAccepted.Store(true)
		for _, t := range tracers {
			t.TransitionEnd(tx)
		}
	}
	if needResync {
		w.resync()
	}
}

// applyLocked applies a chained update; false means the replica drifted.
// On a ticking replica it appends the update's steps (worker_ticks.go) and
// the waits each step settles.
func (w *Worker) applyLocked(u *engine.Update, ticking bool, steps *[]step,
	fire *[]func(),
) bool {
	if ticking && u.ToSeq > u.FromSeq {
		if !w.applyStepsLocked(u, steps, fire) {
			return false
		}
	} else if err := clock.Apply(w.time, u.Diff); err != nil {
		return false
	}
	w.seq, w.queueTick = u.ToSeq, u.QueueTick
	return clock.Sum(w.time) == u.Sum
}

// resetChain forgets held updates and takes seq as the current sequence
// (after a reconnect the transport resumes from the replica's time).
func (w *Worker) resetChain() {
	w.mx.Lock()
	defer w.mx.Unlock()
	clear(w.pending)
}

// knownClock returns the replica's time and sequence, for resuming.
func (w *Worker) knownClock() (am.Time, uint64) {
	w.mx.RLock()
	defer w.mx.RUnlock()
	return slices.Clone(w.time), w.seq
}

// resync asks the transport for a full snapshot, once at a time.
func (w *Worker) resync() {
	if !w.resyncing.CompareAndSwap(false, true) {
		return
	}
	w.resyncs.Add(1)
	go func() {
		defer w.resyncing.Store(false)
		ctx, cancel := context.WithTimeout(w.ctx, w.t.Timeout())
		defer cancel()
		if err := w.t.Sync(ctx, true); err != nil {
			w.reportErr(fmt.Errorf("resync: %w", err))
		}
	}()
}
