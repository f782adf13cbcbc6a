package engine

import (
	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/clock"
)

// RecentSnapshots is how many of the latest snapshots an engine remembers by
// sequence number, so that stateless requests (the gRPC door's unary calls,
// which name only the sequence their replica is at) can still get a diff
// instead of a full snapshot.
const RecentSnapshots = 128

// remember records s as the snapshot of its sequence. Call with e.mx held.
func (e *Engine) remember(s *Snapshot) {
	e.recent[s.Seq%RecentSnapshots] = s
}

// SnapshotAt returns the snapshot with sequence seq while the engine still
// remembers it (one of the last RecentSnapshots), else nil.
func (e *Engine) SnapshotAt(seq uint64) *Snapshot {
	e.mx.Lock()
	defer e.mx.Unlock()
	if s := e.recent[seq%RecentSnapshots]; s != nil && s.Seq == seq {
		return s
	}
	return nil
}

// UpdateFrom returns the update from the snapshot `from` to the latest one,
// without a subscription. Subscribers and callers at the same snapshot share
// one diff computation. A nil from gets a full snapshot (not counted as a
// resync).
func (e *Engine) UpdateFrom(from *Snapshot) Update {
	return e.updateFrom(e.Snapshot(), from)
}

func (e *Engine) updateFrom(cur, from *Snapshot) Update {
	if from == nil {
		return fullUpdate(cur)
	}
	u := Update{
		FromSeq:   from.Seq,
		ToSeq:     cur.Seq,
		Sum:       cur.Sum,
		QueueTick: cur.QueueTick,
	}
	if cur.Seq > from.Seq {
		d := e.diff(from, cur)
		u.Diff, u.Binary = d.diff, d.bin
		u.Coalesced = cur.Seq - from.Seq
	}
	return u
}

func fullUpdate(cur *Snapshot) Update {
	return Update{ToSeq: cur.Seq, Diff: clock.Compute(nil, cur.Time), Sum: cur.Sum,
		QueueTick: cur.QueueTick, Full: true}
}

// UpdateFromTime is UpdateFrom for a peer that sends its replica's time
// instead of relying on a remembered snapshot (a resume): the diff from known
// to the latest snapshot, continuing the peer's chain at fromSeq. It is not
// shared between callers, since known is the peer's own. A time of another
// length, or with a tick ahead of the worker's (the peer saw another engine
// instance), gets a full snapshot instead.
func (e *Engine) UpdateFromTime(known am.Time, fromSeq uint64) Update {
	return e.updateFromTime(e.Snapshot(), known, fromSeq)
}

func (e *Engine) updateFromTime(cur *Snapshot, known am.Time, fromSeq uint64,
) Update {
	if len(known) != len(cur.Time) {
		return fullUpdate(cur)
	}
	for i, t := range known {
		if t > cur.Time[i] {
			return fullUpdate(cur)
		}
	}
	u := Update{
		FromSeq:   fromSeq,
		ToSeq:     cur.Seq,
		Diff:      clock.Compute(known, cur.Time),
		Sum:       cur.Sum,
		QueueTick: cur.QueueTick,
	}
	if cur.Seq > fromSeq {
		u.Coalesced = cur.Seq - fromSeq
	}
	return u
}
