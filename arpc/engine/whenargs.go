package engine

import (
	"context"
	"reflect"
	"sync"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// argsWait is one WhenArgs wait: state idx activated by a mutation whose
// args hold every key of args with an equal value.
type argsWait struct {
	idx  int
	args am.A
	// match, when set, replaces argsInclude (WhenArgsMatch)
	match func(have am.A) bool
	ch    chan struct{}
}

// argsWaits are an engine's open WhenArgs waits.
type argsWaits struct {
	mx    sync.Mutex
	waits map[*argsWait]struct{}
}

// WhenArgs returns a channel closed when the worker activates the state at
// idx (a multi state: each activation) in a transition whose mutation args
// include args (every key, an equal value), or when ctx ends. Unlike the
// worker's own WhenArgs, every call gets its own channel: waits with equal
// args but different contexts never close each other's.
func (e *Engine) WhenArgs(idx int, args am.A, ctx context.Context) <-chan struct{} {
	return e.whenArgs(&argsWait{idx: idx, args: args, ch: make(chan struct{})},
		ctx)
}

// WhenArgsMatch is WhenArgs with the args compared by match, which gets the
// activating mutation's args: for a door whose encoding changes value types
// (the gRPC door compares numbers by value, as JSON does). match runs in
// the worker's transition; keep it cheap.
func (e *Engine) WhenArgsMatch(idx int, match func(have am.A) bool,
	ctx context.Context,
) <-chan struct{} {
	return e.whenArgs(&argsWait{idx: idx, match: match,
		ch: make(chan struct{})}, ctx)
}

func (e *Engine) whenArgs(w *argsWait, ctx context.Context) <-chan struct{} {
	if ctx.Err() != nil {
		close(w.ch)
		return w.ch
	}
	e.argsWaits.mx.Lock()
	if e.argsWaits.waits == nil {
		e.argsWaits.waits = map[*argsWait]struct{}{}
	}
	e.argsWaits.waits[w] = struct{}{}
	e.argsWaitCount.Add(1)
	e.argsWaits.mx.Unlock()
	context.AfterFunc(ctx, func() { e.endArgsWait(w) })
	return w.ch
}

// endArgsWait closes and forgets w, once.
func (e *Engine) endArgsWait(w *argsWait) {
	e.argsWaits.mx.Lock()
	_, open := e.argsWaits.waits[w]
	if open {
		delete(e.argsWaits.waits, w)
		e.argsWaitCount.Add(-1)
	}
	e.argsWaits.mx.Unlock()
	if open {
		close(w.ch)
	}
}

// matchArgs ends the waits that an accepted transition satisfies.
func (e *Engine) matchArgs(before, after am.Time, args am.A) {
	var done []*argsWait
	e.argsWaits.mx.Lock()
	for w := range e.argsWaits.waits {
		if w.idx >= len(after) || w.idx >= len(before) {
			continue
		}
		b, a := before[w.idx], after[w.idx]
		if a == b || !am.IsActiveTick(a) {
			continue
		}
		if (w.match != nil && w.match(args)) ||
			(w.match == nil && argsInclude(args, w.args)) {
			done = append(done, w)
		}
	}
	e.argsWaits.mx.Unlock()
	for _, w := range done {
		e.endArgsWait(w)
	}
}

// argsInclude reports whether have holds every key of want with an equal
// value; values that == cannot compare (slices, maps) are compared deeply.
func argsInclude(have, want am.A) bool {
	for k, v := range want {
		got, ok := have[k]
		if !ok || !equalValue(got, v) {
			return false
		}
	}
	return true
}

func equalValue(a, b any) (eq bool) {
	if a == nil || b == nil {
		return a == b
	}
	if reflect.TypeOf(a) != reflect.TypeOf(b) {
		return false
	}
	// == panics on a comparable type holding an uncomparable value (a
	// struct with an `any` field holding a slice): compare deeply then
	defer func() {
		if recover() != nil {
			eq = reflect.DeepEqual(a, b)
		}
	}()
	return a == b
}
