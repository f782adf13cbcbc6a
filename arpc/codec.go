package arpc

import (
	"bufio"
	"encoding/gob"
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
const readBufSize = 1 << 10

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

// codec is an rpc2.Codec speaking gob, like rpc2's default, with four
// differences: a message is one gob value with the hot bodies inline and
// growing numbers sent as differences (codec_stream.go), incoming frames
// over maxMsg are refused before anything is allocated for them, a message
// is encoded whole before any byte of it is written (a value gob cannot
// encode never corrupts the stream), and every write has a deadline.
type codec struct {
	conn         net.Conn
	dec          *gob.Decoder
	writeTimeout time.Duration

	// in is what the peer sent so far, with the inline body of the message
	// being read and whether its body follows the header; read loop only
	in          streamState
	inline      any
	bodyFollows bool

	wmx sync.Mutex
	// buf collects one message; its memory is borrowed from writeBufs for
	// the write only, so idle connections hold none
	buf msgBuf
	enc *gob.Encoder
	// out is what was written so far; under wmx
	out streamState
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
	c := &codec{conn: conn, writeTimeout: writeTimeout}
	if counters != nil {
		c.bytesIn, c.bytesOut = &counters.in, &counters.out
	}
	fr := &frameReader{r: bufio.NewReaderSize(conn, readBufSize), max: maxMsg,
		counter: c.bytesIn, last: &c.lastRead}
	c.dec = gob.NewDecoder(fr)
	c.enc = gob.NewEncoder(&c.buf)
	return c
}

func (c *codec) ReadHeader(req *rpc2.Request, resp *rpc2.Response) error {
	var h wireHeader
	err := c.dec.Decode(&h)
	if err != nil {
		return err
	}
	seq := c.in.seqIn(&h)
	if h.Method != "" {
		req.Seq, req.Method = seq, h.Method
	} else {
		resp.Seq, resp.Error = seq, h.Error
	}
	c.bodyFollows = h.Body
	c.inline, err = c.in.inlineIn(&h)
	return err
}

func (c *codec) ReadRequestBody(body any) error  { return c.readBody(body) }
func (c *codec) ReadResponseBody(body any) error { return c.readBody(body) }

// readBody reads the body of the message whose header was just read: the
// gob value after it, or the body inlined in the header.
func (c *codec) readBody(body any) error {
	inline := c.inline
	c.inline = nil
	if c.bodyFollows {
		c.bodyFollows = false
		return c.dec.Decode(body)
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
	if err := c.enc.Encode(&h); err != nil {
		c.poison()
		return fmt.Errorf("%w: encode: %w", ErrInvalidParams, err)
	}
	if h.Body {
		if err := c.enc.Encode(body); err != nil {
			c.poison()
			return fmt.Errorf("%w: encode: %w", ErrInvalidParams, err)
		}
	}
	if c.writeTimeout > 0 {
		_ = c.conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
	n, err := c.conn.Write(c.buf.b)
	c.lastWrite.Store(time.Now().UnixNano())
	if c.bytesOut != nil {
		c.bytesOut.Add(int64(n))
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNetwork, err)
	}
	return nil
}

// poison closes the connection after a failed encode: gob may have recorded
// type definitions the peer never got.
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
