package engine

import (
	"maps"
	"sync"
	"sync/atomic"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/clock"
)

// DefaultMaxPendingTransitions is the bound of a PushAllTicks subscription
// when none is given (see [Sub.PushAllTicks]): how many worker transitions
// may wait for their peer before the subscription falls back to one merged
// diff and reports a gap. At about 100 bytes each (their records are shared
// by every subscriber), 16,384 is under 2 MiB of shared records and 128 KiB
// of pointers per subscriber; it covers a 25 ms push interval (the pacing's
// MaxDelay) of a worker doing 600,000 transitions a second.
const DefaultMaxPendingTransitions = 16384

// Tick is one accepted worker transition, as a PushAllTicks subscriber
// receives it. Immutable: one record is shared by every subscriber without a
// mask.
type Tick struct {
	// Seq is the sequence of the snapshot this transition produced.
	Seq uint64
	// Type is the mutation's type (add, remove, set).
	Type am.MutationType
	// Called are the indexes of the states the mutation called.
	Called []int
	// Auto marks a mutation of Auto states, which the worker made itself.
	Auto bool
	// Diff turns the time before the transition into the time after it (the
	// previous snapshot's time into Seq's). Empty for a transition that
	// changed no tick.
	Diff clock.Diff
	// Args are the mutation's args (a shallow copy), nil for none. Which of
	// them travel is the door's choice (the ones its encoding can carry).
	Args am.A
	// Gap, when not 0, marks a transition that merged Gap transitions of
	// another worker: a relay's (a remote worker's) gap step, passed on as
	// it came (ArgGap). Type, Called and Args then mean nothing.
	Gap uint64

	cache *tickCache
}

// ArgGap is the args key of a gap step on a PushAllTicks replica (see
// arpc.ArgGap): a relay's engine records such a transition as a Tick with
// Gap set, so that the relay's own clients learn about the gap too.
const ArgGap = "arpc.gap"

// TickStats are the counters of a PushAllTicks subscription.
type TickStats struct {
	// Pending is how many transitions wait for the peer.
	Pending int
	// Gaps counts updates that carried a merged diff instead of the
	// transitions (Update.Gap > 0).
	Gaps uint64
	// GapTransitions counts the worker transitions such updates merged.
	GapTransitions uint64
}

// tickQueue is a subscription's record of the transitions its peer has not
// received yet. Its lock is a leaf: taken under the engine's lock (record)
// and under the subscription's (take), never the other way round.
type tickQueue struct {
	mx  sync.Mutex
	max int
	// recs are in sequence order, never merged
	recs []*Tick
	// overflow stops recording until the next take, after recs reached max
	// and were dropped
	overflow bool
	// full receives when half of max is pending, so that Run sends early
	full  chan struct{}
	stats TickStats
}

// PushAllTicks makes the subscription record every accepted worker
// transition from now on, in order and never merged, for its updates
// (Update.Ticks). At most max transitions wait for the peer (0 means
// DefaultMaxPendingTransitions); past that the records are dropped and the
// next update is one merged diff with Update.Gap set, after which recording
// resumes. Once half of max is pending, Run sends without waiting for the
// worker to settle. Call it before the first update; a second call changes
// nothing. Subscriptions that never call it cost the worker nothing extra.
func (s *Sub) PushAllTicks(max int) {
	if max <= 0 {
		max = DefaultMaxPendingTransitions
	}
	q := &tickQueue{max: max, full: make(chan struct{}, 1)}
	if !s.ticks.CompareAndSwap(nil, q) {
		return
	}
	s.e.mx.Lock()
	if s.e.tickers == nil {
		s.e.tickers = map[*Sub]*tickQueue{}
	}
	s.e.tickers[s] = q
	s.e.tickSubs.Add(1)
	s.e.mx.Unlock()
}

// IsPushAllTicks reports whether PushAllTicks was called.
func (s *Sub) IsPushAllTicks() bool { return s.ticks.Load() != nil }

// TickStats returns the subscription's PushAllTicks counters (zero without
// PushAllTicks).
func (s *Sub) TickStats() TickStats {
	q := s.ticks.Load()
	if q == nil {
		return TickStats{}
	}
	q.mx.Lock()
	defer q.mx.Unlock()
	st := q.stats
	st.Pending = len(q.recs)
	return st
}

// ticksFull is Run's early-send signal; nil without PushAllTicks.
func (s *Sub) ticksFull() <-chan struct{} {
	if q := s.ticks.Load(); q != nil {
		return q.full
	}
	return nil
}

// untick forgets the subscription's queue. Call with e.mx held.
func (e *Engine) untick(s *Sub) {
	if _, ok := e.tickers[s]; ok {
		delete(e.tickers, s)
		e.tickSubs.Add(-1)
	}
}

// recordTick hands the transition that produced snapshot `to` from `prev`
// to every PushAllTicks subscriber. Called from the worker's transition
// with e.mx held, before `to` is published, so that a subscriber that sees
// `to` also finds its record.
func (e *Engine) recordTick(prev, to *Snapshot, m *am.Mutation) {
	t := &Tick{Seq: to.Seq, cache: &tickCache{}}
	if prev != nil {
		t.Diff = clock.Compute(prev.Time, to.Time)
	} else {
		t.Diff = clock.Compute(nil, to.Time)
	}
	if m != nil {
		t.Type, t.Called, t.Auto = m.Type, append([]int(nil), m.Called...),
			m.IsAuto
		if n, ok := m.Args[ArgGap].(uint64); ok && n > 0 {
			t.Gap = n
		} else if len(m.Args) > 0 {
			t.Args = maps.Clone(m.Args)
		}
	}
	for s, q := range e.tickers {
		rec := t
		if mask := s.mask.Load(); mask != nil {
			if rec = mask.tick(t); rec == nil {
				continue
			}
		}
		q.add(rec)
	}
}

