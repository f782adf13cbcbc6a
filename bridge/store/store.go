package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	bolt "go.etcd.io/bbolt"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// Errors of Open, Attach and the journal. Test them with errors.Is.
var (
	// ErrSchemaChanged means the state file was written for another schema
	// (state names, their order or relations); Options.Reset starts over.
	ErrSchemaChanged = errors.New("store: state file was written for another schema")
	// ErrCorrupt means the state file is not a state file of this format,
	// or is damaged.
	ErrCorrupt = errors.New("store: state file is damaged or not a state file")
	// ErrLocked means another process holds the state file open.
	ErrLocked = errors.New("store: state file is in use by another process")
	// ErrOpen means the state file could not be opened or created (a
	// missing or read-only directory, no permission, a full disk...).
	ErrOpen = errors.New("store: cannot open the state file")
	// ErrAttached means Attach was called twice, or on a machine that
	// already changed.
	ErrAttached = errors.New("store: cannot attach")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("store: closed")
)

// SyncMode says when a Store makes changes durable.
type SyncMode int

const (
	// SyncAlways commits (with fsync) before a mutation's reply is sent.
	SyncAlways SyncMode = iota
	// SyncBatch commits at most Options.BatchDelay after a change; replies
	// do not wait.
	SyncBatch
)

// String returns "always" or "batch".
func (m SyncMode) String() string {
	if m == SyncBatch {
		return "batch"
	}
	return "always"
}

// ParseSyncMode parses "always" or "batch".
func ParseSyncMode(s string) (SyncMode, error) {
	switch s {
	case "always":
		return SyncAlways, nil
	case "batch":
		return SyncBatch, nil
	}
	return 0, fmt.Errorf("sync mode %q: want always or batch", s)
}

// Defaults of Options.
const (
	// DefaultBatchDelay is Options.BatchDelay's default: the longest a
	// change waits to be written with SyncBatch.
	DefaultBatchDelay = 100 * time.Millisecond
	// DefaultLockTimeout is Options.LockTimeout's default.
	DefaultLockTimeout = time.Second
	// DefaultRetryDelay is how long the store waits before it retries a
	// failed commit.
	DefaultRetryDelay = time.Second
)

// Options are optional settings of Open; the zero value means SyncAlways
// and the defaults above.
type Options struct {
	// Sync is when changes become durable. Default SyncAlways.
	Sync SyncMode
	// BatchDelay bounds how long a change waits to be written with
	// SyncBatch: the window of acknowledged mutations a crash may lose.
	// Default DefaultBatchDelay.
	BatchDelay time.Duration
	// Reset discards what the file holds (another schema's state too) and
	// starts from a fresh machine.
	Reset bool
	// LockTimeout bounds the wait for another process's lock on the file
	// (then ErrLocked). Default DefaultLockTimeout.
	LockTimeout time.Duration
	// RetryDelay is the wait before a failed commit is retried. Default
	// DefaultRetryDelay.
	RetryDelay time.Duration
	// Logger receives write failures and recoveries. Default: discarded.
	Logger *slog.Logger
}

// Info is what a Store read from its file at Open.
type Info struct {
	// Restored is true when the file held a machine's state.
	Restored bool
	// Machine is the ID of the machine that wrote the file.
	Machine string
	// Names are the stored state names, in index order.
	Names am.S
	// Epoch and Seq are the engine's position at the last commit.
	Epoch, Seq uint64
	// Time is the machine's time at the last commit.
	Time am.Time
	// Records counts the exactly-once window's records.
	Records int
}

// Store is a state file for one machine. Safe for concurrent use; it
// implements door.Journal for the machine it is attached to.
type Store struct {
	path string
	opts Options
	db   *bolt.DB
	log  *slog.Logger
	info Info
	hash string
	recs []record
	// mt is the stored machine tick
	mt uint32

	worker am.Api
	eng    *engine.Engine
	dedup  *door.Dedup

	mx sync.Mutex
	// ops are window changes not yet committed, in order
	ops []op
	// order numbers window records
	order uint64
	// reqs counts Commit calls that wait; done is the count covered by the
	// last successful commit, failed the count covered by a failed one
	reqs, done, failed uint64
	// err is the last commit's failure, nil once a commit succeeded
	err error
	// round is closed (and replaced) when a commit round ends
	round  chan struct{}
	wake   chan struct{}
	stop   chan struct{}
	closed bool
	wg     sync.WaitGroup
	// lastSeq is the sequence the file holds
	lastSeq uint64
}

// op is a window change: a record to put, or (del) one to delete.
type op struct {
	rec   door.DedupRecord
	order uint64
	del   bool
}

