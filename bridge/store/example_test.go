package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge/store"
)

// A machine restored from its state file continues where the last process
// stopped.
func Example() {
	dir, _ := os.MkdirTemp("", "store-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "jobs.state")
	schema := am.SchemaMerge(ss.WorkerSchema,
		am.Schema{"Ready": {}, "Done": {Multi: true}})
	names := am.SAdd(ss.WorkerStates.Names(), am.S{"Ready", "Done"})

	// first process: a fresh machine, two changes, then a graceful stop
	st, _ := store.Open(path, nil)
	m, _ := am.NewCommon(context.Background(), "jobs", schema, names, nil, nil, nil)
	_ = st.Attach(m)
	m.Add1("Ready", nil)
	m.Add1("Done", nil)
	m.Add1("Done", nil)
	_ = st.Close()
	m.Dispose()

	// second process: the same schema, restored from the file
	st, _ = store.Open(path, nil)
	defer st.Close()
	m2, _ := am.NewCommon(context.Background(), "jobs", schema, names, nil, nil, nil)
	defer m2.Dispose()
	if err := st.Attach(m2); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.Info().Restored, m2.ActiveStates(nil), m2.Time(am.S{"Ready", "Done"}))
	// Output: true [Ready Done] 1 3
}
