package schemafile_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/internal/schemafile"
)

var sentinels = []error{
	schemafile.ErrSyntax, schemafile.ErrUnknownField, schemafile.ErrDuplicate,
	schemafile.ErrUnknownState, schemafile.ErrInvalid, schemafile.ErrLimit,
}

// FuzzParse checks that Parse never panics, that every error is an *Error
// wrapping one sentinel, and that asyncmachine accepts every definition Parse
// accepts.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		if fi, err := os.Stat(file); err == nil && fi.IsDir() {
			continue // testdata/fuzz: go test reads the corpus itself
		}
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, seed := range []string{
		"", "{}", "[]", "null", "states:\n", "{\"states\": [{}]}",
		"states: [{name: A, add: [B]}, {name: B, remove: [A], after: [A]}]",
		"a: &a {name: A}\nstates: [*a, {<<: *a, name: B}]",
		"states:\n  - name: A\n    tags: !!str [x]\n",
		"states: [{name: A}]\n---\n",
		"%YAML 1.2\n---\nstates: [{name: A}]\n",
		"states:\n  - name: |\n      A\n",
	} {
		f.Add([]byte(seed))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range []schemafile.Format{
			schemafile.FormatAuto, schemafile.FormatYAML, schemafile.FormatJSON,
		} {
			def, err := schemafile.Parse(data, format)
			if err != nil {
				checkErr(t, err)
				continue
			}
			checkDef(t, def)
		}
	})
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	var serr *schemafile.Error
	if !errors.As(err, &serr) {
		t.Fatalf("error %v is %T, not *schemafile.Error", err, err)
	}
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %v wraps %d sentinels, want 1", err, n)
	}
}

func checkDef(t *testing.T, def *schemafile.Def) {
	t.Helper()
	if len(def.Names) == 0 || len(def.Names) != len(def.Schema) {
		t.Fatalf("%d names for %d states", len(def.Names), len(def.Schema))
	}
	known := am.SAdd(def.Names, am.S{am.StateException})
	for _, name := range def.Names {
		state, ok := def.Schema[name]
		if !ok {
			t.Fatalf("name %q missing from the schema", name)
		}
		for _, rel := range [][]string{
			state.Require, state.Add, state.Remove, state.After,
		} {
			for _, target := range rel {
				if !slices.Contains(known, target) || target == name {
					t.Fatalf("state %q: bad relation to %q", name, target)
				}
			}
		}
	}

	mach := am.New(context.Background(), def.Schema, nil)
	defer mach.Dispose()
	if err := mach.Err(); err != nil {
		t.Fatalf("asyncmachine rejected the schema: %v", err)
	}
	if err := mach.VerifyStates(known); err != nil {
		t.Fatalf("asyncmachine rejected the names: %v", err)
	}
}