// Open opens or creates the state file at path and reads it; nothing is
// restored until Attach. The file is locked until Close.
func Open(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.BatchDelay <= 0 {
		o.BatchDelay = DefaultBatchDelay
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = DefaultRetryDelay
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if path == "" {
		return nil, fmt.Errorf("%w: empty path", ErrOpen)
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w %s: not a regular file", ErrOpen, path)
	}
	db, err := openBolt(path, o.LockTimeout)
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s (waited %s)", ErrLocked, path,
				o.LockTimeout)
		}
		var pe *fs.PathError
		var errno syscall.Errno
		if !errors.As(err, &pe) && !errors.As(err, &errno) {
			// not the OS refusing: bbolt refusing the content (invalid,
			// version mismatch, checksum, too small...)
			return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
		}
		return nil, fmt.Errorf("%w %s: %w", ErrOpen, path, err)
	}
	s := &Store{path: path, opts: o, db: db, log: log.With("state", path),
		round: make(chan struct{}), wake: make(chan struct{}, 1),
		stop: make(chan struct{})}
	if o.Reset {
		err = s.reset()
	} else {
		err = s.load()
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// openBolt opens the file with bbolt. A damaged file must give an error,
// not crash the process: bbolt reads its pages through a memory map and
// may panic, or fault, on a page that lies, so both become ErrCorrupt.
func openBolt(path string, lockTimeout time.Duration) (db *bolt.DB, err error) {
	if err := verifyFile(path); err != nil {
		return nil, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, r)
		}
	}()
	return bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
}

// Path returns the state file's path.
func (s *Store) Path() string { return s.path }

// Info returns what Open read from the file.
func (s *Store) Info() Info { return s.info }

// Sync returns the store's sync mode.
func (s *Store) Sync() SyncMode { return s.opts.Sync }

// reset empties the file.
func (s *Store) reset() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketClock, bucketDedup} {
			if err := tx.DeleteBucket(b); err != nil &&
				!errors.Is(err, bolt.ErrBucketNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w %s: reset: %w", ErrOpen, s.path, err)
	}
	return nil
}

// load reads the file. A damaged file must give an error, never a panic:
// the reading runs under recover.
func (s *Store) load() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, s.path, r)
		}
	}()
	return s.db.View(func(tx *bolt.Tx) error {
		// bbolt trusts its pages: a damaged one can make a later write
		// loop or fault, so the whole file is checked first
		var cerr error
		for err := range tx.Check() {
			if cerr == nil {
				cerr = fmt.Errorf("%w: %s: %w", ErrCorrupt, s.path, err)
			}
		}
		if cerr != nil {
			return cerr
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			if tx.Bucket(bucketClock) != nil || tx.Bucket(bucketDedup) != nil {
				return fmt.Errorf("%w: %s: no meta bucket", ErrCorrupt, s.path)
			}
			return nil
		}
		if f := string(meta.Get(keyFormat)); f != formatVersion {
			return fmt.Errorf("%w: %s: format %q, want %q", ErrCorrupt, s.path,
				f, formatVersion)
		}
		names, err := decodeNames(meta.Get(keyNames))
		if err != nil {
			return fmt.Errorf("%s: %w", s.path, err)
		}
		cb := tx.Bucket(bucketClock)
		if cb == nil {
			return fmt.Errorf("%w: %s: no clock bucket", ErrCorrupt, s.path)
		}
		c, err := decodeClock(cb.Get(keyClock))
		if err != nil {
			return fmt.Errorf("%s: %w", s.path, err)
		}
		if len(c.Time) != len(names) {
			return fmt.Errorf("%w: %s: %d ticks for %d states", ErrCorrupt,
				s.path, len(c.Time), len(names))
		}
		s.info = Info{Restored: true, Machine: string(meta.Get(keyMachine)),
			Names: names, Epoch: c.Epoch, Seq: c.Seq, Time: c.Time}
		s.hash = string(meta.Get(keyHash))
		s.lastSeq = c.Seq
		s.mt = c.MachineTick
		return s.loadWindow(tx)
	})
}

