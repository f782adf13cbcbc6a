package wire

import (
	"bytes"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fuzzMsgLimit is the message size limit of fuzzed codecs: small, so a
// length prefix the fuzzer inflates is refused rather than allocated.
const fuzzMsgLimit = 1 << 16

func bodyOf[T any]() func() any { return func() any { return new(T) } }

func sampleArgs() am.A { return am.A{"n": 1, "s": "x", "f": 1.5, "b": true} }

func sampleClock() *Update {
	return &Update{From: 3, Diff: []byte{1, 2, 1}, Sum: 5, QT: 1}
}

// requestBodies are the bodies the handlers of each method read (server
// and client handlers: both read what their peer sends).
var requestBodies = map[string]func() any{
	MHello: bodyOf[ArgsHello](), MReady: bodyOf[Empty](),
	MMutate: bodyOf[ArgsMut](), MMutateNS: bodyOf[ArgsMut](),
	MSync: bodyOf[ArgsSync](), MGet: bodyOf[ArgsGet](), MCan: bodyOf[ArgsMut](),
	MErr: bodyOf[Empty](), MWhenArgs: bodyOf[ArgsWhenArgs](),
	MWhenArgsX: bodyOf[ArgsWhenArgsDone](), MBye: bodyOf[Empty](),
	MPing: bodyOf[Empty](), MClock: bodyOf[Update](),
	MPayload: bodyOf[testPayload](), MWhenArgsDone: bodyOf[ArgsWhenArgsDone](),
	MServerBye: bodyOf[Empty](), MHeartbeat: bodyOf[Empty](),
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
		{MHello, &ArgsHello{Version: ProtocolVersion, ClientId: "c", KnownTime: am.Time{1, 2}, KnownSeq: 2}},
		{MReady, &Empty{}},
		{MMutate, &ArgsMut{Type: MutAdd, States: []int{1, 2}, Args: sampleArgs(), Id: 1}},
		{MMutateNS, &ArgsMut{Type: MutRemove, States: []int{0}, Id: 2}},
		{MSync, &ArgsSync{Full: true}},
		{MGet, &ArgsGet{Name: "id"}},
		{MCan, &ArgsMut{Type: MutSet, States: []int{3}}},
		{MErr, &Empty{}},
		{MWhenArgs, &ArgsWhenArgs{Id: 1, State: 2, Args: am.A{"k": "v"}}},
		{MWhenArgsX, &ArgsWhenArgsDone{Id: 1}},
		{MPing, &Empty{}},
		{MClock, sampleClock()},
		{MPayload, &testPayload{Name: "p", Data: []byte("x"), Token: "t"}},
		{MWhenArgsDone, &ArgsWhenArgsDone{Id: 9}},
		{MHeartbeat, &Empty{}},
		{MBye, &Empty{}},
	}
	var seeds [][]byte
	w, out := bufWriter()
	for i, m := range msgs {
		require.NoError(t, w.write(m.method, uint64(i+1), "", m.body))
		seeds = append(seeds, bytes.Clone(out.Bytes()))
	}
	resps := []any{
		&RespHello{WorkerId: "w", Names: am.S{"A"}, Epoch: 1, Clock: sampleClock()},
		&RespMut{Result: am.Executed, Clock: sampleClock(), Seq: 3},
		&RespSync{Clock: sampleClock(), Seq: 4},
		&RespGet{Value: "v"},
		&RespErr{Msg: "boom"},
		&Empty{},
		&RespMut{Err: &Error{Code: 12, Msg: "disk"}},
	}
	w, out = bufWriter()
	for i, r := range resps {
		require.NoError(t, w.write("", uint64(i), "", r))
		seeds = append(seeds, bytes.Clone(out.Bytes()))
	}
	require.NoError(t, w.write("", 99, "e", nil))
	seeds = append(seeds, out.Bytes())
	// bodies in msgpack and gob, compressed, and a compressed full snapshot
	big := bytes.Repeat([]byte("payload "), 64)
	for _, enc := range []Encoding{EncodeGob, EncodeMsgpack} {
		for _, c := range []Compression{CompressS2, CompressZstd} {
			w, out = bufWriter()
			w.enc.SetEncoding(enc)
			w.enc.SetCompression(c, 16)
			require.NoError(t, w.write(MMutate, 1, "", &ArgsMut{Type: MutAdd,
				States: []int{1}, Args: am.A{"n": 1, "l": []string{"a", "b"}}, Id: 1}))
			require.NoError(t, w.write(MPayload, 0, "", &testPayload{Name: "p",
				Data: big}))
			require.NoError(t, w.write(MWhenArgs, 2, "", &ArgsWhenArgs{Id: 1,
				State: 2, Args: am.A{"k": "v", "m": []int{1}}}))
			require.NoError(t, w.write(MClock, 0, "", &Update{From: 0, Span: 9,
				Diff: bytes.Repeat([]byte{1, 2}, 64), Full: true}))
			seeds = append(seeds, out.Bytes())
		}
	}
	return seeds
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
		d := NewDecoder(bytes.NewReader(data), fuzzMsgLimit, nil, nil)
		for range 64 {
			h, err := d.ReadHeader()
			if err != nil {
				return
			}
			// an unknown method's body is discarded (nil), as rpc2 does
			var body any
			if h.Method != "" {
				if mk, ok := requestBodies[h.Method]; ok {
					body = mk()
				}
			} else {
				body = responseBodies[h.Seq%uint64(len(responseBodies))]()
			}
			if d.ReadBody(body) != nil {
				return
			}
		}
	})
}

func TestCodecSeedsReadBack(t *testing.T) {
	seeds := codecSeeds(t)
	// the longest request seed holds every request kind
	d := NewDecoder(bytes.NewReader(seeds[len(requestBodies)-2]), 0, nil, nil)
	n := 0
	for {
		h, err := d.ReadHeader()
		if err != nil {
			break
		}
		require.NoError(t, d.ReadBody(requestBodies[h.Method]()), h.Method)
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
		&RespErr{Msg: "m"}, &RespErr{Err: &Error{Code: 3, Msg: "x"}},
	} {
		f.Add(b.appendRaw(nil, zipper{}))
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

// The seeds with compressed bodies and snapshots, in both encodings, read
// back as written.
func TestCompressedSeedsReadBack(t *testing.T) {
	seeds := codecSeeds(t)
	for _, seed := range seeds[len(seeds)-4:] {
		d := NewDecoder(bytes.NewReader(seed), 0, nil, nil)
		var mut ArgsMut
		var pl testPayload
		var wa ArgsWhenArgs
		var u Update
		for _, body := range []any{&mut, &pl, &wa, &u} {
			_, err := d.ReadHeader()
			require.NoError(t, err)
			require.NoError(t, d.ReadBody(body))
		}
		assert.Equal(t, am.A{"n": 1, "l": []string{"a", "b"}}, normalizeList(mut.Args))
		assert.Equal(t, bytes.Repeat([]byte("payload "), 64), pl.Data)
		assert.Equal(t, "v", wa.Args["k"])
		assert.Equal(t, bytes.Repeat([]byte{1, 2}, 64), u.Diff)
		assert.True(t, u.Full)
	}
}

// normalizeList turns msgpack's []any of strings back into []string, so
// both encodings compare alike.
func normalizeList(a am.A) am.A {
	if l, ok := a["l"].([]any); ok {
		out := make([]string, len(l))
		for i, v := range l {
			out[i], _ = v.(string)
		}
		a["l"] = out
	}
	return a
}
