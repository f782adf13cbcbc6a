package store_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/bridge/store"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// BenchmarkMutate measures a mutation on the shared mutation path (what
// both doors run) without a store and with each sync mode, from one caller
// and from 16 concurrent callers (commits group them).
func BenchmarkMutate(b *testing.B) {
	modes := []struct {
		name string
		opts *store.Options
	}{
		{"none", nil},
		{"always", &store.Options{Sync: store.SyncAlways}},
		{"batch", &store.Options{Sync: store.SyncBatch}},
	}
	for _, mode := range modes {
		for _, callers := range []int{1, 16} {
			b.Run(mode.name+"/callers="+strconv.Itoa(callers), func(b *testing.B) {
				m := newMachine(b)
				if mode.opts != nil {
					st, err := store.Open(statePath(b), mode.opts)
					require.NoError(b, err)
					require.NoError(b, st.Attach(m))
					b.Cleanup(func() { require.NoError(b, st.Close()) })
				}
				d := door.DedupFor(m)
				var next atomic.Uint64
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for c := range callers {
					n := b.N / callers
					if c == 0 {
						n += b.N % callers
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range n {
							_, _, err := d.Do(context.Background(), "c",
								next.Add(1), func() (am.Result, error) {
									return m.Add1("E", nil), nil
								})
							if err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "mut/s")
			})
		}
	}
}
