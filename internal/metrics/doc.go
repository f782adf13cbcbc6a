// Package metrics exports the counters of one bridge server (both doors and
// the shared clock engine of its worker) as Prometheus metrics.
//
// Create a Metrics with New for the worker's engine, pass ConfigureARPC to
// bridge.ServerOpts.ConfigureARPC and GRPCStatsHandler to the gRPC server
// (grpc.StatsHandler), and mount Handler at /metrics. Every metric is
// prefixed "arpcbridge_"; door is "arpc" or "grpc":
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
//
// plus the Go runtime and process collectors. Safe for concurrent use.
package metrics
