package arpc

import (
	"context"
	"fmt"
	"slices"
	"sync"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// waiter is one pending wait on the replica. fire is evaluated with w.mx
// held.
type waiter struct {
	idxs []int
	fire func() bool
	ch   chan struct{}
	stop func() bool
	done bool
}

// stateCtx is the context of one activation of a state.
type stateCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
	tick   uint64
}

// wait registers a waiter on idxs (nil: any change, including the queue
// tick) and returns its channel, closed at once when fire already holds.
func (w *Worker) wait(idxs []int, ctx context.Context,
	fire func() bool,
) <-chan struct{} {
	if w.disposed.Load() || (ctx != nil && ctx.Err() != nil) {
		return closedChan
	}
	w.mx.Lock()
	defer w.mx.Unlock()
	if fire() {
		return closedChan
	}
	wt := &waiter{idxs: idxs, fire: fire, ch: make(chan struct{})}
	if idxs == nil {
		w.anyWaits = append(w.anyWaits, wt)
	}
	for _, i := range idxs {
		w.waits[i] = append(w.waits[i], wt)
	}
	if ctx != nil {
		wt.stop = context.AfterFunc(ctx, func() { w.dropWaiter(wt) })
	}
	return wt.ch
}

// dropWaiter ends a waiter whose context is done.
func (w *Worker) dropWaiter(wt *waiter) {
	w.mx.Lock()
	if wt.done {
		w.mx.Unlock()
		return
	}
	wt.done = true
	w.unlinkLocked(wt)
	w.mx.Unlock()
	close(wt.ch)
}

func (w *Worker) unlinkLocked(wt *waiter) {
	notIt := func(o *waiter) bool { return o == wt }
	if wt.idxs == nil {
		w.anyWaits = slices.DeleteFunc(w.anyWaits, notIt)
	}
	for _, i := range wt.idxs {
		if l := slices.DeleteFunc(w.waits[i], notIt); len(l) > 0 {
			w.waits[i] = l
		} else {
			delete(w.waits, i)
		}
	}
}

// collectLocked finds the waiters and state contexts a change from before
// to w.time settles, unlinks them, and returns what to run once unlocked.
func (w *Worker) collectLocked(before am.Time) []func() {
	var out []func()
	var fired []*waiter
	check := func(wt *waiter) {
		if !wt.done && wt.fire() {
			wt.done = true
			fired = append(fired, wt)
		}
	}
	for i, tick := range w.time {
		if i < len(before) && before[i] == tick {
			continue
		}
		for _, wt := range w.waits[i] {
			check(wt)
		}
		if sc, ok := w.stateCtx[i]; ok && sc.tick != tick {
			delete(w.stateCtx, i)
			out = append(out, sc.cancel)
		}
	}
	for _, wt := range w.anyWaits {
		check(wt)
	}
	for _, wt := range fired {
		w.unlinkLocked(wt)
		ch, stop := wt.ch, wt.stop
		out = append(out, func() {
			if stop != nil {
				stop()
			}
			close(ch)
		})
	}
	return out
}

func (w *Worker) idxsOf(states am.S) ([]int, bool) {
	idxs, err := w.indexes(states)
	if err != nil {
		w.reportErr(err)
		return nil, false
	}
	return idxs, true
}

// never returns a channel closed only by ctx or disposal: the answer to a
// wait on unknown states (reported in LastErr), which can never match.
func (w *Worker) never(ctx context.Context) <-chan struct{} {
	return w.wait([]int{}, ctx, func() bool { return false })
}

// awaitSeq waits until the replica's sequence reached seq; false when ctx
// ended or the worker was disposed first.
func (w *Worker) awaitSeq(ctx context.Context, seq uint64) bool {
	<-w.wait(nil, ctx, func() bool { return w.seq >= seq })
	w.mx.RLock()
	defer w.mx.RUnlock()
	return w.seq >= seq
}

// ///// WAITS (local)

// When returns a channel closed when all states are active (at once if they
// are), when ctx ends, or when the worker is disposed.
func (w *Worker) When(states am.S, ctx context.Context) <-chan struct{} {
	idxs, ok := w.idxsOf(states)
	if !ok {
		return w.never(ctx)
	}
	return w.wait(idxs, ctx, func() bool {
		for _, i := range idxs {
			if !am.IsActiveTick(w.time[i]) {
				return false
			}
		}
		return true
	})
}

// When1 is When for one state.
func (w *Worker) When1(state string, ctx context.Context) <-chan struct{} {
	return w.When(am.S{state}, ctx)
}

