package arpc

import (
	"fmt"
	"slices"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// This file exports what another door to the same worker (the gRPC bridge)
// shares with the aRPC server and client, so that both behave the same.

// ClientSchema checks a client's schema and state names, as every client
// (aRPC, gRPC, NATS) does before it dials: names are not empty and each is a
// state of the schema (ErrInvalidParams otherwise). It returns the schema
// normalized (NormalizeSchema), for SchemaHash and the handshake.
func ClientSchema(schema am.Schema, names am.S) (am.Schema, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: no state names", ErrInvalidParams)
	}
	norm := normalizeSchema(schema)
	for _, n := range names {
		if _, ok := norm[n]; !ok {
			return nil, fmt.Errorf("%w: state %q not in schema", ErrInvalidParams, n)
		}
	}
	return norm, nil
}

// NormalizeSchema returns schema as a machine holds it (parsed, with the
// Exception state defined), which is what SchemaHash expects.
func NormalizeSchema(schema am.Schema) am.Schema { return normalizeSchema(schema) }

// CompareSchemas returns nil when the local schema and names match the
// worker's, or an error wrapping ErrSchemaMismatch naming the first
// difference. A nil remote schema compares names only.
func CompareSchemas(local am.Schema, localNames am.S, remote am.Schema,
	remoteNames am.S,
) error {
	return compareSchemas(local, localNames, remote, remoteNames)
}

// KnownClock returns the replica's time and the engine sequence it is at,
// read together, for resuming a clock stream.
func (w *Worker) KnownClock() (am.Time, uint64) {
	w.mx.RLock()
	defer w.mx.RUnlock()
	return slices.Clone(w.time), w.seq
}

// SetGroups sets the worker's state groups (Groups) as a transport learned
// them in its handshake: state indexes by group name, and the groups'
// order. The maps are kept: do not modify them afterwards.
func (w *Worker) SetGroups(groups map[string][]int, order []string) {
	w.mx.Lock()
	defer w.mx.Unlock()
	w.groups, w.groupsOrder = groups, order
}
