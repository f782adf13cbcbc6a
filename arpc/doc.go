// Package arpc is a transparent RPC for asyncmachine-go state machines.
//
// A [Server] exposes a local machine (the worker) over one TCP connection; a
// [Client] connects to it and offers [Client.Worker], a remote worker that
// implements [am.Api]. Mutations (Add, Remove, Set, Toggle and their
// variants) are synchronous remote calls whose replies carry the clock diff
// that brings the replica up to date; reads and waits (Is, Tick, When,
// NewStateCtx, ...) are answered locally from a replica of the worker's
// clock, which the server keeps current with debounced, index-based, partial
// diff pushes.
//
// The clock arithmetic lives in package clock, the push engine shared with
// the gRPC facade in package engine, and the schemas of all machines in
// package states. The wire protocol is described in docs/protocol.md.
//
// Transport: github.com/cenkalti/rpc2 (bidirectional net/rpc) with a codec
// of its own (package arpc/internal/wire): protocol messages are
// hand-packed binary frames (a mutation round trip with a scalar arg is
// about 30 bytes); values of the user's types (args other than scalars,
// payload data, Get values, WhenArgs args) are encoding/gob or msgpack, as
// the client asks ([ClientOpts].Encoding, see [Encoding]); large bodies and
// full snapshots can be compressed with S2 or zstd, negotiated per
// connection ([ClientOpts].Compression, [Server].Compression, see
// [Compression]). Frame sizes, what a compressed body decompresses to, and
// write times are bounded. Peers of another [ProtocolVersion] are refused
// with [ErrProtocolVersion].
//
// Other doors to the same worker (package bridge: gRPC, NATS) share the
// worker's mutation path and its exactly-once memory below this package;
// their clients build the same [Worker].
package arpc
