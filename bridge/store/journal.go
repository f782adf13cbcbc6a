package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

var _ door.Journal = (*Store)(nil)

// Writable implements door.Journal: nil unless the last commit failed or the
// store is closed.
func (s *Store) Writable() error {
	s.mx.Lock()
	defer s.mx.Unlock()
	if s.closed {
		return fmt.Errorf("%w: %w", arpc.ErrNotDurable, ErrClosed)
	}
	return s.err
}

// Remember implements door.Journal.
func (s *Store) Remember(rec door.DedupRecord) {
	s.mx.Lock()
	s.order++
	s.ops = append(s.ops, op{rec: rec, order: s.order})
	s.mx.Unlock()
	s.poke()
}

// Forget implements door.Journal.
func (s *Store) Forget(client string, id uint64) {
	s.mx.Lock()
	s.ops = append(s.ops, op{rec: door.DedupRecord{Client: client, Id: id},
		del: true})
	s.mx.Unlock()
}

func (s *Store) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Commit implements door.Journal. With SyncAlways it returns once a commit
// that began after the call succeeded (commits group the callers that wait
// meanwhile), or with the failure of that commit; with SyncBatch it returns
// at once (the last failure, if any).
func (s *Store) Commit(ctx context.Context) error {
	s.mx.Lock()
	if s.opts.Sync == SyncBatch || s.closed {
		err := s.err
		if s.closed && err == nil {
			err = fmt.Errorf("%w: %w", arpc.ErrNotDurable, ErrClosed)
		}
		s.mx.Unlock()
		return err
	}
	s.mx.Unlock()
	err := s.wait(ctx)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w: waiting for the state file: %w",
			arpc.ErrNotDurable, err)
	}
	return err
}

// Flush commits what is pending now and returns its result.
func (s *Store) Flush(ctx context.Context) error {
	s.mx.Lock()
	if s.worker == nil || s.closed {
		s.mx.Unlock()
		return nil
	}
	s.mx.Unlock()
	return s.wait(ctx)
}

// wait asks for a commit and waits for the round that covers the call.
func (s *Store) wait(ctx context.Context) error {
	s.mx.Lock()
	s.reqs++
	mine := s.reqs
	s.mx.Unlock()
	s.poke()
	for {
		s.mx.Lock()
		done, failed, err, round := s.done, s.failed, s.err, s.round
		s.mx.Unlock()
		switch {
		case done >= mine:
			return nil
		case failed >= mine:
			return err
		}
		select {
		case <-round:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// run is the store's goroutine: it commits when the machine changed, the
// window changed or a Commit waits; with SyncBatch it first lets changes
// gather for up to BatchDelay. A failed commit is retried after RetryDelay.
// It ends with one last commit when the store closes.
func (s *Store) run() {
	defer s.wg.Done()
	var retry <-chan time.Time
	for {
		s.mx.Lock()
		seq := s.lastSeq
		s.mx.Unlock()
		changed, wake := s.eng.Changed(seq), s.wake
		select {
		case <-s.eng.Done():
			// the machine is gone: nothing changes any more
			changed = nil
		default:
		}
		if retry != nil {
			// failing: mutations are refused meanwhile, only the retry
			// (or the stop) may start the next attempt
			changed, wake = nil, nil
		}
		select {
		case <-s.stop:
			s.commit()
			return
		case <-changed:
		case <-wake:
		case <-retry:
		}
		retry = nil
		if s.opts.Sync == SyncBatch {
			t := time.NewTimer(s.opts.BatchDelay)
			select {
			case <-t.C:
			case <-s.stop:
				t.Stop()
			}
		}
		if !s.commit() {
			retry = time.After(s.opts.RetryDelay)
		}
	}
}

// commit writes the machine's latest snapshot and the window's pending
// changes in one transaction (bbolt fsyncs on commit) and ends the round of
// the Commit calls made before it began. false means it failed; pending
// window changes are then kept for the next attempt.
func (s *Store) commit() bool {
	s.mx.Lock()
	target := s.reqs
	s.mx.Unlock()
	var ops []op
	var snap *engine.Snapshot
	// a consistent cut: no mutation is between its start and its window
	// record, so every change in snap made by a mutation with an ID has
	// its record in ops (or already in the file)
	s.dedup.Quiesce(func() {
		snap = s.eng.Snapshot()
		s.mx.Lock()
		ops, s.ops = s.ops, nil
		s.mx.Unlock()
	})
	s.mx.Lock()
	idle := snap.Seq == s.lastSeq && len(ops) == 0 && s.err == nil
	db := s.db
	s.mx.Unlock()
	var err error
	if !idle {
		err = s.write(db, snap, ops)
	}
	s.mx.Lock()
	defer s.mx.Unlock()
	if err != nil {
		s.ops = append(ops, s.ops...)
		if s.err == nil {
			s.log.Error("state file write failed; mutations are refused until "+
				"it works again", "err", err)
		}
		s.err = fmt.Errorf("%w: %s: %w", arpc.ErrNotDurable, s.path, err)
		s.failed = target
	} else {
		if s.err != nil {
			s.log.Warn("state file writable again", "seq", snap.Seq)
		}
		s.err = nil
		s.done = target
		s.lastSeq = snap.Seq
	}
	close(s.round)
	s.round = make(chan struct{})
	return err == nil
}

func (s *Store) write(db *bolt.DB, snap *engine.Snapshot, ops []op) error {
	return db.Update(func(tx *bolt.Tx) error {
		if err := s.putClock(tx, snap); err != nil {
			return err
		}
		b := tx.Bucket(bucketDedup)
		if b == nil {
			return errors.New("dedup bucket missing")
		}
		for _, o := range ops {
			k := dedupKey(o.rec.Client, o.rec.Id)
			var err error
			if o.del {
				err = b.Delete(k)
			} else {
				err = b.Put(k, dedupVal(o.order, o.rec.Result))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}
