package wire

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"io"
	"reflect"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/arpcbridge/arpcbridge/internal/errs"
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

func appendMsgpack(w io.Writer, v any) (err error) {
	// a user value's own msgpack encoder must not take the server down
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("msgpack panicked: %v", r)
		}
	}()
	// args keep their scalars packed by hand, so that they arrive typed as
	// with gob (an int as an int): only the rest goes by shape
	switch b := v.(type) {
	case *ArgsMut:
		v = &msgpackMut{Type: b.Type, States: b.States, Args: splitArgs(b.Args),
			Id: b.Id, Event: b.Event, ErrMsg: b.ErrMsg}
	case *ArgsWhenArgs:
		v = &msgpackWhenArgs{Id: b.Id, State: b.State, Args: splitArgs(b.Args)}
	default:
		errorsOut(v)
	}
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(w)
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

// msgpackArgs are args in a msgpack body: the scalars packed (packArgs),
// the rest by msgpack.
type msgpackArgs struct {
	Vals []byte         `msgpack:"v,omitempty"`
	Rest map[string]any `msgpack:"r,omitempty"`
}

func splitArgs(args map[string]any) msgpackArgs {
	vals, rest := packArgs(args)
	for k, v := range rest {
		rest[k] = errorOut(v)
	}
	return msgpackArgs{Vals: vals, Rest: rest}
}

// errorOut turns an error value into a *errs.RemoteError with its message,
// which msgpack carries as an extension type: an error arrives as a
// *RemoteError (arpc.RemoteError) whatever its own type.
func errorOut(v any) any {
	if err, ok := v.(error); ok {
		if _, ok := v.(*errs.RemoteError); !ok {
			return &errs.RemoteError{Msg: err.Error()}
		}
	}
	return v
}

// errorsOut applies errorOut to the interface fields of a body struct
// (a Get value, payload data); the body is the sender's own copy.
func errorsOut(body any) {
	v := reflect.ValueOf(body)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return
	}
	v = v.Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.CanSet() && f.Kind() == reflect.Interface && !f.IsNil() {
			if _, isErr := f.Interface().(error); isErr {
				f.Set(reflect.ValueOf(errorOut(f.Interface())))
			}
		}
	}
}

// extRemoteError is the msgpack extension type of *errs.RemoteError.
const extRemoteError int8 = 18

func init() {
	// the payload is the message as a msgpack string
	msgpack.RegisterExtEncoder(extRemoteError, (*errs.RemoteError)(nil),
		func(_ *msgpack.Encoder, v reflect.Value) ([]byte, error) {
			return msgpack.Marshal(v.Interface().(*errs.RemoteError).Msg)
		})
	msgpack.RegisterExtDecoder(extRemoteError, (*errs.RemoteError)(nil),
		func(d *msgpack.Decoder, v reflect.Value, _ int) error {
			msg, err := d.DecodeString()
			if err != nil {
				return err
			}
			v.Set(reflect.ValueOf(&errs.RemoteError{Msg: msg}))
			return nil
		})
}

func (a *msgpackArgs) join() (map[string]any, error) {
	args, err := unpackArgs(a.Vals)
	if err != nil || len(a.Rest) == 0 {
		return args, err
	}
	if args == nil {
		args = make(map[string]any, len(a.Rest))
	}
	for k, v := range a.Rest {
		if _, dup := args[k]; dup {
			return nil, fmt.Errorf("%w: arg %q twice", ErrRpc, k)
		}
		args[k] = normalize(v)
	}
	return args, nil
}

// msgpackMut is ArgsMut in a msgpack body.
type msgpackMut struct {
	Type   uint8       `msgpack:"t"`
	States []int       `msgpack:"s"`
	Args   msgpackArgs `msgpack:"a"`
	Id     uint64      `msgpack:"i,omitempty"`
	Event  string      `msgpack:"e,omitempty"`
	ErrMsg string      `msgpack:"m,omitempty"`
}

// msgpackWhenArgs is ArgsWhenArgs in a msgpack body.
type msgpackWhenArgs struct {
	Id    uint64      `msgpack:"i"`
	State int         `msgpack:"s"`
	Args  msgpackArgs `msgpack:"a"`
}

// decodeMsgpack decodes a msgpack body into body.
func decodeMsgpack(data []byte, body any) error {
	switch b := body.(type) {
	case *ArgsMut:
		var m msgpackMut
		if err := decodeMsgpackValue(data, &m); err != nil {
			return err
		}
		args, err := m.Args.join()
		if err != nil {
			return err
		}
		*b = ArgsMut{Type: m.Type, States: m.States, Args: args, Id: m.Id,
			Event: m.Event, ErrMsg: m.ErrMsg}
		return nil
	case *ArgsWhenArgs:
		var m msgpackWhenArgs
		if err := decodeMsgpackValue(data, &m); err != nil {
			return err
		}
		args, err := m.Args.join()
		if err != nil {
			return err
		}
		*b = ArgsWhenArgs{Id: m.Id, State: m.State, Args: args}
		return nil
	}
	return decodeMsgpackValue(data, body)
}

func decodeMsgpackValue(data []byte, body any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: msgpack body: decoder panicked: %v", ErrRpc, r)
		}
	}()
	r := bytes.NewReader(data)
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	// strict interface decoding keeps []byte (loose decoding makes it a
	// string); normalize then widens integers
	dec.Reset(r)
	if err := dec.Decode(body); err != nil {
		return fmt.Errorf("%w: msgpack body: %w", ErrRpc, err)
	}
	if r.Len() > 0 {
		return fmt.Errorf("%w: %d bytes after a msgpack body", ErrRpc, r.Len())
	}
	normalizeBody(body)
	return nil
}

// normalizeBody widens the integers msgpack decoded into the body's
// interface fields and maps of them (args, payload data, Get values):
// msgpack writes each integer in as few bytes as it takes, and its strict
// decoding gives them back as int8 to int64 (uint8 to uint64) by size;
// users get int64 (uint64) whatever the value.
func normalizeBody(body any) {
	v := reflect.ValueOf(body)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return
	}
	v = v.Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.CanSet() {
			continue
		}
		switch {
		case f.Kind() == reflect.Interface && !f.IsNil():
			f.Set(reflect.ValueOf(normalize(f.Interface())))
		case f.Kind() == reflect.Map && !f.IsNil() &&
			f.Type().Key().Kind() == reflect.String &&
			f.Type().Elem().Kind() == reflect.Interface:
			for _, k := range f.MapKeys() {
				e := f.MapIndex(k)
				if e.IsNil() {
					continue
				}
				f.SetMapIndex(k, reflect.ValueOf(normalize(e.Interface())))
			}
		}
	}
}

// normalize widens the integers in v, and in the maps and slices of
// interfaces it holds (in place).
func normalize(v any) any {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return uint64(x)
	case uint16:
		return uint64(x)
	case uint32:
		return uint64(x)
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	}
	return v
}
