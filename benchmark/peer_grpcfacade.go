//go:build ignore

// Enable this peer by deleting the build tag above once the gRPC facade in
// bridge/ exists (see README.md, "Enabling our rows").

package main

// grpcFacadeTransport is our gRPC facade: a gRPC client (generated from the
// bridge's proto) talking to bridge/ in front of the same asyncmachine
// worker. Fill in once bridge/ has a constructor; mirror peer_grpc.go:
//
//   - setup: worker := NewWorker(ctx, "facade-worker", schema, names), start
//     the facade on 127.0.0.1:0, env.Expose(addr), grpc.NewClient(proxied);
//   - sgp: subscribe to the worker's events (stream), read the value
//     (unary or from the event), call CallOp{Op}; wait for the next event;
//   - rt: one unary mutation (Add Ping);
//   - burst / fan-out: clients follow the event stream into a gate (see
//     grpcSession.follow);
//   - payload: the facade's payload stream, if any;
//   - Calls: count unary calls and stream messages with interceptors.
type grpcFacadeTransport struct{}

func init() { register(20, grpcFacadeTransport{}) }

func (grpcFacadeTransport) Name() string { return "grpc-facade" }
func (grpcFacadeTransport) Desc() string { return "our gRPC facade (package bridge)" }
