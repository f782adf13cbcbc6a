package wire

import (
	"errors"
	"fmt"
)

// The sentinels the codec wraps; package arpc exports the same values.
var (
	// ErrInvalidParams means a value cannot be encoded.
	ErrInvalidParams = errors.New("invalid params")
	// ErrRpc means a protocol-level failure: a malformed message, a version
	// mismatch, a frame over the size limit.
	ErrRpc = errors.New("rpc")
	// ErrFrameTooLarge means a message exceeded the configured size limit.
	ErrFrameTooLarge = fmt.Errorf("%w: frame too large", ErrRpc)
)

// errBadHeader is wrapped by every decoding failure of a hand-encoded
// message.
var errBadHeader = errors.New("malformed message")
