package arpc

import (
	"context"
	"slices"
	"strconv"
	"sync"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/clock"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
)

// ArgGap is the args key of a gap step on a PushAllTicks replica: its value
// (a uint64) is how many worker transitions the step merged, because they
// could not be delivered one by one (the server's MaxPendingTransitions
// bound, a resync, or the client's own handler queue bound). Read it with
// Gap.
const ArgGap = engine.ArgGap

// Gap returns how many worker transitions the event's step merged: 0 for an
// event of one worker transition, n > 0 for a gap step (whose mutation type
// and called states mean nothing; its diff is the merged one, so FooState
// and FooEnd still follow the replica's states). For a final handler bound
// to a PushAllTicks replica.
func Gap(e *am.Event) uint64 {
	if e == nil {
		return 0
	}
	n, _ := e.Args[ArgGap].(uint64)
	return n
}

// step is one transition of a PushAllTicks replica: a worker transition
// (tick), or a gap merging several.
type step struct {
	before, after am.Time
	tick          *engine.Tick
	gap           uint64
	seq           uint64
}

// EnablePushAllTicks tells the replica that its transport delivers every
// worker transition (aRPC ClientOpts.PushAllTicks, gRPC
// WatchClockRequest.push_all_ticks): updates are then applied one
// transition at a time, and HandlersBind accepts final handlers. Call it
// before the first update.
func (w *Worker) EnablePushAllTicks() { w.allTicks.Store(true) }

// IsPushAllTicks reports whether EnablePushAllTicks was called.
func (w *Worker) IsPushAllTicks() bool { return w.allTicks.Load() }

// applyStepsLocked applies a chained update of a ticking replica one worker
// transition at a time, evaluating waits at each step; an update without
// ticks is one gap step. False when a diff does not fit the replica.
func (w *Worker) applyStepsLocked(u *engine.Update, steps *[]step,
	fire *[]func(),
) bool {
	if len(u.Ticks) == 0 || u.Ticks[0].Seq != u.FromSeq+1 ||
		uint64(len(u.Ticks)) != u.ToSeq-u.FromSeq {
		before := slices.Clone(w.time)
		if err := clock.Apply(w.time, u.Diff); err != nil {
			return false
		}
		*fire = append(*fire, w.collectLocked(before)...)
		*steps = append(*steps, step{before: before,
			after: slices.Clone(w.time), gap: u.ToSeq - u.FromSeq, seq: u.ToSeq})
		return true
	}
	// the times of every step in one allocation: step i is before at
	// slab[i], after at slab[i+1]
	n := len(w.time)
	slab := make(am.Time, (len(u.Ticks)+1)*n)
	copy(slab, w.time)
	for i, tk := range u.Ticks {
		before, after := slab[i*n:(i+1)*n:(i+1)*n], slab[(i+1)*n:(i+2)*n:(i+2)*n]
		copy(after, before)
		if err := clock.Apply(after, tk.Diff); err != nil {
			return false
		}
		copy(w.time, after)
		*fire = append(*fire, w.collectLocked(before)...)
		*steps = append(*steps, step{before: before, after: after, tick: tk,
			seq: tk.Seq, gap: tk.Gap})
	}
	return true
}

// stepQueue orders the delivery of the steps of concurrent ApplyUpdate
// calls: each queues its steps while it holds the replica's lock, then
// whichever call finds nobody delivering delivers everything queued, in
// order. Nobody waits for another's delivery, so a tracer may call the
// worker (its reply's steps are delivered after the current ones).
type stepQueue struct {
	mx         sync.Mutex
	q          []stepBatch
	delivering bool
}

type stepBatch struct {
	steps   []step
	tracers []am.Tracer
}

func (sq *stepQueue) add(steps []step, tracers []am.Tracer) {
	sq.mx.Lock()
	sq.q = append(sq.q, stepBatch{steps: steps, tracers: tracers})
	sq.mx.Unlock()
}

func (sq *stepQueue) drain(w *Worker) {
	sq.mx.Lock()
	if sq.delivering {
		sq.mx.Unlock()
		return
	}
	sq.delivering = true
	for len(sq.q) > 0 {
		q := sq.q
		sq.q = nil
		sq.mx.Unlock()
		for _, b := range q {
			w.deliverSteps(b.steps, b.tracers)
		}
		sq.mx.Lock()
	}
	sq.delivering = false
	sq.mx.Unlock()
}

// deliverSteps hands the steps, in order, to the tracers (one
// TransitionEnd each) and to the bound final handlers.
func (w *Worker) deliverSteps(steps []step, tracers []am.Tracer) {
	bus := &w.handlers
	bound := bus.active()
	for i := range steps {
		st := &steps[i]
		if st.gap > 0 {
			w.gaps.Add(1)
			w.gapped.Add(st.gap)
		} else {
			w.ticks.Add(1)
		}
		if len(tracers) == 0 && !bound {
			continue
		}
		tx := w.stepTransition(st)
		for _, t := range tracers {
			t.TransitionEnd(tx)
		}
		if bound {
			bus.enqueue(w, st, tx)
		}
	}
}

// stepTransition returns the am.Transition of a step: times, mutation
// (type, called states, args), the states it activated (Enters) and
// deactivated (Exits), accepted and completed.
func (w *Worker) stepTransition(st *step) *am.Transition {
	mut := &am.Mutation{}
	if tk := st.tick; tk != nil && st.gap == 0 {
		mut.Type, mut.Called, mut.Args, mut.IsAuto = tk.Type, tk.Called, tk.Args,
			tk.Auto
	} else {
		mut.Type = am.MutationSet
		mut.Args = am.A{ArgGap: st.gap}
	}
	tx := &am.Transition{
		Id:         strconv.FormatUint(st.seq, 10),
		TimeBefore: st.before,
		TimeAfter:  st.after,
		MachApi:    w,
		Mutation:   mut,
	}
	for i, a := range st.after {
		b := st.before[i]
		if a == b {
			continue
		}
		was, is := am.IsActiveTick(b), am.IsActiveTick(a)
		switch {
		case was && !is:
			tx.Exits = append(tx.Exits, w.names[i])
		case is:
			// activated, or a multi state activated again
			tx.Enters = append(tx.Enters, w.names[i])
		}
	}
	tx.IsAccepted.Store(true)
	tx.IsCompleted.Store(true)
	return tx
}

// WhenSeq returns a channel closed once the replica reached the engine
// sequence seq (at once when it has), or when ctx ends or the Worker is
// disposed. A transport whose mutation reply only names the snapshot that
// holds the mutation (a PushAllTicks reply whose transitions the clock
// stream carries) waits on it, so that the replica reflects the mutation
// when the call returns.
func (w *Worker) WhenSeq(seq uint64, ctx context.Context) <-chan struct{} {
	return w.wait(nil, ctx, func() bool { return w.seq >= seq })
}
