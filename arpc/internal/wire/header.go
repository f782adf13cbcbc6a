package wire

import (
	"encoding/binary"
	"slices"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// A header is encoded by hand: one flags byte, then only the fields the flags
// announce, integers as uvarints (am.Result as a zig-zag varint) and strings
// and byte slices with a uvarint length. See docs/protocol.md for the layout.

// header is the header of a message; a body holding user values follows
// it in the same frame when Body is set.
type header struct {
	// Method names the called method; empty in replies.
	Method string
	// Note marks a notification: a request without a reply (rpc2 sequence 0).
	Note bool
	// SeqGap is the call sequence number minus the previous one of the same
	// kind (requests, replies) in this direction, minus 1.
	SeqGap uint64
	// Error is a reply's error.
	Error string
	// Body says a body follows the header to the end of the frame: a byte
	// with its encoding (low nibble) and compression (high nibble), then
	// its bytes (BodyData when received, not copied).
	Body     bool
	BodyFmt  byte
	BodyData []byte

	// the inline bodies; at most one is set, none for an empty body
	Mut   *wireMut
	RMut  *wireRespMut
	RSync *wireRespSync
	Clock *wireClock
	// raw is a hand-encoded body to send, Raw one received (not copied)
	raw rawBody
	Raw []byte
	// zip is how the sender compresses full snapshots in raw bodies
	zip zipper
}

// rawBody is a message that encodes itself (rawbody.go), sent in the
// header's frame instead of as a body.
type rawBody interface {
	appendRaw(b []byte, z zipper) []byte
	decodeRaw(r *reader)
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
	// Headers are ArgsMut.Headers
	Headers map[string]string
}

// wireRespMut is RespMut inside a header.
type wireRespMut struct {
	Err    *Error
	Result am.Result
	Clock  *wireClock
	Seq    uint64
}

// wireRespSync is RespSync inside a header.
type wireRespSync struct {
	Err   *Error
	Clock *wireClock
	Seq   uint64
}

// wireClock is a Update inside a header, relative to the previous
// update in this direction.
type wireClock struct {
	// Back is the previous update's To minus this update's From: 0 when it
	// continues the previous one.
	Back uint64
	// Span is To - From - 1, as in Update.
	Span uint64
	Diff []byte
	// SumGap and QTGap are the tick sum and the queue tick minus the
	// previous update's.
	SumGap uint64
	QTGap  uint64
	Full   bool
	// Zip is the codec Diff is compressed with (full snapshots over the
	// sender's threshold); CompressNone for a raw diff.
	Zip Compression
	// Ticks are Update.Ticks (flag bTicks)
	Ticks []byte
}

// header flags
const (
	hRequest byte = 1 << iota // Method follows
	hNote                     // a notification: no SeqGap
	hError                    // Error follows
	hBody                     // a body follows the header, to the frame's end
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
	bZip                     // Diff is compressed; its codec byte follows the flags (clocks)
)

// bHeaders says a mutation's Headers follow its ErrMsg; mutations never
// carry Err, so it reuses that bit.
const bHeaders = bErr

// appendTo appends the encoded header to b.
func (h *header) appendTo(b []byte) []byte {
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
		b = h.raw.appendRaw(b, h.zip)
	}
	if h.Body {
		b = append(b, h.BodyFmt)
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
	if len(m.Headers) > 0 {
		flags |= bHeaders
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
	if len(m.Headers) > 0 {
		b = appendHeaders(b, m.Headers)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Vals)))
	return append(b, m.Vals...)
}

// appendReply appends the fields mutation and Sync replies share.
func appendReply(b []byte, err *Error, clock *wireClock, seq uint64) []byte {
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
	if len(c.Ticks) > 0 {
		flags |= bTicks
	}
	if c.Zip != CompressNone {
		b = append(b, flags|bZip, byte(c.Zip))
	} else {
		b = append(b, flags)
	}
	b = binary.AppendUvarint(b, c.Back)
	b = binary.AppendUvarint(b, c.Span)
	b = binary.AppendUvarint(b, c.SumGap)
	b = binary.AppendUvarint(b, c.QTGap)
	b = binary.AppendUvarint(b, uint64(len(c.Diff)))
	b = append(b, c.Diff...)
	return c.appendTicks(b)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decode decodes a header from data. Only Raw refers to data; everything
// else is copied.
func (h *header) decode(data []byte) error {
	*h = header{}
	r := reader{b: data}
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
		if h.Body {
			r.fail("a raw body and a body")
		}
		h.Raw = r.b
		r.b = nil
	default:
		r.fail("body kind %d", kind)
	}
	if h.Body {
		h.BodyFmt = r.byte()
		h.BodyData = r.b
		r.b = nil
	}
	return r.end()
}

// appendHeaders appends a count, then each key and value, keys sorted (the
// same headers encode to the same bytes).
func appendHeaders(b []byte, hs map[string]string) []byte {
	keys := make([]string, 0, len(hs))
	for k := range hs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, hs[k])
	}
	return b
}
