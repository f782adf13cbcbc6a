// Package metrics exports the counters of one bridge server (both doors and
// the shared clock engine of its worker) as Prometheus metrics.
//
// bridge.NewServer creates and wires a Metrics itself and serves it at GET
// /metrics (see bridge.ServerOpts.Metrics and .Registerer; Server.Metrics
// returns it). To wire one by hand, e.g. around a standalone arpc.Server:
// create it with New (a registry of its own) or NewWithOptions (any
// prometheus.Registerer) for the worker's engine, pass ConfigureARPC to each
// aRPC server, GRPCServerOptions to the gRPC server (then InitializeGRPC),
// and mount Handler. Every metric of this module is prefixed "arpcbridge_";
// door is "arpc" or "grpc":
//
//	arpcbridge_clients{door}                   connected clients (aRPC: handshaken
//	                                           connections; gRPC: open connections)
//	arpcbridge_mutations_total{door,result}    mutations run, by result
//	                                           (executed, canceled, queued)
//	arpcbridge_pushes_total{door}              clock updates pushed to watchers
//	arpcbridge_push_lag_seconds{door}          from the oldest change in a push
//	                                           to the push being written
//	arpcbridge_coalesced_diffs_total{door}     worker transitions merged into
//	                                           another one's push
//	arpcbridge_sent_bytes_total{door}          bytes sent to clients
//	arpcbridge_reconnects_total{door}          clients that came back and resumed
//	                                           their replica
//	arpcbridge_full_resyncs_total              full snapshots sent after the
//	                                           initial one (drift, gaps)
//	arpcbridge_transitions_total               worker transitions observed
//	arpcbridge_engine_subscribers              open engine subscriptions
//	arpcbridge_build_info{version,commit,goversion}  always 1
//
// plus the per-method gRPC server metrics of go-grpc-middleware's
// Prometheus provider (grpc_server_started_total, grpc_server_handled_total
// by grpc_code, grpc_server_msg_received_total, grpc_server_msg_sent_total,
// grpc_server_handling_seconds, labelled grpc_service, grpc_method,
// grpc_type) and, in a registry of its own, the Go runtime and process
// collectors. Safe for concurrent use.
package metrics
