package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/internal/apitest"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// A failed commit refuses further mutations (ErrNotDurable) before they
// run, fails the Commit of the mutation in flight, keeps the window's
// pending records, and a later successful commit accepts mutations again
// with nothing lost.
func TestWriteFailureRefusesThenRecovers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.state")
	st, err := Open(path, &Options{RetryDelay: 20 * time.Millisecond})
	require.NoError(t, err)
	m, err := am.NewCommon(context.Background(), "w", apitest.Schema,
		apitest.Names, nil, nil, nil)
	require.NoError(t, err)
	defer m.Dispose()
	require.NoError(t, st.Attach(m))
	d := door.DedupFor(m)
	ctx := context.Background()
	addE := func() (am.Result, error) { return m.Add1("E", nil), nil }
	_, _, err = d.Do(ctx, "c", 1, addE)
	require.NoError(t, err)

	// the disk goes away: the file is closed under the store
	st.mx.Lock()
	db := st.db
	st.mx.Unlock()
	require.NoError(t, db.Close())
	_, _, err = d.Do(ctx, "c", 2, addE)
	require.ErrorIs(t, err, arpc.ErrNotDurable, "the reply is not durable")
	ticks := m.Tick("E")
	_, _, err = d.Do(ctx, "c", 3, addE)
	require.ErrorIs(t, err, arpc.ErrNotDurable)
	assert.Equal(t, ticks, m.Tick("E"), "refused before it ran")

	// the disk comes back
	db2, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	st.mx.Lock()
	st.db = db2
	st.mx.Unlock()
	require.Eventually(t, func() bool { return st.Writable() == nil },
		5*time.Second, 10*time.Millisecond)
	_, _, err = d.Do(ctx, "c", 4, addE)
	require.NoError(t, err)
	want := m.Time(nil)
	require.NoError(t, st.Close())

	st, err = Open(path, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, st.Close()) }()
	assert.Equal(t, want, st.Info().Time)
	ids := map[uint64]bool{}
	for _, r := range st.recs {
		ids[r.Id] = true
	}
	assert.Equal(t, map[uint64]bool{1: true, 2: true, 4: true}, ids,
		"the record of the mutation in flight survived the failure")
}
