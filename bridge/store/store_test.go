package store_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc/engine"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge/store"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

func TestRestoreTimeEpochSeqAndWindow(t *testing.T) {
	path := statePath(t)
	a := start(t, path, "127.0.0.1:0", nil)
	d := door.DedupFor(a.mach)
	ctx := context.Background()
	for i := range 5 {
		res, replayed, err := d.Do(ctx, "c1", uint64(10+i), func() (am.Result, error) {
			return a.mach.Add1("E", nil), nil
		})
		require.NoError(t, err)
		require.False(t, replayed)
		require.Equal(t, am.Executed, res)
	}
	a.mach.Add(am.S{"A"}, nil)
	eng, err := engine.Attach(a.mach)
	require.NoError(t, err)
	epoch, seq := eng.Epoch, eng.Snapshot().Seq
	eng.Release()
	want := a.mach.Time(nil)
	a.stop(t)

	b := start(t, path, "127.0.0.1:0", nil)
	info := b.st.Info()
	assert.True(t, info.Restored)
	assert.Equal(t, 5, info.Records)
	assert.Equal(t, want, b.mach.Time(nil), "time restored")
	assert.True(t, b.mach.Is(am.S{"A", "B"}))
	eng, err = engine.Attach(b.mach)
	require.NoError(t, err)
	defer eng.Release()
	assert.Equal(t, epoch, eng.Epoch, "epoch restored")
	assert.Equal(t, seq, eng.Snapshot().Seq, "seq restored")

	// a retry of a mutation of the previous process is replayed, not applied
	ticks := b.mach.Tick("E")
	_, replayed, err := door.DedupFor(b.mach).Do(ctx, "c1", 12,
		func() (am.Result, error) { return b.mach.Add1("E", nil), nil })
	require.NoError(t, err)
	assert.True(t, replayed)
	assert.Equal(t, ticks, b.mach.Tick("E"), "applied once")
}

func TestSchemaChangedAndReset(t *testing.T) {
	path := statePath(t)
	a := start(t, path, "127.0.0.1:0", nil)
	a.mach.Add1("A", nil)
	a.stop(t)

	other, err := am.NewCommon(context.Background(), "w",
		am.SchemaMerge(testSchema, am.Schema{"Z": {}}), am.SAdd(testNames,
			am.S{"Z"}), nil, nil, nil)
	require.NoError(t, err)
	defer other.Dispose()
	st, err := store.Open(path, nil)
	require.NoError(t, err)
	err = st.Attach(other)
	require.ErrorIs(t, err, store.ErrSchemaChanged)
	assert.Contains(t, err.Error(), `state "Z" is new`)
	require.NoError(t, st.Close())
	assert.Zero(t, other.Time(nil).Sum(nil), "nothing restored")

	relations := am.SchemaMerge(testSchema, am.Schema{"B": {Require: am.S{"C"}}})
	m2, err := am.NewCommon(context.Background(), "w", relations, testNames,
		nil, nil, nil)
	require.NoError(t, err)
	defer m2.Dispose()
	st, err = store.Open(path, nil)
	require.NoError(t, err)
	require.ErrorIs(t, st.Attach(m2), store.ErrSchemaChanged)
	require.NoError(t, st.Close())

	st, err = store.Open(path, &store.Options{Reset: true})
	require.NoError(t, err)
	assert.False(t, st.Info().Restored)
	require.NoError(t, st.Attach(other))
	require.NoError(t, st.Close())
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := dir + "/garbage"
	require.NoError(t, os.WriteFile(garbage, []byte("not a state file"), 0o600))
	locked := statePath(t)
	st, err := store.Open(locked, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, st.Close()) }()

	for _, tc := range []struct {
		name, path string
		want       error
	}{
		{"missing directory", dir + "/no/such/dir/w.state", store.ErrOpen},
		{"read-only file system", "/proc/w.state", store.ErrOpen},
		{"not a regular file", dir, store.ErrOpen},
		{"garbage", garbage, store.ErrCorrupt},
		{"in use", locked, store.ErrLocked},
		{"empty path", "", store.ErrOpen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := store.Open(tc.path, &store.Options{
				LockTimeout: 50 * time.Millisecond})
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestAttachErrors(t *testing.T) {
	st, err := store.Open(statePath(t), nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, st.Close()) }()
	changed := newMachine(t)
	changed.Add1("A", nil)
	require.ErrorIs(t, st.Attach(changed), store.ErrAttached)
	var none *am.Machine
	require.ErrorIs(t, st.Attach(none), store.ErrAttached)
	m := newMachine(t)
	require.NoError(t, st.Attach(m))
	require.NoError(t, st.Attach(m), "again with the same machine")
	require.ErrorIs(t, st.Attach(newMachine(t)), store.ErrAttached)
}

func TestSyncModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts store.Options
	}{
		{"always", store.Options{}},
		{"batch", store.Options{Sync: store.SyncBatch, BatchDelay: 20 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := statePath(t)
			opts := tc.opts
			st, err := store.Open(path, &opts)
			require.NoError(t, err)
			m := newMachine(t)
			require.NoError(t, st.Attach(m))
			d := door.DedupFor(m)
			for i := range 50 {
				_, _, err := d.Do(context.Background(), "c", uint64(i+1),
					func() (am.Result, error) { return m.Add1("E", nil), nil })
				require.NoError(t, err)
			}
			// no Flush: Close writes what is pending (a graceful stop loses
			// nothing in either mode)
			want := m.Time(nil)
			require.NoError(t, st.Close())
			st, err = store.Open(path, &opts)
			require.NoError(t, err)
			defer func() { require.NoError(t, st.Close()) }()
			assert.Equal(t, want, st.Info().Time)
			assert.Equal(t, 50, st.Info().Records)
		})
	}
}

// The machine's own transitions (no client asked for them) are written too.
func TestOwnTransitionsWritten(t *testing.T) {
	path := statePath(t)
	st, err := store.Open(path, nil)
	require.NoError(t, err)
	m := newMachine(t)
	require.NoError(t, st.Attach(m))
	m.Add1("D", nil) // F is auto
	require.True(t, m.Is1("F"))
	require.NoError(t, st.Flush(context.Background()))
	require.NoError(t, st.Close())
	st, err = store.Open(path, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, st.Close()) }()
	m2 := newMachine(t)
	require.NoError(t, st.Attach(m2))
	assert.True(t, m2.Is(am.S{"D", "F"}))
	assert.False(t, m2.Is1(ss.WorkerStates.SendPayload))
}

func TestParseSyncMode(t *testing.T) {
	for in, want := range map[string]store.SyncMode{"always": store.SyncAlways,
		"batch": store.SyncBatch} {
		got, err := store.ParseSyncMode(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.Equal(t, in, got.String())
	}
	_, err := store.ParseSyncMode("never")
	require.Error(t, err)
	assert.False(t, errors.Is(err, store.ErrOpen))
}
