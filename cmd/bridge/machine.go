package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/internal/demo"
	"github.com/arpcbridge/arpcbridge/internal/schemafile"
)

// machineDef is what serve builds a machine from.
type machineDef struct {
	// kind is "demo" or "schema", for messages.
	kind   string
	id     string
	schema am.Schema
	names  am.S
	// source is the schema file, empty for the demo.
	source string
}

// demoDef is the embedded demo machine, with the worker states merged in.
func demoDef() *machineDef {
	return &machineDef{
		kind:   "demo",
		id:     "demo",
		schema: am.SchemaMerge(ss.WorkerSchema, demo.Schema()),
		names:  am.SAdd(ss.WorkerStates.Names(), demo.Names()),
	}
}

// fileDef loads a schema file (JSON or YAML). Its states may name the worker
// states in relations; the worker states come first in the index order.
// The machine ID is the file's id, else the file name without extension.
func fileDef(path string) (*machineDef, error) {
	def, err := schemafile.LoadWithOptions(path, schemafile.Options{
		External: ss.WorkerStates.Names(),
	})
	if err != nil {
		return nil, err
	}
	id := def.ID
	if id == "" {
		base := filepath.Base(path)
		id = strings.TrimSuffix(base, filepath.Ext(base))
	}
	return &machineDef{
		kind:   "schema",
		id:     id,
		schema: am.SchemaMerge(ss.WorkerSchema, def.Schema),
		names:  am.SAdd(ss.WorkerStates.Names(), def.Names),
		source: path,
	}, nil
}

// newMachine builds and verifies the machine of d; ctx is its lifetime.
func (d *machineDef) newMachine(ctx context.Context) (*am.Machine, error) {
	mach, err := am.NewCommon(ctx, d.id, d.schema, d.names, nil, nil,
		&am.Opts{DontLogStackTrace: true})
	if err != nil {
		return nil, fmt.Errorf("machine %q: %w", d.id, err)
	}
	return mach, nil
}
