package engine

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/clock"
	"github.com/arpcbridge/arpcbridge/arpc/states"
)

// Sub is one subscriber's view of the engine: the snapshot its peer last
// received. Methods are safe for concurrent use; each returned update
// continues the chain of the previous one.
type Sub struct {
	e *Engine
	// payloadIdx is the state whose Add mutations carry this subscriber's
	// payloads; -1 for none
	payloadIdx int
	mx         sync.Mutex
	known      *Snapshot
	closed     bool
	// mask hides states from the peer (filter.go); nil hides none
	mask atomic.Pointer[Mask]
	// ticks records every transition for the peer (ticks.go); nil without
	// PushAllTicks
	ticks atomic.Pointer[tickQueue]

	// payloads pending for the peer (at most PayloadQueue), allocated on the
	// first one: idle subscribers are many
	pmx      sync.Mutex
	payloads []am.A
	pready   chan struct{}
	// dropped counts the payloads refused because the queue was full
	dropped uint64
	// pbytes are the pending payloads' bytes as psize tells, capped at pmax
	// (chunks.go)
	pbytes, pmax int64
	psize        func(am.A) int64
}

// Subscribe opens a subscription whose peer knows nothing yet: its first
// update (see [Sub.Full]) is a full snapshot. Its payloads are the args of
// the worker's states.WorkerStates.SendPayload mutations (none when the
// worker lacks that state).
func (e *Engine) Subscribe() *Sub {
	return e.subscribe(slices.Index(e.names, states.WorkerStates.SendPayload))
}

// SubscribePayloads is Subscribe with payloads taken from Add mutations of
// payloadState instead of SendPayload. The state must be the worker's.
func (e *Engine) SubscribePayloads(payloadState string) (*Sub, error) {
	idx := slices.Index(e.names, payloadState)
	if idx < 0 {
		return nil, fmt.Errorf("engine: payload state %q is not the worker's",
			payloadState)
	}
	for {
		old := e.payloadIdxs.Load()
		if slices.Contains(*old, idx) {
			break
		}
		grown := append(slices.Clone(*old), idx)
		if e.payloadIdxs.CompareAndSwap(old, &grown) {
			break
		}
	}
	return e.subscribe(idx), nil
}

func (e *Engine) subscribe(payloadIdx int) *Sub {
	s := &Sub{e: e, payloadIdx: payloadIdx, pready: make(chan struct{}, 1)}
	e.subscribers.Add(1)
	e.mx.Lock()
	e.subs[s] = struct{}{}
	e.mx.Unlock()
	return s
}

// Engine returns the engine of the subscription.
func (s *Sub) Engine() *Engine { return s.e }

// PayloadsReady receives when payloads are pending: the args of the worker's
// payload-state mutations made while the subscription is open. Take them with
// [Sub.TakePayloads].
func (s *Sub) PayloadsReady() <-chan struct{} { return s.pready }

// TakePayloads returns the pending payloads, oldest first, and forgets them.
func (s *Sub) TakePayloads() []am.A {
	s.pmx.Lock()
	defer s.pmx.Unlock()
	p := s.payloads
	s.payloads, s.pbytes = nil, 0
	return p
}

// PayloadsDropped returns how many payloads this subscription dropped
// because PayloadQueue of them were already pending (its share of
// Stats.PayloadsDropped).
func (s *Sub) PayloadsDropped() uint64 {
	s.pmx.Lock()
	defer s.pmx.Unlock()
	return s.dropped
}

// offer queues a payload; false when PayloadQueue are already pending, or
// it passes the byte cap (LimitPayloads).
func (s *Sub) offer(args am.A) bool {
	s.pmx.Lock()
	if len(s.payloads) >= PayloadQueue || !s.admits(args) {
		s.dropped++
		s.pmx.Unlock()
		return false
	}
	s.payloads = append(s.payloads, args)
	s.pmx.Unlock()
	select {
	case s.pready <- struct{}{}:
	default:
	}
	return true
}

