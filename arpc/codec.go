package arpc

import (
	"bufio"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/rpc2"
)

// DefaultMaxMsgSize is the default limit of one message (frame) on the wire.
const DefaultMaxMsgSize = 64 << 20

// readBufSize is the read buffer of a connection: small, since idle
// connections are many and large messages are read past the buffer.
const readBufSize = 512

// msgBuf is the io.Writer a codec's gob encoder writes a message into.
type msgBuf struct{ b []byte }

func (m *msgBuf) Write(p []byte) (int, error) {
	m.b = append(m.b, p...)
	return len(p), nil
}

// writeBufs lends message buffers to writing codecs.
var writeBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuf is the largest buffer kept for reuse: a payload's does not
// stay around.
const maxPooledBuf = 64 << 10

// borrow points m at a pooled buffer; it returns the pool's handle for
// giveBack.
func (m *msgBuf) borrow() *[]byte {
	bp := writeBufs.Get().(*[]byte)
	m.b = (*bp)[:0]
	return bp
}

// giveBack returns the buffer to the pool (unless it grew too large).
func (m *msgBuf) giveBack(bp *[]byte) {
	if cap(m.b) <= maxPooledBuf {
		*bp = m.b[:0]
		writeBufs.Put(bp)
	}
	m.b = nil
}

// DefaultWriteTimeout is how long a write may block on a peer that does not
// read before the connection is considered dead.
const DefaultWriteTimeout = 10 * time.Second

// maxLenPrefix is the longest length prefix of a header frame (a uvarint
// of up to 2^35-1 bytes).
const maxLenPrefix = 5

// codec is the rpc2.Codec of both peers. Every message is a frame: a uvarint
// length and a hand-encoded header that carries the protocol's own bodies;
// a body holding user values follows as gob (codec_stream.go). It also
// refuses incoming frames over maxMsg before allocating for them, encodes a
// message whole before writing any byte of it (a value gob cannot encode
// never corrupts the stream), and puts a deadline on every write.
type codec struct {
	conn         net.Conn
	writeTimeout time.Duration
	max          int

	// the read side, used by the read loop only: the buffered connection,
	// gob (made on the first gob body), what the peer sent so far, and the
	// body of the message being read
	br          *bufio.Reader
	fr          *frameReader
	dec         *gob.Decoder
	in          streamState
	inline      any
	raw         []byte
	rawBody     bool
	bodyFollows bool
	// small holds small incoming headers, so that reading one allocates
	// nothing
	small [64]byte

	wmx sync.Mutex
	// buf collects one message; its memory is borrowed from writeBufs for
	// the write only, so idle connections hold none
	buf msgBuf
	// enc is made on the first gob body
	enc *gob.Encoder
	// out is what was written so far; under wmx
	out streamState
	// deadline is the connection's write deadline; under wmx
	deadline time.Time
	// broken is set when an encoder failed mid-message; the gob stream state
	// is then unknown and the connection must go.
	broken bool

	bytesIn  *atomic.Int64
	bytesOut *atomic.Int64

	// lastRead and lastWrite are the unix nanos of the last message read
	// and written: evidence that the peer is alive, and when to heartbeat
	lastRead  atomic.Int64
	lastWrite atomic.Int64
}

func newCodec(conn net.Conn, maxMsg int, writeTimeout time.Duration,
	counters *trafficCounters,
) *codec {
	if maxMsg <= 0 {
		maxMsg = DefaultMaxMsgSize
	}
	c := &codec{conn: conn, writeTimeout: writeTimeout, max: maxMsg,
		br: bufio.NewReaderSize(conn, readBufSize)}
	if counters != nil {
		c.bytesIn, c.bytesOut = &counters.in, &counters.out
	}
	c.fr = &frameReader{r: c.br, max: maxMsg, counter: c.bytesIn,
		last: &c.lastRead}
	return c
}

func (c *codec) ReadHeader(req *rpc2.Request, resp *rpc2.Response) error {
	frame, err := c.readFrame()
	if err != nil {
		return err
	}
	var h wireHeader
	if err := h.decode(frame); err != nil {
		return err
	}
	seq := c.in.seqIn(&h)
	if h.Method != "" {
		req.Seq, req.Method = seq, h.Method
	} else {
		resp.Seq, resp.Error = seq, h.Error
	}
	c.bodyFollows = h.Body
	c.raw, c.rawBody = h.Raw, h.Raw != nil
	c.inline, err = c.in.inlineIn(&h)
	return err
}

