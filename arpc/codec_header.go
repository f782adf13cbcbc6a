package arpc

import (
	"encoding/binary"
	"errors"
	"fmt"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// A header is encoded by hand: one flags byte, then only the fields the flags
// announce, integers as uvarints (am.Result as a zig-zag varint) and strings
// and byte slices with a uvarint length. See docs/protocol.md for the layout.

// header flags
const (
	hRequest byte = 1 << iota // Method follows
	hNote                     // a notification: no SeqGap
	hError                    // Error follows
	hBody                     // a gob body follows the header
)

// kinds of inline body, in the flags byte's upper nibble
const (
	kindNone byte = iota
	kindMut
	kindRMut
	kindRSync
	kindClock
	// kindRaw: the rest of the frame is a hand-encoded body (rawBody)
	kindRaw
)

// body flags
const (
	bErr    byte = 1 << iota // Err follows (replies)
	bClock                   // Clock follows (replies)
	bSeq                     // Seq follows (replies)
	bNoId                    // the mutation has no ID; no IdGap
	bEvent                   // Event follows (mutations)
	bErrMsg                  // ErrMsg follows (mutations)
	bFull                    // a full snapshot (clocks)
)

// errBadHeader is wrapped by every decoding failure of a hand-encoded
// message.
var errBadHeader = errors.New("malformed message")

// appendTo appends the encoded header to b.
func (h *wireHeader) appendTo(b []byte) []byte {
	flags := byte(0)
	kind := kindNone
	switch {
	case h.raw != nil:
		kind = kindRaw
	case h.Mut != nil:
		kind = kindMut
	case h.RMut != nil:
		kind = kindRMut
	case h.RSync != nil:
		kind = kindRSync
	case h.Clock != nil:
		kind = kindClock
	}
	if h.Method != "" {
		flags |= hRequest
	}
	if h.Note {
		flags |= hNote
	}
	if h.Error != "" {
		flags |= hError
	}
	if h.Body {
		flags |= hBody
	}
	b = append(b, flags|kind<<4)
	if h.Method != "" {
		b = appendString(b, h.Method)
	}
	if !h.Note {
		b = binary.AppendUvarint(b, h.SeqGap)
	}
	if h.Error != "" {
		b = appendString(b, h.Error)
	}
	switch kind {
	case kindMut:
		b = h.Mut.append(b)
	case kindRMut:
		b = appendReply(b, h.RMut.Err, h.RMut.Clock, h.RMut.Seq)
		b = binary.AppendVarint(b, int64(h.RMut.Result))
	case kindRSync:
		b = appendReply(b, h.RSync.Err, h.RSync.Clock, h.RSync.Seq)
	case kindClock:
		b = h.Clock.append(b, 0)
	case kindRaw:
		b = h.raw.appendRaw(b)
	}
	return b
}

func (m *wireMut) append(b []byte) []byte {
	flags := byte(0)
	if m.NoId {
		flags |= bNoId
	}
	if m.Event != "" {
		flags |= bEvent
	}
	if m.ErrMsg != "" {
		flags |= bErrMsg
	}
	b = append(b, flags, m.Type)
	b = binary.AppendUvarint(b, uint64(len(m.States)))
	for _, i := range m.States {
		b = binary.AppendUvarint(b, uint64(i))
	}
	if !m.NoId {
		b = binary.AppendUvarint(b, m.IdGap)
	}
	if m.Event != "" {
		b = appendString(b, m.Event)
	}
	if m.ErrMsg != "" {
		b = appendString(b, m.ErrMsg)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Vals)))
	return append(b, m.Vals...)
}

// appendReply appends the fields mutation and Sync replies share.
func appendReply(b []byte, err *WireErr, clock *wireClock, seq uint64) []byte {
	flags := byte(0)
	if err != nil {
		flags |= bErr
	}
	if clock != nil {
		flags |= bClock
	}
	if seq != 0 {
		flags |= bSeq
	}
	b = append(b, flags)
	if err != nil {
		b = appendString(append(b, err.Code), err.Msg)
	}
	if clock != nil {
		b = clock.append(b, 0)
	}
	if seq != 0 {
		b = binary.AppendUvarint(b, seq)
	}
	return b
}

