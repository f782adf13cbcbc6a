// Package bridge is the gRPC door of aRPC Bridge: it serves one worker state
// machine as the arpc.bridge.v1.BridgeService, on the same clock engine as
// the native aRPC server, and gives Go programs the same remote worker type
// (*arpc.Worker) over gRPC.
//
// The package has three parts:
//
//   - [Service] implements BridgeService for one worker. It attaches to the
//     worker's shared engine (arpc/engine), so gRPC watchers, aRPC clients
//     and mutation replies all get their diffs from one place. Mutations use
//     the worker's one mutation path (door.Mutator: validation, exactly-once,
//     panics), shared with aRPC.
//   - [Server] serves one net.Listener for both doors: gRPC (with health and
//     reflection), native aRPC (through an arpc.Mux) and HTTP/1.1 or h2c for
//     /healthz, /metrics and Connect and gRPC-Web calls of the same gRPC
//     services (transcoded by vanguard, for browsers and curl), told apart
//     by cmux. Package bridge/web is the web inspector to mount there.
//   - [Dial] connects to a BridgeService and returns a [Client] whose Worker
//     is an *arpc.Worker (an am.Api), kept current by a WatchClock stream.
//
// Errors cross the gRPC edge in one place (status.go): arpc and engine
// sentinels become gRPC codes with errdetails, and codes become arpc
// sentinels again on the client, so errors.Is works the same over both
// doors.
//
// The wire contract is proto/arpc/bridge/v1/bridge.proto; docs/grpc.md is
// the short guide.
package bridge
