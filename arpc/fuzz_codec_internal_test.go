package arpc

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/cenkalti/rpc2"
	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bytesConn is a net.Conn that reads a fixed input and collects writes.
type bytesConn struct {
	net.Conn
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *bytesConn) Read(p []byte) (int, error)       { return c.in.Read(p) }
func (c *bytesConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *bytesConn) Close() error                     { return nil }
func (c *bytesConn) SetDeadline(time.Time) error      { return nil }
func (c *bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bytesConn) SetWriteDeadline(time.Time) error { return nil }

func newBytesConn(in []byte) *bytesConn { return &bytesConn{in: bytes.NewReader(in)} }

// fuzzMsgLimit is the message size limit of fuzzed codecs: small, so a
// length prefix the fuzzer inflates is refused rather than allocated.
const fuzzMsgLimit = 1 << 16

func bodyOf[T any]() func() any { return func() any { return new(T) } }

func sampleArgs() am.A { return am.A{"n": 1, "s": "x", "f": 1.5, "b": true} }

func sampleClock() *WireUpdate {
	return &WireUpdate{From: 3, Diff: []byte{1, 2, 1}, Sum: 5, QT: 1}
}

// requestBodies are the bodies the handlers of each method read (server
// and client handlers: both read what their peer sends).
var requestBodies = map[string]func() any{
	mHello: bodyOf[ArgsHello](), mReady: bodyOf[Empty](),
	mMutate: bodyOf[ArgsMut](), mMutateNS: bodyOf[ArgsMut](),
	mSync: bodyOf[ArgsSync](), mGet: bodyOf[ArgsGet](), mCan: bodyOf[ArgsMut](),
	mErr: bodyOf[Empty](), mWhenArgs: bodyOf[ArgsWhenArgs](),
	mWhenArgsX: bodyOf[ArgsWhenArgsDone](), mBye: bodyOf[Empty](),
	mPing: bodyOf[Empty](), mClock: bodyOf[WireUpdate](),
	mPayload: bodyOf[ArgsPayload](), mWhenArgsDone: bodyOf[ArgsWhenArgsDone](),
	mServerBye: bodyOf[Empty](), mHeartbeat: bodyOf[Empty](),
}

// responseBodies are the replies a client reads; which one a response
// carries depends on its request, so the fuzzer picks by sequence.
var responseBodies = []func() any{
	bodyOf[RespHello](), bodyOf[RespMut](), bodyOf[RespSync](), bodyOf[RespGet](),
	bodyOf[RespErr](), bodyOf[Empty](),
}

// codecSeeds are streams a real codec wrote: every request kind, then
// every response kind.
func codecSeeds(t testing.TB) [][]byte {
	msgs := []struct {
		method string
		body   any
	}{
		{mHello, &ArgsHello{Version: ProtocolVersion, ClientId: "c", KnownTime: am.Time{1, 2}, KnownSeq: 2}},
		{mReady, &Empty{}},
		{mMutate, &ArgsMut{Type: mutAdd, States: []int{1, 2}, Args: sampleArgs(), Id: 1}},
		{mMutateNS, &ArgsMut{Type: mutRemove, States: []int{0}, Id: 2}},
		{mSync, &ArgsSync{Full: true}},
		{mGet, &ArgsGet{Name: "id"}},
		{mCan, &ArgsMut{Type: mutSet, States: []int{3}}},
		{mErr, &Empty{}},
		{mWhenArgs, &ArgsWhenArgs{Id: 1, State: 2, Args: am.A{"k": "v"}}},
		{mWhenArgsX, &ArgsWhenArgsDone{Id: 1}},
		{mPing, &Empty{}},
		{mClock, sampleClock()},
		{mPayload, &ArgsPayload{Name: "p", Data: []byte("x"), Token: "t"}},
		{mWhenArgsDone, &ArgsWhenArgsDone{Id: 9}},
		{mHeartbeat, &Empty{}},
		{mBye, &Empty{}},
	}
	var seeds [][]byte
	conn := newBytesConn(nil)
	c := newCodec(conn, 0, time.Second, nil)
	for i, m := range msgs {
		require.NoError(t, c.WriteRequest(&rpc2.Request{Method: m.method,
			Seq: uint64(i + 1)}, m.body))
		seeds = append(seeds, bytes.Clone(conn.out.Bytes()))
	}
	resps := []any{
		&RespHello{WorkerId: "w", Names: am.S{"A"}, Epoch: 1, Clock: sampleClock()},
		&RespMut{Result: am.Executed, Clock: sampleClock(), Seq: 3},
		&RespSync{Clock: sampleClock(), Seq: 4},
		&RespGet{Value: "v"},
		&RespErr{Msg: "boom"},
		&Empty{},
		&RespMut{Err: &WireErr{Code: uint8(codeNotDurable), Msg: "disk"}},
	}
	conn = newBytesConn(nil)
	c = newCodec(conn, 0, time.Second, nil)
	for i, r := range resps {
		require.NoError(t, c.WriteResponse(&rpc2.Response{Seq: uint64(i)}, r))
		seeds = append(seeds, bytes.Clone(conn.out.Bytes()))
	}
	require.NoError(t, c.WriteResponse(&rpc2.Response{Seq: 99, Error: "e"}, nil))
	return append(seeds, conn.out.Bytes())
}

