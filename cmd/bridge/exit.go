package main

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/bridge"
	"github.com/arpcbridge/arpcbridge/internal/schemafile"
)

// Exit codes, documented in the root command's help.
const (
	exitOK          = 0
	exitError       = 1
	exitBadInput    = 2
	exitCanceled    = 3
	exitUnreachable = 4
	exitDenied      = 5
	exitIdle        = 6
)

const exitCodesHelp = `Exit codes:
  0  success (a mutation was executed or queued)
  1  any other error
  2  bad input: usage, flags, a malformed ADDR or one that is not a
     bridge, an invalid schema file, an unknown state or name, a schema
     that does not match the server's, a --state file written for
     another schema
  3  the machine canceled the mutation
  4  unreachable: cannot connect, connection lost, timed out
  5  refused: no or bad credentials (TLS certificate, --token), a
     mutation outside the server's --auth-policy, or its allow list
     (--allow-id)
  6  watch --idle-timeout: no update arrived for that long`

// Errors the commands return to pick an exit code; they wrap the cause.
var (
	// errBadInput marks bad input (exit 2).
	errBadInput = errors.New("bad input")
	// errCanceled marks a mutation the machine canceled (exit 3).
	errCanceled = errors.New("canceled")
	// errUnreachable marks a server that cannot be reached (exit 4).
	errUnreachable = errors.New("unreachable")
)

// exitError carries an exit code and a message already shown (or none).
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

// badInput wraps err as bad input.
func badInput(format string, args ...any) error {
	return &codeError{exitBadInput, fmt.Errorf(format, args...)}
}

// exitCode maps the error of run to the process's exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return grpcExitCode(st.Code())
	}
	var sfe *schemafile.Error
	switch {
	case errors.As(err, &sfe):
		return exitBadInput
	case errors.Is(err, errCanceled):
		return exitCanceled
	case errors.Is(err, arpc.ErrNoAccess), errors.Is(err, arpc.ErrBusy),
		errors.Is(err, arpc.ErrUnauthenticated),
		errors.Is(err, arpc.ErrPermissionDenied):
		return exitDenied
	case errors.Is(err, errBadInput), errors.Is(err, arpc.ErrInvalidParams),
		errors.Is(err, arpc.ErrSchemaMismatch), errors.Is(err, bridge.ErrNotFound),
		errors.Is(err, bridge.ErrProtocolVersion):
		return exitBadInput
	case errors.Is(err, errUnreachable), errors.Is(err, arpc.ErrNetwork),
		errors.Is(err, arpc.ErrNetworkTimeout), errors.Is(err, arpc.ErrNoConn),
		errors.Is(err, arpc.ErrWorkerGone), errors.Is(err, bridge.ErrClosed),
		errors.Is(err, context.DeadlineExceeded):
		return exitUnreachable
	}
	return exitError
}

// grpcExitCode maps a gRPC status code (schema discovery talks gRPC
// directly) to an exit code.
func grpcExitCode(c codes.Code) int {
	switch c {
	case codes.OK:
		return exitOK
	case codes.InvalidArgument, codes.FailedPrecondition, codes.NotFound,
		codes.OutOfRange, codes.Unimplemented:
		// Unimplemented: the server is not a bridge (or not this version)
		return exitBadInput
	case codes.PermissionDenied, codes.Unauthenticated:
		return exitDenied
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return exitUnreachable
	}
	return exitError
}