// WhenNot returns a channel closed when all states are inactive. See When.
func (w *Worker) WhenNot(states am.S, ctx context.Context) <-chan struct{} {
	idxs, ok := w.idxsOf(states)
	if !ok {
		return w.never(ctx)
	}
	return w.wait(idxs, ctx, func() bool {
		for _, i := range idxs {
			if am.IsActiveTick(w.time[i]) {
				return false
			}
		}
		return true
	})
}

// WhenNot1 is WhenNot for one state.
func (w *Worker) WhenNot1(state string, ctx context.Context) <-chan struct{} {
	return w.WhenNot(am.S{state}, ctx)
}

// WhenTime returns a channel closed when every state's tick reached the
// matching entry of times.
func (w *Worker) WhenTime(states am.S, times am.Time,
	ctx context.Context,
) <-chan struct{} {
	idxs, ok := w.idxsOf(states)
	if !ok {
		return w.never(ctx)
	}
	if len(times) != len(idxs) {
		w.reportErr(fmt.Errorf("%w: %d states, %d times", ErrInvalidParams,
			len(idxs), len(times)))
		return w.never(ctx)
	}
	times = slices.Clone(times)
	return w.wait(idxs, ctx, func() bool {
		for k, i := range idxs {
			if w.time[i] < times[k] {
				return false
			}
		}
		return true
	})
}

// WhenTime1 is WhenTime for one state.
func (w *Worker) WhenTime1(state string, tick uint64,
	ctx context.Context,
) <-chan struct{} {
	return w.WhenTime(am.S{state}, am.Time{tick}, ctx)
}

// WhenTicks returns a channel closed once state ticked `ticks` more times.
func (w *Worker) WhenTicks(state string, ticks int,
	ctx context.Context,
) <-chan struct{} {
	return w.WhenTime1(state, w.Tick(state)+uint64(max(ticks, 0)), ctx)
}

// WhenNextActive returns a channel closed at the state's next activation
// (not the current one).
func (w *Worker) WhenNextActive(state string,
	ctx context.Context,
) <-chan struct{} {
	tick := w.Tick(state)
	next := tick + 1
	if am.IsActiveTick(tick) {
		next = tick + 2
	}
	return w.WhenTime1(state, next, ctx)
}

// WhenQuery returns a channel closed when query returns true for the
// replica's clock. query runs under the replica's lock: keep it short and
// do not call the worker from it.
func (w *Worker) WhenQuery(query func(clock am.Clock) bool,
	ctx context.Context,
) <-chan struct{} {
	return w.wait(nil, ctx, func() bool {
		c := make(am.Clock, len(w.names))
		for i, n := range w.names {
			c[n] = w.time[i]
		}
		return query(c)
	})
}

// WhenErr returns a channel closed when Exception is active.
func (w *Worker) WhenErr(ctx context.Context) <-chan struct{} {
	return w.When1(am.StateException, ctx)
}

// WhenQueue returns a channel closed once the worker's queue tick reached
// tick (the value of a Queued result).
func (w *Worker) WhenQueue(tick am.Result) <-chan struct{} {
	return w.wait(nil, nil, func() bool {
		return w.queueTick >= uint64(tick)
	})
}

// NewStateCtx returns a context bound to the state's current tick: it is
// canceled when the state's tick changes (per the replica), i.e. when an
// active state is deactivated or an inactive one activated, as a local
// machine's state context. It carries am.CtxValue.
func (w *Worker) NewStateCtx(state string, _ ...*am.Event) context.Context {
	idx, ok := w.index[state]
	if !ok {
		w.reportErr(fmt.Errorf("%w: %w: %q", ErrInvalidParams, am.ErrStateMissing,
			state))
		ctx, cancel := context.WithCancel(w.ctx)
		cancel()
		return ctx
	}
	w.mx.Lock()
	defer w.mx.Unlock()
	tick := w.time[idx]
	if sc, ok := w.stateCtx[idx]; ok && sc.tick == tick {
		return sc.ctx
	}
	ctx, cancel := context.WithCancel(context.WithValue(w.ctx, am.CtxKey,
		am.CtxValue{Id: w.id, State: state, Tick: tick}))
	if w.disposed.Load() {
		cancel()
		return ctx
	}
	w.stateCtx[idx] = &stateCtx{ctx: ctx, cancel: cancel, tick: tick}
	return ctx
}

// ///// LIFECYCLE, TRACERS, HANDLERS

