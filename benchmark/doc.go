// Command benchmark compares the ways a client can reach an asyncmachine
// worker: our aRPC door, our gRPC facade, upstream asyncmachine-go v0.19.1
// pkg/rpc, a plain hand-written gRPC service, an in-process machine (the floor
// for machine work) and raw TCP ping-pong (the physical floor).
//
// Every transport is a row, every scenario a set of columns:
//
//   - sgp: subscribe-get-process, the loop of upstream's gRPC benchmark;
//   - rt: one synchronous mutation round trip, p50 and p99;
//   - burst: many worker-side mutations, time until the client's clock
//     equals the worker's after the loop ends, and the bytes it took;
//   - fanout: 1 to 1,000 clients on one worker, p99 time for one change to
//     reach them all, changes back to back; fanout-spaced: the same with
//     quiet time between changes;
//   - throughput: 1 to 100 concurrent clients making synchronous
//     mutations, mutations per second and p99;
//   - payload: 1 KiB to 16 MiB worker to client, throughput and peak heap.
//
// Each client reaches its server through a byte-counting TCP proxy ([Proxy]),
// so bytes on the wire are counted the same way for every transport.
//
// `go run ./benchmark` runs every scenario against every transport in one
// process, in interleaved rounds, and prints markdown tables of medians with
// ratios to a baseline (in a column where the baseline has no result, to a
// fallback, named in the cell), plus a floor row (inproc plus tcp) and
// issues 6 and 12's targets; -write also updates README.md and
// chart.svg. The Benchmark functions in this package run the same code under
// `go test -bench`, sized by b.N, so `-benchtime=1x` is a fast smoke test.
package main
