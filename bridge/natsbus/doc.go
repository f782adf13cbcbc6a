// Package natsbus carries a worker's clock over NATS JetStream, for fan-out
// beyond one bridge process: across hosts, regions and many thousands of
// watchers, on an existing NATS cluster.
//
// A [Publisher] is one more door of a worker, besides aRPC and gRPC, and it
// only transports: it subscribes to the worker's clock engine and sends the
// engine's updates with the engine's one push loop (engine.Sub.Run), as the
// other doors do. Per machine ID it uses:
//
//   - arpc.<machineID>.clock: a JetStream stream subject carrying every
//     update as an arpc.bridge.v1.ClockUpdate (sequence numbers, state
//     indexes, tick deltas, sum), header Arpc-Epoch naming the engine;
//   - a KV bucket (DefaultBucket) whose key <machineID> holds the latest
//     full snapshot and the stream sequence it includes (see [Snapshot]);
//   - arpc.<machineID>.payload: core NATS, payloads (arpc.bridge.v1.Payload);
//   - arpc.<machineID>.mutate, .can and .err: a NATS micro service whose
//     mutations go through the worker's one mutation path
//     (door.MutatorFor(worker).Run), exactly-once per mutation ID.
//
// [Dial] returns a [Client] whose Worker is the same *arpc.Worker as the
// other doors give: it loads the snapshot from KV, then reads the stream
// from the snapshot's stream sequence with an ordered consumer, which
// resumes after a NATS reconnect from its last sequence; when retention
// has dropped what it needs, it loads a new snapshot (ClientStats.Resnapshots).
// Mutations are NATS requests, retried with the same mutation ID; reads and
// waits are answered locally from the replica.
package natsbus
