package wire

import (
	"encoding/binary"
	"fmt"
	"slices"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/clock"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
)

// The transitions of a PushAllTicks update (ArgsHello.PushAllTicks), hand
// encoded after the update's diff (Update.Ticks, flag bTicks of a clock):
//
//	uvarint gap             transitions merged without records (0: none)
//	uvarint count           transitions that follow, From+1 onwards
//	per transition:
//	  byte    flags         bits 0-1 type (0 add, 1 remove, 2 set), tAuto,
//	                        tArgs, tOmitted, tGap
//	  uvarint called count, then each called state index
//	  diff                  clock.AppendBinary (count, index gaps, deltas)
//	  [tArgs]    uvarint length, then the packed scalar args (packArgs)
//	  [tOmitted] uvarint count, then each omitted arg's key (string)
//	  [tGap]     uvarint transitions a relay's gap step merged (Tick.Gap)
//
// Args travel when they are scalars (those the codec packs without gob:
// bools, ints, uints, float64, strings); other values are left out and
// their keys listed, since the transitions of one update are shared by
// every subscriber and gob would need the client's types.

// bTicks marks a clock with a transitions section after its diff. A
// clock's flags byte uses only bFull and bZip of the body flags, so it
// takes the first bit (bErr's elsewhere).
const bTicks byte = 1

// helloTicks is ArgsHello's options byte for PushAllTicks.
const helloTicks byte = 1

// appendTicks appends the clock's transitions section (bTicks), if any.
func (c *wireClock) appendTicks(b []byte) []byte {
	if len(c.Ticks) == 0 {
		return b
	}
	b = binary.AppendUvarint(b, uint64(len(c.Ticks)))
	return append(b, c.Ticks...)
}

// transition flags
const (
	tAuto byte = 1 << (iota + 2)
	tArgs
	tOmitted
	tGap
)

// encodeTick is the wire form of one transition.
func encodeTick(t *engine.Tick) []byte {
	flags := byte(t.Type) & 3
	if t.Auto {
		flags |= tAuto
	}
	packed, rest := packArgs(t.Args)
	if len(packed) > 0 {
		flags |= tArgs
	}
	if len(rest) > 0 {
		flags |= tOmitted
	}
	if t.Gap > 0 {
		flags |= tGap
	}
	b := make([]byte, 0, 8+len(packed))
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(t.Called)))
	for _, c := range t.Called {
		b = binary.AppendUvarint(b, uint64(c))
	}
	b = clock.AppendBinary(b, t.Diff)
	if len(packed) > 0 {
		b = binary.AppendUvarint(b, uint64(len(packed)))
		b = append(b, packed...)
	}
	if len(rest) > 0 {
		keys := make([]string, 0, len(rest))
		for k := range rest {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = binary.AppendUvarint(b, uint64(len(keys)))
		for _, k := range keys {
			b = appendString(b, k)
		}
	}
	if t.Gap > 0 {
		b = binary.AppendUvarint(b, t.Gap)
	}
	return b
}

// ticksBinary is the transitions section of u, nil for an update without
// transitions nor gap. Each transition is encoded once and shared by every
// subscriber (engine.Tick.Encoded).
func ticksBinary(u *engine.Update) []byte {
	if len(u.Ticks) == 0 && u.Gap == 0 {
		return nil
	}
	n := 0
	encs := make([][]byte, len(u.Ticks))
	for i, t := range u.Ticks {
		encs[i] = t.Encoded(engine.TickSlotARPC, func(t *engine.Tick) any {
			return encodeTick(t)
		}).([]byte)
		n += len(encs[i])
	}
	b := make([]byte, 0, n+4)
	b = binary.AppendUvarint(b, u.Gap)
	b = binary.AppendUvarint(b, uint64(len(u.Ticks)))
	for _, e := range encs {
		b = append(b, e...)
	}
	return b
}

// decodeTicks parses a transitions section into u, for a machine of n
// states; the transitions are numbered from u.FromSeq+1.
func decodeTicks(u *engine.Update, b []byte, n int) error {
	r := reader{b: b}
	u.Gap = r.uvarint()
	count := r.count()
	if r.err != nil {
		return r.err
	}
	if count > 0 {
		u.Ticks = make([]*engine.Tick, 0, count)
	}
	for i := range count {
		t := &engine.Tick{Seq: u.FromSeq + 1 + uint64(i)}
		flags := r.byte()
		switch typ := flags & 3; typ {
		case 0:
			t.Type = am.MutationAdd
		case 1:
			t.Type = am.MutationRemove
		case 2:
			t.Type = am.MutationSet
		default:
			r.fail("transition %d: mutation type %d", i, typ)
		}
		t.Auto = flags&tAuto != 0
		called := r.count()
		for range called {
			c := r.uvarint()
			if c >= uint64(n) {
				r.fail("transition %d: called state %d of %d", i, c, n)
			}
			t.Called = append(t.Called, int(c))
		}
		if r.err != nil {
			return r.err
		}
		d, rest, err := clock.DecodePrefix(r.b, n)
		if err != nil {
			return fmt.Errorf("%w: transition %d: %w", ErrRpc, i, err)
		}
		t.Diff, r.b = d, rest
		if flags&tArgs != 0 {
			packed := r.bytes()
			if r.err != nil {
				return r.err
			}
			args, err := unpackArgs(packed)
			if err != nil {
				return err
			}
			t.Args = args
		}
		if flags&tOmitted != 0 {
			for range r.count() {
				_ = r.string()
			}
		}
		if flags&tGap != 0 {
			t.Gap = r.uvarint()
		}
		if r.err != nil {
			return r.err
		}
		u.Ticks = append(u.Ticks, t)
	}
	return r.end()
}
