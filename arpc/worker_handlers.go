package arpc

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// ErrNegotiationHandler means a handler set bound to a remote worker has a
// negotiation handler (FooEnter, FooExit, AnyEnter, FooFoo, FooBar): those
// decide whether a transition happens, so they can only run in the worker
// itself. It wraps ErrNotLocal.
var ErrNegotiationHandler = fmt.Errorf("%w: negotiation handler", ErrNotLocal)

// ErrHandlerPanic is reported (LastErr, ErrInternal) when a final handler
// bound to a remote worker panicked; the next handlers still run.
var ErrHandlerPanic = fmt.Errorf("%w: final handler panicked", ErrUnsupported)

// MaxHandlerQueue bounds the steps a PushAllTicks replica queues for its
// final handlers while they are busy (besides the batch being run, at most
// as many). Past it, further steps are merged into
// one gap step (see Gap), delivered once the handlers caught up, and
// counted in WorkerStats.Gaps.
const MaxHandlerQueue = 1 << 16

// binding is one handler set bound with HandlersBind(Maps).
type binding struct {
	id string
	// finals by handler name (FooState, FooEnd, AnyState)
	finals map[string]am.HandlerFinal
}

// handlerBus runs a replica's final handlers, one step at a time, on one
// goroutine owned by the Worker (started by the first binding, ended with
// the Worker's context): the transport's read loop never waits for a
// handler, and a handler may call the worker (its reply is read meanwhile).
type handlerBus struct {
	mx       sync.Mutex
	bindings []*binding
	queue    []busItem
	// pendingGap merges the steps refused while the queue is full
	pendingGap *step
	wake       chan struct{}
	started    bool
	n          atomic.Int32
	// cur is the transition whose handlers run (Worker.Transition)
	cur  atomic.Pointer[am.Transition]
	next int
	// max bounds the queue; 0 means MaxHandlerQueue
	max int
}

type busItem struct {
	st *step
	tx *am.Transition
}

// active reports whether any handler set is bound.
func (b *handlerBus) active() bool { return b.n.Load() > 0 }

