package main

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// Transport is one row of the comparison: a way for a client to reach a
// worker. A transport takes part in a scenario by implementing that
// scenario's interface ([SGPTransport], [RoundTripTransport], ...); a
// scenario skips transports that do not.
//
// Setup methods start a fresh worker, server and client(s), connect every
// client through [Env.Expose], and return a session once the clients are
// ready. Nothing in setup is timed.
type Transport interface {
	// Name is the short id used in flags and tables, eg "upstream-arpc".
	Name() string
	// Desc is one line for the README's list of transports.
	Desc() string
}

// Session is a connected client (or clients) of one transport in one
// scenario. Methods other than Close are called from one goroutine at a time.
type Session interface {
	// Calls returns the RPC messages initiated so far by either side,
	// requests and notifications alike (replies are not calls); -1 when the
	// transport has no calls (in-process).
	Calls() int64
	// Close stops the client(s), server and worker, and waits for their
	// goroutines. It is idempotent.
	Close() error
}

// SGPTransport takes part in the subscribe-get-process scenario.
type SGPTransport interface {
	Transport
	SetupSGP(ctx context.Context, env *Env) (SGPSession, error)
}

// SGPSession runs subscribe-get-process iterations: wait for the worker's
// event, read its value, call the op matching the value.
type SGPSession interface {
	Session
	// Run runs n iterations.
	Run(ctx context.Context, n int) error
	// Errors is how many ops the worker saw that did not match its value.
	Errors() int64
}

// RoundTripTransport takes part in the round-trip scenario.
type RoundTripTransport interface {
	Transport
	SetupRoundTrip(ctx context.Context, env *Env) (RoundTripSession, error)
}

// RoundTripSession makes one synchronous mutation (or ping) at a time.
type RoundTripSession interface {
	Session
	// RoundTrip makes one call and returns when its reply arrived.
	RoundTrip(ctx context.Context) error
}

// BurstTransport takes part in the worker-burst scenario.
type BurstTransport interface {
	Transport
	SetupBurst(ctx context.Context, env *Env) (BurstSession, error)
}

// BurstSession drives worker-side mutations and waits for the client.
type BurstSession interface {
	Session
	// Mutate makes n mutations on the worker side, as fast as the worker
	// takes them, and returns when the last one is done.
	Mutate(ctx context.Context, n int) error
	// WaitSynced returns once the client's clock equals the worker's.
	WaitSynced(ctx context.Context) error
}

// FanOutTransport takes part in the fan-out scenario.
type FanOutTransport interface {
	Transport
	SetupFanOut(ctx context.Context, env *Env, clients int) (FanOutSession, error)
}

// FanOutSession is one worker with many clients.
type FanOutSession interface {
	Session
	// Change makes one worker-side change.
	Change(ctx context.Context) error
	// WaitAll returns once every client has seen the last change.
	WaitAll(ctx context.Context) error
}

// PayloadTransport takes part in the payload scenario.
type PayloadTransport interface {
	Transport
	SetupPayload(ctx context.Context, env *Env) (PayloadSession, error)
}

// PayloadSession moves payloads from the worker to the client.
type PayloadSession interface {
	Session
	// Fetch has the worker send size bytes and returns once the client holds
	// all of them in one contiguous buffer.
	Fetch(ctx context.Context, size int) error
}

// ErrCanceled is returned when a worker answered a mutation with Canceled
// although it took the call (the mutation reached it, nothing failed on the
// way). Ping has no handlers or relations, so only asyncmachine itself
// cancels it: see the throughput scenario.
var ErrCanceled = errors.New("benchmark: the worker answered Canceled")

// ErrMismatch is returned when a transport delivered something other than
// what the worker sent.
var ErrMismatch = errors.New("benchmark: delivered data does not match")

type registered struct {
	rank int
	t    Transport
}

var (
	registryMu sync.Mutex
	registry   []registered
)

// register adds t to the transports the runner and benchmarks use; rank
// orders the rows. Peer files call it from init, so a peer whose file is
// excluded by a build tag simply does not appear.
func register(rank int, t Transport) {
	registryMu.Lock()
	defer registryMu.Unlock()
	registry = append(registry, registered{rank, t})
	slices.SortStableFunc(registry, func(a, b registered) int {
		return a.rank - b.rank
	})
}

// Transports returns every registered transport in table order.
func Transports() []Transport {
	registryMu.Lock()
	defer registryMu.Unlock()
	out := make([]Transport, len(registry))
	for i, r := range registry {
		out[i] = r.t
	}

	return out
}

// TransportByName returns the registered transport called name, or nil.
func TransportByName(name string) Transport {
	for _, t := range Transports() {
		if t.Name() == name {
			return t
		}
	}

	return nil
}
