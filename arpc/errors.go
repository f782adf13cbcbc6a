package arpc

import (
	"errors"

	"github.com/arpcbridge/arpcbridge/arpc/auth"
	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
)

// Errors returned by servers, clients and remote workers. Test them with
// errors.Is; messages carry the details.
var (
	// ErrInvalidParams means a request named unknown states, had args that
	// cannot be encoded, or was otherwise malformed.
	ErrInvalidParams = wire.ErrInvalidParams
	// ErrInvalidResp means the peer answered with something malformed.
	ErrInvalidResp = errors.New("invalid response")
	// ErrRpc means a protocol-level failure: an unknown method, a version
	// mismatch, a frame over the size limit.
	ErrRpc = wire.ErrRpc
	// ErrNoAccess means the server refused the client (AllowId).
	ErrNoAccess = errors.New("no access")
	// ErrNoConn means there is no connection to call over.
	ErrNoConn = errors.New("not connected")
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
	ErrFrameTooLarge = wire.ErrFrameTooLarge
	// ErrNotDurable means the worker's journal (a state file) could not
	// persist: the mutation was refused before it ran, or it ran but its
	// reply could not be made durable (see Journal).
	ErrNotDurable = errors.New("not durable")
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
}

func toWireErr(err error) *wire.Error {
	if err == nil {
		return nil
	}
	code := codeRpc
	for c, sentinel := range codeErrs {
		if sentinel != nil && errors.Is(err, sentinel) {
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

// RemoteError is an error that crossed the network as its message only: the
// error of a remote AddErr/AddErrState, or the worker's Err() seen by a
// client.
type RemoteError struct {
	Msg string
}

func (e *RemoteError) Error() string { return e.Msg }
