package arpc

import (
	"encoding/binary"
	"fmt"
	"math"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// The codec sends every message as one frame holding a hand-encoded header
// (codec_header.go) that carries the protocol's own bodies: the hot ones
// (mutations, their replies, Sync replies and clock pushes) as fields, the
// handshake and a few small ones as raw bodies (codec_hello.go). Only bodies
// holding user values (args of other types, payloads, Get values) follow as
// gob, so a connection that never carries one never builds gob machinery.
// Numbers that grow along a connection (call sequence numbers, mutation
// IDs, clock sequences, tick sums, queue ticks) travel as the difference to
// the same number in the previous message of the same direction, laid out
// so that the usual difference is 0. Each side keeps one streamState per
// direction: the writer under its write lock, the reader in its read loop.
// Both see the same messages in the same order (TCP), and every hot body is
// decoded with its header, even when rpc2 discards the body, so both states
// stay equal. See docs/protocol.md.

// wireHeader is the header of a message; a gob body follows when Body is
// set.
type wireHeader struct {
	// Method names the called method; empty in replies.
	Method string
	// Note marks a notification: a request without a reply (rpc2 sequence 0).
	Note bool
	// SeqGap is the call sequence number minus the previous one of the same
	// kind (requests, replies) in this direction, minus 1.
	SeqGap uint64
	// Error is a reply's error.
	Error string
	// Body says a second gob value with the body follows.
	Body bool

	// the inline bodies; at most one is set, none for an empty body
	Mut   *wireMut
	RMut  *wireRespMut
	RSync *wireRespSync
	Clock *wireClock
	// raw is a hand-encoded body to send, Raw one received (not copied)
	raw rawBody
	Raw []byte
}

// rawBody is a message that encodes itself (codec_hello.go), sent in the
// header's frame instead of as gob.
type rawBody interface {
	appendRaw(b []byte) []byte
	decodeRaw(r *wireReader)
}

// wireMut is ArgsMut inside a header.
type wireMut struct {
	Type   uint8
	States []int
	// Vals are the args, all scalars, packed (see packArgs).
	Vals []byte
	// IdGap is the mutation ID minus the previous one in this direction,
	// minus 1; NoId marks a mutation without an ID.
	IdGap  uint64
	NoId   bool
	Event  string
	ErrMsg string
}

// wireRespMut is RespMut inside a header.
type wireRespMut struct {
	Err    *WireErr
	Result am.Result
	Clock  *wireClock
	Seq    uint64
}

// wireRespSync is RespSync inside a header.
type wireRespSync struct {
	Err   *WireErr
	Clock *wireClock
	Seq   uint64
}

// wireClock is a WireUpdate inside a header, relative to the previous
// update in this direction.
type wireClock struct {
	// Back is the previous update's To minus this update's From: 0 when it
	// continues the previous one.
	Back uint64
	// Span is To - From - 1, as in WireUpdate.
	Span uint64
	Diff []byte
	// SumGap and QTGap are the tick sum and the queue tick minus the
	// previous update's.
	SumGap uint64
	QTGap  uint64
	Full   bool
}

// streamState is what one direction of a connection has carried so far.
type streamState struct {
	reqSeq, respSeq uint64
	mutId           uint64
	to, sum, qt     uint64
}

// seqOut encodes a call sequence number into h.
func (st *streamState) seqOut(h *wireHeader, seq uint64, request bool) {
	switch {
	case request && seq == 0:
		h.Note = true
	case request:
		h.SeqGap = seq - st.reqSeq - 1
		st.reqSeq = seq
	default:
		h.SeqGap = seq - st.respSeq - 1
		st.respSeq = seq
	}
}

// seqIn decodes the call sequence number of h.
func (st *streamState) seqIn(h *wireHeader) uint64 {
	switch {
	case h.Method != "" && h.Note:
		return 0
	case h.Method != "":
		st.reqSeq += h.SeqGap + 1
		return st.reqSeq
	default:
		st.respSeq += h.SeqGap + 1
		return st.respSeq
	}
}

// bodyOut puts body into h when it is a hot body (or empty); false means
// it must follow as its own gob value.
func (st *streamState) bodyOut(h *wireHeader, body any) bool {
	switch b := body.(type) {
	case nil, *Empty, Empty:
	case *ArgsMut:
		if h.Mut = st.mutOut(b); h.Mut == nil {
			return false
		}
	case *RespMut:
		h.RMut = &wireRespMut{Err: b.Err, Result: b.Result,
			Clock: st.clockOut(b.Clock), Seq: b.Seq}
	case *RespSync:
		h.RSync = &wireRespSync{Err: b.Err, Clock: st.clockOut(b.Clock),
			Seq: b.Seq}
	case *WireUpdate:
		h.Clock = st.clockOut(b)
	case rawBody:
		h.raw = b
	default:
		return false
	}
	return true
}

// mutOut returns the inline form of m, nil when m has args other than
// scalars (it then travels as a gob body, its ID as is).
func (st *streamState) mutOut(m *ArgsMut) *wireMut {
	vals, rest := packArgs(m.Args)
	if rest != nil {
		return nil
	}
	w := &wireMut{Type: m.Type, States: m.States, Vals: vals, Event: m.Event,
		ErrMsg: m.ErrMsg}
	if m.Id == 0 {
		w.NoId = true
	} else {
		w.IdGap = m.Id - st.mutId - 1
		st.mutId = m.Id
	}
	return w
}

func (st *streamState) clockOut(u *WireUpdate) *wireClock {
	if u == nil {
		return nil
	}
	w := &wireClock{Back: st.to - u.From, Span: u.Span, Diff: u.Diff,
		SumGap: u.Sum - st.sum, QTGap: u.QT - st.qt, Full: u.Full}
	st.to, st.sum, st.qt = u.to(), u.Sum, u.QT
	return w
}

// inlineIn turns the inline body of h (if any) back into its message,
// advancing the state; nil for none.
func (st *streamState) inlineIn(h *wireHeader) (any, error) {
	switch {
	case h.Mut != nil:
		m := h.Mut
		out := &ArgsMut{Type: m.Type, States: m.States, Event: m.Event,
			ErrMsg: m.ErrMsg}
		if !m.NoId {
			st.mutId += m.IdGap + 1
			out.Id = st.mutId
		}
		args, err := unpackArgs(m.Vals)
		if err != nil {
			return nil, err
		}
		out.Args = args
		return out, nil
	case h.RMut != nil:
		r := h.RMut
		return &RespMut{Err: r.Err, Result: r.Result,
			Clock: st.clockIn(r.Clock), Seq: r.Seq}, nil
	case h.RSync != nil:
		r := h.RSync
		return &RespSync{Err: r.Err, Clock: st.clockIn(r.Clock), Seq: r.Seq},
			nil
	case h.Clock != nil:
		return st.clockIn(h.Clock), nil
	}
	return nil, nil
}

func (st *streamState) clockIn(w *wireClock) *WireUpdate {
	if w == nil {
		return nil
	}
	u := &WireUpdate{From: st.to - w.Back, Span: w.Span, Diff: w.Diff,
		Sum: st.sum + w.SumGap, QT: st.qt + w.QTGap, Full: w.Full}
	st.to, st.sum, st.qt = u.to(), u.Sum, u.QT
	return u
}

// fillBody copies an inline body into body, the value rpc2 decodes into
// (nil when it discards the body). Without an inline body, body keeps its
// zero value: the sender's body was empty.
func fillBody(inline, body any) error {
	if inline == nil || body == nil {
		return nil
	}
	var ok bool
	switch b := body.(type) {
	case *ArgsMut:
		ok = fillAs(inline, b)
	case *RespMut:
		ok = fillAs(inline, b)
	case *RespSync:
		ok = fillAs(inline, b)
	case *WireUpdate:
		ok = fillAs(inline, b)
	}
	if !ok {
		return fmt.Errorf("%w: a %T body where %T was expected", ErrRpc, inline,
			body)
	}
	return nil
}

// fillAs copies inline into body when it is a *T.
func fillAs[T any](inline any, body *T) bool {
	v, ok := inline.(*T)
	if ok {
		*body = *v
	}
	return ok
}

// Scalar args (the usual kind: numbers, strings, flags) are packed by the
// codec instead of gob, which would spell out each value's type name: per
// entry the key's length and bytes, a type tag and the value. A mutation
// with any other value travels as a gob body (ArgsMut), as registered.
const (
	tagBool byte = iota + 1
	tagInt
	tagInt64
	tagInt32
	tagUint
	tagUint64
	tagFloat64
	tagString
)

// packArgs splits args into packed scalars and the rest (nil when none).
func packArgs(args map[string]any) (packed []byte, rest map[string]any) {
	for k, v := range args {
		start := len(packed)
		packed = binary.AppendUvarint(packed, uint64(len(k)))
		packed = append(packed, k...)
		switch v := v.(type) {
		case bool:
			b := byte(0)
			if v {
				b = 1
			}
			packed = append(packed, tagBool, b)
		case int:
			packed = binary.AppendVarint(append(packed, tagInt), int64(v))
		case int64:
			packed = binary.AppendVarint(append(packed, tagInt64), v)
		case int32:
			packed = binary.AppendVarint(append(packed, tagInt32), int64(v))
		case uint:
			packed = binary.AppendUvarint(append(packed, tagUint), uint64(v))
		case uint64:
			packed = binary.AppendUvarint(append(packed, tagUint64), v)
		case float64:
			packed = binary.LittleEndian.AppendUint64(append(packed, tagFloat64),
				math.Float64bits(v))
		case string:
			packed = binary.AppendUvarint(append(packed, tagString),
				uint64(len(v)))
			packed = append(packed, v...)
		default:
			packed = packed[:start]
			if rest == nil {
				rest = make(map[string]any, len(args))
			}
			rest[k] = v
		}
	}
	return packed, rest
}

// unpackArgs returns the packed scalars as args; nil for none.
func unpackArgs(packed []byte) (map[string]any, error) {
	if len(packed) == 0 {
		return nil, nil
	}
	args := map[string]any{}
	bad := fmt.Errorf("%w: malformed packed args", ErrRpc)
	for len(packed) > 0 {
		n, l := binary.Uvarint(packed)
		if l <= 0 || uint64(len(packed)-l) < n+1 {
			return nil, bad
		}
		key := string(packed[l : l+int(n)])
		packed = packed[l+int(n):]
		tag := packed[0]
		packed = packed[1:]
		var v any
		switch tag {
		case tagBool:
			if len(packed) < 1 {
				return nil, bad
			}
			v, packed = packed[0] == 1, packed[1:]
		case tagInt, tagInt64, tagInt32:
			x, l := binary.Varint(packed)
			if l <= 0 {
				return nil, bad
			}
			packed = packed[l:]
			switch tag {
			case tagInt:
				v = int(x)
			case tagInt64:
				v = x
			default:
				v = int32(x)
			}
		case tagUint, tagUint64:
			x, l := binary.Uvarint(packed)
			if l <= 0 {
				return nil, bad
			}
			packed = packed[l:]
			if tag == tagUint {
				v = uint(x)
			} else {
				v = x
			}
		case tagFloat64:
			if len(packed) < 8 {
				return nil, bad
			}
			v = math.Float64frombits(binary.LittleEndian.Uint64(packed))
			packed = packed[8:]
		case tagString:
			n, l := binary.Uvarint(packed)
			if l <= 0 || uint64(len(packed)-l) < n {
				return nil, bad
			}
			v = string(packed[l : l+int(n)])
			packed = packed[l+int(n):]
		default:
			return nil, bad
		}
		args[key] = v
	}
	return args, nil
}
