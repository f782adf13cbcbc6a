package wire

import (
	"bytes"
	"encoding/gob"
	"fmt"
)

// EncodePayload encodes a payload (a pointer to the arpc package's
// ArgsPayload) as a standalone gob stream: the bytes a chunked payload's
// chunks carry, decodable alone by DecodePayload (unlike a connection's gob
// bodies, which depend on the types sent before them). The payload's Data
// types must be registered with gob on both sides, as for any payload. An
// error wraps ErrInvalidParams.
func EncodePayload(p any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(p); err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrInvalidParams, err)
	}
	return buf.Bytes(), nil
}

// DecodePayload decodes the bytes of EncodePayload into p (a pointer). An
// error wraps ErrRpc.
func DecodePayload(b []byte, p any) error {
	r := bytes.NewReader(b)
	if err := gob.NewDecoder(r).Decode(p); err != nil {
		return fmt.Errorf("%w: payload: %w", ErrRpc, err)
	}
	if r.Len() > 0 {
		return fmt.Errorf("%w: payload: %d bytes after it", ErrRpc, r.Len())
	}
	return nil
}
