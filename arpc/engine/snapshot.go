package engine

import (
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/clock"
)

// Snapshot is an immutable copy of the worker's time at one sequence number.
// Never modify Time.
type Snapshot struct {
	// Seq numbers snapshots of one engine, from 1, without gaps per
	// transition.
	Seq uint64
	// Time is the worker's time vector, index-aligned with its state names.
	Time am.Time
	// Sum is clock.Sum(Time), a checksum for replicas.
	Sum uint64
	// QueueTick is the worker's queue tick when the snapshot was taken.
	QueueTick uint64
	// At is when the snapshot was taken (the end of the worker's
	// transition), for measuring how long changes wait to reach peers.
	At time.Time
}

// Update brings a replica from one snapshot to another.
type Update struct {
	// FromSeq is the sequence this update applies on top of. Ignored when Full.
	FromSeq uint64
	// ToSeq is the sequence of the snapshot the update produces.
	ToSeq uint64
	// Diff holds the changed indexes with their tick deltas. When Full is set,
	// it is the diff from the all-zero time.
	Diff clock.Diff
	// Sum is the tick sum after applying, for drift detection.
	Sum uint64
	// QueueTick is the worker's queue tick at ToSeq.
	QueueTick uint64
	// Full marks an update that replaces the replica's time instead of
	// advancing it.
	Full bool
	// Coalesced counts the worker transitions merged into this update.
	Coalesced uint64
	// Ticks, for a PushAllTicks subscription (Sub.PushAllTicks), are the
	// worker transitions from FromSeq to ToSeq, one per sequence, in order;
	// applying their diffs one by one gives Diff. Nil otherwise, and nil
	// for Full updates and gaps. Shared: never modify.
	Ticks []*Tick
	// Gap, for a PushAllTicks subscription, counts the worker transitions
	// this update merged because their records were dropped (the
	// subscription's MaxPendingTransitions bound); Ticks is then nil.
	Gap uint64
	// Binary, when not nil, is Diff's wire form (clock.AppendBinary),
	// encoded once and shared by every subscriber at the same base: a door
	// writes it as it is. Never modify it.
	Binary []byte
}

func newSnapshot(seq uint64, t am.Time, queueTick uint64) *Snapshot {
	return &Snapshot{Seq: seq, Time: t, Sum: clock.Sum(t), QueueTick: queueTick,
		At: time.Now()}
}
