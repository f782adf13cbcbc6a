package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/clock"
	"github.com/arpcbridge/arpcbridge/arpc/states"
)

// ErrWorkerGone is the reason a subscription ends when its worker was
// disposed.
var ErrWorkerGone = errors.New("engine: worker disposed")

// ErrSchemaChanged is the reason a subscription ends when the worker's schema
// changed.
var ErrSchemaChanged = errors.New("engine: worker schema changed")

// Stats are the engine's counters since Attach.
type Stats struct {
	// Transitions counts the accepted worker transitions observed.
	Transitions uint64
	// DiffsComputed counts diff computations.
	DiffsComputed uint64
	// DiffsShared counts updates served from an already computed diff.
	DiffsShared uint64
	// FullSyncs counts full snapshots handed out after the initial one.
	FullSyncs uint64
	// Subscribers is the number of open subscriptions.
	Subscribers int64
	// PayloadsDropped counts payloads a subscriber's full queue refused.
	PayloadsDropped uint64
	// TransitionsPending is how many worker transitions the open
	// PushAllTicks subscriptions hold for their peers (each at most its
	// MaxPendingTransitions).
	TransitionsPending int
	// TransitionGaps counts the gaps of the open PushAllTicks
	// subscriptions (updates that merged transitions past their bound).
	TransitionGaps uint64
}

// Engine watches one worker. Safe for concurrent use.
type Engine struct {
	worker am.Api
	names  am.S
	// Epoch identifies this engine instance; sequence numbers are only
	// comparable within one epoch.
	Epoch uint64

	tracer   *tracer
	tracerId string
	refs     int

	mx  sync.Mutex
	cur *Snapshot
	// latest is cur for readers that need no lock (Snapshot); written with
	// cur, under mx
	latest  atomic.Pointer[Snapshot]
	changed chan struct{}
	done    chan struct{}
	doneErr error
	// life is canceled with doneErr when the engine ends
	life     context.Context
	lifeStop context.CancelCauseFunc
	// the settle timer (settle.go): armed while the worker is busy
	settleTimer *time.Timer
	settleArmed bool
	// settleBusy mirrors settleArmed for Settled's lock-free fast path
	settleBusy atomic.Bool
	settled    chan struct{}
	released   bool
	// cache of diffs from an older sequence to the latest one, under its own
	// lock: the worker's transitions (observe) never wait for a diff
	cacheMx sync.Mutex
	cacheTo uint64
	cache   map[uint64]encodedDiff

	// payloadIdxs are the indexes of the states whose Add mutations carry
	// payloads for some subscriber (see SubscribePayloads); it only grows
	payloadIdxs atomic.Pointer[[]int]
	subs        map[*Sub]struct{}
	// tickers are the PushAllTicks subscriptions (ticks.go), under mx;
	// tickSubs spares the tracer the lock while there are none
	tickers  map[*Sub]*tickQueue
	tickSubs atomic.Int64
	// argsWaits are the open WhenArgs waits; argsWaitCount spares the
	// tracer a lock while there are none
	argsWaits     argsWaits
	argsWaitCount atomic.Int64
	// recent holds the last RecentSnapshots snapshots by seq (see recent.go)
	recent [RecentSnapshots]*Snapshot

	transitions   atomic.Uint64
	diffsComputed atomic.Uint64
	diffsShared   atomic.Uint64
	fullSyncs     atomic.Uint64
	subscribers   atomic.Int64
	dropped       atomic.Uint64
}

var (
	registryMx sync.Mutex
	registry   = map[am.Api]*Engine{}
)

// Attach returns the engine of worker, binding a new one on first use. Every
// Attach must be paired with a Release. The worker's states must be verified
// (am.Machine.VerifyStates), since the engine relies on their order.
func Attach(worker am.Api) (*Engine, error) {
	return attach(worker, 0, 0)
}