// FuzzCodecStream feeds a byte stream to a connection's codec as a peer
// would: the frame reader, headers, and the body of every message kind
// (inline, raw and gob bodies). It must never panic nor allocate beyond the
// message limit, and a stream the codec wrote must read back.
func FuzzCodecStream(f *testing.F) {
	for _, s := range codecSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newCodec(newBytesConn(data), fuzzMsgLimit, time.Second, nil)
		for range 64 {
			var req rpc2.Request
			var resp rpc2.Response
			if err := c.ReadHeader(&req, &resp); err != nil {
				return
			}
			// an unknown method's body is discarded (nil), as rpc2 does
			var body any
			if req.Method != "" {
				if mk, ok := requestBodies[req.Method]; ok {
					body = mk()
				}
			} else {
				body = responseBodies[resp.Seq%uint64(len(responseBodies))]()
			}
			var err error
			if req.Method != "" {
				err = c.ReadRequestBody(body)
			} else {
				err = c.ReadResponseBody(body)
			}
			if err != nil {
				return
			}
		}
	})
}

func TestCodecSeedsReadBack(t *testing.T) {
	seeds := codecSeeds(t)
	// the longest request seed holds every request kind
	c := newCodec(newBytesConn(seeds[len(requestBodies)-2]), 0, time.Second, nil)
	n := 0
	for {
		var req rpc2.Request
		var resp rpc2.Response
		if err := c.ReadHeader(&req, &resp); err != nil {
			break
		}
		require.NoError(t, c.ReadRequestBody(requestBodies[req.Method]()),
			req.Method)
		n++
	}
	assert.Equal(t, len(requestBodies)-1, n)
}

// FuzzRawBodies decodes every raw body kind (the handshake and the small
// messages that encode themselves); whatever decodes must encode back to
// the same message.
func FuzzRawBodies(f *testing.F) {
	for _, b := range []rawBody{
		&ArgsSync{Full: true}, &ArgsGet{Name: "id"}, &ArgsWhenArgsDone{Id: 7},
		&RespErr{Msg: "m"}, &RespErr{Err: &WireErr{Code: 3, Msg: "x"}},
	} {
		f.Add(b.appendRaw(nil))
	}
	kinds := []func() rawBody{
		func() rawBody { return &ArgsSync{} },
		func() rawBody { return &ArgsGet{} },
		func() rawBody { return &ArgsWhenArgsDone{} },
		func() rawBody { return &RespErr{} },
		func() rawBody { return &ArgsHello{} },
		func() rawBody { return &RespHello{} },
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, k := range kinds {
			got := k()
			if decodeRawBytes(b, got) != nil {
				continue
			}
			again := k()
			require.NoError(t, rawRoundTrip(got, again))
			assert.Equal(t, got, again)
		}
	})
}
