package arpc

import (
	"errors"
	"fmt"

	"github.com/arpcbridge/arpcbridge/arpc/auth"
	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
	"github.com/arpcbridge/arpcbridge/internal/errs"
)

// Errors returned by servers, clients and remote workers. Test them with
// errors.Is; messages carry the details.
var (
	// ErrInvalidParams means a request named unknown states, had args that
	// cannot be encoded, or was otherwise malformed.
	ErrInvalidParams = errs.ErrInvalidParams
	// ErrInvalidResp means the peer answered with something malformed.
	ErrInvalidResp = errors.New("invalid response")
	// ErrRpc means a protocol-level failure: an unknown method, a version
	// mismatch, a frame over the size limit.
	ErrRpc = errs.ErrRpc
	// ErrNoAccess means the server refused the client (AllowId).
	ErrNoAccess = errors.New("no access")
	// ErrNoConn means there is no connection to call over.
	ErrNoConn = errs.ErrNoConn
	// ErrNetwork means the connection failed or was closed.
	ErrNetwork = errors.New("network error")
	// ErrNetworkTimeout means a call or a connection attempt outlived its
	// timeout.
	ErrNetworkTimeout = errors.New("network timeout")

	// ErrSchemaMismatch means the client's schema (names, order or relations)
	// differs from the worker's. The message names the first difference.
	ErrSchemaMismatch = errors.New("schema mismatch")
	// ErrBusy means the server already serves a client (one per server; use a
	// Mux for many).
	ErrBusy = errors.New("server busy")
	// ErrUnsupported means a method of the remote worker cannot work over
	// the network (e.g. negotiation handlers).
	ErrUnsupported = errors.New("not supported by a remote worker")
	// ErrWorkerGone means the worker machine was disposed or changed schema.
	ErrWorkerGone = errors.New("worker gone")
	// ErrUnauthenticated means the server requires credentials the client
	// did not bring or got wrong: a TLS server reached without TLS, a token
	// it does not know, a certificate and a token naming different
	// identities. The same value as auth.ErrUnauthenticated.
	ErrUnauthenticated = auth.ErrUnauthenticated
	// ErrPermissionDenied means the server's policy refuses the client's
	// identity a mutation (or an observation) of a state; the message names
	// the state. The same value as auth.ErrPermissionDenied.
	ErrPermissionDenied = auth.ErrPermissionDenied
	// ErrFrameTooLarge means a message exceeded the configured size limit.
	ErrFrameTooLarge = errs.ErrFrameTooLarge
	// ErrProtocolVersion means the peer speaks another version of the aRPC
	// protocol (ProtocolVersion); the message names both. It wraps ErrRpc.
	ErrProtocolVersion = fmt.Errorf("%w: protocol version mismatch", ErrRpc)
	// ErrNotDurable means the worker's journal (a state file) could not
	// persist: the mutation was refused before it ran, or it ran but its
	// reply could not be made durable (see Journal).
	ErrNotDurable = errs.ErrNotDurable
)

// errCode is how an error crosses the wire: a number per sentinel, so the
// other side can rebuild an error that errors.Is recognises.
type errCode uint8

const (
	codeOK errCode = iota
	codeInvalidParams
	codeInvalidResp
	codeRpc
	codeNoAccess
	codeNoConn
	codeNetwork
	codeNetworkTimeout
	codeSchemaMismatch
	codeBusy
	codeUnsupported
	codeWorkerGone
	codeNotDurable
	codeUnauthenticated
	codePermissionDenied
	codeProtocolVersion
)

var codeErrs = [...]error{
	codeOK:               nil,
	codeInvalidParams:    ErrInvalidParams,
	codeInvalidResp:      ErrInvalidResp,
	codeRpc:              ErrRpc,
	codeNoAccess:         ErrNoAccess,
	codeNoConn:           ErrNoConn,
	codeNetwork:          ErrNetwork,
	codeNetworkTimeout:   ErrNetworkTimeout,
	codeSchemaMismatch:   ErrSchemaMismatch,
	codeBusy:             ErrBusy,
	codeUnsupported:      ErrUnsupported,
	codeWorkerGone:       ErrWorkerGone,
	codeNotDurable:       ErrNotDurable,
	codeUnauthenticated:  ErrUnauthenticated,
	codePermissionDenied: ErrPermissionDenied,
	codeProtocolVersion:  ErrProtocolVersion,
}

func toWireErr(err error) *wire.Error {
	if err == nil {
		return nil
	}
	code := codeRpc
	// the last codes are the most specific (ErrProtocolVersion wraps ErrRpc)
	for c := len(codeErrs) - 1; c > 0; c-- {
		if errors.Is(err, codeErrs[c]) {
			code = errCode(c)
			break
		}
	}
	return &wire.Error{Code: uint8(code), Msg: err.Error()}
}

func fromWireErr(w *wire.Error) error {
	if w == nil {
		return nil
	}
	sentinel := ErrRpc
	if int(w.Code) < len(codeErrs) && codeErrs[w.Code] != nil {
		sentinel = codeErrs[w.Code]
	}
	return &remoteErr{sentinel: sentinel, msg: w.Msg}
}

// remoteErr is an error received from the peer.
type remoteErr struct {
	sentinel error
	msg      string
}

func (e *remoteErr) Error() string { return "remote: " + e.msg }
func (e *remoteErr) Unwrap() error { return e.sentinel }

// RemoteError is an error that crossed the network as its message only
// (its field Msg): the error of a remote AddErr/AddErrState, or the worker's
// Err() seen by a client. Match it with errors.As.
type RemoteError = errs.RemoteError