// tick returns t as the mask's peer may see it: hidden indexes leave the
// diff and the called states, and the args travel only when every called
// state is visible. A transition with nothing visible left (no diff, no
// called state) is still recorded, so that the peer's chain holds; its
// handlers then see an empty transition.
func (m *Mask) tick(t *Tick) *Tick {
	out := *t
	out.cache = &tickCache{}
	out.Diff = nil
	for _, p := range t.Diff {
		if m.Visible(int(p[0])) {
			out.Diff = append(out.Diff, p)
		}
	}
	out.Called = nil
	for _, idx := range t.Called {
		if m.Visible(idx) {
			out.Called = append(out.Called, idx)
		}
	}
	if len(out.Called) != len(t.Called) {
		out.Args = nil
	}
	return &out
}

func (q *tickQueue) add(t *Tick) {
	q.mx.Lock()
	defer q.mx.Unlock()
	if q.overflow {
		return
	}
	if len(q.recs) >= q.max {
		// bounded: forget them all; the next update is a merged diff
		q.recs = nil
		q.overflow = true
		return
	}
	q.recs = append(q.recs, t)
	if len(q.recs) == max(q.max/2, 1) {
		select {
		case q.full <- struct{}{}:
		default:
		}
	}
}

// take moves the records of the update (from, to] into u, or marks u as a
// gap when they are not all there (dropped at the bound, or recorded before
// PushAllTicks). Records up to `to` are forgotten either way.
func (q *tickQueue) take(u *Update, from, to uint64) {
	q.mx.Lock()
	defer q.mx.Unlock()
	n := 0
	for n < len(q.recs) && q.recs[n].Seq <= to {
		n++
	}
	taken := q.recs[:n]
	// drop the ones the peer already has (after a Full or a Resume)
	for len(taken) > 0 && taken[0].Seq <= from {
		taken = taken[1:]
	}
	if to > from {
		if uint64(len(taken)) == to-from && taken[0].Seq == from+1 {
			u.Ticks = taken
		} else {
			u.Gap = to - from
			q.stats.Gaps++
			q.stats.GapTransitions += u.Gap
		}
	}
	if n == len(q.recs) {
		// a new backing array: the taken records belong to u now
		q.recs = nil
	} else {
		q.recs = append([]*Tick(nil), q.recs[n:]...)
	}
	q.overflow = false
}

// forget drops the records up to seq (the peer got a full snapshot or a
// resume diff there).
func (q *tickQueue) forget(seq uint64) {
	q.mx.Lock()
	defer q.mx.Unlock()
	n := 0
	for n < len(q.recs) && q.recs[n].Seq <= seq {
		n++
	}
	q.recs = append([]*Tick(nil), q.recs[n:]...)
	q.overflow = false
}

// TickSlots is how many door encodings a Tick caches (see Tick.Encoded).
const TickSlots = 2

// Door slots of Tick.Encoded.
const (
	// TickSlotGRPC caches the gRPC door's encoding.
	TickSlotGRPC = iota
	// TickSlotARPC caches the aRPC door's encoding.
	TickSlotARPC
)

// tickCache holds a Tick's door encodings, each made once and shared by
// every subscriber the record goes to.
type tickCache struct {
	enc [TickSlots]atomic.Pointer[any]
}

// Encoded returns the door's encoding of t (slot: TickSlotGRPC or
// TickSlotARPC), made by enc on first use and shared afterwards: a record
// sent to a hundred subscribers is encoded once per door. The result must
// be treated as immutable.
func (t *Tick) Encoded(slot int, enc func(*Tick) any) any {
	if slot < 0 || slot >= TickSlots {
		return enc(t)
	}
	if t.cache == nil {
		return enc(t)
	}
	if p := t.cache.enc[slot].Load(); p != nil {
		return *p
	}
	v := enc(t)
	t.cache.enc[slot].CompareAndSwap(nil, &v)
	return *t.cache.enc[slot].Load()
}

// Head returns an update that moves the peer nowhere: from and to the
// snapshot it last received, with its sum. A door's mutation reply carries
// it when a PushAllTicks subscription already sent everything (the reply
// must not take the transitions' place with a merged diff); its ToSeq tells
// the client which snapshot to wait for.
func (s *Sub) Head() Update {
	s.mx.Lock()
	defer s.mx.Unlock()
	k := s.known
	if k == nil {
		k = s.e.Snapshot()
	}
	return s.masked(k, Update{FromSeq: k.Seq, ToSeq: k.Seq, Sum: k.Sum,
		QueueTick: k.QueueTick})
}

// TrimTicks returns u without the transitions up to seq, for a replica
// already at seq (FromSeq < seq < ToSeq): it applies on top of seq, and its
// diff is the remaining transitions' merged. ok is false when u has no
// transitions covering seq.
func (u *Update) TrimTicks(seq uint64) (Update, bool) {
	if u.Full || seq <= u.FromSeq || seq >= u.ToSeq ||
		uint64(len(u.Ticks)) != u.ToSeq-u.FromSeq {
		return Update{}, false
	}
	out := *u
	out.Ticks = u.Ticks[seq-u.FromSeq:]
	out.FromSeq = seq
	out.Binary = nil
	out.Diff = nil
	for _, t := range out.Ticks {
		out.Diff = clock.Merge(out.Diff, t.Diff)
	}
	out.Coalesced = out.ToSeq - seq
	return out, true
}
