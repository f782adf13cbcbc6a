package wire

import (
	"bytes"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawRoundTrip encodes in and decodes it into out.
func rawRoundTrip(in, out rawBody) error {
	r := reader{b: in.appendRaw(nil, zipper{})}
	out.decodeRaw(&r)
	return r.end()
}

// decodeRawBytes decodes b into out.
func decodeRawBytes(b []byte, out rawBody) error {
	r := reader{b: b, max: DefaultMaxMsgSize}
	out.decodeRaw(&r)
	return r.end()
}

// A Hello of another version is read up to its version only, whatever
// follows, so that the server can refuse it by its version.
func TestHelloOfAnotherVersionReadsVersionOnly(t *testing.T) {
	v3 := (&ArgsHello{Version: ProtocolVersion, ClientId: "c"}).appendRaw(nil,
		zipper{})
	v3[0] = 3 * 2 // the zig-zag varint 3
	var got ArgsHello
	require.NoError(t, decodeRawBytes(append(v3, 1, 2, 3), &got))
	assert.Equal(t, ArgsHello{Version: 3}, got)
}

// A full snapshot in a RespHello is compressed over the threshold and
// comes back whole; a compressed one that decompresses past the limit is a
// decompression bomb.
func TestHelloSnapshotCompressed(t *testing.T) {
	diff := bytes.Repeat([]byte{1, 0, 1, 2}, 4096)
	h := &RespHello{WorkerId: "w", Negotiated: true, Compression: CompressZstd,
		Clock: &Update{Diff: diff, Full: true, Sum: 3}}
	for _, c := range []Compression{CompressS2, CompressZstd} {
		b := h.appendRaw(nil, zipper{codec: c, threshold: 1024})
		assert.Less(t, len(b), len(diff)/4, "compressed with %d", c)
		var got RespHello
		require.NoError(t, decodeRawBytes(b, &got))
		assert.Equal(t, *h, got)

		r := reader{b: b, max: len(diff) - 1}
		got.decodeRaw(&r)
		assert.ErrorIs(t, r.end(), ErrFrameTooLarge)
	}
}

func helloSamples() ([]*ArgsHello, []*RespHello) {
	args := []*ArgsHello{
		{Version: ProtocolVersion, ClientId: "c", SchemaHash: "h", IdScope: 7,
			Heartbeat: 2e9},
		{Version: ProtocolVersion, KnownTime: am.Time{0, 5, 1 << 63},
			KnownSeq: 99, Token: "tok", Encoding: EncodeMsgpack,
			Compression: CompressZstd},
		{Version: ProtocolVersion, KnownTime: am.Time{},
			Compression: CompressS2},
		// another version: only the version is read
		{Version: -1},
		{Version: 3},
	}
	resps := []*RespHello{
		{Err: &Error{Code: 4, Msg: "busy"}},
		{WorkerId: "w", ServerId: "s", Names: am.S{"A", "B"}, Epoch: 3,
			Schema: am.Schema{
				"A": {Auto: true, Require: am.S{"B"}, Tags: []string{"t"}},
				"B": {Multi: true, Add: am.S{"A"}, Remove: am.S{"A"},
					After: am.S{"A"}},
			},
			Clock: &Update{From: 1, Span: 2, Diff: []byte{1, 0, 1}, Sum: 1,
				QT: 9, Full: true},
			MachineTick: 1<<32 - 1, Resumed: true,
			Groups:      map[string][]int{"G": {1, 0}, "Empty": {}},
			GroupsOrder: []string{"G", "Empty"}},
		// names present but empty differ from names left out
		{Names: am.S{}},
		{WorkerId: "w", Negotiated: true, Encoding: EncodeMsgpack,
			Compression: CompressS2},
	}
	return args, resps
}

func TestHelloRoundTrip(t *testing.T) {
	args, resps := helloSamples()
	for _, a := range args {
		var got ArgsHello
		require.NoError(t, rawRoundTrip(a, &got))
		assert.Equal(t, *a, got)
	}
	for _, h := range resps {
		var got RespHello
		require.NoError(t, rawRoundTrip(h, &got))
		assert.Equal(t, *h, got)
	}
	for _, pair := range [][2]rawBody{
		{&ArgsSync{Full: true}, &ArgsSync{}},
		{&ArgsSync{}, &ArgsSync{Full: true}},
		{&ArgsGet{Name: "n"}, &ArgsGet{}},
		{&ArgsWhenArgsDone{Id: 1 << 40}, &ArgsWhenArgsDone{}},
		{&RespErr{Err: &Error{Code: 2, Msg: "x"}, Msg: "m"}, &RespErr{}},
		{&RespErr{Msg: "m"}, &RespErr{Err: &Error{}}},
	} {
		require.NoError(t, rawRoundTrip(pair[0], pair[1]))
		assert.Equal(t, pair[0], pair[1])
	}
}

func TestHelloRejectsTruncated(t *testing.T) {
	_, resps := helloSamples()
	b := resps[1].appendRaw(nil, zipper{})
	for i := range len(b) {
		var got RespHello
		assert.ErrorIs(t, decodeRawBytes(b[:i], &got), ErrRpc, "cut at %d", i)
	}
	var got RespHello
	assert.ErrorIs(t, decodeRawBytes(append(b, 0), &got), ErrRpc,
		"trailing byte")
}

func FuzzHelloDecode(f *testing.F) {
	args, resps := helloSamples()
	for _, a := range args {
		f.Add(a.appendRaw(nil, zipper{}))
	}
	for _, h := range resps {
		f.Add(h.appendRaw(nil, zipper{}))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// whatever decodes encodes back to the same message
		var a ArgsHello
		if decodeRawBytes(b, &a) == nil {
			var a2 ArgsHello
			require.NoError(t, rawRoundTrip(&a, &a2))
			assert.Equal(t, a, a2)
		}
		var h RespHello
		if decodeRawBytes(b, &h) == nil {
			var h2 RespHello
			require.NoError(t, rawRoundTrip(&h, &h2))
			assert.Equal(t, h, h2)
		}
	})
}

// Regression (FuzzHelloDecode): a groups flag with no groups, or a group
// named twice, decoded into a RespHello that encodes differently.
func TestHelloRejectsMalformedGroups(t *testing.T) {
	base := (&RespHello{WorkerId: "w"}).appendRaw(nil, zipper{})
	for name, tail := range map[string][]byte{
		"flag without groups": {0},
		"group twice":         {2, 1, 'g', 0, 1, 'g', 0},
	} {
		t.Run(name, func(t *testing.T) {
			b := append([]byte{base[0] | rhGroups}, base[1:]...)
			b = append(b, tail...)
			var got RespHello
			assert.ErrorIs(t, decodeRawBytes(b, &got), ErrRpc)
		})
	}
	ok := append([]byte{base[0] | rhGroups}, base[1:]...)
	ok = append(ok, 2, 1, 'g', 1, 3, 1, 'h', 0)
	var got RespHello
	require.NoError(t, decodeRawBytes(ok, &got))
	assert.Equal(t, []string{"g", "h"}, got.GroupsOrder)
	assert.Equal(t, map[string][]int{"g": {3}, "h": {}}, got.Groups)
}
