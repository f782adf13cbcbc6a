package wire

import (
	"errors"

	"github.com/arpcbridge/arpcbridge/internal/errs"
)

// The sentinels the codec wraps; package arpc exports the same values.
var (
	// ErrInvalidParams means a value cannot be encoded.
	ErrInvalidParams = errs.ErrInvalidParams
	// ErrRpc means a protocol-level failure: a malformed message, a version
	// mismatch, a frame over the size limit.
	ErrRpc = errs.ErrRpc
	// ErrFrameTooLarge means a message exceeded the configured size limit.
	ErrFrameTooLarge = errs.ErrFrameTooLarge
)

// errBadHeader is wrapped by every decoding failure of a hand-encoded
// message.
var errBadHeader = errors.New("malformed message")
