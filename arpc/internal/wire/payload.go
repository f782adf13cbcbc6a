package wire

import (
	"bytes"
	"encoding/gob"
	"fmt"
)

// value wraps a value of any type for a standalone gob stream, so that an
// interface value's concrete type travels with it.
type value struct{ V any }

// EncodeValue encodes v as a standalone gob stream (decodable alone by
// DecodeValue, unlike a connection's gob bodies, which depend on the types
// sent before them): the data of a chunked payload that is neither []byte
// nor string. v's type must be registered with gob on both sides, as for
// any payload. An error wraps ErrInvalidParams.
func EncodeValue(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&value{V: v}); err != nil {
		return nil, fmt.Errorf("%w: payload data: %w", ErrInvalidParams, err)
	}
	return buf.Bytes(), nil
}

// DecodeValue decodes the bytes of EncodeValue. An error wraps ErrRpc.
func DecodeValue(b []byte) (any, error) {
	r := bytes.NewReader(b)
	var v value
	if err := gob.NewDecoder(r).Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: payload data: %w", ErrRpc, err)
	}
	if r.Len() > 0 {
		return nil, fmt.Errorf("%w: payload data: %d bytes after it", ErrRpc,
			r.Len())
	}
	return v.V, nil
}
