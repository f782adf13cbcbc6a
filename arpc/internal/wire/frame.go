package wire

import (
	"fmt"
	"io"
)

// Every message is a frame: a uvarint length, then a hand-encoded header
// (header.go), then, when the header says so, a body holding user values
// (body.go).

// DefaultMaxMsgSize is the default limit of one message (frame) on the wire.
const DefaultMaxMsgSize = 64 << 20

// maxLenPrefix is the longest length prefix of a header frame (a uvarint
// of up to 2^35-1 bytes).
const maxLenPrefix = 5

// uvarintLen is the length of v as a uvarint.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// bodyReader hands gob the bytes of one body at a time, checking each gob
// message's length prefix against what the body holds before gob allocates
// for it: a lying prefix fails instead of allocating.
type bodyReader struct {
	b      []byte
	left   int // bytes left in the current gob message
	hdr    [9]byte
	hdrLen int
	hdrPos int
}

func (f *bodyReader) reset(b []byte) {
	f.b, f.left, f.hdrLen, f.hdrPos = b, 0, 0, 0
}

// Len is the number of bytes of the body gob did not read.
func (f *bodyReader) Len() int { return len(f.b) + f.hdrLen - f.hdrPos }

func (f *bodyReader) Read(p []byte) (int, error) {
	if f.hdrPos < f.hdrLen {
		n := copy(p, f.hdr[f.hdrPos:f.hdrLen])
		f.hdrPos += n
		return n, nil
	}
	if f.left == 0 {
		if err := f.readLength(); err != nil {
			return 0, err
		}
		n := copy(p, f.hdr[:f.hdrLen])
		f.hdrPos = n
		return n, nil
	}
	if len(p) > f.left {
		p = p[:f.left]
	}
	n := copy(p, f.b)
	f.b = f.b[n:]
	f.left -= n
	return n, nil
}

func (f *bodyReader) next() (byte, error) {
	if len(f.b) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	c := f.b[0]
	f.b = f.b[1:]
	return c, nil
}

// readLength reads gob's message length: one byte below 128, else a byte
// holding the negated count of big-endian bytes that follow.
func (f *bodyReader) readLength() error {
	b, err := f.next()
	if err != nil {
		return err
	}
	f.hdr[0] = b
	f.hdrLen, f.hdrPos = 1, 0
	var size uint64
	if b < 0x80 {
		size = uint64(b)
	} else {
		n := int(-int8(b))
		if n < 1 || n > 8 {
			return fmt.Errorf("%w: bad length prefix", ErrRpc)
		}
		for i := 0; i < n; i++ {
			c, err := f.next()
			if err != nil {
				return err
			}
			f.hdr[1+i] = c
			size = size<<8 | uint64(c)
		}
		f.hdrLen = 1 + n
	}
	if size == 0 || size > uint64(len(f.b)) {
		return fmt.Errorf("%w: gob message of %d bytes in a body of %d",
			ErrRpc, size, len(f.b))
	}
	f.left = int(size)
	return nil
}

// ReadByte makes bodyReader an io.ByteReader, so gob reads it directly
// instead of wrapping it in another buffer (which would read ahead).
func (f *bodyReader) ReadByte() (byte, error) {
	var b [1]byte
	for {
		n, err := f.Read(b[:])
		if n == 1 {
			return b[0], nil
		}
		if err != nil {
			return 0, err
		}
	}
}
