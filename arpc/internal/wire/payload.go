package wire

import (
	"bytes"
	"encoding/gob"
	"fmt"
)

// value wraps a value of any type for a standalone stream, so that an
// interface value's concrete type travels with it (gob) and msgpack's
// integers are widened like a body's (normalizeBody).
type value struct{ V any }

// EncodeValue encodes v alone with enc: the data of a chunked payload that
// is neither []byte nor string, and its kind (DataGob, DataMsgpack). A gob
// stream here is standalone, decodable alone by DecodeValue, unlike the
// connection's gob bodies, which depend on the types sent before them; v's
// type must be registered with gob on both sides, as for any payload. An
// error wraps ErrInvalidParams.
func EncodeValue(enc Encoding, v any) ([]byte, byte, error) {
	var buf bytes.Buffer
	if enc == EncodeMsgpack {
		if err := appendMsgpack(&buf, &value{V: v}); err != nil {
			return nil, 0, fmt.Errorf("%w: payload data: %w", ErrInvalidParams, err)
		}
		return buf.Bytes(), DataMsgpack, nil
	}
	if err := gob.NewEncoder(&buf).Encode(&value{V: v}); err != nil {
		return nil, 0, fmt.Errorf("%w: payload data: %w", ErrInvalidParams, err)
	}
	return buf.Bytes(), DataGob, nil
}

// DecodeValue decodes the bytes of EncodeValue of kind. An error wraps
// ErrRpc.
func DecodeValue(kind byte, b []byte) (any, error) {
	var v value
	if kind == DataMsgpack {
		if err := decodeMsgpack(b, &v); err != nil {
			return nil, err
		}
		return v.V, nil
	}
	r := bytes.NewReader(b)
	if err := gob.NewDecoder(r).Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: payload data: %w", ErrRpc, err)
	}
	if r.Len() > 0 {
		return nil, fmt.Errorf("%w: payload data: %d bytes after it", ErrRpc,
			r.Len())
	}
	return v.V, nil
}
