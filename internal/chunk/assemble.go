package chunk

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
)

// Assembler puts chunked payloads back together, one at a time, and
// verifies each. A refused chunk resets it: the partial payload is dropped
// and the next payload must start at offset 0. Not safe for concurrent use.
type Assembler struct {
	// Max is the largest total size accepted, checked on a payload's first
	// chunk before its buffer is allocated; 0 means DefaultMax.
	Max uint64

	buf   []byte
	total uint64
	next  uint64
	h     hash.Hash
}

func (a *Assembler) limit() uint64 {
	if a.Max == 0 {
		return DefaultMax
	}
	return a.Max
}

// Active reports whether a payload is partly received.
func (a *Assembler) Active() bool { return a.h != nil }

// Reset drops a partly received payload.
func (a *Assembler) Reset() {
	a.buf, a.total, a.next, a.h = nil, 0, 0, nil
}

// Add takes the next chunk. When it completes a payload, whole is the
// payload (owned by the caller) and done is true. An error wraps ErrChunk
// and one of its sentinels, and resets the assembler.
func (a *Assembler) Add(c Chunk) (whole []byte, done bool, err error) {
	whole, done, err = a.add(c)
	if err != nil {
		a.Reset()
	}
	return whole, done, err
}

func (a *Assembler) add(c Chunk) ([]byte, bool, error) {
	n := uint64(len(c.Data))
	switch {
	case c.Offset == 0 && a.Active():
		return nil, false, fmt.Errorf("%w: new payload of %d bytes at byte %d of %d",
			ErrInterrupted, c.Total, a.next, a.total)
	case c.Offset == 0:
		if limit := a.limit(); c.Total > limit {
			return nil, false, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge,
				c.Total, limit)
		}
		// not one allocation before the limit is checked
		a.buf, a.total, a.next, a.h = make([]byte, 0, c.Total), c.Total, 0,
			sha256.New()
	case !a.Active():
		return nil, false, fmt.Errorf("%w: chunk at byte %d before a payload's first",
			ErrOutOfOrder, c.Offset)
	case c.Total != a.total:
		return nil, false, fmt.Errorf("%w: %d, was %d", ErrTotalChanged, c.Total,
			a.total)
	}
	switch {
	case n == 0 && c.Total > 0:
		return nil, false, fmt.Errorf("%w at byte %d", ErrEmpty, c.Offset)
	case c.Offset < a.next:
		return nil, false, fmt.Errorf("%w: bytes %d..%d again (received %d)",
			ErrOverlap, c.Offset, c.Offset+n, a.next)
	case c.Offset > a.next:
		return nil, false, fmt.Errorf("%w: chunk at byte %d, expected %d",
			ErrOutOfOrder, c.Offset, a.next)
	case n > a.total-a.next:
		return nil, false, fmt.Errorf("%w: bytes %d..%d of %d", ErrPastTotal,
			c.Offset, c.Offset+n, a.total)
	}
	a.buf = append(a.buf, c.Data...)
	a.h.Write(c.Data)
	a.next += n
	switch {
	case c.Digest == nil && a.next == a.total:
		return nil, false, fmt.Errorf("%w: all %d bytes arrived without a digest",
			ErrGap, a.total)
	case c.Digest == nil:
		return nil, false, nil
	case a.next != a.total:
		return nil, false, fmt.Errorf("%w: last chunk at byte %d of %d", ErrGap,
			a.next, a.total)
	case len(c.Digest) != DigestSize:
		return nil, false, fmt.Errorf("%w: %d-byte digest", ErrDigest,
			len(c.Digest))
	case !bytes.Equal(a.h.Sum(nil), c.Digest):
		return nil, false, fmt.Errorf("%w: %d bytes", ErrDigest, a.total)
	}
	whole := a.buf
	a.Reset()
	return whole, true, nil
}
