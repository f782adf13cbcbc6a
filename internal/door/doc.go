// Package door holds what every door to a worker (the aRPC server, the gRPC
// and NATS bridges) and every door's client share below package arpc, and
// that users of arpc never call: the worker's one mutation path (Mutator:
// validation, policy, exactly-once through Dedup, an optional Journal) and
// the Transport a remote Worker replica mutates through, with the hook
// that makes such a Worker.
package door
