package wire

import (
	"fmt"
)

// The codec sends every message as one frame holding a hand-encoded header
// (header.go) that carries the protocol's own bodies: the hot ones
// (mutations, their replies, Sync replies and clock pushes) as fields, the
// handshake and a few small ones as raw bodies (rawbody.go). Only bodies
// holding user values (args of other types, payloads, Get values, WhenArgs
// args) follow the header, in the encoding the connection negotiated
// (body.go), so a connection that never carries one never builds gob
// machinery.
// Numbers that grow along a connection (call sequence numbers, mutation
// IDs, clock sequences, tick sums, queue ticks) travel as the difference to
// the same number in the previous message of the same direction, laid out
// so that the usual difference is 0. Each side keeps one streamState per
// direction: the writer under its write lock, the reader in its read loop.
// Both see the same messages in the same order (TCP), and every hot body is
// decoded with its header, even when rpc2 discards the body, so both states
// stay equal. See docs/protocol.md.

// streamState is what one direction of a connection has carried so far.
type streamState struct {
	reqSeq, respSeq uint64
	mutId           uint64
	to, sum, qt     uint64
	// zip compresses the full snapshots written (out)
	zip zipper
	// max bounds what a compressed snapshot read decompresses to (in)
	max int
}

// zipper is how a sender compresses: its codec, and the smallest body it
// compresses.
type zipper struct {
	codec     Compression
	threshold int
}

// snapshot returns diff, compressed when it is worth it, and its codec.
func (z zipper) snapshot(diff []byte) ([]byte, Compression) {
	if z.codec == CompressNone || len(diff) < z.threshold {
		return diff, CompressNone
	}
	out := compress(z.codec, nil, diff)
	if len(out) >= len(diff) {
		return diff, CompressNone
	}
	return out, z.codec
}

// seqOut encodes a call sequence number into h.
func (st *streamState) seqOut(h *header, seq uint64, request bool) {
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
func (st *streamState) seqIn(h *header) uint64 {
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
// it must follow the header as a body (body.go).
func (st *streamState) bodyOut(h *header, body any) bool {
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
	case *Update:
		h.Clock = st.clockOut(b)
	case rawBody:
		h.raw = b
	default:
		return false
	}
	return true
}

// mutOut returns the inline form of m, nil when m has args other than
// scalars (it then travels as a body, its ID as is).
func (st *streamState) mutOut(m *ArgsMut) *wireMut {
	vals, rest := packArgs(m.Args)
	if rest != nil {
		return nil
	}
	w := &wireMut{Type: m.Type, States: m.States, Vals: vals, Event: m.Event,
		ErrMsg: m.ErrMsg, Headers: m.Headers}
	if m.Id == 0 {
		w.NoId = true
	} else {
		w.IdGap = m.Id - st.mutId - 1
		st.mutId = m.Id
	}
	return w
}

func (st *streamState) clockOut(u *Update) *wireClock {
	if u == nil {
		return nil
	}
	w := &wireClock{Back: st.to - u.From, Span: u.Span, Diff: u.Diff,
		SumGap: u.Sum - st.sum, QTGap: u.QT - st.qt, Full: u.Full,
		Ticks: u.Ticks}
	if u.Full {
		// full snapshots may be compressed; diffs stay raw
		w.Diff, w.Zip = st.zip.snapshot(u.Diff)
	}
	st.to, st.sum, st.qt = u.To(), u.Sum, u.QT
	return w
}

// inlineIn turns the inline body of h (if any) back into its message,
// advancing the state; nil for none.
func (st *streamState) inlineIn(h *header) (any, error) {
	switch {
	case h.Mut != nil:
		m := h.Mut
		out := &ArgsMut{Type: m.Type, States: m.States, Event: m.Event,
			ErrMsg: m.ErrMsg, Headers: m.Headers}
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
		c, err := st.clockIn(r.Clock)
		return &RespMut{Err: r.Err, Result: r.Result, Clock: c, Seq: r.Seq},
			err
	case h.RSync != nil:
		r := h.RSync
		c, err := st.clockIn(r.Clock)
		return &RespSync{Err: r.Err, Clock: c, Seq: r.Seq}, err
	case h.Clock != nil:
		return st.clockIn(h.Clock)
	}
	return nil, nil
}

func (st *streamState) clockIn(w *wireClock) (*Update, error) {
	if w == nil {
		return nil, nil
	}
	u := &Update{From: st.to - w.Back, Span: w.Span, Diff: w.Diff,
		Sum: st.sum + w.SumGap, QT: st.qt + w.QTGap, Full: w.Full,
		Ticks: w.Ticks}
	st.to, st.sum, st.qt = u.To(), u.Sum, u.QT
	if w.Zip != CompressNone {
		d, err := decompress(w.Zip, w.Diff, st.max)
		if err != nil {
			return nil, err
		}
		u.Diff = d
	}
	return u, nil
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
	case *Update:
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
