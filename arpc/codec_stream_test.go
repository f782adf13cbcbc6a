package arpc

import (
	"math"
	"net"
	"testing"
	"time"

	"github.com/cenkalti/rpc2"
	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// codecPair returns a writing and a reading codec over a pipe.
func codecPair(t *testing.T) (w, r *codec) {
	a, b := net.Pipe()
	t.Cleanup(func() {
		_ = a.Close()
		_ = b.Close()
	})
	return newCodec(a, 0, time.Second, nil), newCodec(b, 0, time.Second, nil)
}

func TestPackArgsRoundTrip(t *testing.T) {
	type custom struct{ A int }
	args := map[string]any{
		"b": true, "f": false, "i": -42, "i64": int64(math.MinInt64),
		"i32": int32(7), "u": uint(math.MaxUint32), "u64": uint64(math.MaxUint64),
		"fl": 3.25, "s": "héllo", "empty": "", "dur": time.Second,
		"c": custom{A: 1},
	}
	packed, rest := packArgs(args)
	// named and struct types are left to gob, with their types intact
	assert.Equal(t, map[string]any{"dur": time.Second, "c": custom{A: 1}}, rest)
	got, err := unpackArgs(packed)
	require.NoError(t, err)
	for k, v := range rest {
		got[k] = v
	}
	assert.Equal(t, args, got)

	packed, rest = packArgs(nil)
	assert.Empty(t, packed)
	assert.Nil(t, rest)
}

func TestUnpackArgsRejectsMalformed(t *testing.T) {
	for _, bad := range [][]byte{
		{0xff},                  // key length varint never ends
		{5, 'a'},                // key longer than the rest
		{1, 'a'},                // no tag
		{1, 'a', 99},            // unknown tag
		{1, 'a', tagFloat64, 1}, // short float
		{1, 'a', tagString, 9, 'x'},
		{1, 'a', tagBool},
		{1, 'a', tagInt, 0x80},
	} {
		_, err := unpackArgs(bad)
		assert.ErrorIs(t, err, ErrRpc, "%v", bad)
	}
}

func FuzzUnpackArgs(f *testing.F) {
	good, _ := packArgs(map[string]any{"k": "v", "n": -1, "f": 1.5, "b": true})
	f.Add(good)
	f.Add([]byte{1, 'a', tagUint64, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		args, err := unpackArgs(b)
		if err != nil {
			return
		}
		for _, v := range args {
			if f, ok := v.(float64); ok && math.IsNaN(f) {
				return // NaN never equals itself
			}
		}
		// whatever decodes packs again to the same values
		packed, rest := packArgs(args)
		assert.Nil(t, rest)
		again, err := unpackArgs(packed)
		require.NoError(t, err)
		assert.Equal(t, args, again)
	})
}

// TestCodecStreamRoundTrip sends messages whose growing numbers jump
// around (out of order updates, a retried mutation ID, no ID,
// notifications) through a writer and a reader codec and checks every
// value arrives as sent.
func TestCodecStreamRoundTrip(t *testing.T) {
	w, r := codecPair(t)

	type msg struct {
		method string
		seq    uint64
		errMsg string
		body   any
	}
	upd := func(from, to, sum, qt uint64) *WireUpdate {
		return &WireUpdate{From: from, Span: to - from - 1, Diff: []byte{1, 2},
			Sum: sum, QT: qt}
	}
	msgs := []msg{
		{method: mMutate, seq: 1, body: &ArgsMut{States: []int{1}, Id: 1,
			Args: am.A{"Op": 2}}},
		{seq: 1, body: &RespMut{Result: am.Executed, Clock: upd(0, 1, 1, 1)}},
		{method: mClock, body: upd(1, 3, 3, 4)},
		// a reply whose update a push overtook: chains from an older sequence
		{seq: 2, body: &RespMut{Result: am.Executed, Clock: upd(1, 2, 2, 3),
			Seq: 3}},
		{method: mMutate, seq: 2, body: &ArgsMut{States: []int{0}, Id: 2}},
		// a retry: the same ID again
		{method: mMutate, seq: 3, body: &ArgsMut{States: []int{0}, Id: 2}},
		{method: mMutate, seq: 7, body: &ArgsMut{States: []int{0, 2}}},
		{seq: 3, errMsg: "boom", body: &Empty{}},
		{seq: 2, body: &RespSync{Clock: &WireUpdate{From: 0, Span: 9,
			Diff: []byte{3}, Sum: math.MaxUint64, QT: 1, Full: true}}},
		{method: mHeartbeat, body: &Empty{}},
		{method: mGet, seq: 8, body: &ArgsGet{Name: "x"}},
		{seq: 8, body: &RespGet{Value: "v"}},
	}
	go func() {
		for _, m := range msgs {
			var err error
			if m.method != "" {
				err = w.WriteRequest(&rpc2.Request{Method: m.method, Seq: m.seq},
					m.body)
			} else {
				err = w.WriteResponse(&rpc2.Response{Seq: m.seq, Error: m.errMsg},
					m.body)
			}
			if err != nil {
				return
			}
		}
	}()
	for i, m := range msgs {
		var req rpc2.Request
		var resp rpc2.Response
		require.NoError(t, r.ReadHeader(&req, &resp), "message %d", i)
		if m.method != "" {
			assert.Equal(t, m.method, req.Method, "message %d", i)
			assert.Equal(t, m.seq, req.Seq, "message %d", i)
		} else {
			assert.Equal(t, m.seq, resp.Seq, "message %d", i)
			assert.Equal(t, m.errMsg, resp.Error, "message %d", i)
		}
		var got any
		switch m.body.(type) {
		case *ArgsMut:
			got = &ArgsMut{}
		case *RespMut:
			got = &RespMut{}
		case *RespSync:
			got = &RespSync{}
		case *WireUpdate:
			got = &WireUpdate{}
		case *ArgsGet:
			got = &ArgsGet{}
		case *RespGet:
			got = &RespGet{}
		default:
			got = &Empty{}
		}
		if m.method != "" {
			require.NoError(t, r.ReadRequestBody(got), "message %d", i)
		} else {
			require.NoError(t, r.ReadResponseBody(got), "message %d", i)
		}
		assert.Equal(t, m.body, got, "message %d", i)
	}
}

// TestCodecStreamDiscardedBodyKeepsState checks that a hot body rpc2
// discards (nil) still advances the reader's state.
func TestCodecStreamDiscardedBodyKeepsState(t *testing.T) {
	w, r := codecPair(t)
	go func() {
		_ = w.WriteResponse(&rpc2.Response{Seq: 1}, &RespMut{
			Clock: &WireUpdate{From: 5, Span: 0, Sum: 10, QT: 3}})
		_ = w.WriteRequest(&rpc2.Request{Method: mClock}, &WireUpdate{From: 6,
			Span: 1, Sum: 12, QT: 5})
	}()
	var req rpc2.Request
	var resp rpc2.Response
	require.NoError(t, r.ReadHeader(&req, &resp))
	require.NoError(t, r.ReadResponseBody(nil))
	require.NoError(t, r.ReadHeader(&req, &resp))
	var u WireUpdate
	require.NoError(t, r.ReadRequestBody(&u))
	assert.Equal(t, WireUpdate{From: 6, Span: 1, Sum: 12, QT: 5}, u)
}

func TestCodecInlineBodyOfWrongType(t *testing.T) {
	w, r := codecPair(t)
	go func() {
		_ = w.WriteRequest(&rpc2.Request{Method: mMutate, Seq: 1},
			&ArgsMut{Id: 1})
	}()
	var req rpc2.Request
	var resp rpc2.Response
	require.NoError(t, r.ReadHeader(&req, &resp))
	assert.ErrorIs(t, r.ReadRequestBody(&RespSync{}), ErrRpc)
}

func FuzzHeaderDecode(f *testing.F) {
	for _, h := range []*wireHeader{
		{Method: mMutate, SeqGap: 3, Mut: &wireMut{Type: 2, States: []int{1, 4},
			Vals: []byte{1, 'a', tagBool, 1}, IdGap: 5, Event: "e", ErrMsg: "x"}},
		{RMut: &wireRespMut{Err: &WireErr{Code: 3, Msg: "m"}, Result: am.Canceled,
			Clock: &wireClock{Back: 1, Span: 2, SumGap: 3, QTGap: 4,
				Diff: []byte{1, 0, 1}, Full: true}, Seq: 9}},
		{RSync: &wireRespSync{Clock: &wireClock{Diff: []byte{1}}}},
		{Method: mClock, Note: true, Clock: &wireClock{Diff: []byte{1, 2, 1}}},
		{Error: "boom", Body: true},
	} {
		f.Add(h.appendTo(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var h wireHeader
		if err := h.decode(b); err != nil {
			assert.ErrorIs(t, err, ErrRpc)
			return
		}
		// a header that decodes encodes back to a header that decodes equal
		// (a raw body is passed on as bytes)
		if h.Raw != nil {
			return
		}
		var h2 wireHeader
		require.NoError(t, h2.decode(h.appendTo(nil)))
		assert.Equal(t, h, h2)
	})
}
