package arpc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

// The AddErr* functions put an error on a machine: they add the error state
// that matches it (from the aRPC schemas in package states, e.g.
// SharedStates.ErrNetwork) together with Exception, so the machine's Err()
// returns it and errors.Is finds the matching sentinel of this package in
// it. A machine without that error state gets plain Exception instead; a
// nil machine is ignored. None of them panic, and all are safe to call from
// any goroutine, handlers included (the mutation is then queued).

// AddErrNetwork adds ErrNetwork (the state) to mach with err, wrapped in the
// ErrNetwork sentinel unless it already is one. A nil err adds the sentinel
// alone.
func AddErrNetwork(mach *am.Machine, err error) {
	addErrAs(mach, wrapIn(ErrNetwork, err), ss.SharedStates.ErrNetwork)
}

// AddErrNoConn adds ErrNetwork (the state) to mach with err wrapped in
// ErrNoConn: there was no connection to use. A nil err adds the sentinel
// alone.
func AddErrNoConn(mach *am.Machine, err error) {
	addErrAs(mach, wrapIn(ErrNoConn, err), ss.SharedStates.ErrNetwork)
}

// AddErrParams adds ErrRpc (the state) to mach with err wrapped in
// ErrInvalidParams: a request was malformed. A nil err adds the sentinel
// alone.
func AddErrParams(mach *am.Machine, err error) {
	addErrAs(mach, wrapIn(ErrInvalidParams, err), ss.SharedStates.ErrRpc)
}

// AddErrResp adds ErrRpc (the state) to mach with err wrapped in
// ErrInvalidResp: a reply was malformed. A nil err adds the sentinel alone.
func AddErrResp(mach *am.Machine, err error) {
	addErrAs(mach, wrapIn(ErrInvalidResp, err), ss.SharedStates.ErrRpc)
}

// AddErrRpcStr adds ErrRpc (the state) to mach with an ErrRpc error
// carrying msg.
func AddErrRpcStr(mach *am.Machine, msg string) {
	err := ErrRpc
	if msg != "" {
		err = fmt.Errorf("%w: %s", ErrRpc, msg)
	}
	addErrAs(mach, err, ss.SharedStates.ErrRpc)
}

// AddErr classifies err with errors.Is and adds the matching error state to
// mach, with msg (when not empty) prefixed to the error:
//
//   - ErrNetworkTimeout, or a timeout of package net or os: ErrNetworkTimeout
//     (ErrNetwork on a machine without it)
//   - ErrNetwork, ErrNoConn, or another net.Error, io.EOF,
//     io.ErrUnexpectedEOF, net.ErrClosed: ErrNetwork
//   - ErrNoAccess, ErrBusy: ErrNoAccess (a Client's state)
//   - ErrSchemaMismatch: ErrSchema (a Client's state)
//   - ErrRpc (ErrFrameTooLarge too), ErrInvalidParams, ErrInvalidResp,
//     ErrWorkerGone: ErrRpc
//   - anything else: Exception only
//
// Errors of the standard library that are classified as network errors get
// ErrNetwork or ErrNetworkTimeout wrapped around them, so errors.Is finds our
// sentinel too. A nil err adds nothing.
func AddErr(mach *am.Machine, msg string, err error) {
	if err == nil {
		return
	}
	if msg != "" {
		err = fmt.Errorf("%s: %w", msg, err)
	}
	err, states := classifyErr(err)
	addErrAs(mach, err, states...)
}

// classifyErr returns err (wrapped in a sentinel where it had none) and the
// error states that fit it, most specific first; none means Exception only.
func classifyErr(err error) (error, []string) {
	var netErr net.Error
	isNet := errors.As(err, &netErr)
	switch {
	case errors.Is(err, ErrNetworkTimeout):
		return err, []string{ss.SharedStates.ErrNetworkTimeout,
			ss.SharedStates.ErrNetwork}
	case errors.Is(err, ErrNetwork), errors.Is(err, ErrNoConn):
		return err, []string{ss.SharedStates.ErrNetwork}
	case errors.Is(err, ErrNoAccess), errors.Is(err, ErrBusy):
		return err, []string{ss.ClientStates.ErrNoAccess}
	case errors.Is(err, ErrSchemaMismatch):
		return err, []string{ss.ClientStates.ErrSchema}
	case errors.Is(err, ErrRpc), errors.Is(err, ErrInvalidParams),
		errors.Is(err, ErrInvalidResp), errors.Is(err, ErrWorkerGone):
		return err, []string{ss.SharedStates.ErrRpc}
	case errors.Is(err, os.ErrDeadlineExceeded), isNet && netErr.Timeout():
		return wrapIn(ErrNetworkTimeout, err), []string{
			ss.SharedStates.ErrNetworkTimeout, ss.SharedStates.ErrNetwork}
	case isNet, errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return wrapIn(ErrNetwork, err), []string{ss.SharedStates.ErrNetwork}
	}
	return err, nil
}

// wrapIn returns err wrapped in sentinel, err itself when errors.Is already
// finds sentinel in it, or sentinel when err is nil.
func wrapIn(sentinel, err error) error {
	switch {
	case err == nil:
		return sentinel
	case errors.Is(err, sentinel):
		return err
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}

// addErrAs adds the first of states that mach has, with err; Exception
// alone when it has none of them.
func addErrAs(mach *am.Machine, err error, states ...string) {
	if mach == nil || err == nil {
		return
	}
	for _, state := range states {
		if mach.Has1(state) {
			mach.AddErrState(state, err, nil)
			return
		}
	}
	mach.AddErr(err, nil)
}
