package arpc

import (
	"fmt"
	"net"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/auth"
	"github.com/arpcbridge/arpcbridge/arpc/engine"

	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
)

// The aRPC door's use of package auth: the decisions are auth's (shared
// with the gRPC door), this file only feeds them a session's facts.

// secureConn wraps conn in TLS when the server has a TLSConfig and conn is
// not TLS already (a shared port's TLS listener got there first).
func (s *Server) secureConn(conn net.Conn) net.Conn {
	if s.TLSConfig == nil || auth.ConnState(conn) != nil {
		return conn
	}
	return serverTLS(conn, auth.ServerALPN(s.TLSConfig), s.handshakeTimeout())
}

func (s *Server) guard() auth.Guard {
	return auth.Guard{Tokens: s.Tokens, Policy: s.Policy}
}

// admit authenticates a Hello and applies AllowId / AllowFn to the
// identity (or, without one, to the client ID). It returns the identity.
func (ses *session) admit(args *wire.ArgsHello) (string, error) {
	s := ses.s
	identity, err := s.guard().Authenticate(auth.ConnState(ses.conn), args.Token)
	if err != nil {
		return "", err
	}
	who := args.ClientId
	if identity != "" {
		who = identity
	}
	if (s.AllowId != "" && who != s.AllowId) ||
		(s.AllowFn != nil && !s.AllowFn(who)) {
		return "", fmt.Errorf("%w: client %q not allowed by %s", ErrNoAccess, who,
			s.name)
	}
	return identity, nil
}

// observeMask is the mask of the states identity may not observe.
func (s *Server) observeMask(e *engine.Engine, identity string) *engine.Mask {
	if s.Policy == nil {
		return nil
	}
	return engine.NewMask(e.Names(), func(state string) bool {
		return s.Policy.Allowed(identity, auth.Observe, state)
	})
}

// checkObserve refuses a read (Can, WhenArgs) of states the session's
// identity may not observe.
func (ses *session) checkObserve(names am.S) error {
	return ses.s.Policy.Check(ses.identityOf(), auth.Observe, names)
}

func (ses *session) identityOf() string {
	ses.mx.Lock()
	defer ses.mx.Unlock()
	return ses.identity
}

// payloadFor reports whether a payload addressed to id is the session's
// (auth.Addressed).
func (ses *session) payloadFor(id string) bool {
	ses.mx.Lock()
	defer ses.mx.Unlock()
	return auth.Addressed(id, ses.identity, ses.clientId)
}

// errVisible reports whether the session may see the worker's error
// (Exception observable).
func (ses *session) errVisible() bool {
	return ses.s.Policy.Allowed(ses.identityOf(), auth.Observe,
		am.StateException)
}
