package bridge

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
)

// Errors of this package. Errors of the arpc package (ErrInvalidParams,
// ErrSchemaMismatch, ErrNoAccess, ErrWorkerGone...) are used where they fit;
// test them all with errors.Is.
var (
	// ErrNotFound means Get asked for a name the worker does not expose.
	ErrNotFound = errors.New("bridge: not found")
	// ErrProtocolVersion means the peer speaks an unsupported protocol
	// version.
	ErrProtocolVersion = errors.New("bridge: unsupported protocol version")
	// ErrClosed means the service or client was closed.
	ErrClosed = errors.New("bridge: closed")
	// ErrReplaced is how a client of an older server sees a WatchClock
	// stream ended by a newer stream of the same client_id (ABORTED,
	// reason REPLACED). This server never sends it: streams of one
	// client_id coexist, as aRPC connections of one client ID do (see
	// docs/grpc.md, "Client IDs").
	ErrReplaced = errors.New("bridge: replaced by a newer WatchClock stream " +
		"of the same client_id")
)

// errorDomain is the ErrorInfo domain of this service's errors.
const errorDomain = "arpc.bridge.v1"

// ErrorInfo reasons, one per error class. Clients may switch on them.
const (
	ReasonInvalidArgument = "INVALID_ARGUMENT"
	ReasonSchemaMismatch  = "SCHEMA_MISMATCH"
	ReasonProtocol        = "PROTOCOL_VERSION"
	ReasonNoAccess        = "NO_ACCESS"
	ReasonNotFound        = "NOT_FOUND"
	ReasonWorkerGone      = "WORKER_GONE"
	ReasonShuttingDown    = "SHUTTING_DOWN"
	ReasonUnsupported     = "UNSUPPORTED"
	ReasonReplaced        = "REPLACED"
	ReasonNotDurable      = "NOT_DURABLE"
	// ReasonUnauthenticated comes with UNAUTHENTICATED: no or bad
	// credentials (arpc.ErrUnauthenticated).
	ReasonUnauthenticated = "UNAUTHENTICATED"
	// ReasonPermissionDenied comes with PERMISSION_DENIED when the policy
	// refuses a state (arpc.ErrPermissionDenied); the message names it.
	ReasonPermissionDenied = "POLICY_DENIED"
)

// fieldError names the request field an error is about.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// onField wraps err (built from sentinel, format and args) with the request
// field it is about, for the BadRequest detail.
func onField(field string, sentinel error, format string, args ...any) error {
	return &fieldError{field: field,
		err: fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))}
}

// classes maps error sentinels to codes and reasons, first match wins.
var classes = []struct {
	sentinel error
	code     codes.Code
	reason   string
}{
	{ErrClosed, codes.Unavailable, ReasonShuttingDown},
	{engine.ErrWorkerGone, codes.Unavailable, ReasonWorkerGone},
	{engine.ErrSchemaChanged, codes.Unavailable, ReasonWorkerGone},
	{arpc.ErrWorkerGone, codes.Unavailable, ReasonWorkerGone},
	{arpc.ErrNotDurable, codes.Unavailable, ReasonNotDurable},
	{ErrProtocolVersion, codes.FailedPrecondition, ReasonProtocol},
	{arpc.ErrSchemaMismatch, codes.FailedPrecondition, ReasonSchemaMismatch},
	{arpc.ErrUnauthenticated, codes.Unauthenticated, ReasonUnauthenticated},
	{arpc.ErrPermissionDenied, codes.PermissionDenied, ReasonPermissionDenied},
	{arpc.ErrNoAccess, codes.PermissionDenied, ReasonNoAccess},
	{ErrNotFound, codes.NotFound, ReasonNotFound},
	{arpc.ErrInvalidParams, codes.InvalidArgument, ReasonInvalidArgument},
	{arpc.ErrUnsupported, codes.Unimplemented, ReasonUnsupported},
	{ErrReplaced, codes.Aborted, ReasonReplaced},
}

// toStatus turns an error of the service into a gRPC status error: the one
// place where arpc and engine errors get their gRPC codes. It attaches an
// ErrorInfo (reason, domain, and the field when known) and, for a field
// error, a BadRequest field violation.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	code, reason := codes.Internal, ""
	for _, c := range classes {
		if errors.Is(err, c.sentinel) {
			code, reason = c.code, c.reason
			break
		}
	}
	st := status.New(code, err.Error())
	if reason == "" {
		return st.Err()
	}
	info := &errdetails.ErrorInfo{Reason: reason, Domain: errorDomain}
	var fe *fieldError
	if errors.As(err, &fe) {
		info.Metadata = map[string]string{"field": fe.field}
		if withInfo, derr := st.WithDetails(info, &errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{
				Field: fe.field, Description: fe.err.Error()}},
		}); derr == nil {
			return withInfo.Err()
		}
	}
	if withInfo, derr := st.WithDetails(info); derr == nil {
		return withInfo.Err()
	}
	return st.Err()
}

// fromStatus turns a gRPC error received by the client back into an error
// that errors.Is matches against the arpc sentinels, like the aRPC client's
// errors: the reverse of toStatus.
func fromStatus(method string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%w: %s: %w", arpc.ErrNetwork, method, err)
	}
	reason := ""
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Domain == errorDomain {
			reason = info.Reason
		}
	}
	var sentinel error
	switch st.Code() {
	case codes.InvalidArgument:
		sentinel = arpc.ErrInvalidParams
	case codes.FailedPrecondition:
		sentinel = arpc.ErrSchemaMismatch
		if reason == ReasonProtocol {
			sentinel = ErrProtocolVersion
		}
	case codes.PermissionDenied:
		sentinel = arpc.ErrNoAccess
		if reason == ReasonPermissionDenied {
			sentinel = arpc.ErrPermissionDenied
		}
	case codes.Unauthenticated:
		sentinel = arpc.ErrUnauthenticated
	case codes.NotFound:
		sentinel = ErrNotFound
	case codes.Unimplemented:
		sentinel = arpc.ErrUnsupported
	case codes.ResourceExhausted:
		sentinel = arpc.ErrFrameTooLarge
	case codes.DeadlineExceeded:
		sentinel = arpc.ErrNetworkTimeout
	case codes.Canceled:
		sentinel = arpc.ErrNoConn
	case codes.Unavailable:
		switch reason {
		case ReasonWorkerGone:
			sentinel = arpc.ErrWorkerGone
		case ReasonShuttingDown:
			sentinel = arpc.ErrNoConn
		case ReasonNotDurable:
			sentinel = arpc.ErrNotDurable
		default:
			sentinel = arpc.ErrNetwork
		}
	case codes.Aborted:
		if reason == ReasonReplaced {
			return fmt.Errorf("%w: %w: %s: %s", arpc.ErrRpc, ErrReplaced, method,
				st.Code())
		}
		sentinel = arpc.ErrRpc
	default:
		sentinel = arpc.ErrRpc
	}
	return fmt.Errorf("%w: %s: %s: %s", sentinel, method, st.Code(), st.Message())
}
