package arpc

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/engine"

	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// maxPending bounds the updates a replica holds while waiting for the one
// that continues its chain; past it, the replica resyncs.
const maxPending = 64

// Worker is a remote worker: a replica of a worker machine's clock that
// implements am.Api. Mutations are remote calls; reads and waits are answered
// locally from the replica, which the transport keeps current. Obtain it from
// Client.Worker once the client is Ready. Safe for concurrent use.
type Worker struct {
	id       string
	parentId string
	schema   am.Schema
	names    am.S
	index    map[string]int
	t        door.Transport
	log      *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	mx          sync.RWMutex
	time        am.Time
	seq         uint64
	queueTick   uint64
	machineTick uint32
	pending     map[uint64]*engine.Update
	waits       map[int][]*waiter
	anyWaits    []*waiter
	stateCtx    map[int]*stateCtx
	tracers     []am.Tracer
	onDispose   []am.HandlerDispose

	// groups and groupsOrder are the worker's state groups (Groups)
	groups      map[string][]int
	groupsOrder []string
	resyncing   atomic.Bool
	resyncs     atomic.Uint64
	updates     atomic.Uint64
	disposed    atomic.Bool
	errInternal chan error
	lastErr     atomic.Pointer[error]
	errCache    struct {
		sync.Mutex
		tick uint64
		err  error
	}
	mutId   atomic.Uint64
	idScope uint64
	standIn standIn

	// allTicks: the transport delivers every worker transition
	// (EnablePushAllTicks); ticks counts the steps, gaps and gapped the
	// merged ones (worker_ticks.go)
	allTicks atomic.Bool
	// steps waits for delivery (worker_ticks.go)
	steps  stepQueue
	ticks  atomic.Uint64
	gaps   atomic.Uint64
	gapped atomic.Uint64
	// handlers are the bound final handlers (worker_handlers.go)
	handlers handlerBus
}

var _ am.Api = (*Worker)(nil)

// argsChecker is a Transport that checks args itself (the aRPC client,
// by its connection's encoding).
type argsChecker interface {
	checkArgs(args am.A) error
}

// checkArgs refuses args the transport cannot carry before anything is
// sent (ErrInvalidParams naming the key); gob's check by default.
func (w *Worker) checkArgs(args am.A) error {
	if c, ok := w.t.(argsChecker); ok {
		return c.checkArgs(args)
	}
	return wire.CheckArgs(args)
}

func init() {
	// the other doors' clients make their Worker through door.NewWorker
	door.NewWorker = func(ctx context.Context, id string, schema am.Schema,
		names am.S, t door.Transport, log *slog.Logger,
	) am.Api {
		return newWorker(ctx, id, schema, names, t, log)
	}
}

// newWorker creates a remote worker over a transport, with the worker's ID,
// schema and ordered state names (as learned in a handshake). The replica
// starts at the all-zero time until the first update. ctx bounds the
// worker's life, like a machine's.
func newWorker(ctx context.Context, id string, schema am.Schema, names am.S,
	t door.Transport, log *slog.Logger,
) *Worker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &Worker{
		id:          id,
		schema:      schema,
		names:       slices.Clone(names),
		index:       make(map[string]int, len(names)),
		t:           t,
		log:         log,
		ctx:         wctx,
		cancel:      cancel,
		time:        make(am.Time, len(names)),
		pending:     map[uint64]*engine.Update{},
		waits:       map[int][]*waiter{},
		stateCtx:    map[int]*stateCtx{},
		errInternal: make(chan error, 10),
		idScope:     newIdScope(),
	}
	for i, n := range names {
		w.index[n] = i
	}
	context.AfterFunc(wctx, w.Dispose)
	return w
}

// IdScope is the random scope of this replica's mutation IDs. IDs count up
// from 1 and are unique within the scope, so a transport sends the scope
// once (aRPC: in the handshake) and then small IDs; the server remembers
// recent mutations per client ID and scope (see DedupWindow).
func (w *Worker) IdScope() uint64 { return w.idScope }

// newIdScope returns a random non-zero ID scope.
func newIdScope() uint64 {
	for {
		var b [8]byte
		_, _ = rand.Read(b[:])
		if s := binary.LittleEndian.Uint64(b[:]); s != 0 {
			return s
		}
	}
}

