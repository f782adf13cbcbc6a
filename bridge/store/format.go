package store

import (
	"encoding/binary"
	"fmt"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/internal/door"
)

// formatVersion names the layout of the state file, stored in its meta
// bucket; a file of another layout is refused with ErrCorrupt.
const formatVersion = "arpcbridge-state/1"

// bucket and key names of the state file
var (
	bucketMeta  = []byte("meta")
	bucketClock = []byte("clock")
	bucketDedup = []byte("dedup")

	keyFormat  = []byte("format")
	keyMachine = []byte("machine")
	keyNames   = []byte("names")
	keyHash    = []byte("hash")
	keyClock   = []byte("clock")
)

// maxNames and maxNameLen bound what a state file may declare, so that a
// damaged file cannot make the decoder allocate without limit.
const (
	maxNames   = 1 << 16
	maxNameLen = 1 << 12
)

// clockRec is the clock record: the machine's time with the engine's
// position.
type clockRec struct {
	Epoch       uint64
	Seq         uint64
	MachineTick uint32
	QueueTick   uint64
	Time        am.Time
}

func encodeClock(c *clockRec) []byte {
	b := make([]byte, 0, 8*(5+len(c.Time)))
	b = binary.AppendUvarint(b, c.Epoch)
	b = binary.AppendUvarint(b, c.Seq)
	b = binary.AppendUvarint(b, uint64(c.MachineTick))
	b = binary.AppendUvarint(b, c.QueueTick)
	b = binary.AppendUvarint(b, uint64(len(c.Time)))
	for _, t := range c.Time {
		b = binary.AppendUvarint(b, t)
	}
	return b
}

// reader decodes uvarints, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	// only the shortest encoding, the one this package writes
	if n <= 0 || n != uvarintLen(v) {
		r.err = fmt.Errorf("%w: %s: bad varint", ErrCorrupt, what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (r *reader) count(what string, limit int) int {
	n := r.uvarint(what)
	if r.err == nil && (n > uint64(limit) || n > uint64(len(r.b))) {
		r.err = fmt.Errorf("%w: %s: %d is too many", ErrCorrupt, what, n)
		return 0
	}
	return int(n)
}

func (r *reader) end(what string) error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %s: %d trailing bytes", ErrCorrupt, what,
			len(r.b))
	}
	return r.err
}

func decodeClock(b []byte) (*clockRec, error) {
	r := &reader{b: b}
	c := &clockRec{
		Epoch: r.uvarint("epoch"),
		Seq:   r.uvarint("seq"),
	}
	mt := r.uvarint("machine tick")
	if mt > 1<<32-1 {
		return nil, fmt.Errorf("%w: machine tick %d", ErrCorrupt, mt)
	}
	c.MachineTick = uint32(mt)
	c.QueueTick = r.uvarint("queue tick")
	n := r.count("time length", maxNames)
	if r.err == nil {
		c.Time = make(am.Time, n)
		for i := range c.Time {
			c.Time[i] = r.uvarint("tick")
		}
	}
	if err := r.end("clock"); err != nil {
		return nil, err
	}
	return c, nil
}

func encodeNames(names am.S) []byte {
	b := binary.AppendUvarint(nil, uint64(len(names)))
	for _, n := range names {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
	}
	return b
}

func decodeNames(b []byte) (am.S, error) {
	r := &reader{b: b}
	n := r.count("names", maxNames)
	names := make(am.S, 0, n)
	for range n {
		l := r.count("name length", maxNameLen)
		if r.err != nil {
			break
		}
		names = append(names, string(r.b[:l]))
		r.b = r.b[l:]
	}
	if err := r.end("names"); err != nil {
		return nil, err
	}
	return names, nil
}

// dedupKey is the key of a window record: the client key (length-prefixed)
// and the mutation id, so that one client's records share a prefix.
func dedupKey(client string, id uint64) []byte {
	b := binary.AppendUvarint(nil, uint64(len(client)))
	b = append(b, client...)
	return binary.BigEndian.AppendUint64(b, id)
}

func decodeDedupKey(b []byte) (client string, id uint64, err error) {
	r := &reader{b: b}
	l := r.count("client length", maxNameLen)
	if r.err != nil {
		return "", 0, r.err
	}
	client, rest := string(r.b[:l]), r.b[l:]
	if len(rest) != 8 {
		return "", 0, fmt.Errorf("%w: window key of %d bytes", ErrCorrupt, len(b))
	}
	id = binary.BigEndian.Uint64(rest)
	if id == 0 {
		return "", 0, fmt.Errorf("%w: window key with id 0", ErrCorrupt)
	}
	return client, id, nil
}

// dedupVal is a window record's value: the order it was remembered in (to
// restore the window oldest first) and the mutation's result.
func dedupVal(order uint64, res am.Result) []byte {
	b := binary.AppendUvarint(nil, order)
	return binary.AppendUvarint(b, uint64(res))
}

func decodeDedupVal(b []byte) (order uint64, res am.Result, err error) {
	r := &reader{b: b}
	order = r.uvarint("order")
	res = am.Result(r.uvarint("result"))
	if err := r.end("window record"); err != nil {
		return 0, 0, err
	}
	return order, res, nil
}

// record is a window record with its order, as read from the file.
type record struct {
	door.DedupRecord
	order uint64
}
