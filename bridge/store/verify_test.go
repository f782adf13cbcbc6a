package store

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Regression (FuzzStateFile): a damaged page header made bbolt loop in its
// freelist. Every page header field of a real file, damaged in turn, gives
// ErrCorrupt (or a file that still opens) at once.
func TestVerifyDamagedPages(t *testing.T) {
	valid := validStateFile(t)
	pageSize := int(binary.LittleEndian.Uint32(valid[pageHeader+8:]))
	pages := len(valid) / pageSize
	dir := t.TempDir()
	damages := map[string]func(b []byte, off int){
		"id":       func(b []byte, off int) { binary.LittleEndian.PutUint64(b[off:], 1<<40) },
		"flags":    func(b []byte, off int) { binary.LittleEndian.PutUint16(b[off+8:], 0x7f) },
		"count":    func(b []byte, off int) { binary.LittleEndian.PutUint16(b[off+10:], 0xFFFE) },
		"overflow": func(b []byte, off int) { binary.LittleEndian.PutUint32(b[off+12:], 0xFFFFFFFF) },
	}
	for name, damage := range damages {
		for p := 2; p < pages; p++ {
			b := append([]byte(nil), valid...)
			damage(b, p*pageSize)
			path := filepath.Join(dir, name+".state")
			require.NoError(t, os.WriteFile(path, b, 0o600))
			start := time.Now()
			st, err := Open(path, nil)
			if err == nil {
				require.NoError(t, st.Close())
			} else {
				require.ErrorIs(t, err, ErrCorrupt, "%s of page %d", name, p)
			}
			require.Less(t, time.Since(start), 5*time.Second, "%s of page %d", name, p)
		}
	}
}