// readFrame reads one header frame; the result is valid until the next
// call.
func (c *codec) readFrame() ([]byte, error) {
	n, err := binary.ReadUvarint(c.br)
	if err != nil {
		return nil, err
	}
	if n == 0 || n > uint64(c.max) {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrFrameTooLarge, n,
			c.max)
	}
	var frame []byte
	if n <= uint64(len(c.small)) {
		frame = c.small[:n]
	} else {
		frame = make([]byte, n)
	}
	if _, err := io.ReadFull(c.br, frame); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if c.bytesIn != nil {
		c.bytesIn.Add(int64(uvarintLen(n)) + int64(n))
	}
	c.lastRead.Store(time.Now().UnixNano())
	return frame, nil
}

func (c *codec) ReadRequestBody(body any) error  { return c.readBody(body) }
func (c *codec) ReadResponseBody(body any) error { return c.readBody(body) }

// readBody reads the body of the message whose header was just read: the
// one carried by the header, or the gob value after it.
func (c *codec) readBody(body any) error {
	inline, raw, isRaw := c.inline, c.raw, c.rawBody
	c.inline, c.raw, c.rawBody = nil, nil, false
	switch {
	case c.bodyFollows:
		c.bodyFollows = false
		if c.dec == nil {
			c.dec = gob.NewDecoder(c.fr)
		}
		return c.dec.Decode(body)
	case isRaw:
		if body == nil {
			return nil
		}
		rb, ok := body.(rawBody)
		if !ok {
			return fmt.Errorf("%w: a raw body where %T was expected", ErrRpc, body)
		}
		r := wireReader{b: raw}
		rb.decodeRaw(&r)
		return r.end()
	}
	return fillBody(inline, body)
}

func (c *codec) WriteRequest(r *rpc2.Request, body any) error {
	return c.write(r.Method, r.Seq, "", body)
}

func (c *codec) WriteResponse(r *rpc2.Response, body any) error {
	return c.write("", r.Seq, r.Error, body)
}

func (c *codec) write(method string, seq uint64, errMsg string, body any) error {
	c.wmx.Lock()
	defer c.wmx.Unlock()
	if c.broken {
		return fmt.Errorf("%w: connection poisoned by an earlier encoding error",
			ErrNetwork)
	}
	h := wireHeader{Method: method, Error: errMsg}
	c.out.seqOut(&h, seq, method != "")
	h.Body = !c.out.bodyOut(&h, body)
	defer c.buf.giveBack(c.buf.borrow())
	// the header goes after room for its length, which is then written
	// right before it
	var room [maxLenPrefix]byte
	c.buf.b = h.appendTo(append(c.buf.b, room[:]...))
	size := uint64(len(c.buf.b) - maxLenPrefix)
	if size > 1<<(7*maxLenPrefix)-1 {
		return fmt.Errorf("%w: header of %d bytes", ErrInvalidParams, size)
	}
	start := maxLenPrefix - uvarintLen(size)
	binary.PutUvarint(c.buf.b[start:], size)
	if h.Body {
		if c.enc == nil {
			c.enc = gob.NewEncoder(&c.buf)
		}
		if err := c.enc.Encode(body); err != nil {
			c.poison()
			return fmt.Errorf("%w: encode: %w", ErrInvalidParams, err)
		}
	}
	now := time.Now()
	// the deadline moves only when less than half of WriteTimeout is left:
	// a write still gets at least half of it, and a busy connection does
	// not reset a runtime timer per message
	if c.writeTimeout > 0 && c.deadline.Sub(now) < c.writeTimeout/2 {
		c.deadline = now.Add(c.writeTimeout)
		_ = c.conn.SetWriteDeadline(c.deadline)
	}
	n, err := c.conn.Write(c.buf.b[start:])
	c.lastWrite.Store(now.UnixNano())
	if c.bytesOut != nil {
		c.bytesOut.Add(int64(n))
	}
	if err != nil {
		// a frame may be cut short (a write deadline): what follows could
		// not be framed, so the connection goes
		c.poison()
		return fmt.Errorf("%w: %w", ErrNetwork, err)
	}
	return nil
}

// uvarintLen is the length of v as a uvarint.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// poison closes the connection after a failed encode or write: gob may have
// recorded type definitions the peer never got, or a frame was cut short.
func (c *codec) poison() {
	c.broken = true
	_ = c.conn.Close()
}

func (c *codec) Close() error { return c.conn.Close() }

// frameReader passes a gob stream through, checking each message's length
// prefix against max before gob allocates for it.
type frameReader struct {
	r       *bufio.Reader
	max     int
	left    int // bytes left in the current message body
	hdr     [9]byte
	hdrLen  int
	hdrPos  int
	counter *atomic.Int64
	last    *atomic.Int64
}

func (f *frameReader) Read(p []byte) (int, error) {
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
func (f *frameReader) readLength() error {
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

// trafficCounters count a connection's bytes.
type trafficCounters struct {
	in, out atomic.Int64
}

// ReadByte makes frameReader an io.ByteReader, so gob reads it directly
// instead of wrapping it in another buffer.
func (f *frameReader) ReadByte() (byte, error) {
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