// Dispose ends the replica: waits are released, state contexts canceled,
// tracers told. The connection is the client's business (Client.Stop).
func (w *Worker) Dispose() {
	if !w.disposed.CompareAndSwap(false, true) {
		return
	}
	w.cancel()
	w.mx.Lock()
	var all []*waiter
	all = append(all, w.anyWaits...)
	for _, l := range w.waits {
		all = append(all, l...)
	}
	w.anyWaits, w.waits = nil, map[int][]*waiter{}
	var chs []chan struct{}
	for _, wt := range all {
		if !wt.done {
			wt.done = true
			chs = append(chs, wt.ch)
		}
	}
	handlers := w.onDispose
	tracers := w.tracers
	w.mx.Unlock()
	for _, ch := range chs {
		close(ch)
	}
	for _, t := range tracers {
		t.MachineDispose(w.id)
	}
	for _, fn := range handlers {
		fn(w.id, w.ctx)
	}
	w.standIn.dispose()
}

// WhenDisposed returns a channel closed once Dispose ran.
func (w *Worker) WhenDisposed() <-chan struct{} { return w.ctx.Done() }

// IsDisposed reports whether Dispose ran.
func (w *Worker) IsDisposed() bool { return w.disposed.Load() }

// OnDispose registers fn to run on Dispose.
func (w *Worker) OnDispose(fn am.HandlerDispose) {
	w.mx.Lock()
	defer w.mx.Unlock()
	w.onDispose = append(w.onDispose, fn)
}

// StatesVerified is always true: the names come from the worker.
func (w *Worker) StatesVerified() bool { return true }

// TracerBind binds a tracer. It receives TransitionEnd for every clock
// update that changed the replica (with TimeBefore, TimeAfter and MachApi
// set; no steps nor mutation) and MachineDispose. This is what lets a Server
// expose a remote worker further (a relay).
func (w *Worker) TracerBind(t am.Tracer) (string, error) {
	if t == nil {
		return "", fmt.Errorf("%w: nil tracer", ErrInvalidParams)
	}
	id := t.TracerId()
	w.mx.Lock()
	defer w.mx.Unlock()
	for _, o := range w.tracers {
		if o.TracerId() == id {
			return "", fmt.Errorf("%w: tracer %q already bound", ErrInvalidParams, id)
		}
	}
	w.tracers = append(slices.Clone(w.tracers), t)
	return id, nil
}

// TracerDetach detaches a tracer by ID.
func (w *Worker) TracerDetach(id string) error {
	w.mx.Lock()
	defer w.mx.Unlock()
	i := slices.IndexFunc(w.tracers, func(t am.Tracer) bool {
		return t.TracerId() == id
	})
	if i < 0 {
		return fmt.Errorf("%w: tracer %q not bound", ErrInvalidParams, id)
	}
	w.tracers = slices.Delete(slices.Clone(w.tracers), i, i+1)
	return nil
}

// Tracers returns the bound tracers.
func (w *Worker) Tracers() []am.Tracer {
	w.mx.RLock()
	defer w.mx.RUnlock()
	return slices.Clone(w.tracers)
}

// BindTracer is the deprecated name of TracerBind.
func (w *Worker) BindTracer(t am.Tracer) (string, error) { return w.TracerBind(t) }

// DetachTracer is the deprecated name of TracerDetach.
func (w *Worker) DetachTracer(id string) error { return w.TracerDetach(id) }

// BindHandlers is the deprecated name of HandlersBind (worker_handlers.go).
func (w *Worker) BindHandlers(h any, opts ...am.BindOpts) (string, error) {
	return w.HandlersBind(h, opts...)
}

// DetachHandlers is the deprecated name of HandlersDetach.
func (w *Worker) DetachHandlers(id string) error { return w.HandlersDetach(id) }

// AddBreakpoint does nothing: breakpoints belong to the worker's debugger.
func (w *Worker) AddBreakpoint(am.S, am.S, bool) {}

// AddBreakpoint1 does nothing. See AddBreakpoint.
func (w *Worker) AddBreakpoint1(string, string, bool) {}

// SemLogger returns the semantic logger of a local stand-in machine (same
// ID, no states of its own), created on first use.
func (w *Worker) SemLogger() am.SemLogger { return w.standIn.get(w).SemLogger() }

// standIn is a lazily created local machine backing SemLogger.
type standIn struct {
	once sync.Once
	m    *am.Machine
	mx   sync.Mutex
}

func (s *standIn) get(w *Worker) *am.Machine {
	s.once.Do(func() {
		s.mx.Lock()
		defer s.mx.Unlock()
		s.m = am.New(context.Background(), am.Schema{}, &am.Opts{Id: w.id})
		if w.disposed.Load() {
			s.m.Dispose()
		}
	})
	return s.m
}

func (s *standIn) dispose() {
	s.mx.Lock()
	defer s.mx.Unlock()
	if s.m != nil {
		s.m.Dispose()
	}
}
