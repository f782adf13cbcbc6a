package arpc

import (
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func helloSamples() ([]*ArgsHello, []*RespHello) {
	args := []*ArgsHello{
		{Version: ProtocolVersion, ClientId: "c", SchemaHash: "h", IdScope: 7,
			Heartbeat: 2e9},
		{Version: -1, KnownTime: am.Time{0, 5, 1 << 63}, KnownSeq: 99},
		{KnownTime: am.Time{}},
	}
	resps := []*RespHello{
		{Err: &WireErr{Code: 4, Msg: "busy"}},
		{WorkerId: "w", ServerId: "s", Names: am.S{"A", "B"}, Epoch: 3,
			Schema: am.Schema{
				"A": {Auto: true, Require: am.S{"B"}, Tags: []string{"t"}},
				"B": {Multi: true, Add: am.S{"A"}, Remove: am.S{"A"},
					After: am.S{"A"}},
			},
			Clock: &WireUpdate{From: 1, Span: 2, Diff: []byte{1, 0, 1}, Sum: 1,
				QT: 9, Full: true},
			MachineTick: 1<<32 - 1, Resumed: true},
		// names present but empty differ from names left out
		{Names: am.S{}},
	}
	return args, resps
}

func TestHelloRoundTrip(t *testing.T) {
	args, resps := helloSamples()
	for _, a := range args {
		b, err := a.GobEncode()
		require.NoError(t, err)
		var got ArgsHello
		require.NoError(t, got.GobDecode(b))
		assert.Equal(t, *a, got)
	}
	for _, h := range resps {
		b, err := h.GobEncode()
		require.NoError(t, err)
		var got RespHello
		require.NoError(t, got.GobDecode(b))
		assert.Equal(t, *h, got)
	}
}

func TestHelloRejectsTruncated(t *testing.T) {
	_, resps := helloSamples()
	b, err := resps[1].GobEncode()
	require.NoError(t, err)
	for i := range len(b) {
		var got RespHello
		assert.ErrorIs(t, got.GobDecode(b[:i]), ErrRpc, "cut at %d", i)
	}
	var got RespHello
	assert.ErrorIs(t, got.GobDecode(append(b, 0)), ErrRpc, "trailing byte")
}

func FuzzHelloDecode(f *testing.F) {
	args, resps := helloSamples()
	for _, a := range args {
		b, _ := a.GobEncode()
		f.Add(b)
	}
	for _, h := range resps {
		b, _ := h.GobEncode()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var a ArgsHello
		if a.GobDecode(b) == nil {
			again, err := a.GobEncode()
			require.NoError(t, err)
			var a2 ArgsHello
			require.NoError(t, a2.GobDecode(again))
			assert.Equal(t, a, a2)
		}
		var h RespHello
		if h.GobDecode(b) == nil {
			again, err := h.GobEncode()
			require.NoError(t, err)
			var h2 RespHello
			require.NoError(t, h2.GobDecode(again))
			assert.Equal(t, h, h2)
		}
	})
}
