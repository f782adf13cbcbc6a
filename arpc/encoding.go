package arpc

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
)

// Encoding is how values of the user's types travel on an aRPC connection:
// args other than scalars, payloads, Get values and WhenArgs args. The
// protocol's own messages (mutations with scalar args, their replies,
// clock pushes, the handshake) are hand-encoded whatever the encoding.
// A client picks it (ClientOpts.Encoding); a server accepts both and
// answers in the client's. See docs/protocol.md, "Encodings".
type Encoding string

const (
	// EncodingGob is encoding/gob, the default: a value of a type that is not
	// builtin arrives as the same type when it was registered with
	// gob.Register on both sides; a value gob cannot encode (an unregistered
	// type inside an interface, a func, a chan) is refused before it is sent
	// (ErrInvalidParams naming its key) and the connection lives on.
	EncodingGob Encoding = "gob"
	// EncodingMsgpack is github.com/vmihailenco/msgpack/v5. Values arrive by
	// their shape, not their Go type: integers of any size as int64
	// (unsigned ones as uint64 when they do not fit an int64), floats as
	// float64, slices as []any, maps as map[string]any, structs as
	// map[string]any of their exported fields; strings, bools, []byte and
	// time.Time arrive as themselves, and so do *A (Pass) and *ArgsPayload;
	// an error value (an arg, a Get value, payload data, A.Err) arrives as a
	// *RemoteError with its message. A type
	// registered with msgpack.RegisterExt on both sides arrives as itself. A
	// value msgpack cannot encode (a func, a chan) fails its message only,
	// with ErrInvalidParams naming its key; the connection lives on.
	EncodingMsgpack Encoding = "msgpack"
)

// Compression is how an aRPC connection compresses large bodies: payloads,
// Get values, other bodies holding user values and full clock snapshots at
// least CompressThreshold bytes long (diffs stay raw). A receiver always
// checks what a body decompresses to against its MaxMsgSize before
// allocating it. See docs/protocol.md, "Compression".
type Compression string

const (
	// CompressionNone sends bodies as they are. On a client it is the
	// default (also ""); on a server it refuses compression to every client.
	CompressionNone Compression = "none"
	// CompressionS2 is S2 (github.com/klauspost/compress/s2), the cheapest.
	CompressionS2 Compression = "s2"
	// CompressionZstd is zstd (github.com/klauspost/compress/zstd), the
	// smallest.
	CompressionZstd Compression = "zstd"
	// CompressionGzip is gzip, for the gRPC door only
	// (bridge.ClientOpts.Compression, grpc-encoding "gzip"); an aRPC
	// client or server refuses it with ErrInvalidParams.
	CompressionGzip Compression = "gzip"
)

// DefaultCompressThreshold is the smallest body compressed by default.
const DefaultCompressThreshold = 1 << 10

// encodingCode returns the wire code of e ("" is gob).
func encodingCode(e Encoding) (wire.Encoding, error) {
	switch e {
	case "", EncodingGob:
		return wire.EncodeGob, nil
	case EncodingMsgpack:
		return wire.EncodeMsgpack, nil
	}
	return 0, fmt.Errorf("%w: encoding %q (use EncodingGob or EncodingMsgpack)",
		ErrInvalidParams, e)
}

func encodingOf(c wire.Encoding) Encoding {
	if c == wire.EncodeMsgpack {
		return EncodingMsgpack
	}
	return EncodingGob
}

// compressionCode returns the wire code of c ("" is none).
func compressionCode(c Compression) (wire.Compression, error) {
	switch c {
	case "", CompressionNone:
		return wire.CompressNone, nil
	case CompressionS2:
		return wire.CompressS2, nil
	case CompressionZstd:
		return wire.CompressZstd, nil
	}
	return 0, fmt.Errorf("%w: compression %q on the aRPC door (use "+
		"CompressionNone, CompressionS2 or CompressionZstd)", ErrInvalidParams, c)
}

func compressionOf(c wire.Compression) Compression {
	switch c {
	case wire.CompressS2:
		return CompressionS2
	case wire.CompressZstd:
		return CompressionZstd
	}
	return CompressionNone
}

// negotiateCompression is the compression of a connection: none when the
// client asks for none or the server's Compression is CompressionNone; the
// client's choice when the server's is "" (the default); else the server's
// own (the client decodes every codec).
func negotiateCompression(client wire.Compression, server Compression,
) (wire.Compression, error) {
	if client == wire.CompressNone {
		return wire.CompressNone, nil
	}
	if server == "" {
		return client, nil
	}
	return compressionCode(server)
}

// checkValue reports whether v can travel in a body of encoding enc: with
// gob it must not break the connection's gob stream (wire.CheckEncodable),
// with msgpack it must encode.
func checkValue(enc wire.Encoding, v any) error {
	if enc != wire.EncodeMsgpack {
		return wire.CheckEncodable(v)
	}
	switch v.(type) {
	case nil, bool, string, []byte, int, int8, int16, int32, int64, uint, uint8,
		uint16, uint32, uint64, float32, float64, []string, []int,
		time.Duration:
		return nil
	}
	if err := msgpack.NewEncoder(io.Discard).Encode(v); err != nil {
		return fmt.Errorf("%w: value of type %T cannot be sent with msgpack: %w",
			ErrInvalidParams, v, err)
	}
	return nil
}

// checkArgs checks every value of args for enc; the error names the first
// key that cannot travel.
func checkArgs(enc wire.Encoding, args am.A) error {
	if enc != wire.EncodeMsgpack {
		return wire.CheckArgs(args)
	}
	for k, v := range args {
		if err := checkValue(enc, v); err != nil {
			return fmt.Errorf("arg %q: %w", k, err)
		}
	}
	return nil
}

// msgpackA is A as msgpack carries it: the error as its message.
type msgpackA struct {
	Id        string
	Name      string
	MachTime  []uint64
	Payload   *ArgsPayload
	Addr      string
	Err       string
	Method    string
	StartedAt time.Time
	Dispose   bool
}

// extA is the msgpack extension type of *A.
const extA int8 = 17

func init() {
	// *A (Pass) travels inside am.A and comes back as *A
	msgpack.RegisterExtEncoder(extA, (*A)(nil),
		func(_ *msgpack.Encoder, v reflect.Value) ([]byte, error) {
			a := v.Interface().(*A)
			m := msgpackA{Id: a.Id, Name: a.Name, MachTime: a.MachTime,
				Payload: a.Payload, Addr: a.Addr, Method: a.Method,
				StartedAt: a.StartedAt, Dispose: a.Dispose}
			if a.Err != nil {
				m.Err = a.Err.Error()
			}
			var b bytes.Buffer
			err := msgpack.NewEncoder(&b).Encode(&m)
			return b.Bytes(), err
		})
	msgpack.RegisterExtDecoder(extA, (*A)(nil),
		func(d *msgpack.Decoder, v reflect.Value, _ int) error {
			var m msgpackA
			if err := d.Decode(&m); err != nil {
				return err
			}
			a := &A{Id: m.Id, Name: m.Name, Payload: m.Payload, Addr: m.Addr,
				Method: m.Method, StartedAt: m.StartedAt, Dispose: m.Dispose}
			if m.MachTime != nil {
				a.MachTime = am.Time(m.MachTime)
			}
			if m.Err != "" {
				a.Err = &RemoteError{Msg: m.Err}
			}
			v.Set(reflect.ValueOf(a))
			return nil
		})
}
