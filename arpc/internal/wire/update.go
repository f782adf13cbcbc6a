package wire

import (
	"fmt"

	"github.com/arpcbridge/arpcbridge/arpc/clock"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
)

// The conversions between the clock engine's updates and Update, the form
// they travel in.

// FromEngine is the wire form of an engine update.
func FromEngine(u *engine.Update) *Update {
	return &Update{
		From: u.FromSeq,
		Span: u.ToSeq - u.FromSeq - 1,
		Diff: diffBinary(u),
		Sum:  u.Sum,
		QT:   u.QueueTick,
		Full: u.Full,
		// PushAllTicks: the transitions (ticks.go)
		Ticks: ticksBinary(u),
	}
}

// diffBinary is the wire form of u's diff: the engine's shared encoding
// when it has one.
func diffBinary(u *engine.Update) []byte {
	if u.Binary != nil {
		return u.Binary
	}
	return clock.AppendBinary(nil, u.Diff)
}

// Engine decodes wu for a machine of n states. A missing update or a
// malformed diff wraps invalid (the caller's sentinel for a bad reply).
func (wu *Update) Engine(n int, invalid error) (*engine.Update, error) {
	if wu == nil {
		return nil, fmt.Errorf("%w: missing clock", invalid)
	}
	d, err := clock.Decode(wu.Diff, n)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", invalid, err)
	}
	u := &engine.Update{FromSeq: wu.From, ToSeq: wu.To(), Diff: d, Sum: wu.Sum,
		QueueTick: wu.QT, Full: wu.Full}
	if len(wu.Ticks) > 0 {
		if err := decodeTicks(u, wu.Ticks, n); err != nil {
			return nil, fmt.Errorf("%w: %w", invalid, err)
		}
	}
	return u, nil
}
