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
	// encoding encodes bodies holding user values
	encoding Encoding
	// zbuf holds a compressed body, reused
	zbuf []byte
}

// SetEncoding makes e encode the bodies of the messages that follow with
// enc (EncodeGob before it is called).
func (e *Encoder) SetEncoding(enc Encoding) { e.encoding = enc }

// SetCompression makes e compress the bodies and full snapshots of the
// messages that follow that are at least threshold bytes long (none before
// it is called; threshold 0: DefaultCompressThreshold).
func (e *Encoder) SetCompression(c Compression, threshold int) {
	if threshold <= 0 {
		threshold = DefaultCompressThreshold
	}
	e.out.zip = zipper{codec: c, threshold: threshold}
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
	h := header{Method: method, Error: errMsg, zip: e.out.zip}
	e.out.seqOut(&h, seq, method != "")
	h.Body = !e.out.bodyOut(&h, body)
	h.BodyFmt = bodyFmt(e.encoding, CompressNone)
	bp := writeBufs.Get().(*[]byte)
	e.buf.b, e.bufRef = (*bp)[:0], bp
	// the header goes after room for its length, which is then written
	// right before it
	var room [maxLenPrefix]byte
	e.buf.b = h.appendTo(append(e.buf.b, room[:]...))
	if h.Body {
		// the body follows its format byte, the header's last
		start := len(e.buf.b)
		if err := e.appendBody(body); err != nil {
			e.Release()
			return nil, fmt.Errorf("%w: encode %T: %w", ErrInvalidParams, body,
				err)
		}
		e.compressBody(start)
	}
	size := uint64(len(e.buf.b) - maxLenPrefix)
	if size > maxBody {
		e.Release()
		return nil, fmt.Errorf("%w: message of %d bytes", ErrInvalidParams, size)
	}
	start := maxLenPrefix - uvarintLen(size)
	binary.PutUvarint(e.buf.b[start:], size)
	return e.buf.b[start:], nil
}

// compressBody compresses the body that starts at start in buf when the
// connection compresses, it is over the threshold and compressing makes it
// smaller, and sets its format byte (at start-1).
func (e *Encoder) compressBody(start int) {
	z := e.out.zip
	body := e.buf.b[start:]
	if z.codec == CompressNone || len(body) < z.threshold {
		return
	}
	e.zbuf = compress(z.codec, e.zbuf[:0], body)
	if len(e.zbuf) >= len(body) {
		return
	}
	e.buf.b = append(e.buf.b[:start], e.zbuf...)
	e.buf.b[start-1] = bodyFmt(e.encoding, z.codec)
	if cap(e.zbuf) > maxPooledBuf {
		e.zbuf = nil
	}
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
