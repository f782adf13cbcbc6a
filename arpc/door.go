package arpc

import (
	"context"
	"fmt"
	"slices"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
)

// This file exports what another door to the same worker (the gRPC bridge)
// shares with the aRPC server and client, so that both behave the same.

// Mutation types of ArgsMut.Type, for Transport implementations.
const (
	// MutAdd adds ArgsMut.States.
	MutAdd = wire.MutAdd
	// MutRemove removes ArgsMut.States.
	MutRemove = wire.MutRemove
	// MutSet sets exactly ArgsMut.States.
	MutSet = wire.MutSet
	// MutAddErr is AddErrState: States[0] is the error state, ErrMsg the
	// error's message.
	MutAddErr = wire.MutAddErr
)

// Dedup is the exactly-once memory of one worker's mutations, shared by
// every server (aRPC or gRPC) of that worker: a mutation retried with the
// same client ID and mutation ID is answered with the first result instead
// of being applied again. See DedupWindow for its bounds. Safe for
// concurrent use.
type Dedup struct{ s *dedupStore }

// DedupFor returns the Dedup of worker, the same one its aRPC servers use.
func DedupFor(worker am.Api) *Dedup { return &Dedup{s: dedupFor(worker)} }

// Do runs exec once per (client, id). The first caller executes; a
// concurrent or later caller with the same pair waits (within ctx) for the
// first result and gets it with replayed set. id 0 disables de-duplication.
// With a Journal (SetJournal), a mutation is refused while the journal
// cannot persist, and Do returns only once the journal committed it.
func (d *Dedup) Do(ctx context.Context, client string, id uint64,
	exec func() (am.Result, error),
) (res am.Result, replayed bool, err error) {
	return d.s.do(ctx, client, id, exec)
}

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
