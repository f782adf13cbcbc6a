package arpc

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/rpc2"

	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
)

// DefaultMaxMsgSize is the default limit of one message (frame) on the wire.
const DefaultMaxMsgSize = 64 << 20

// DefaultWriteTimeout is how long a write may block on a peer that does not
// read before the connection is considered dead.
const DefaultWriteTimeout = 10 * time.Second

// codec is the rpc2.Codec of both peers: it reads messages with a
// wire.Decoder and writes those of a wire.Encoder to the connection. Each
// message is encoded whole before any byte of it is written (a value that
// cannot be encoded never corrupts the stream); every write has a deadline;
// a connection whose encoder broke or whose write failed is closed.
type codec struct {
	conn         net.Conn
	writeTimeout time.Duration

	// dec is used by the read loop only
	dec *wire.Decoder

	wmx sync.Mutex
	enc wire.Encoder
	// deadline is the connection's write deadline; under wmx
	deadline time.Time
	// broken is set when an encode or a write failed mid-message: the
	// connection must go; under wmx
	broken bool

	bytesOut *atomic.Int64
	// encoding is the wire.Encoding of bodies written, once negotiated
	encoding atomic.Uint32

	// readErr is the first malformed message read (an ErrRpc), for the
	// connection's owner to report once rpc2 closed it
	readErr atomic.Pointer[error]

	// lastRead and lastWrite are the unix nanos of the last message read
	// and written: evidence that the peer is alive, and when to heartbeat
	lastRead  atomic.Int64
	lastWrite atomic.Int64
}

func newCodec(conn net.Conn, maxMsg int, writeTimeout time.Duration,
	counters *trafficCounters,
) *codec {
	c := &codec{conn: conn, writeTimeout: writeTimeout}
	var in *atomic.Int64
	if counters != nil {
		in, c.bytesOut = &counters.in, &counters.out
	}
	c.dec = wire.NewDecoder(conn, maxMsg, in, &c.lastRead)
	return c
}

func (c *codec) ReadHeader(req *rpc2.Request, resp *rpc2.Response) error {
	h, err := c.dec.ReadHeader()
	if h.Method != "" {
		req.Seq, req.Method = h.Seq, h.Method
	} else {
		resp.Seq, resp.Error = h.Seq, h.Error
	}
	return c.noteRead(err)
}

func (c *codec) ReadRequestBody(body any) error {
	return c.noteRead(c.dec.ReadBody(body))
}

func (c *codec) ReadResponseBody(body any) error {
	return c.noteRead(c.dec.ReadBody(body))
}

// noteRead remembers the first protocol error read: rpc2 ends its read loop
// on it without telling anyone why.
func (c *codec) noteRead(err error) error {
	if err != nil && errors.Is(err, ErrRpc) {
		c.readErr.CompareAndSwap(nil, &err)
	}
	return err
}

// protocolErr is the malformed message that ended the read loop, if any.
func (c *codec) protocolErr() error {
	if p := c.readErr.Load(); p != nil {
		return *p
	}
	return nil
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
	frame, err := c.enc.Encode(method, seq, errMsg, body)
	if err != nil {
		if c.enc.Broken() {
			c.poison()
		}
		return err
	}
	defer c.enc.Release()
	now := time.Now()
	// the deadline moves only when less than half of WriteTimeout is left:
	// a write still gets at least half of it, and a busy connection does
	// not reset a runtime timer per message
	if c.writeTimeout > 0 && c.deadline.Sub(now) < c.writeTimeout/2 {
		c.deadline = now.Add(c.writeTimeout)
		_ = c.conn.SetWriteDeadline(c.deadline)
	}
	n, err := c.conn.Write(frame)
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

// poison closes the connection after a failed encode or write: gob may have
// recorded type definitions the peer never got, or a frame was cut short.
func (c *codec) poison() {
	c.broken = true
	_ = c.conn.Close()
}

func (c *codec) Close() error { return c.conn.Close() }

// negotiated sets what the handshake agreed on for the messages written
// from now on: the encoding of bodies holding user values, and the
// compression of bodies and full snapshots of at least threshold bytes.
func (c *codec) negotiated(enc wire.Encoding, comp wire.Compression,
	threshold int,
) {
	c.wmx.Lock()
	defer c.wmx.Unlock()
	c.enc.SetEncoding(enc)
	c.enc.SetCompression(comp, threshold)
	c.encoding.Store(uint32(enc))
}

// bodyEncoding is the encoding of bodies written.
func (c *codec) bodyEncoding() wire.Encoding {
	return wire.Encoding(c.encoding.Load())
}

// trafficCounters count a connection's bytes.
type trafficCounters struct {
	in, out atomic.Int64
}