// enqueue queues a step's handlers.
func (b *handlerBus) enqueue(w *Worker, st *step, tx *am.Transition) {
	b.mx.Lock()
	if len(b.queue) >= cmp.Or(b.max, MaxHandlerQueue) {
		if b.pendingGap == nil {
			b.pendingGap = &step{before: st.before}
		}
		n := st.gap
		if n == 0 {
			n = 1
		}
		b.pendingGap.gap += n
		b.pendingGap.after, b.pendingGap.seq = st.after, st.seq
		b.mx.Unlock()
		return
	}
	if g := b.pendingGap; g != nil {
		b.pendingGap = nil
		w.gaps.Add(1)
		w.gapped.Add(g.gap)
		b.queue = append(b.queue, busItem{st: g, tx: w.stepTransition(g)})
	}
	b.queue = append(b.queue, busItem{st: st, tx: tx})
	b.mx.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// run is the handler goroutine.
func (b *handlerBus) run(w *Worker) {
	for {
		b.mx.Lock()
		items := b.queue
		b.queue = nil
		if len(items) == 0 && b.pendingGap != nil {
			g := b.pendingGap
			b.pendingGap = nil
			w.gaps.Add(1)
			w.gapped.Add(g.gap)
			items = []busItem{{st: g, tx: w.stepTransition(g)}}
		}
		bindings := b.bindings
		b.mx.Unlock()
		for _, it := range items {
			if w.ctx.Err() != nil {
				return
			}
			b.dispatch(w, bindings, it)
		}
		if len(items) > 0 {
			continue
		}
		select {
		case <-w.ctx.Done():
			return
		case <-b.wake:
		}
	}
}

// dispatch runs the final handlers of one step in asyncmachine's order:
// FooEnd of every deactivated state, FooState of every activated one, then
// AnyState; each name on every binding, in bind order.
func (b *handlerBus) dispatch(w *Worker, bindings []*binding, it busItem) {
	tx := it.tx
	b.cur.Store(tx)
	defer b.cur.Store(nil)
	names := make([]string, 0, len(tx.Exits)+len(tx.Enters)+1)
	for _, s := range tx.Exits {
		names = append(names, s+am.SuffixEnd)
	}
	for _, s := range tx.Enters {
		names = append(names, s+am.SuffixState)
	}
	names = append(names, am.StateAny+am.SuffixState)
	for _, name := range names {
		for _, bd := range bindings {
			if h := bd.finals[name]; h != nil {
				e := am.NewEvent(nil, w)
				e.Name, e.MachineId, e.TransitionId = name, w.id, tx.Id
				e.Args = tx.Mutation.Args
				e.Ctx = w.ctx
				w.callHandler(h, e)
			}
		}
	}
}

// callHandler runs one handler; a panic is reported, not propagated.
func (w *Worker) callHandler(h am.HandlerFinal, e *am.Event) {
	defer func() {
		if r := recover(); r != nil {
			w.reportErr(fmt.Errorf("%w: %s: %v", ErrHandlerPanic, e.Name, r))
		}
	}()
	h(e)
}

// bind validates and adds a handler set.
func (w *Worker) bind(finals map[string]am.HandlerFinal, opts []am.BindOpts,
) (string, error) {
	if !w.allTicks.Load() {
		return "", fmt.Errorf("%w: final handlers need PushAllTicks", ErrNotLocal)
	}
	b := &w.handlers
	b.mx.Lock()
	defer b.mx.Unlock()
	id := ""
	if len(opts) > 0 {
		id = opts[0].Id
	}
	if id == "" {
		b.next++
		id = "arpc-handlers-" + strconv.Itoa(b.next)
	}
	for _, o := range b.bindings {
		if o.id == id {
			return "", fmt.Errorf("%w: handlers %q already bound",
				ErrInvalidParams, id)
		}
	}
	b.bindings = append(slices.Clone(b.bindings), &binding{id: id,
		finals: finals})
	b.n.Add(1)
	if !b.started {
		b.started = true
		b.wake = make(chan struct{}, 1)
		go b.run(w)
	}
	return id, nil
}

// handlerKind classifies a handler name: final (FooState, FooEnd,
// AnyState), negotiation (FooEnter, FooExit, AnyEnter, FooFoo, FooBar), or
// neither ("": not a handler, e.g. a helper method).
func (w *Worker) handlerKind(name string) string {
	known := func(s string) bool {
		_, ok := w.index[s]
		return ok
	}
	switch name {
	case am.StateAny + am.SuffixState:
		return "final"
	case am.StateAny + am.SuffixEnter:
		return "negotiation"
	}
	for _, suf := range []string{am.SuffixState, am.SuffixEnd} {
		if s, ok := strings.CutSuffix(name, suf); ok && known(s) {
			return "final"
		}
	}
	for _, suf := range []string{am.SuffixEnter, am.SuffixExit} {
		if s, ok := strings.CutSuffix(name, suf); ok && known(s) {
			return "negotiation"
		}
	}
	for _, a := range w.names {
		if rest, ok := strings.CutPrefix(name, a); ok && known(rest) {
			return "negotiation"
		}
	}
	return ""
}

// HandlersBind binds a struct of final handlers (methods or func fields
// named FooState, FooEnd, AnyState, taking *am.Event) to a PushAllTicks
// replica (see EnablePushAllTicks): they run on the client, on one goroutine
// per Worker, once per worker transition, in order, with the event's Args
// (those that traveled), and e.Transition() giving the transition: its
// Mutation (type, called states, args), TimeBefore, TimeAfter, Enters and
// Exits (use tx.CalledStates(), not e.Mutation(): the event has no local
// machine). Gap(e) tells a step that merged several transitions. Other
// methods are ignored. BindOpts.Id names the binding; MethodPrefixTrim is
// honored.
//
// Errors: ErrNotLocal without PushAllTicks (handlers then run in the
// worker only; use waits, or bind them on the worker), ErrNegotiationHandler
// for negotiation handlers, which can only run in the worker, and
// ErrInvalidParams for anything but a pointer to a struct.
func (w *Worker) HandlersBind(handlers any, opts ...am.BindOpts) (string,
	error,
) {
	if !w.allTicks.Load() {
		return "", fmt.Errorf("%w: final handlers need PushAllTicks", ErrNotLocal)
	}
	v := reflect.ValueOf(handlers)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return "", fmt.Errorf("%w: handlers must be a pointer to a struct",
			ErrInvalidParams)
	}
	var trim string
	if len(opts) > 0 {
		trim = opts[0].MethodPrefixTrim
	}
	finals := map[string]am.HandlerFinal{}
	add := func(name string, fn reflect.Value) error {
		name = strings.TrimPrefix(name, trim)
		switch w.handlerKind(name) {
		case "negotiation":
			return fmt.Errorf("%w: %s", ErrNegotiationHandler, name)
		case "final":
			f, ok := fn.Interface().(func(*am.Event))
			if !ok {
				return fmt.Errorf("%w: %s is %s, not func(*am.Event)",
					ErrInvalidParams, name, fn.Type())
			}
			if f != nil {
				finals[name] = f
			}
		}
		return nil
	}
	t := v.Type()
	for i := range t.NumMethod() {
		if err := add(t.Method(i).Name, v.Method(i)); err != nil {
			return "", err
		}
	}
	st := t.Elem()
	for i := range st.NumField() {
		f := st.Field(i)
		if !f.IsExported() || f.Type.Kind() != reflect.Func {
			continue
		}
		if err := add(f.Name, v.Elem().Field(i)); err != nil {
			return "", err
		}
	}
	return w.bind(finals, opts)
}

