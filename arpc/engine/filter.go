package engine

import (
	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/clock"
)

// Mask hides some of the worker's states from one peer: the updates it gets
// never carry their indexes or ticks (their ticks stay 0 in its replica, so
// they read as inactive), and every update's Sum covers the visible states
// only, so the replica's drift check holds. Sequence numbers and the queue
// tick still advance with every worker transition. Immutable; nil hides
// nothing.
type Mask struct {
	hidden []bool
}

// NewMask returns the mask of the states of names for which visible is
// false; nil when all are visible.
func NewMask(names am.S, visible func(state string) bool) *Mask {
	var m *Mask
	for i, n := range names {
		if visible(n) {
			continue
		}
		if m == nil {
			m = &Mask{hidden: make([]bool, len(names))}
		}
		m.hidden[i] = true
	}
	return m
}

// Visible reports whether the state at idx is visible.
func (m *Mask) Visible(idx int) bool {
	return m == nil || idx < 0 || idx >= len(m.hidden) || !m.hidden[idx]
}

// Hidden returns the indexes of the hidden states.
func (m *Mask) Hidden() []int {
	if m == nil {
		return nil
	}
	var out []int
	for i, h := range m.hidden {
		if h {
			out = append(out, i)
		}
	}
	return out
}

// Time returns t with the hidden states' ticks zeroed (a copy; t itself when
// nothing is hidden or the lengths differ).
func (m *Mask) Time(t am.Time) am.Time {
	if m == nil || len(t) != len(m.hidden) {
		return t
	}
	out := make(am.Time, len(t))
	for i, v := range t {
		if !m.hidden[i] {
			out[i] = v
		}
	}
	return out
}

// Sum is clock.Sum of the visible ticks of t.
func (m *Mask) Sum(t am.Time) uint64 {
	if m == nil {
		return clock.Sum(t)
	}
	return clock.Sum(m.Time(t))
}

// Apply filters u, an update to the snapshot `to`: hidden indexes leave the
// diff (a new slice: diffs are shared between subscribers), the shared wire
// encoding is dropped (the door encodes the filtered diff), and the sum is
// the visible one.
func (m *Mask) Apply(to *Snapshot, u Update) Update {
	if m == nil {
		return u
	}
	var d clock.Diff
	for _, c := range u.Diff {
		if c[0] >= uint64(len(m.hidden)) || !m.hidden[c[0]] {
			d = append(d, c)
		}
	}
	u.Diff = d
	// the shared encoding (Update.Binary) is of the unfiltered diff: it must
	// never reach this peer
	u.Binary = nil
	u.Sum = m.Sum(to.Time)
	return u
}

// SetMask hides states from the subscription's peer from its next update
// on. Set it before the first update: a peer whose mask changes keeps the
// ticks it was sent before.
func (s *Sub) SetMask(m *Mask) { s.mask.Store(m) }

// masked applies the subscription's mask to an update to cur.
func (s *Sub) masked(cur *Snapshot, u Update) Update {
	return s.mask.Load().Apply(cur, u)
}

// MaskedUpdateFrom is UpdateFrom for a peer that m hides states from.
func (e *Engine) MaskedUpdateFrom(m *Mask, from *Snapshot) Update {
	cur := e.Snapshot()
	return m.Apply(cur, e.updateFrom(cur, from))
}

// MaskedUpdateFromTime is UpdateFromTime for a peer that m hides states
// from. The hidden ticks of known are taken as 0, whatever the peer sent,
// so its answer says nothing about them.
func (e *Engine) MaskedUpdateFromTime(m *Mask, known am.Time, fromSeq uint64,
) Update {
	cur := e.Snapshot()
	return m.Apply(cur, e.updateFromTime(cur, m.Time(known), fromSeq))
}

// MaskedSnapshot returns the latest snapshot as m's peer may see it.
func (e *Engine) MaskedSnapshot(m *Mask) *Snapshot {
	cur := e.Snapshot()
	if m == nil {
		return cur
	}
	c := *cur
	c.Time = m.Time(cur.Time)
	c.Sum = clock.Sum(c.Time)
	return &c
}