// Close ends the subscription. Idempotent.
func (s *Sub) Close() {
	s.mx.Lock()
	defer s.mx.Unlock()
	if !s.closed {
		s.closed = true
		s.e.subscribers.Add(-1)
		s.e.mx.Lock()
		delete(s.e.subs, s)
		s.e.untick(s)
		s.e.mx.Unlock()
	}
}

// KnownSeq returns the sequence the peer was last brought to, 0 if none.
func (s *Sub) KnownSeq() uint64 {
	s.mx.Lock()
	defer s.mx.Unlock()
	if s.known == nil {
		return 0
	}
	return s.known.Seq
}

// Full returns a full snapshot update and makes it the peer's known time.
// firstSync marks the initial handshake, which is not counted as a resync.
func (s *Sub) Full(firstSync bool) Update {
	cur := s.e.Snapshot()
	s.mx.Lock()
	defer s.mx.Unlock()
	if !firstSync {
		s.e.fullSyncs.Add(1)
	}
	s.known = cur
	if q := s.ticks.Load(); q != nil {
		q.forget(cur.Seq)
	}
	return s.masked(cur, Update{
		ToSeq:     cur.Seq,
		Diff:      clock.Compute(nil, cur.Time),
		Sum:       cur.Sum,
		QueueTick: cur.QueueTick,
		Full:      true,
	})
}

// Resume sets the peer's known time to `known` (its replica's time, sent on
// reconnect) and returns one merged diff from there to now, with FromSeq set
// to fromSeq so the peer's chain continues. A time of the wrong length, or
// one ahead of the worker's in any state (ticks only grow: the peer knew
// another worker, e.g. one that was restarted), gets a full snapshot
// instead (counted; Update.Full tells).
func (s *Sub) Resume(known am.Time, fromSeq uint64) Update {
	known = s.mask.Load().Time(known)
	if len(known) != len(s.e.names) {
		return s.Full(false)
	}
	cur := s.e.Snapshot()
	for i, k := range known {
		if k > cur.Time[i] {
			return s.Full(false)
		}
	}
	s.mx.Lock()
	defer s.mx.Unlock()
	s.known = cur
	if q := s.ticks.Load(); q != nil {
		q.forget(cur.Seq)
	}
	return s.masked(cur, Update{
		FromSeq:   fromSeq,
		ToSeq:     cur.Seq,
		Diff:      clock.Compute(known, cur.Time),
		Sum:       cur.Sum,
		QueueTick: cur.QueueTick,
	})
}

// Next returns the update from the peer's known snapshot to the latest one
// and advances the known snapshot. ok is false when the peer is up to date.
// A subscription without a known snapshot gets a full one.
func (s *Sub) Next() (u Update, ok bool) {
	cur := s.e.Snapshot()
	s.mx.Lock()
	defer s.mx.Unlock()
	if s.known == nil {
		s.known = cur
		if q := s.ticks.Load(); q != nil {
			q.forget(cur.Seq)
		}
		return s.masked(cur, Update{ToSeq: cur.Seq,
			Diff: clock.Compute(nil, cur.Time), Sum: cur.Sum,
			QueueTick: cur.QueueTick, Full: true}), true
	}
	if s.known.Seq >= cur.Seq {
		return Update{}, false
	}
	from := s.known
	s.known = cur
	d := s.e.diff(from, cur)
	u = s.masked(cur, Update{
		FromSeq:   from.Seq,
		ToSeq:     cur.Seq,
		Diff:      d.diff,
		Binary:    d.bin,
		Sum:       cur.Sum,
		QueueTick: cur.QueueTick,
		Coalesced: cur.Seq - from.Seq,
	})
	if q := s.ticks.Load(); q != nil {
		q.take(&u, from.Seq, cur.Seq)
	}
	return u, true
}

// Changed is Engine.Changed for this subscriber's known sequence.
func (s *Sub) Changed() <-chan struct{} {
	return s.e.Changed(s.KnownSeq())
}