// HandlersBindMaps is HandlersBind for maps of handlers: negotiations must
// be empty (ErrNegotiationHandler), finals are keyed FooState, FooEnd or
// AnyState (ErrInvalidParams for other keys).
func (w *Worker) HandlersBindMaps(negotiations map[string]am.HandlerNegotiation,
	finals map[string]am.HandlerFinal, opts ...am.BindOpts,
) (string, error) {
	if !w.allTicks.Load() {
		return "", fmt.Errorf("%w: final handlers need PushAllTicks", ErrNotLocal)
	}
	for name := range negotiations {
		return "", fmt.Errorf("%w: %s", ErrNegotiationHandler, name)
	}
	out := make(map[string]am.HandlerFinal, len(finals))
	for name, h := range finals {
		switch w.handlerKind(name) {
		case "final":
			out[name] = h
		case "negotiation":
			return "", fmt.Errorf("%w: %s", ErrNegotiationHandler, name)
		default:
			return "", fmt.Errorf("%w: %q is not a final handler name",
				ErrInvalidParams, name)
		}
	}
	return w.bind(out, opts)
}

// HandlersDetach detaches a handler set bound with HandlersBind(Maps);
// ErrNotLocal without PushAllTicks, ErrInvalidParams for an unknown ID.
func (w *Worker) HandlersDetach(id string) error {
	if !w.allTicks.Load() {
		return ErrNotLocal
	}
	b := &w.handlers
	b.mx.Lock()
	defer b.mx.Unlock()
	i := slices.IndexFunc(b.bindings, func(o *binding) bool { return o.id == id })
	if i < 0 {
		return fmt.Errorf("%w: handlers %q not bound", ErrInvalidParams, id)
	}
	b.bindings = slices.Delete(slices.Clone(b.bindings), i, i+1)
	b.n.Add(-1)
	return nil
}

// Handlers returns the IDs of the bound handler sets.
func (w *Worker) Handlers() []string {
	b := &w.handlers
	b.mx.Lock()
	defer b.mx.Unlock()
	out := make([]string, 0, len(b.bindings))
	for _, o := range b.bindings {
		out = append(out, o.id)
	}
	return out
}