func (c *wireClock) append(b []byte, flags byte) []byte {
	if c.Full {
		flags |= bFull
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, c.Back)
	b = binary.AppendUvarint(b, c.Span)
	b = binary.AppendUvarint(b, c.SumGap)
	b = binary.AppendUvarint(b, c.QTGap)
	b = binary.AppendUvarint(b, uint64(len(c.Diff)))
	return append(b, c.Diff...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decode decodes a header from data. Only Raw refers to data; everything
// else is copied.
func (h *wireHeader) decode(data []byte) error {
	*h = wireHeader{}
	r := wireReader{b: data}
	first := r.byte()
	flags, kind := first&0x0f, first>>4
	h.Note, h.Body = flags&hNote != 0, flags&hBody != 0
	if flags&hRequest != 0 {
		h.Method = r.string()
	}
	if !h.Note {
		h.SeqGap = r.uvarint()
	}
	if flags&hError != 0 {
		h.Error = r.string()
	}
	switch kind {
	case kindNone:
	case kindMut:
		h.Mut = r.mut()
	case kindRMut:
		m := &wireRespMut{}
		m.Err, m.Clock, m.Seq = r.reply()
		m.Result = am.Result(r.varint())
		h.RMut = m
	case kindRSync:
		m := &wireRespSync{}
		m.Err, m.Clock, m.Seq = r.reply()
		h.RSync = m
	case kindClock:
		h.Clock = r.clock()
	case kindRaw:
		h.Raw = r.b
		r.b = nil
	default:
		r.fail("body kind %d", kind)
	}
	return r.end()
}

// wireReader reads the fields of a hand-encoded message (a header, a
// Hello); after the first error every read returns zero and the error stays.
type wireReader struct {
	b   []byte
	err error
}

func (r *wireReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %w: %s", ErrRpc, errBadHeader,
			fmt.Sprintf(format, args...))
	}
	r.b = nil
}

func (r *wireReader) byte() byte {
	if len(r.b) < 1 {
		r.fail("short")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *wireReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *wireReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes returns a copy of the next length-prefixed bytes; nil when empty.
func (r *wireReader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("length %d past the end", n)
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]byte, n)
	copy(out, r.b)
	r.b = r.b[n:]
	return out
}

func (r *wireReader) string() string { return string(r.bytes()) }

func (r *wireReader) mut() *wireMut {
	flags := r.byte()
	m := &wireMut{Type: r.byte(), NoId: flags&bNoId != 0}
	if n := r.count(); n > 0 {
		m.States = make([]int, n)
		for i := range m.States {
			idx := r.uvarint()
			if idx > maxStateIndex {
				r.fail("state index %d", idx)
				return nil
			}
			m.States[i] = int(idx)
		}
	}
	if !m.NoId {
		m.IdGap = r.uvarint()
	}
	if flags&bEvent != 0 {
		m.Event = r.string()
	}
	if flags&bErrMsg != 0 {
		m.ErrMsg = r.string()
	}
	m.Vals = r.bytes()
	return m
}

// maxStateIndex bounds a state index on the wire (the server then checks it
// against the worker's states).
const maxStateIndex = 1 << 31

func (r *wireReader) reply() (*WireErr, *wireClock, uint64) {
	flags := r.byte()
	var err *WireErr
	var clock *wireClock
	var seq uint64
	if flags&bErr != 0 {
		err = &WireErr{Code: r.byte()}
		err.Msg = r.string()
	}
	if flags&bClock != 0 {
		clock = r.clock()
	}
	if flags&bSeq != 0 {
		seq = r.uvarint()
	}
	return err, clock, seq
}

func (r *wireReader) clock() *wireClock {
	flags := r.byte()
	c := &wireClock{Full: flags&bFull != 0}
	c.Back = r.uvarint()
	c.Span = r.uvarint()
	c.SumGap = r.uvarint()
	c.QTGap = r.uvarint()
	c.Diff = r.bytes()
	return c
}
