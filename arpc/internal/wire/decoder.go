package wire

import (
	"bufio"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// readBufSize is the read buffer of a Decoder: small, since idle
// connections are many and large messages are read past the buffer.
const readBufSize = 512

// Decoder reads the messages one peer sends, in order: ReadHeader, then
// ReadBody for the same message. Used by one goroutine (a read loop).
type Decoder struct {
	br  *bufio.Reader
	max int
	// dec is made on the first gob body; gobIn feeds it
	dec   *gob.Decoder
	gobIn *bodyReader
	// in is what the peer sent so far
	in streamState
	// the body of the message being read
	inline   any
	raw      []byte
	rawBody  bool
	hasBody  bool
	bodyFmt  byte
	bodyData []byte
	// small holds small incoming headers, so that reading one allocates
	// nothing
	small [64]byte

	bytes *atomic.Int64
	last  *atomic.Int64
}

// NewDecoder returns a Decoder reading r, refusing any message over maxMsg
// bytes (DefaultMaxMsgSize when not above 0) before allocating for it.
// bytes, when not nil, counts the bytes of the messages read; last, when not
// nil, is set to the unix nanos of the last read.
func NewDecoder(r io.Reader, maxMsg int, bytes, last *atomic.Int64) *Decoder {
	if maxMsg <= 0 {
		maxMsg = DefaultMaxMsgSize
	}
	d := &Decoder{br: bufio.NewReaderSize(r, readBufSize), max: maxMsg,
		bytes: bytes, last: last}
	d.in.max = maxMsg
	return d
}

// Head is what a message's header says about the call.
type Head struct {
	// Method is the called method; empty in a reply.
	Method string
	// Seq is the call's sequence number; 0 for a notification.
	Seq uint64
	// Error is a reply's error.
	Error string
}

// ReadHeader reads the next message's header. Its body must be read with
// ReadBody before the next ReadHeader.
func (d *Decoder) ReadHeader() (Head, error) {
	frame, err := d.readFrame()
	if err != nil {
		return Head{}, err
	}
	var h header
	if err := h.decode(frame); err != nil {
		return Head{}, err
	}
	out := Head{Method: h.Method, Seq: d.in.seqIn(&h), Error: h.Error}
	d.hasBody, d.bodyFmt, d.bodyData = h.Body, h.BodyFmt, h.BodyData
	d.raw, d.rawBody = h.Raw, h.Raw != nil
	d.inline, err = d.in.inlineIn(&h)
	return out, err
}

// readFrame reads one header frame; the result is valid until the next
// call.
func (d *Decoder) readFrame() ([]byte, error) {
	n, err := binary.ReadUvarint(d.br)
	if err != nil {
		return nil, err
	}
	if n == 0 || n > uint64(d.max) {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrFrameTooLarge, n,
			d.max)
	}
	var frame []byte
	// bodies point into the frame: ReadBody reads them before the next
	// ReadHeader reuses small
	if n <= uint64(len(d.small)) {
		frame = d.small[:n]
	} else {
		frame = make([]byte, n)
	}
	if _, err := io.ReadFull(d.br, frame); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if d.bytes != nil {
		d.bytes.Add(int64(uvarintLen(n)) + int64(n))
	}
	if d.last != nil {
		d.last.Store(time.Now().UnixNano())
	}
	return frame, nil
}

// ReadBody reads the body of the message whose header was just read into
// body (a pointer to the message; nil discards it): the one carried by the
// header, or the body after it.
func (d *Decoder) ReadBody(body any) error {
	inline, raw, isRaw := d.inline, d.raw, d.rawBody
	d.inline, d.raw, d.rawBody = nil, nil, false
	switch {
	case d.hasBody:
		data := d.bodyData
		d.hasBody, d.bodyData = false, nil
		return d.readBody(d.bodyFmt, data, body)
	case isRaw:
		if body == nil {
			return nil
		}
		rb, ok := body.(rawBody)
		if !ok {
			return fmt.Errorf("%w: a raw body where %T was expected", ErrRpc, body)
		}
		r := reader{b: raw, max: d.max}
		rb.decodeRaw(&r)
		return r.end()
	}
	return fillBody(inline, body)
}