// attach is Attach; a new engine takes epoch and seq when they are not 0
// (see AttachAt).
func attach(worker am.Api, epoch, seq uint64) (*Engine, error) {
	if worker == nil {
		return nil, errors.New("engine: nil worker")
	}
	registryMx.Lock()
	defer registryMx.Unlock()
	if e, ok := registry[worker]; ok {
		if err := e.checkStart(epoch, seq); err != nil {
			return nil, err
		}
		e.refs++
		return e, nil
	}
	if worker.IsDisposed() {
		return nil, ErrWorkerGone
	}
	e := &Engine{
		worker: worker,
		names:  slices.Clone(worker.StateNames()),
		Epoch:  cmp.Or(epoch, rand.Uint64()|1),
		refs:   1,
		done:   make(chan struct{}),
		cache:  map[uint64]encodedDiff{},
		subs:   map[*Sub]struct{}{},
	}
	if idx := slices.Index(e.names, states.WorkerStates.SendPayload); idx >= 0 {
		e.payloadIdxs.Store(&[]int{idx})
	} else {
		e.payloadIdxs.Store(&[]int{})
	}
	e.life, e.lifeStop = context.WithCancelCause(context.Background())
	e.tracer = &tracer{e: e}
	e.tracer.Id = fmt.Sprintf("arpc-engine-%x", e.Epoch)
	id, err := worker.TracerBind(e.tracer)
	if err != nil {
		return nil, fmt.Errorf("engine: bind tracer: %w", err)
	}
	e.tracerId = id
	e.mx.Lock()
	if e.cur == nil {
		e.cur = newSnapshot(max(seq, 1), worker.Time(nil), worker.QueueTick())
		e.latest.Store(e.cur)
		e.remember(e.cur)
	}
	e.mx.Unlock()
	registry[worker] = e
	return e, nil
}

// Release drops one reference; the last one detaches the engine from its
// worker. Release is idempotent per reference only: call it once per Attach.
func (e *Engine) Release() {
	registryMx.Lock()
	defer registryMx.Unlock()
	e.refs--
	if e.refs > 0 {
		return
	}
	if registry[e.worker] == e {
		delete(registry, e.worker)
	}
	e.mx.Lock()
	wake := e.stopSettle()
	e.mx.Unlock()
	if wake != nil {
		close(wake)
	}
	if !e.worker.IsDisposed() {
		_ = e.worker.TracerDetach(e.tracerId)
	}
}

// Worker returns the watched machine.
func (e *Engine) Worker() am.Api { return e.worker }

// Names returns the worker's ordered state names, as seen at Attach. Do not
// modify.
func (e *Engine) Names() am.S { return e.names }

// Snapshot returns the latest snapshot.
func (e *Engine) Snapshot() *Snapshot {
	return e.latest.Load()
}

// Changed returns a channel closed once the engine holds a snapshot newer
// than seq (already closed when it does), or when the engine ends.
func (e *Engine) Changed(seq uint64) <-chan struct{} {
	e.mx.Lock()
	defer e.mx.Unlock()
	if e.cur.Seq > seq || e.doneErr != nil {
		return closedCh
	}
	if e.changed == nil {
		e.changed = make(chan struct{})
	}
	return e.changed
}

// Done is closed when the engine can no longer serve its worker (disposed,
// or schema changed); Err then says why.
func (e *Engine) Done() <-chan struct{} { return e.done }

// Context is canceled when the engine ends, with Err as its cause: for
// context.AfterFunc, so that watching an engine needs no goroutine.
func (e *Engine) Context() context.Context { return e.life }

// Err returns ErrWorkerGone or ErrSchemaChanged after Done is closed.
func (e *Engine) Err() error {
	e.mx.Lock()
	defer e.mx.Unlock()
	return e.doneErr
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	var pending int
	var gaps uint64
	if e.tickSubs.Load() > 0 {
		e.mx.Lock()
		for s := range e.tickers {
			st := s.TickStats()
			pending += st.Pending
			gaps += st.Gaps
		}
		e.mx.Unlock()
	}
	return Stats{
		TransitionsPending: pending,
		TransitionGaps:     gaps,
		Transitions:        e.transitions.Load(),
		DiffsComputed:      e.diffsComputed.Load(),
		DiffsShared:        e.diffsShared.Load(),
		FullSyncs:          e.fullSyncs.Load(),
		Subscribers:        e.subscribers.Load(),
		PayloadsDropped:    e.dropped.Load(),
	}
}