func (s *Store) loadWindow(tx *bolt.Tx) error {
	db := tx.Bucket(bucketDedup)
	if db == nil {
		return nil
	}
	err := db.ForEach(func(k, v []byte) error {
		client, id, err := decodeDedupKey(k)
		if err != nil {
			return err
		}
		order, res, err := decodeDedupVal(v)
		if err != nil {
			return err
		}
		s.recs = append(s.recs, record{order: order,
			DedupRecord: door.DedupRecord{Client: client, Id: id, Result: res}})
		s.order = max(s.order, order)
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	sort.Slice(s.recs, func(i, j int) bool {
		return s.recs[i].order < s.recs[j].order
	})
	s.info.Records = len(s.recs)
	return nil
}

// Machine is what Attach restores: a machine that can import a time
// (*am.Machine).
type Machine interface {
	am.Api
	Import(data *am.Serialized) error
}

// Attach restores the stored state into worker, attaches the worker's
// engine at the stored epoch and sequence (it holds one reference until
// Close), refills the worker's exactly-once window and becomes its journal
// (door.Dedup.SetJournal), then writes the current state once, so a file
// that cannot be written fails here. worker must be fresh: verified states,
// no transition yet, no engine attached. A file of another schema gives
// ErrSchemaChanged. Call it before serving; calling it again with the same
// machine does nothing.
func (s *Store) Attach(worker Machine) error {
	s.mx.Lock()
	defer s.mx.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.worker != nil && s.worker == am.Api(worker):
		return nil
	case s.worker != nil:
		return fmt.Errorf("%w: already attached to %s", ErrAttached,
			s.worker.Id())
	case worker == nil:
		return fmt.Errorf("%w: nil machine", ErrAttached)
	}
	if m, ok := worker.(*am.Machine); ok && m == nil {
		return fmt.Errorf("%w: nil machine", ErrAttached)
	}
	for _, t := range worker.Time(nil) {
		if t != 0 {
			return fmt.Errorf("%w: machine %s already changed (attach before "+
				"any mutation)", ErrAttached, worker.Id())
		}
	}
	names := slices.Clone(worker.StateNames())
	hash := arpc.SchemaHash(worker.Schema(), names)
	if s.info.Restored {
		if err := s.checkSchema(names, hash); err != nil {
			return err
		}
		err := worker.Import(&am.Serialized{ID: worker.Id(), StateNames: names,
			Time: slices.Clone(s.info.Time), MachineTick: s.mt})
		if err != nil {
			return fmt.Errorf("%w: restore %s: %w", ErrAttached, worker.Id(), err)
		}
	}
	eng, err := engine.AttachAt(worker, s.info.Epoch, s.info.Seq)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAttached, err)
	}
	dedup := door.DedupFor(worker)
	recs := make([]door.DedupRecord, len(s.recs))
	for i, r := range s.recs {
		recs[i] = r.DedupRecord
	}
	dedup.Restore(recs)
	s.recs = nil
	s.worker, s.eng, s.dedup, s.hash = worker, eng, dedup, hash
	if err := s.writeMeta(worker.Id(), names); err != nil {
		eng.Release()
		s.worker, s.eng, s.dedup = nil, nil, nil
		return err
	}
	dedup.SetJournal(s)
	s.wg.Add(1)
	go s.run()
	return nil
}

// checkSchema compares a machine's names and schema hash with the stored
// ones.
func (s *Store) checkSchema(names am.S, hash string) error {
	old := s.info.Names
	for i := range max(len(old), len(names)) {
		switch {
		case i >= len(old):
			return fmt.Errorf("%w: %s: state %q is new (the file has %d states; "+
				"--state-reset starts over)", ErrSchemaChanged, s.path, names[i],
				len(old))
		case i >= len(names):
			return fmt.Errorf("%w: %s: state %q is gone (the machine has %d "+
				"states; --state-reset starts over)", ErrSchemaChanged, s.path,
				old[i], len(names))
		case old[i] != names[i]:
			return fmt.Errorf("%w: %s: state %d is %q, the file has %q "+
				"(--state-reset starts over)", ErrSchemaChanged, s.path, i,
				names[i], old[i])
		}
	}
	if hash != s.hash {
		return fmt.Errorf("%w: %s: the states' relations changed "+
			"(--state-reset starts over)", ErrSchemaChanged, s.path)
	}
	return nil
}

// writeMeta writes the meta bucket and the current clock. Called with mx
// held.
func (s *Store) writeMeta(id string, names am.S) error {
	snap := s.eng.Snapshot()
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		for k, v := range map[string][]byte{
			string(keyFormat): []byte(formatVersion), string(keyMachine): []byte(id),
			string(keyNames): encodeNames(names), string(keyHash): []byte(s.hash),
		} {
			if err := meta.Put([]byte(k), v); err != nil {
				return err
			}
		}
		if _, err := tx.CreateBucketIfNotExists(bucketDedup); err != nil {
			return err
		}
		return s.putClock(tx, snap)
	})
	if err != nil {
		return fmt.Errorf("%w: %s: %w: %w", arpc.ErrNotDurable, s.path, ErrOpen, err)
	}
	s.lastSeq = snap.Seq
	return nil
}

func (s *Store) putClock(tx *bolt.Tx, snap *engine.Snapshot) error {
	cb, err := tx.CreateBucketIfNotExists(bucketClock)
	if err != nil {
		return err
	}
	return cb.Put(keyClock, encodeClock(&clockRec{Epoch: s.eng.Epoch,
		Seq: snap.Seq, MachineTick: s.worker.MachineTick(),
		QueueTick: snap.QueueTick, Time: snap.Time}))
}

// Close writes what is pending, stops the store's goroutine, detaches it
// from the machine and closes the file. Call it after the server stopped.
// It returns the last commit's error, if any. Idempotent.
func (s *Store) Close() error {
	s.mx.Lock()
	if s.closed {
		s.mx.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.mx.Unlock()
	s.wg.Wait()
	s.mx.Lock()
	werr := s.err
	s.mx.Unlock()
	if s.dedup != nil {
		s.dedup.SetJournal(nil)
	}
	if s.eng != nil {
		s.eng.Release()
	}
	if err := s.db.Close(); err != nil && werr == nil {
		werr = fmt.Errorf("%w: close %s: %w", arpc.ErrNotDurable, s.path, err)
	}
	return werr
}
