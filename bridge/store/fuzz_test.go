package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/internal/apitest"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// FuzzRecords decodes the state file's records (the clock, the state names,
// a window record's key and value) from the same bytes: each either fails
// with ErrCorrupt or encodes back to the same bytes.
func FuzzRecords(f *testing.F) {
	f.Add(encodeClock(&clockRec{Epoch: 7, Seq: 9, MachineTick: 2, QueueTick: 3,
		Time: am.Time{0, 1, 5, 1 << 40}}))
	f.Add(encodeNames(am.S{"Exception", "SendPayload", "A"}))
	f.Add(dedupKey("rc-a#2x", 12))
	f.Add(dedupVal(3, am.Result(17)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := decodeClock(b); err == nil {
			assert.Equal(t, b, encodeClock(c))
		} else {
			require.ErrorIs(t, err, ErrCorrupt)
		}
		if n, err := decodeNames(b); err == nil {
			assert.Equal(t, b, encodeNames(n))
		} else {
			require.ErrorIs(t, err, ErrCorrupt)
		}
		if c, id, err := decodeDedupKey(b); err == nil {
			assert.Equal(t, b, dedupKey(c, id))
		} else {
			require.ErrorIs(t, err, ErrCorrupt)
		}
		if o, r, err := decodeDedupVal(b); err == nil {
			assert.Equal(t, b, dedupVal(o, r))
		} else {
			require.ErrorIs(t, err, ErrCorrupt)
		}
	})
}

// validStateFile writes a state file of the test schema with a few window
// records and returns its bytes.
func validStateFile(t testing.TB) []byte {
	path := filepath.Join(t.TempDir(), "seed.state")
	st, err := Open(path, nil)
	require.NoError(t, err)
	m, err := am.NewCommon(context.Background(), "w", apitest.Schema,
		apitest.Names, nil, nil, nil)
	require.NoError(t, err)
	defer m.Dispose()
	require.NoError(t, st.Attach(m))
	d := door.DedupFor(m)
	for i := range 3 {
		_, _, err := d.Do(context.Background(), "c", uint64(i+1),
			func() (am.Result, error) { return m.Add1("E", nil), nil })
		require.NoError(t, err)
	}
	require.NoError(t, st.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// FuzzStateFile opens whatever bytes as a state file and restores a machine
// from it: it must open and restore, or fail with ErrCorrupt (or
// ErrSchemaChanged), never panic or crash.
func FuzzStateFile(f *testing.F) {
	valid := validStateFile(f)
	f.Add(valid)
	f.Add(valid[:4096])
	f.Add([]byte("not a state file"))
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "f.state")
		require.NoError(t, os.WriteFile(path, b, 0o600))
		defer os.Remove(path)
		st, err := Open(path, nil)
		if err != nil {
			if len(b) > 0 {
				require.ErrorIs(t, err, ErrCorrupt)
			}
			return
		}
		defer func() { _ = st.Close() }()
		m, err := am.NewCommon(context.Background(), "w", apitest.Schema,
			apitest.Names, nil, nil, nil)
		require.NoError(t, err)
		defer m.Dispose()
		if err := st.Attach(m); err != nil {
			if !assert.ErrorIs(t, err, ErrSchemaChanged) {
				require.ErrorIs(t, err, ErrAttached)
			}
		}
	})
}
