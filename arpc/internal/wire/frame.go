package wire

import (
	"bufio"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// Every message is a frame: a uvarint length, then a hand-encoded header
// (header.go); a body holding user values follows as a gob message, which
// has its own length prefix (bodyReader checks it).

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

// bodyReader passes a gob stream through, checking each message's length
// prefix against max before gob allocates for it.
type bodyReader struct {
	r       *bufio.Reader
	max     int
	left    int // bytes left in the current message body
	hdr     [9]byte
	hdrLen  int
	hdrPos  int
	counter *atomic.Int64
	last    *atomic.Int64
}

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
	n, err := f.r.Read(p)
	f.left -= n
	if f.counter != nil {
		f.counter.Add(int64(n))
	}
	return n, err
}

// readLength reads gob's message length: one byte below 128, else a byte
// holding the negated count of big-endian bytes that follow.
func (f *bodyReader) readLength() error {
	b, err := f.r.ReadByte()
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
			c, err := f.r.ReadByte()
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
			f.hdr[1+i] = c
			size = size<<8 | uint64(c)
		}
		f.hdrLen = 1 + n
	}
	if f.counter != nil {
		f.counter.Add(int64(f.hdrLen))
	}
	if f.last != nil {
		f.last.Store(time.Now().UnixNano())
	}
	if size == 0 || size > uint64(f.max) {
		return fmt.Errorf("%w: %d bytes (limit %d)", ErrFrameTooLarge, size, f.max)
	}
	f.left = int(size)
	return nil
}

// ReadByte makes bodyReader an io.ByteReader, so gob reads it directly
// instead of wrapping it in another buffer.
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
