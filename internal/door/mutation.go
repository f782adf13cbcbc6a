package door

import (
	"context"
	"fmt"
	"slices"
	"sync"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/auth"

	"github.com/arpcbridge/arpcbridge/internal/errs"
)

// Mutation is one client's mutation of the worker, in the form every door
// hands to a [Mutator].
type Mutation struct {
	// Client scopes Id for exactly-once (a client ID, or a client instance's
	// ID scope).
	Client string
	// Id is the mutation ID; a retry with the same Client and Id is answered
	// with the first result instead of running again. 0: no de-duplication.
	Id uint64
	// Type is MutAdd, MutRemove, MutSet, MutAddErr or MutToggle.
	Type uint8
	// States are the called states, by name.
	States am.S
	// Args are the mutation's args.
	Args am.A
	// ErrMsg is the error's message of MutAddErr.
	ErrMsg string
	// Policy, when set, must allow Identity to mutate every state the
	// mutation may change (the called ones; for a set, every state, since it
	// removes whatever it does not name). A refusal wraps
	// ErrPermissionDenied, names the state and changes nothing.
	Policy *auth.Policy
	// Identity is the authenticated identity of the caller, for Policy.
	Identity string
	// Ran, when set, is called after the mutation ran on the worker (not for
	// replays, nor for mutations refused before running), with its result;
	// err is set when the worker panicked. For metrics: it must be quick.
	Ran func(res am.Result, err error)
}

// StateError is the error of a mutation that names a state the worker does
// not have. It wraps ErrInvalidParams; Pos is its position in the request's
// list, so that a door can point at the field.
type StateError struct {
	// Pos is the position in the request's list of states.
	Pos int
	// Name is the unknown name ("" when the state was given by index).
	Name string
	// Index is the out-of-range index (-1 when given by name).
	Index int
	// Count is how many states the worker has.
	Count int
}

func (e *StateError) Error() string {
	if e.Index >= 0 {
		return fmt.Sprintf("%v: state index %d (worker has %d states)",
			errs.ErrInvalidParams, e.Index, e.Count)
	}
	return fmt.Sprintf("%v: unknown state %q", errs.ErrInvalidParams, e.Name)
}

func (e *StateError) Unwrap() error { return errs.ErrInvalidParams }

// Mutator is the one mutation path of a worker, below every door: it
// validates a mutation, applies it once per mutation ID (the worker's
// exactly-once memory, shared by every door and server of the worker and
// bounded by DedupWindow), turns a panicking worker into
// an error, and reports each mutation it ran to its hook. Safe for
// concurrent use.
type Mutator struct {
	worker am.Api
	names  am.S
	index  map[string]int
	dedup  *dedupStore
}

var (
	mutatorsMx sync.Mutex
	mutators   = map[am.Api]*Mutator{}
)

// MutatorFor returns the mutation path of worker, one per worker, shared by
// every server and door of it (so a client's retry deduplicates whichever
// door it comes through). The worker's state names must be verified.
func MutatorFor(worker am.Api) *Mutator {
	mutatorsMx.Lock()
	defer mutatorsMx.Unlock()
	for w := range mutators {
		if w.IsDisposed() {
			delete(mutators, w)
		}
	}
	if m, ok := mutators[worker]; ok {
		return m
	}
	names := slices.Clone(worker.StateNames())
	m := &Mutator{worker: worker, names: names, dedup: dedupFor(worker),
		index: make(map[string]int, len(names))}
	for i, n := range names {
		m.index[n] = i
	}
	mutators[worker] = m
	return m
}

// Names resolves state indexes to names; an index out of range gives a
// *StateError.
func (m *Mutator) Names(idxs []int) (am.S, error) {
	out := make(am.S, len(idxs))
	for i, idx := range idxs {
		if idx < 0 || idx >= len(m.names) {
			return nil, &StateError{Pos: i, Index: idx, Count: len(m.names)}
		}
		out[i] = m.names[idx]
	}
	return out, nil
}

// Check returns a *StateError for the first name the worker lacks.
func (m *Mutator) Check(names am.S) error {
	for i, n := range names {
		if _, ok := m.index[n]; !ok {
			return &StateError{Pos: i, Name: n, Index: -1, Count: len(m.names)}
		}
	}
	return nil
}

// Run validates mut and applies it to the worker, once per (Client, Id).
// A concurrent or later retry of the same mutation waits, within ctx, for
// the first attempt's result and gets it with replayed set. With a Journal
// set on the worker's Dedup, a mutation is refused (ErrNotDurable) while the
// journal cannot persist, and Run returns once the journal committed it.
// Invalid mutations (unknown states or type, no states where some are
// needed) return an error wrapping ErrInvalidParams and change nothing.
func (m *Mutator) Run(ctx context.Context, mut *Mutation) (
	res am.Result, replayed bool, err error,
) {
	if err := m.validate(mut); err != nil {
		return am.Canceled, false, err
	}
	mutated := mut.States
	if mut.Type == MutSet {
		mutated = m.names
	}
	if err := mut.Policy.Check(mut.Identity, auth.Mutate, mutated); err != nil {
		return am.Canceled, false, err
	}
	// exactly-once, and durable before the reply when the worker has a
	// Journal (Dedup.SetJournal)
	return m.dedup.do(ctx, mut.Client, mut.Id, func() (am.Result, error) {
		return m.exec(mut)
	})
}

func (m *Mutator) validate(mut *Mutation) error {
	if err := m.Check(mut.States); err != nil {
		return err
	}
	switch mut.Type {
	case MutSet:
		return nil
	case MutAdd, MutRemove, MutToggle:
		if len(mut.States) == 0 {
			return fmt.Errorf("%w: no states (only a set takes an empty list)",
				errs.ErrInvalidParams)
		}
		return nil
	case MutAddErr:
		if len(mut.States) != 1 {
			return fmt.Errorf("%w: an error mutation takes exactly one state, "+
				"got %d", errs.ErrInvalidParams, len(mut.States))
		}
		return nil
	}
	return fmt.Errorf("%w: mutation type %d", errs.ErrInvalidParams, mut.Type)
}

// exec runs a valid mutation on the worker; a panicking worker is an error.
func (m *Mutator) exec(mut *Mutation) (res am.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = am.Canceled, fmt.Errorf("%w: worker panicked: %v", errs.ErrRpc, r)
		}
		if mut.Ran != nil {
			mut.Ran(res, err)
		}
	}()
	w := m.worker
	switch mut.Type {
	case MutAdd:
		return w.Add(mut.States, mut.Args), nil
	case MutRemove:
		return w.Remove(mut.States, mut.Args), nil
	case MutAddErr:
		return w.AddErrState(mut.States[0], &errs.RemoteError{Msg: mut.ErrMsg},
			mut.Args), nil
	case MutToggle:
		return w.Toggle(mut.States, mut.Args), nil
	default:
		return w.Set(mut.States, mut.Args), nil
	}
}

// Can runs the worker's own dry run of mut (am.Api.CanAdd or CanRemove; a
// toggle is a removal when all its states are active). Invalid mutations
// return an error wrapping ErrInvalidParams.
func (m *Mutator) Can(mut *Mutation) (am.Result, error) {
	if err := m.validate(mut); err != nil {
		return am.Canceled, err
	}
	if mut.Type == MutRemove ||
		(mut.Type == MutToggle && m.worker.Is(mut.States)) {
		return m.worker.CanRemove(mut.States, mut.Args), nil
	}
	return m.worker.CanAdd(mut.States, mut.Args), nil
}
