package door

import (
	"context"
	"log/slog"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// Mutation kinds (Mut.Type, Mutation.Type).
const (
	// MutAdd adds the states.
	MutAdd uint8 = 0
	// MutRemove removes the states.
	MutRemove uint8 = 1
	// MutSet sets exactly the states.
	MutSet uint8 = 2
	// MutAddErr is AddErrState: States[0] is the error state, ErrMsg the
	// error's message.
	MutAddErr uint8 = 3
	// MutToggle toggles the states as one: all of them are removed when all
	// are active, otherwise all are added (the worker's own am.Api.Toggle).
	// A Worker decides toggles from its replica and sends MutAdd or
	// MutRemove; the gRPC door takes MutToggle from its clients.
	MutToggle uint8 = 4
)

// Mut is a mutation a Worker sends through its Transport: states by index.
type Mut struct {
	// Type is MutAdd, MutRemove, MutSet or MutAddErr.
	Type uint8
	// States are state indexes.
	States []int
	// Args are the mutation's args.
	Args am.A
	// Id is the mutation's ID within the worker's ID scope, for
	// exactly-once retries; 0 disables deduplication.
	Id uint64
	// Event names the source event of Ev* mutations, informational.
	Event string
	// ErrMsg is the error of a MutAddErr.
	ErrMsg string
}

// Transport is what a remote Worker needs of its connection to the worker:
// the aRPC client, the gRPC bridge client and the NATS client implement it.
type Transport interface {
	// Mutate executes a mutation remotely; with noSync it returns at once
	// without a result (Executed) and without a clock update.
	Mutate(ctx context.Context, m *Mut, noSync bool) (am.Result, error)
	// Sync asks for the clock: a diff, or a full snapshot when full is set.
	Sync(ctx context.Context, full bool) error
	// Can is a remote dry run of an add (or a remove).
	Can(ctx context.Context, m *Mut) (am.Result, error)
	// Err returns the worker's last error message, empty for none.
	Err(ctx context.Context) (string, error)
	// WhenArgs subscribes to the state being activated with args; the
	// returned channel closes on a match or when ctx ends.
	WhenArgs(ctx context.Context, state int, args am.A) (<-chan struct{}, error)
	// Timeout bounds each am.Api method, which take no context.
	Timeout() time.Duration
}

// NewWorker makes an *arpc.Worker over t, with the worker's ID, schema and
// ordered state names (as learned in a handshake); package arpc sets it
// (its init), so that the constructor stays out of arpc's API. The replica
// starts at the all-zero time until the first update. ctx bounds the
// worker's life, like a machine's.
var NewWorker func(ctx context.Context, id string, schema am.Schema,
	names am.S, t Transport, log *slog.Logger) am.Api
