package arpc

import (
	"context"
	"fmt"
	"slices"
	"strings"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// ///// CHECKS AND GETTERS (local, from the replica)

func (w *Worker) activeLocked(state string) bool {
	idx, ok := w.index[state]
	return ok && am.IsActiveTick(w.time[idx])
}

// Is reports whether all states are active (per the replica).
func (w *Worker) Is(states am.S) bool {
	w.mx.RLock()
	defer w.mx.RUnlock()
	for _, s := range states {
		if !w.activeLocked(s) {
			return false
		}
	}
	return true
}

// Is1 is Is for one state.
func (w *Worker) Is1(state string) bool { return w.Is(am.S{state}) }

// Not reports whether none of states is active.
func (w *Worker) Not(states am.S) bool {
	w.mx.RLock()
	defer w.mx.RUnlock()
	for _, s := range states {
		if w.activeLocked(s) {
			return false
		}
	}
	return true
}

// Not1 is Not for one state.
func (w *Worker) Not1(state string) bool { return w.Not(am.S{state}) }

// Any reports whether Is holds for any of the groups.
func (w *Worker) Any(states ...am.S) bool {
	for _, s := range states {
		if w.Is(s) {
			return true
		}
	}
	return false
}

// Any1 reports whether any of the states is active.
func (w *Worker) Any1(states ...string) bool {
	for _, s := range states {
		if w.Is1(s) {
			return true
		}
	}
	return false
}

// Has reports whether all states exist in the worker's schema.
func (w *Worker) Has(states am.S) bool {
	for _, s := range states {
		if _, ok := w.index[s]; !ok {
			return false
		}
	}
	return true
}

// Has1 is Has for one state.
func (w *Worker) Has1(state string) bool { return w.Has(am.S{state}) }

// Tick returns the state's tick, 0 for unknown states.
func (w *Worker) Tick(state string) uint64 {
	w.mx.RLock()
	defer w.mx.RUnlock()
	idx, ok := w.index[state]
	if !ok {
		return 0
	}
	return w.time[idx]
}

// Time returns the ticks of states (all states for nil), index-aligned.
func (w *Worker) Time(states am.S) am.Time {
	if w.disposed.Load() {
		return nil
	}
	w.mx.RLock()
	defer w.mx.RUnlock()
	if states == nil {
		return slices.Clone(w.time)
	}
	t := make(am.Time, len(states))
	for i, s := range states {
		if idx, ok := w.index[s]; ok {
			t[i] = w.time[idx]
		}
	}
	return t
}

// Clock returns the ticks of states (all for nil), keyed by name; empty
// once the Worker is disposed.
func (w *Worker) Clock(states am.S) am.Clock {
	if states == nil {
		states = w.names
	}
	t := w.Time(states)
	if len(t) != len(states) {
		// disposed: Time has nothing to give
		return am.Clock{}
	}
	c := make(am.Clock, len(states))
	for i, s := range states {
		if _, ok := w.index[s]; ok {
			c[s] = t[i]
		}
	}
	return c
}

// IsTime reports whether the ticks of states (all for nil) equal t.
func (w *Worker) IsTime(t am.Time, states am.S) bool {
	return slices.Equal(w.Time(states), t)
}

// WasTime reports whether the current ticks of states are all >= t.
func (w *Worker) WasTime(t am.Time, states am.S) bool {
	now := w.Time(states)
	if len(now) != len(t) {
		return false
	}
	for i := range t {
		if now[i] < t[i] {
			return false
		}
	}
	return true
}

// IsClock reports whether the replica's ticks equal clock, for its states.
func (w *Worker) IsClock(clock am.Clock) bool {
	for s, tick := range clock {
		if _, ok := w.index[s]; !ok || w.Tick(s) != tick {
			return false
		}
	}
	return true
}

// WasClock reports whether every state of clock has at least its tick.
func (w *Worker) WasClock(clock am.Clock) bool {
	for s, tick := range clock {
		if _, ok := w.index[s]; !ok || w.Tick(s) < tick {
			return false
		}
	}
	return true
}

// StateNames returns a copy of the ordered state names.
func (w *Worker) StateNames() am.S { return slices.Clone(w.names) }

// ActiveStates returns the active states among states (all for nil), in
// schema order.
func (w *Worker) ActiveStates(states am.S) am.S {
	w.mx.RLock()
	defer w.mx.RUnlock()
	var out am.S
	for i, n := range w.names {
		if am.IsActiveTick(w.time[i]) && (states == nil || slices.Contains(states, n)) {
			out = append(out, n)
		}
	}
	return out
}

// QueueTick returns the worker's queue tick as of the last update.
func (w *Worker) QueueTick() uint64 {
	w.mx.RLock()
	defer w.mx.RUnlock()
	return w.queueTick
}

// MachineTick returns the worker's machine tick from the handshake.
func (w *Worker) MachineTick() uint32 {
	w.mx.RLock()
	defer w.mx.RUnlock()
	return w.machineTick
}

// QueueLen is always 0: the worker's queue is not replicated.
func (w *Worker) QueueLen() uint16 { return 0 }

// Transition returns, while a final handler bound to a PushAllTicks replica
// runs, the worker transition it handles (see HandlersBind); nil otherwise:
// transitions run on the worker.
func (w *Worker) Transition() *am.Transition { return w.handlers.cur.Load() }

// IsLocal is always false.
func (w *Worker) IsLocal() bool { return false }

// ErrInternal delivers errors of calls that cannot return one (see LastErr).
// Buffered; errors are dropped when nobody reads.
func (w *Worker) ErrInternal() <-chan error { return w.errInternal }

// Export returns the replica's state and the worker's schema.
func (w *Worker) Export() (*am.Serialized, am.Schema, error) {
	w.mx.RLock()
	defer w.mx.RUnlock()
	return &am.Serialized{
		ID:          w.id,
		StateNames:  slices.Clone(w.names),
		Time:        slices.Clone(w.time),
		QueueTick:   w.queueTick,
		MachineTick: w.machineTick,
	}, w.schema.Clone(), nil
}

// Schema returns a copy of the worker's schema.
func (w *Worker) Schema() am.Schema { return w.schema.Clone() }

// Switch returns the first active state of the groups, "" for none.
func (w *Worker) Switch(groups ...am.S) string {
	for _, g := range groups {
		for _, s := range g {
			if w.Is1(s) {
				return s
			}
		}
	}
	return ""
}

// Groups returns the worker's state groups (state indexes by group name,
// and the groups' order), as the last handshake brought them; nil when the
// worker has none or the transport does not carry them (gRPC).
func (w *Worker) Groups() (map[string][]int, []string) {
	w.mx.RLock()
	defer w.mx.RUnlock()
	return w.groups, w.groupsOrder
}

// Index returns the indexes of states, -1 for unknown ones.
func (w *Worker) Index(states am.S) []int {
	out := make([]int, len(states))
	for i, s := range states {
		out[i] = w.Index1(s)
	}
	return out
}

// Index1 returns the index of state, -1 if unknown.
func (w *Worker) Index1(state string) int {
	if idx, ok := w.index[state]; ok {
		return idx
	}
	return -1
}

// ParseStates returns the known states among states, without duplicates.
func (w *Worker) ParseStates(states am.S) am.S {
	var out am.S
	for _, s := range states {
		if _, ok := w.index[s]; ok && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Id returns the worker's machine ID.
func (w *Worker) Id() string { return w.id }

// ParentId returns the ID of the machine this worker replica belongs to
// (the client's), if any.
func (w *Worker) ParentId() string { return w.parentId }

// Tags returns nil: tags are not replicated.
func (w *Worker) Tags() []string { return nil }

// Context returns the replica's context, done when it is disposed.
func (w *Worker) Context() context.Context { return w.ctx }

// ContextParent returns the same as Context.
func (w *Worker) ContextParent() context.Context { return w.ctx }

// String returns the active states with their ticks, e.g. (Foo:1 Bar:3).
func (w *Worker) String() string {
	w.mx.RLock()
	defer w.mx.RUnlock()
	var b strings.Builder
	b.WriteString("(")
	first := true
	for i, n := range w.names {
		if !am.IsActiveTick(w.time[i]) {
			continue
		}
		if !first {
			b.WriteString(" ")
		}
		first = false
		fmt.Fprintf(&b, "%s:%d", n, w.time[i])
	}
	b.WriteString(")")
	return b.String()
}

// StringAll returns every state with its tick, inactive ones in brackets,
// e.g. (Foo:1) [Bar:2].
func (w *Worker) StringAll() string {
	w.mx.RLock()
	defer w.mx.RUnlock()
	var on, off []string
	for i, n := range w.names {
		s := fmt.Sprintf("%s:%d", n, w.time[i])
		if am.IsActiveTick(w.time[i]) {
			on = append(on, s)
		} else {
			off = append(off, s)
		}
	}
	return "(" + strings.Join(on, " ") + ") [" + strings.Join(off, " ") + "]"
}

// Inspect returns a multi-line description of states (all for nil): active
// mark, tick and relations.
func (w *Worker) Inspect(states am.S) string {
	if states == nil {
		states = w.names
	}
	var b strings.Builder
	for _, s := range states {
		idx, ok := w.index[s]
		if !ok {
			continue
		}
		tick := w.Tick(s)
		mark := " "
		if am.IsActiveTick(tick) {
			mark = "1"
		} else {
			mark = "0"
		}
		fmt.Fprintf(&b, "%s %s (%d) #%d\n", mark, s, tick, idx)
		st := w.schema[s]
		for _, rel := range []struct {
			name string
			s    am.S
		}{{"Require", st.Require}, {"Add", st.Add}, {"Remove", st.Remove},
			{"After", st.After}} {
			if len(rel.s) > 0 {
				fmt.Fprintf(&b, "    |%s: %s\n", rel.name, strings.Join(rel.s, ", "))
			}
		}
		if st.Auto {
			b.WriteString("    |Auto\n")
		}
		if st.Multi {
			b.WriteString("    |Multi\n")
		}
	}
	return b.String()
}

// Log logs msg with the remote worker's logger (slog, at Info).
func (w *Worker) Log(msg string, args ...any) {
	w.log.Info(fmt.Sprintf(msg, args...), "worker", w.id)
}
