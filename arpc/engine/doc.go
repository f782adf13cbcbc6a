// Package engine is the clock engine both doors of aRPC Bridge share: it
// watches one worker machine through a tracer, keeps immutable snapshots of
// its time, and turns them into [Update] messages (index/delta diffs) for any
// number of subscribers.
//
// One Engine exists per worker, however many servers (aRPC or gRPC) expose
// it: [Attach] returns the existing one and counts references. Every
// transition of the worker produces a new [Snapshot] with a sequence number;
// a [Sub] remembers the snapshot its peer last received and asks for the
// update from there to now. Subscribers that received the same snapshot share
// one diff computation, so a push to a thousand clients computes one diff.
//
// Updates form a chain per subscriber: each names the sequence it applies on
// top of (FromSeq) and the sequence it produces (ToSeq). A replica applies an
// update only on top of FromSeq, which removes every race between pushes and
// mutation replies. Since diffs are additive, a subscriber that falls behind
// gets one merged diff, never a backlog.
//
// A subscription may also ask for every accepted transition
// ([Sub.PushAllTicks]): its updates then carry one [Tick] per worker
// transition (mutation type, called states, args, diff), in order and never
// merged, within a bound (DefaultMaxPendingTransitions) past which the
// update is the merged diff marked as a gap. Subscriptions that do not ask
// cost nothing.
//
// The engine knows nothing of networks; transports call it.
package engine
