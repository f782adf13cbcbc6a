package arpc

import (
	"slices"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// This file exports what another door to the same worker (the gRPC bridge)
// shares with the aRPC server and client, so that both behave the same.

// Mutation types of ArgsMut.Type, for Transport implementations.
const (
	// MutAdd adds ArgsMut.States.
	MutAdd = mutAdd
	// MutRemove removes ArgsMut.States.
	MutRemove = mutRemove
	// MutSet sets exactly ArgsMut.States.
	MutSet = mutSet
	// MutAddErr is AddErrState: States[0] is the error state, ErrMsg the
	// error's message.
	MutAddErr = mutAddErr
)

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