// WorkerStats are a remote worker's counters.
type WorkerStats struct {
	// Updates counts clock updates received (pushes and replies).
	Updates uint64
	// Resyncs counts full resyncs caused by drift or a broken chain.
	Resyncs uint64
	// Seq is the engine sequence the replica is at.
	Seq uint64
	// Transitions counts the worker transitions applied one by one
	// (PushAllTicks).
	Transitions uint64
	// Gaps counts the steps that merged several worker transitions on a
	// PushAllTicks replica (the server's MaxPendingTransitions bound, a
	// resync, or the handlers' own queue bound); GapTransitions counts the
	// transitions they merged.
	Gaps           uint64
	GapTransitions uint64
}

// Stats returns the worker's counters.
func (w *Worker) Stats() WorkerStats {
	w.mx.RLock()
	seq := w.seq
	w.mx.RUnlock()
	return WorkerStats{Updates: w.updates.Load(), Resyncs: w.resyncs.Load(),
		Seq: seq, Transitions: w.ticks.Load(), Gaps: w.gaps.Load(),
		GapTransitions: w.gapped.Load()}
}

// reportErr records an error of a method that has no error result (the
// am.Api mutations): it becomes LastErr and is offered on ErrInternal.
func (w *Worker) reportErr(err error) {
	w.lastErr.Store(&err)
	w.log.Warn("remote worker error", "worker", w.id, "err", err)
	select {
	case w.errInternal <- err:
	default:
	}
}

