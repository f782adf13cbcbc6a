package door

import (
	"context"
	"fmt"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/internal/errs"
)

// Dedup is the exactly-once memory of one worker's mutations, shared by
// every server (aRPC or gRPC) of that worker: a mutation retried with the
// same client ID and mutation ID is answered with the first result instead
// of being applied again. See DedupWindow for its bounds. Safe for
// concurrent use.
type Dedup struct{ s *dedupStore }

// DedupFor returns the Dedup of worker, the same one its aRPC servers use.
func DedupFor(worker am.Api) *Dedup { return &Dedup{s: dedupFor(worker)} }

// Do runs exec once per (client, id). The first caller executes; a
// concurrent or later caller with the same pair waits (within ctx) for the
// first result and gets it with replayed set. id 0 disables de-duplication.
// With a Journal (SetJournal), a mutation is refused while the journal
// cannot persist, and Do returns only once the journal committed it.
func (d *Dedup) Do(ctx context.Context, client string, id uint64,
	exec func() (am.Result, error),
) (res am.Result, replayed bool, err error) {
	return d.s.do(ctx, client, id, exec)
}

// Journal makes one worker's accepted mutations durable: the worker's time,
// its engine's sequence and the exactly-once window of its Dedup (package
// bridge/store implements it with a file). Both doors reach it through the
// worker's Dedup (Dedup.SetJournal), so an aRPC and a gRPC mutation get the
// same guarantee.
type Journal interface {
	// Writable returns an error (wrapping ErrNotDurable) while the journal
	// cannot persist; mutations are then refused before they run, and the
	// worker stays as the journal last stored it.
	Writable() error
	// Remember records a mutation's result in the window. Called under the
	// Dedup's lock: it must not block nor call the Dedup.
	Remember(rec DedupRecord)
	// Forget drops a record the window evicted. Called under the Dedup's
	// lock, like Remember.
	Forget(client string, id uint64)
	// Commit returns once everything the worker and the window did before
	// the call is durable, or with an error wrapping ErrNotDurable when that
	// failed, or ctx's error. Both doors call it after a mutation ran (for
	// one the worker queued: after the queue ran it) and before its reply is
	// sent; a journal that persists later (in batches) returns at once.
	Commit(ctx context.Context) error
}

// DedupRecord is one result remembered by a Dedup: the mutation id of a
// client key (a client ID, with its ID scope when it has one) and its result.
type DedupRecord struct {
	Client string
	Id     uint64
	Result am.Result
}

// journalRef lets an interface live in an atomic.Pointer.
type journalRef struct{ Journal }

// SetJournal makes j the journal of the worker's mutations, on both doors.
// Set it before serving (after Restore); nil removes it.
func (d *Dedup) SetJournal(j Journal) {
	if j == nil {
		d.s.journal.Store(nil)
		return
	}
	d.s.journal.Store(&journalRef{j})
}

// Restore refills the window with records, oldest first, as a journal
// stored them; a later record of the same client evicts the oldest one
// beyond DedupWindow, as live mutations do. Call it before serving and
// before SetJournal (restored records are not journaled again).
func (d *Dedup) Restore(recs []DedupRecord) {
	for _, r := range recs {
		if r.Id == 0 {
			continue
		}
		e, first := d.s.begin(r.Client, r.Id)
		if first {
			e.d = nil
			e.finish(r.Result)
		}
	}
}

// Records returns the finished records of the window, client by client from
// the least recently used, each client's oldest first.
func (d *Dedup) Records() []DedupRecord {
	d.s.mx.Lock()
	defer d.s.mx.Unlock()
	var out []DedupRecord
	for el := d.s.lru.Front(); el != nil; el = el.Next() {
		w := el.Value.(*dedupWindow)
		n := len(w.ring)
		for i := range n {
			id := w.ring[(w.next+i)%n]
			e := w.entries[id]
			select {
			case <-e.done:
				out = append(out, DedupRecord{Client: w.key, Id: id,
					Result: e.result})
			default:
			}
		}
	}
	return out
}

// Quiesce runs fn while no mutation is between its start and its
// remembered result: every change fn sees in the worker's time made by a
// mutation with an ID has its record journaled already. Journals call it to
// capture a consistent state; fn must be quick and must not mutate.
func (d *Dedup) Quiesce(fn func()) {
	d.s.barrier.Lock()
	defer d.s.barrier.Unlock()
	fn()
}

// do runs one mutation for a door: refused while the journal cannot
// persist, executed once per (client, id) (id 0: no de-duplication), and
// committed to the journal before the result is returned.
func (d *dedupStore) do(ctx context.Context, client string, id uint64,
	exec func() (am.Result, error),
) (res am.Result, replayed bool, err error) {
	j := d.journal.Load()
	if j != nil {
		if err := j.Writable(); err != nil {
			return am.Canceled, false, err
		}
	}
	switch {
	case id == 0:
		res, err = exec()
	case j == nil:
		res, replayed, err = d.once(ctx, client, id, false, exec)
	default:
		d.barrier.RLock()
		res, replayed, err = d.once(ctx, client, id, true, exec)
	}
	if j != nil && err == nil {
		if res >= am.Queued && !replayed {
			d.awaitQueued(ctx, res)
		}
		if cerr := j.Commit(ctx); cerr != nil {
			return res, replayed, cerr
		}
	}
	return res, replayed, err
}

// queueEnder is a worker that tells when its queue ran empty
// (*am.Machine).
type queueEnder interface {
	WhenQueueEnds() <-chan struct{}
}

// awaitQueued waits (within ctx) until the worker ran a mutation it queued
// at queue tick res, so that the commit after it covers its effect: a
// Queued reply is durable like an Executed one. A tick is processed when
// an accepted transition at or past it ends, or when the queue ends (the
// mutation itself may have been canceled).
func (d *dedupStore) awaitQueued(ctx context.Context, res am.Result) {
	w := d.worker
	if w == nil {
		return
	}
	var ended <-chan struct{}
	if qe, ok := w.(queueEnder); ok {
		ended = qe.WhenQueueEnds()
	}
	select {
	case <-w.WhenQueue(res):
	case <-ended:
	case <-ctx.Done():
	}
}

// once executes exec for the first caller of (client, id); the others wait
// for its result. When locked, the caller holds barrier for reading; once
// releases it as soon as the result is remembered (or at once for a
// replay, which must not hold it while it waits).
func (d *dedupStore) once(ctx context.Context, client string, id uint64,
	locked bool, exec func() (am.Result, error),
) (am.Result, bool, error) {
	unlock := func() {
		if locked {
			locked = false
			d.barrier.RUnlock()
		}
	}
	defer unlock()
	entry, first := d.begin(client, id)
	if !first {
		unlock()
		select {
		case <-entry.done:
			return entry.result, true, nil
		case <-ctx.Done():
			return am.Canceled, false, fmt.Errorf("%w: waiting for the first "+
				"attempt: %w", errs.ErrNoConn, context.Cause(ctx))
		}
	}
	res, err := exec()
	entry.finish(res)
	return res, false, err
}
