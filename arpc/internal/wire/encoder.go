package wire

import (
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"sync"
)

// msgBuf is the io.Writer an Encoder's gob encoder writes a message into.
type msgBuf struct{ b []byte }

func (m *msgBuf) Write(p []byte) (int, error) {
	m.b = append(m.b, p...)
	return len(p), nil
}

// writeBufs lends message buffers to encoders.
var writeBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuf is the largest buffer kept for reuse: a payload's does not
// stay around.
const maxPooledBuf = 64 << 10

// Encoder encodes the messages one peer sends, in order. Not safe for
// concurrent use: the caller serialises Encode, the write of its frame and
// Release (a connection's write lock).
type Encoder struct {
	// buf collects one message; its memory is borrowed from writeBufs
	// between Encode and Release only, so idle connections hold none
	buf    msgBuf
	bufRef *[]byte
	// enc is made on the first gob body
	enc *gob.Encoder
	// out is what was encoded so far
	out streamState
	// broken is set when gob failed mid-message
	broken bool
}

// Encode encodes one message as a frame: a request (method set; seq 0 for a
// notification) or a reply (method empty, errMsg its error). The frame is
// valid until Release, which must follow before the next Encode. The whole
// message is encoded before any byte is written, so a value that cannot be
// encoded never reaches the peer. An error wraps ErrInvalidParams; after
// one, Broken reports whether the encoder's gob stream is lost (the
// connection must then close).
func (e *Encoder) Encode(method string, seq uint64, errMsg string, body any) (
	[]byte, error,
) {
	if e.broken {
		return nil, fmt.Errorf("%w: encoder broken by an earlier encoding error",
			ErrInvalidParams)
	}
	h := header{Method: method, Error: errMsg}
	e.out.seqOut(&h, seq, method != "")
	h.Body = !e.out.bodyOut(&h, body)
	bp := writeBufs.Get().(*[]byte)
	e.buf.b, e.bufRef = (*bp)[:0], bp
	// the header goes after room for its length, which is then written
	// right before it
	var room [maxLenPrefix]byte
	e.buf.b = h.appendTo(append(e.buf.b, room[:]...))
	size := uint64(len(e.buf.b) - maxLenPrefix)
	if size > 1<<(7*maxLenPrefix)-1 {
		e.Release()
		return nil, fmt.Errorf("%w: header of %d bytes", ErrInvalidParams, size)
	}
	start := maxLenPrefix - uvarintLen(size)
	binary.PutUvarint(e.buf.b[start:], size)
	if h.Body {
		if e.enc == nil {
			e.enc = gob.NewEncoder(&e.buf)
		}
		if err := e.enc.Encode(body); err != nil {
			e.broken = true
			e.Release()
			return nil, fmt.Errorf("%w: encode: %w", ErrInvalidParams, err)
		}
	}
	return e.buf.b[start:], nil
}

// Release returns the last frame's buffer to the pool (unless it grew too
// large).
func (e *Encoder) Release() {
	if e.bufRef == nil {
		return
	}
	if cap(e.buf.b) <= maxPooledBuf {
		*e.bufRef = e.buf.b[:0]
		writeBufs.Put(e.bufRef)
	}
	e.buf.b, e.bufRef = nil, nil
}

// Broken reports that an encoding failed mid-message: gob may have recorded
// type definitions the peer never got, so nothing more can be sent.
func (e *Encoder) Broken() bool { return e.broken }
