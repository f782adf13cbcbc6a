package wire

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"
)

// Encoding is how a body holding user values is encoded, as its code on
// the wire.
type Encoding uint8

// Body encodings. A receiver decodes both whatever was negotiated: every
// body names its encoding.
const (
	// EncodeGob is encoding/gob: one gob stream per direction of a
	// connection (type definitions are sent once), so a value gob cannot
	// encode must be refused before it is written (CheckEncodable).
	EncodeGob Encoding = iota
	// EncodeMsgpack is github.com/vmihailenco/msgpack/v5, one value per
	// body: a value it cannot encode fails that message only.
	EncodeMsgpack
	numEncode
)

// A body follows its header in the same frame: a format byte, the body's
// encoding in the low nibble and its compression in the high one, then the
// encoded (and maybe compressed) bytes to the frame's end.

func bodyFmt(e Encoding, c Compression) byte { return byte(e) | byte(c)<<4 }

// appendBody appends body encoded with e to buf.b; with gob, enc is the
// direction's gob encoder (made on first use).
func (e *Encoder) appendBody(body any) error {
	switch e.encoding {
	case EncodeMsgpack:
		return appendMsgpack(&e.buf, body)
	default:
		if e.enc == nil {
			e.enc = gob.NewEncoder(&e.buf)
		}
		if err := e.enc.Encode(body); err != nil {
			// gob may have recorded type definitions the peer never gets
			e.broken = true
			return err
		}
		return nil
	}
}

func appendMsgpack(w io.Writer, v any) error {
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(w)
	enc.UseCompactInts(true)
	return enc.Encode(v)
}

// readBody decodes a received body (format f, bytes data) into body; nil
// discards it (a gob body is still decoded, to keep the gob stream's type
// definitions).
func (d *Decoder) readBody(f byte, data []byte, body any) error {
	enc, comp := Encoding(f&0x0f), Compression(f>>4)
	if enc >= numEncode || comp >= numCompress {
		return fmt.Errorf("%w: body format %#x", ErrRpc, f)
	}
	if comp != CompressNone {
		var err error
		if data, err = decompress(comp, data, d.max); err != nil {
			return err
		}
	}
	switch enc {
	case EncodeMsgpack:
		if body == nil {
			return nil
		}
		return decodeMsgpack(data, body)
	default:
		if d.dec == nil {
			d.gobIn = &bodyReader{}
			d.dec = gob.NewDecoder(d.gobIn)
		}
		d.gobIn.reset(data)
		if err := d.dec.Decode(body); err != nil {
			return fmt.Errorf("%w: gob body: %w", ErrRpc, err)
		}
		if n := d.gobIn.Len(); n > 0 {
			return fmt.Errorf("%w: %d bytes after a gob body", ErrRpc, n)
		}
		return nil
	}
}

func decodeMsgpack(data []byte, body any) error {
	r := bytes.NewReader(data)
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.Reset(r)
	// ints come back as int64, uints as uint64, floats as float64 (see
	// docs/protocol.md)
	dec.UseLooseInterfaceDecoding(true)
	if err := dec.Decode(body); err != nil {
		return fmt.Errorf("%w: msgpack body: %w", ErrRpc, err)
	}
	if r.Len() > 0 {
		return fmt.Errorf("%w: %d bytes after a msgpack body", ErrRpc, r.Len())
	}
	return nil
}
