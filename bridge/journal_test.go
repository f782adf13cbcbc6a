package bridge_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// fakeJournal is an door.Journal whose failures a test sets.
type fakeJournal struct {
	mx           sync.Mutex
	writable     error
	commit       error
	commits      atomic.Int64
	remembered   atomic.Int64
	timeAtCommit am.Time
	worker       am.Api
}

func (j *fakeJournal) Writable() error {
	j.mx.Lock()
	defer j.mx.Unlock()
	return j.writable
}
func (j *fakeJournal) Remember(door.DedupRecord) { j.remembered.Add(1) }
func (j *fakeJournal) Forget(string, uint64)     {}
func (j *fakeJournal) Commit(context.Context) error {
	j.commits.Add(1)
	j.mx.Lock()
	defer j.mx.Unlock()
	j.timeAtCommit = j.worker.Time(nil)
	return j.commit
}

func (j *fakeJournal) set(writable, commit error) {
	j.mx.Lock()
	defer j.mx.Unlock()
	j.writable, j.commit = writable, commit
}

// Both doors run a mutation through the worker's journal: committed after
// it ran and before the reply; refused before it runs while the journal
// cannot write; a failed commit reaches the client as ErrNotDurable (aRPC
// wire code, gRPC reason NOT_DURABLE).
func TestJournalOnBothDoors(t *testing.T) {
	w := newWorker(t)
	j := &fakeJournal{worker: w}
	door.DedupFor(w).SetJournal(j)
	t.Cleanup(func() { door.DedupFor(w).SetJournal(nil) })
	s := startServer(t, w, nil)
	addr := s.Addr().String()
	doors := map[string]*arpc.Worker{
		"aRPC": newARPCClient(t, addr, "a").Worker,
		"gRPC": dial(t, addr, "g", nil).Worker,
	}
	ctx := context.Background()
	for name, rw := range doors {
		t.Run(name, func(t *testing.T) {
			j.set(nil, nil)
			before := j.commits.Load()
			_, err := rw.Mutate(ctx, am.MutationAdd, am.S{"E"}, nil)
			require.NoError(t, err)
			assert.Equal(t, before+1, j.commits.Load(), "one commit")
			assert.Equal(t, w.Time(nil), j.timeAtCommit, "committed after it ran")

			j.set(fmt.Errorf("%w: disk full", arpc.ErrNotDurable), nil)
			ticks := w.Tick("E")
			_, err = rw.Mutate(ctx, am.MutationAdd, am.S{"E"}, nil)
			require.ErrorIs(t, err, arpc.ErrNotDurable)
			assert.Contains(t, err.Error(), "disk full")
			assert.Equal(t, ticks, w.Tick("E"), "refused before it ran")

			j.set(nil, fmt.Errorf("%w: fsync failed", arpc.ErrNotDurable))
			_, err = rw.Mutate(ctx, am.MutationAdd, am.S{"E"}, nil)
			require.ErrorIs(t, err, arpc.ErrNotDurable)
			assert.Equal(t, ticks+2, w.Tick("E"), "ran, reply not durable")
		})
	}
}
