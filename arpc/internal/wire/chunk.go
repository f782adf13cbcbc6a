package wire

import (
	"encoding/binary"
)

// MPayloadChunk (server → client notification) carries one chunk of a
// payload larger than the server's chunk size; see PayloadChunk and
// docs/protocol.md ("Chunked payloads").
const MPayloadChunk = "PC"

// PayloadChunk is one piece of a chunked payload: the payload's data bytes
// from Offset (in the form Header.Kind says), the data's Total size, on the
// first chunk (Offset 0) only the Header, and on the last chunk only the
// SHA-256 of all Total bytes. A raw body: offset and total (uvarints), the
// data's compression (a byte: CompressNone, or the connection's codec when
// it compresses, the data is over the threshold and compressing makes it
// smaller), data and digest (length-prefixed; an empty digest means "not
// the last"), then a byte 1 and the header (name, source, token, kind), or
// 0.
type PayloadChunk struct {
	Offset uint64
	Total  uint64
	// Data aliases the received frame (see reader.view): copy it before the
	// next message is read.
	Data   []byte
	Digest []byte
	Header *PayloadHeader
}

// view returns the next length-prefixed bytes without copying them: they
// alias the frame, which the decoder may reuse for the next message. Only
// for PayloadChunk.Data, which the client copies into its assembler before
// it reads the next message (notifications are handled in order, on the
// read loop), saving a copy of every payload byte.
func (r *reader) view() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("length %d past the end", n)
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

// PayloadHeader is what a chunked payload has besides its data (the
// arpc.ArgsPayload fields).
type PayloadHeader struct {
	Name, Source, Token string
	// Kind says what the data bytes are (DataBytes, DataString, DataGob,
	// DataMsgpack).
	Kind byte
}

// Kinds of chunked payload data.
const (
	// DataBytes: the data is a []byte, as is.
	DataBytes byte = iota
	// DataString: the data is a string's bytes.
	DataString
	// DataGob: the data is any other value, gob-encoded alone
	// (EncodeValue on a gob connection).
	DataGob
	// DataMsgpack: the data is any other value, msgpack-encoded (EncodeValue
	// on a msgpack connection).
	DataMsgpack
)

// a raw body, never a gob or msgpack one
var _ rawBody = (*PayloadChunk)(nil)

func (c *PayloadChunk) appendRaw(b []byte, z zipper) []byte {
	b = binary.AppendUvarint(b, c.Offset)
	b = binary.AppendUvarint(b, c.Total)
	// the data, compressed like a body when the connection compresses and
	// it is worth it
	data, zip := z.snapshot(c.Data)
	b = append(b, byte(zip))
	b = binary.AppendUvarint(b, uint64(len(data)))
	b = append(b, data...)
	b = binary.AppendUvarint(b, uint64(len(c.Digest)))
	b = append(b, c.Digest...)
	if h := c.Header; h != nil {
		b = append(b, 1)
		b = appendString(b, h.Name)
		b = appendString(b, h.Source)
		b = appendString(b, h.Token)
		return append(b, h.Kind)
	}
	return append(b, 0)
}

func (c *PayloadChunk) decodeRaw(r *reader) {
	*c = PayloadChunk{}
	c.Offset = r.uvarint()
	c.Total = r.uvarint()
	zip := Compression(r.byte())
	if zip >= numCompress {
		r.fail("compression codec %d", zip)
	}
	c.Data = r.view()
	if zip != CompressNone && r.err == nil {
		d, err := decompress(zip, c.Data, r.max)
		if err != nil {
			r.err, r.b = err, nil
		}
		c.Data = d
	}
	c.Digest = r.bytes()
	switch r.byte() {
	case 0:
	case 1:
		c.Header = &PayloadHeader{Name: r.string(), Source: r.string(),
			Token: r.string(), Kind: r.byte()}
		if c.Header.Kind > DataMsgpack {
			r.fail("payload data kind %d", c.Header.Kind)
		}
	default:
		r.fail("payload chunk header flag")
	}
}
