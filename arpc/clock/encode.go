package clock

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrEncoding is returned by [Decode] for malformed input.
var ErrEncoding = errors.New("clock: malformed diff encoding")

// AppendBinary appends the compact wire form of d to buf and returns it:
// uvarint(number of pairs), then per pair uvarint(index gap) and
// uvarint(delta), where the index gap is the index minus the previous index
// (the first pair's gap is its index). A typical single-state change takes 3
// bytes. d must be sorted by index (see [Diff.Valid]).
func AppendBinary(buf []byte, d Diff) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(d)))
	var prev uint64
	for i, p := range d {
		gap := p[0]
		if i > 0 {
			gap = p[0] - prev
		}
		prev = p[0]
		buf = binary.AppendUvarint(buf, gap)
		buf = binary.AppendUvarint(buf, p[1])
	}
	return buf
}

// Decode parses the wire form written by AppendBinary. maxIndex bounds the
// state indexes (exclusive), so a hostile peer cannot name states that do not
// exist or make the decoder allocate more pairs than there are states.
func Decode(b []byte, maxIndex int) (Diff, error) {
	d, rest, err := DecodePrefix(b, maxIndex)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", ErrEncoding)
	}
	return d, nil
}

// DecodePrefix is Decode for a diff followed by other bytes: it returns the
// diff at the start of b and the bytes after it.
func DecodePrefix(b []byte, maxIndex int) (Diff, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, nil, fmt.Errorf("%w: pair count", ErrEncoding)
	}
	b = b[k:]
	if n > uint64(maxIndex) {
		return nil, nil, fmt.Errorf("%w: %d pairs for %d states", ErrEncoding, n,
			maxIndex)
	}
	if n == 0 {
		return nil, b, nil
	}
	d := make(Diff, 0, n)
	var idx uint64
	for i := uint64(0); i < n; i++ {
		gap, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, nil, fmt.Errorf("%w: index of pair %d", ErrEncoding, i)
		}
		b = b[k:]
		delta, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, nil, fmt.Errorf("%w: delta of pair %d", ErrEncoding, i)
		}
		b = b[k:]
		if i > 0 && gap == 0 {
			return nil, nil, fmt.Errorf("%w: repeated index", ErrEncoding)
		}
		next := idx + gap
		if next < idx || next >= uint64(maxIndex) {
			return nil, nil, fmt.Errorf("%w: index out of range", ErrEncoding)
		}
		idx = next
		d = append(d, Pair{idx, delta})
	}
	return d, b, nil
}