// LastErr returns the last error of a call made through an am.Api method
// (which return only am.Result), e.g. ErrNetworkTimeout or ErrInvalidParams.
func (w *Worker) LastErr() error {
	if p := w.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// ///// MUTATIONS (remote)

// Mutate is the context-aware mutation behind Add, Remove and Set: it
// returns the worker's result, or an error (unknown states wrap
// ErrInvalidParams; network failures ErrNetwork, ErrNetworkTimeout,
// ErrNoConn). The reply's clock diff is applied before it returns.
func (w *Worker) Mutate(ctx context.Context, typ am.MutationType, states am.S,
	args am.A,
) (am.Result, error) {
	var t uint8
	switch typ {
	case am.MutationAdd:
		t = door.MutAdd
	case am.MutationRemove:
		t = door.MutRemove
	case am.MutationSet:
		t = door.MutSet
	default:
		return am.Canceled, fmt.Errorf("%w: mutation type %v", ErrInvalidParams,
			typ)
	}
	return w.send(ctx, &door.Mut{Type: t, Args: args}, states, false)
}

func (w *Worker) send(ctx context.Context, m *door.Mut, states am.S,
	noSync bool,
) (am.Result, error) {
	if w.disposed.Load() {
		return am.Canceled, fmt.Errorf("%w: worker disposed", ErrNoConn)
	}
	idxs, err := w.indexes(states)
	if err != nil {
		return am.Canceled, err
	}
	if err := w.checkArgs(m.Args); err != nil {
		return am.Canceled, err
	}
	m.States = idxs
	m.Id = w.mutId.Add(1)
	return w.t.Mutate(ctx, m, noSync)
}

func (w *Worker) indexes(states am.S) ([]int, error) {
	idxs := make([]int, len(states))
	for i, s := range states {
		idx, ok := w.index[s]
		if !ok {
			return nil, fmt.Errorf("%w: %w: %q not in worker %s", ErrInvalidParams,
				am.ErrStateMissing, s, w.id)
		}
		idxs[i] = idx
	}
	return idxs, nil
}

// call runs a mutation for an am.Api method: errors become Canceled plus
// LastErr.
func (w *Worker) call(m *door.Mut, states am.S, noSync bool) am.Result {
	ctx, cancel := context.WithTimeout(w.ctx, w.t.Timeout())
	defer cancel()
	res, err := w.send(ctx, m, states, noSync)
	if err != nil {
		w.reportErr(err)
		return am.Canceled
	}
	return res
}

// Add activates states on the worker and returns the worker's result; the
// replica reflects it when Add returns. Unknown states give Canceled and
// LastErr wrapping ErrInvalidParams (a local machine would panic).
func (w *Worker) Add(states am.S, args am.A) am.Result {
	return w.call(&door.Mut{Type: door.MutAdd, Args: args}, states, false)
}

// Add1 is Add for one state.
func (w *Worker) Add1(state string, args am.A) am.Result {
	return w.Add(am.S{state}, args)
}

// Remove deactivates states on the worker. See Add.
func (w *Worker) Remove(states am.S, args am.A) am.Result {
	return w.call(&door.Mut{Type: door.MutRemove, Args: args}, states, false)
}

// Remove1 is Remove for one state.
func (w *Worker) Remove1(state string, args am.A) am.Result {
	return w.Remove(am.S{state}, args)
}

// Set activates exactly the given states on the worker. See Add.
func (w *Worker) Set(states am.S, args am.A) am.Result {
	return w.call(&door.Mut{Type: door.MutSet, Args: args}, states, false)
}

// Toggle removes states when all are active (per the replica), else adds
// them.
func (w *Worker) Toggle(states am.S, args am.A) am.Result {
	if w.Is(states) {
		return w.Remove(states, args)
	}
	return w.Add(states, args)
}

// Toggle1 is Toggle for one state.
func (w *Worker) Toggle1(state string, args am.A) am.Result {
	return w.Toggle(am.S{state}, args)
}

// AddErr adds Exception on the worker with err; the worker's Err() then
// returns a RemoteError with err's message.
func (w *Worker) AddErr(err error, args am.A) am.Result {
	return w.AddErrState(am.StateException, err, args)
}

// AddErrState adds state and Exception on the worker with err (sent as its
// message).
func (w *Worker) AddErrState(state string, err error, args am.A) am.Result {
	if err == nil {
		return am.Canceled
	}
	return w.call(&door.Mut{Type: door.MutAddErr, Args: args, ErrMsg: err.Error()},
		am.S{state}, false)
}

// AddNS is a no-sync Add: it neither waits for the result nor brings back a
// clock, and returns Executed once sent. Call Sync after a batch.
func (w *Worker) AddNS(states am.S, args am.A) am.Result {
	return w.call(&door.Mut{Type: door.MutAdd, Args: args}, states, true)
}

// Add1NS is AddNS for one state.
func (w *Worker) Add1NS(state string, args am.A) am.Result {
	return w.AddNS(am.S{state}, args)
}

// RemoveNS is a no-sync Remove. See AddNS.
func (w *Worker) RemoveNS(states am.S, args am.A) am.Result {
	return w.call(&door.Mut{Type: door.MutRemove, Args: args}, states, true)
}

// Remove1NS is RemoveNS for one state.
func (w *Worker) Remove1NS(state string, args am.A) am.Result {
	return w.RemoveNS(am.S{state}, args)
}

// Sync brings the replica up to date with one call and returns its time.
func (w *Worker) Sync() am.Time {
	ctx, cancel := context.WithTimeout(w.ctx, w.t.Timeout())
	defer cancel()
	if err := w.t.Sync(ctx, false); err != nil {
		w.reportErr(err)
	}
	return w.Time(nil)
}

func evName(e *am.Event) string {
	if e == nil {
		return ""
	}
	return e.Name
}

// EvAdd is Add with a source event (informational, sent along).
func (w *Worker) EvAdd(e *am.Event, states am.S, args am.A) am.Result {
	return w.call(&door.Mut{Type: door.MutAdd, Args: args, Event: evName(e)}, states,
		false)
}

// EvAdd1 is EvAdd for one state.
func (w *Worker) EvAdd1(e *am.Event, state string, args am.A) am.Result {
	return w.EvAdd(e, am.S{state}, args)
}

// EvRemove is Remove with a source event.
func (w *Worker) EvRemove(e *am.Event, states am.S, args am.A) am.Result {
	return w.call(&door.Mut{Type: door.MutRemove, Args: args, Event: evName(e)},
		states, false)
}

// EvRemove1 is EvRemove for one state.
func (w *Worker) EvRemove1(e *am.Event, state string, args am.A) am.Result {
	return w.EvRemove(e, am.S{state}, args)
}

// EvAddErr is AddErr with a source event.
func (w *Worker) EvAddErr(e *am.Event, err error, args am.A) am.Result {
	return w.EvAddErrState(e, am.StateException, err, args)
}

// EvAddErrState is AddErrState with a source event.
func (w *Worker) EvAddErrState(e *am.Event, state string, err error,
	args am.A,
) am.Result {
	if err == nil {
		return am.Canceled
	}
	return w.call(&door.Mut{Type: door.MutAddErr, Args: args, ErrMsg: err.Error(),
		Event: evName(e)}, am.S{state}, false)
}

// EvToggle is Toggle with a source event.
func (w *Worker) EvToggle(e *am.Event, states am.S, args am.A) am.Result {
	if w.Is(states) {
		return w.EvRemove(e, states, args)
	}
	return w.EvAdd(e, states, args)
}

// EvToggle1 is EvToggle for one state.
func (w *Worker) EvToggle1(e *am.Event, state string, args am.A) am.Result {
	return w.EvToggle(e, am.S{state}, args)
}

// CanAdd asks the worker for a dry run of adding states: Executed when the
// mutation would be accepted, Canceled when not (or on error, see LastErr).
func (w *Worker) CanAdd(states am.S, args am.A) am.Result {
	return w.can(door.MutAdd, states, args)
}

// CanAdd1 is CanAdd for one state.
func (w *Worker) CanAdd1(state string, args am.A) am.Result {
	return w.CanAdd(am.S{state}, args)
}

// CanRemove is CanAdd for removing states.
func (w *Worker) CanRemove(states am.S, args am.A) am.Result {
	return w.can(door.MutRemove, states, args)
}

// CanRemove1 is CanRemove for one state.
func (w *Worker) CanRemove1(state string, args am.A) am.Result {
	return w.CanRemove(am.S{state}, args)
}

func (w *Worker) can(typ uint8, states am.S, args am.A) am.Result {
	idxs, err := w.indexes(states)
	if err == nil {
		err = w.checkArgs(args)
	}
	if err != nil {
		w.reportErr(err)
		return am.Canceled
	}
	ctx, cancel := context.WithTimeout(w.ctx, w.t.Timeout())
	defer cancel()
	res, err := w.t.Can(ctx, &door.Mut{Type: typ, States: idxs, Args: args})
	if err != nil {
		w.reportErr(err)
		return am.Canceled
	}
	return res
}

// Err returns the worker's last error (as a RemoteError), asking the worker
// once per activation of Exception; nil when Exception never became active.
func (w *Worker) Err() error {
	tick := w.Tick(am.StateException)
	if tick == 0 {
		return nil
	}
	w.errCache.Lock()
	defer w.errCache.Unlock()
	if w.errCache.tick == tick {
		return w.errCache.err
	}
	ctx, cancel := context.WithTimeout(w.ctx, w.t.Timeout())
	defer cancel()
	msg, err := w.t.Err(ctx)
	if err != nil {
		w.reportErr(err)
		return nil
	}
	var out error
	if msg != "" {
		out = &RemoteError{Msg: msg}
	}
	w.errCache.tick, w.errCache.err = tick, out
	return out
}

// IsErr reports whether Exception is active.
func (w *Worker) IsErr() bool { return w.Is1(am.StateException) }

// WhenArgs returns a channel closed when the worker activates state with
// args matching the given ones (compared on the worker). The subscription
// lives on the server; it ends with ctx (or the worker).
func (w *Worker) WhenArgs(state string, args am.A,
	ctx context.Context,
) <-chan struct{} {
	idx, ok := w.index[state]
	if ctx == nil {
		ctx = w.ctx
	}
	if !ok {
		w.reportErr(fmt.Errorf("%w: %w: %q", ErrInvalidParams, am.ErrStateMissing,
			state))
		return closedChan
	}
	if err := w.checkArgs(args); err != nil {
		w.reportErr(err)
		return closedChan
	}
	ch, err := w.t.WhenArgs(ctx, idx, args)
	if err != nil {
		w.reportErr(err)
		return closedChan
	}
	return ch
}

var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// ErrNotLocal is what methods that need the worker's own goroutine and
// handlers return on a remote worker.
var ErrNotLocal = fmt.Errorf("%w: needs the local machine", ErrUnsupported)
