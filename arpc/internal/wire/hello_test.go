package wire

import (
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawRoundTrip encodes in and decodes it into out.
func rawRoundTrip(in, out rawBody) error {
	r := reader{b: in.appendRaw(nil)}
	out.decodeRaw(&r)
	return r.end()
}

// decodeRawBytes decodes b into out.
func decodeRawBytes(b []byte, out rawBody) error {
	r := reader{b: b}
	out.decodeRaw(&r)
	return r.end()
}

func helloSamples() ([]*ArgsHello, []*RespHello) {
	args := []*ArgsHello{
		{Version: ProtocolVersion, ClientId: "c", SchemaHash: "h", IdScope: 7,
			Heartbeat: 2e9},
		{Version: -1, KnownTime: am.Time{0, 5, 1 << 63}, KnownSeq: 99},
		{KnownTime: am.Time{}},
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
	b := resps[1].appendRaw(nil)
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
		f.Add(a.appendRaw(nil))
	}
	for _, h := range resps {
		f.Add(h.appendRaw(nil))
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
	base := (&RespHello{WorkerId: "w"}).appendRaw(nil)
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
