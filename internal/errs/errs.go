// Package errs holds the error sentinels that package arpc exports and that
// its codec (arpc/internal/wire) and the worker's mutation path
// (internal/door) wrap below it, so that one value serves all three.
// Users test them as arpc.ErrX.
package errs

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidParams: see arpc.ErrInvalidParams.
	ErrInvalidParams = errors.New("invalid params")
	// ErrRpc: see arpc.ErrRpc.
	ErrRpc = errors.New("rpc")
	// ErrFrameTooLarge: see arpc.ErrFrameTooLarge.
	ErrFrameTooLarge = fmt.Errorf("%w: frame too large", ErrRpc)
	// ErrNoConn: see arpc.ErrNoConn.
	ErrNoConn = errors.New("not connected")
	// ErrNotDurable: see arpc.ErrNotDurable.
	ErrNotDurable = errors.New("not durable")
)

// RemoteError is an error that crossed the network as its message only
// (arpc.RemoteError).
type RemoteError struct {
	Msg string
}

func (e *RemoteError) Error() string { return e.Msg }
