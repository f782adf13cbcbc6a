package wire

import (
	"math"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
	upd := func(from, to, sum, qt uint64) *Update {
		return &Update{From: from, Span: to - from - 1, Diff: []byte{1, 2},
			Sum: sum, QT: qt}
	}
	msgs := []msg{
		{method: MMutate, seq: 1, body: &ArgsMut{States: []int{1}, Id: 1,
			Args: am.A{"Op": 2}}},
		{seq: 1, body: &RespMut{Result: am.Executed, Clock: upd(0, 1, 1, 1)}},
		{method: MClock, body: upd(1, 3, 3, 4)},
		// a reply whose update a push overtook: chains from an older sequence
		{seq: 2, body: &RespMut{Result: am.Executed, Clock: upd(1, 2, 2, 3),
			Seq: 3}},
		{method: MMutate, seq: 2, body: &ArgsMut{States: []int{0}, Id: 2}},
		// a retry: the same ID again
		{method: MMutate, seq: 3, body: &ArgsMut{States: []int{0}, Id: 2}},
		{method: MMutate, seq: 7, body: &ArgsMut{States: []int{0, 2}}},
		{seq: 3, errMsg: "boom", body: &Empty{}},
		{seq: 2, body: &RespSync{Clock: &Update{From: 0, Span: 9,
			Diff: []byte{3}, Sum: math.MaxUint64, QT: 1, Full: true}}},
		{method: MHeartbeat, body: &Empty{}},
		{method: MGet, seq: 8, body: &ArgsGet{Name: "x"}},
		{seq: 8, body: &RespGet{Value: "v"}},
	}
	go func() {
		for _, m := range msgs {
			var err error
			if m.method != "" {
				err = w.write(m.method, m.seq, "", m.body)
			} else {
				err = w.write("", m.seq, m.errMsg, m.body)
			}
			if err != nil {
				return
			}
		}
	}()
	for i, m := range msgs {
		h, err := r.ReadHeader()
		require.NoError(t, err, "message %d", i)
		assert.Equal(t, m.method, h.Method, "message %d", i)
		assert.Equal(t, m.seq, h.Seq, "message %d", i)
		assert.Equal(t, m.errMsg, h.Error, "message %d", i)
		var got any
		switch m.body.(type) {
		case *ArgsMut:
			got = &ArgsMut{}
		case *RespMut:
			got = &RespMut{}
		case *RespSync:
			got = &RespSync{}
		case *Update:
			got = &Update{}
		case *ArgsGet:
			got = &ArgsGet{}
		case *RespGet:
			got = &RespGet{}
		default:
			got = &Empty{}
		}
		require.NoError(t, r.ReadBody(got), "message %d", i)
		assert.Equal(t, m.body, got, "message %d", i)
	}
}

// TestCodecStreamDiscardedBodyKeepsState checks that a hot body rpc2
// discards (nil) still advances the reader's state.
func TestCodecStreamDiscardedBodyKeepsState(t *testing.T) {
	w, r := codecPair(t)
	go func() {
		_ = w.write("", 1, "", &RespMut{
			Clock: &Update{From: 5, Span: 0, Sum: 10, QT: 3}})
		_ = w.write(MClock, 0, "", &Update{From: 6, Span: 1, Sum: 12, QT: 5})
	}()
	_, err := r.ReadHeader()
	require.NoError(t, err)
	require.NoError(t, r.ReadBody(nil))
	_, err = r.ReadHeader()
	require.NoError(t, err)
	var u Update
	require.NoError(t, r.ReadBody(&u))
	assert.Equal(t, Update{From: 6, Span: 1, Sum: 12, QT: 5}, u)
}

func TestCodecInlineBodyOfWrongType(t *testing.T) {
	w, r := codecPair(t)
	go func() {
		_ = w.write(MMutate, 1, "", &ArgsMut{Id: 1})
	}()
	_, err := r.ReadHeader()
	require.NoError(t, err)
	assert.ErrorIs(t, r.ReadBody(&RespSync{}), ErrRpc)
}

func FuzzHeaderDecode(f *testing.F) {
	for _, h := range []*header{
		{Method: MMutate, SeqGap: 3, Mut: &wireMut{Type: 2, States: []int{1, 4},
			Vals: []byte{1, 'a', tagBool, 1}, IdGap: 5, Event: "e", ErrMsg: "x"}},
		{RMut: &wireRespMut{Err: &Error{Code: 3, Msg: "m"}, Result: am.Canceled,
			Clock: &wireClock{Back: 1, Span: 2, SumGap: 3, QTGap: 4,
				Diff: []byte{1, 0, 1}, Full: true}, Seq: 9}},
		{RSync: &wireRespSync{Clock: &wireClock{Diff: []byte{1}}}},
		{Method: MClock, Note: true, Clock: &wireClock{Diff: []byte{1, 2, 1}}},
		{Error: "boom", Body: true},
	} {
		f.Add(h.appendTo(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var h header
		if err := h.decode(b); err != nil {
			assert.ErrorIs(t, err, ErrRpc)
			return
		}
		// a header that decodes encodes back to a header that decodes equal (a
		// body follows the header as it is)
		// (a raw body is passed on as bytes)
		if h.Raw != nil {
			return
		}
		var h2 header
		require.NoError(t, h2.decode(append(h.appendTo(nil), h.BodyData...)))
		assert.Equal(t, h, h2)
	})
}