var closedCh = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// observe records a new worker time. Called from the worker's transition.
func (e *Engine) observe(after am.Time, queueTick uint64, m *am.Mutation) {
	t := slices.Clone(after)
	e.mx.Lock()
	if len(t) != len(e.names) {
		e.mx.Unlock()
		return
	}
	seq := uint64(1)
	if e.cur != nil {
		seq = e.cur.Seq + 1
	}
	prev := e.cur
	e.cur = newSnapshot(seq, t, queueTick)
	if e.tickSubs.Load() > 0 {
		e.recordTick(prev, e.cur, m)
	}
	e.latest.Store(e.cur)
	e.remember(e.cur)
	e.armSettle()
	ch := e.changed
	e.changed = nil
	e.mx.Unlock()
	e.transitions.Add(1)
	if ch != nil {
		close(ch)
	}
}

func (e *Engine) end(err error) {
	e.mx.Lock()
	if e.doneErr != nil {
		e.mx.Unlock()
		return
	}
	e.doneErr = err
	ch := e.changed
	e.changed = nil
	wake := e.stopSettle()
	e.mx.Unlock()
	if ch != nil {
		close(ch)
	}
	if wake != nil {
		close(wake)
	}
	close(e.done)
	e.lifeStop(err)
}

// encodedDiff is a diff with its wire form (clock.AppendBinary), both
// computed once per pair of snapshots and shared by every subscriber.
type encodedDiff struct {
	diff clock.Diff
	bin  []byte
}

// diff returns the diff from `from` to `to` and its wire form, computed once
// per pair of sequences while `to` is the latest snapshot: a push to a
// thousand subscribers at the same base diffs and encodes once.
func (e *Engine) diff(from, to *Snapshot) encodedDiff {
	if from.Seq == to.Seq {
		return encodedDiff{}
	}
	// computed under the cache's lock: subscribers woken together by one
	// change must not each miss the cache and compute the same diff
	// (computing is one pass over the time vector, cheaper than a second
	// computation)
	e.cacheMx.Lock()
	defer e.cacheMx.Unlock()
	switch {
	case to.Seq > e.cacheTo:
		clear(e.cache)
		e.cacheTo = to.Seq
	case to.Seq < e.cacheTo:
		// a late caller of an older snapshot: not worth caching
		e.diffsComputed.Add(1)
		d := clock.Compute(from.Time, to.Time)
		return encodedDiff{diff: d, bin: clock.AppendBinary(nil, d)}
	}
	if d, ok := e.cache[from.Seq]; ok {
		e.diffsShared.Add(1)
		return d
	}
	d := clock.Compute(from.Time, to.Time)
	ed := encodedDiff{diff: d, bin: clock.AppendBinary(nil, d)}
	e.diffsComputed.Add(1)
	if len(e.cache) < 64 {
		e.cache[from.Seq] = ed
	}
	return ed
}

// tracer feeds the engine from the worker's transitions.
type tracer struct {
	am.TracerNoOp
	e *Engine
}

func (t *tracer) TransitionEnd(tx *am.Transition) {
	if !tx.IsAccepted.Load() || len(tx.TimeAfter) == 0 {
		return
	}
	var qt uint64
	if tx.MachApi != nil {
		qt = tx.MachApi.QueueTick()
	} else {
		qt = t.e.worker.QueueTick()
	}
	t.e.observe(tx.TimeAfter, qt, tx.Mutation)
	if t.e.argsWaitCount.Load() > 0 {
		var args am.A
		if tx.Mutation != nil {
			args = tx.Mutation.Args
		}
		t.e.matchArgs(tx.TimeBefore, tx.TimeAfter, args)
	}
	if m := tx.Mutation; m != nil && m.Type == am.MutationAdd {
		for _, idx := range *t.e.payloadIdxs.Load() {
			if slices.Contains(m.Called, idx) {
				t.e.publish(idx, m.Args)
			}
		}
	}
}

func (t *tracer) MachineDispose(string) {
	t.e.end(ErrWorkerGone)
}

func (t *tracer) SchemaChange(am.Api, am.Schema) {
	t.e.end(ErrSchemaChanged)
}

// PayloadQueue is how many payloads a subscriber may have pending before
// further ones are dropped (and counted in Stats.PayloadsDropped).
const PayloadQueue = 256

// publish hands the args of an Add mutation of the payload state idx to
// every subscriber of that state's payloads.
func (e *Engine) publish(idx int, args am.A) {
	e.mx.Lock()
	defer e.mx.Unlock()
	for s := range e.subs {
		if s.payloadIdx != idx {
			continue
		}
		if !s.offer(args) {
			e.dropped.Add(1)
		}
	}
}
