package auth

import "errors"

// Errors of authentication and authorization. The doors map them to gRPC
// UNAUTHENTICATED and PERMISSION_DENIED, and the arpc package re-exports
// them, so errors.Is works on what a client receives.
var (
	// ErrUnauthenticated means a client brought no credentials where they
	// are required, or wrong ones: an unknown token, a token where the
	// server takes none, or a certificate and a token naming different
	// identities.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied means the policy refuses the identity a mutation
	// or an observation of a state; the message names the state.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrBadFile means a token, policy or TLS file is malformed or cannot be
	// read; the error says where (file:line:col).
	ErrBadFile = errors.New("bad auth file")
)
