package bridge

import (
	"context"
	"crypto/tls"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/auth"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
)

// The gRPC door's use of package auth: who a call comes from (its TLS peer
// and its "authorization: Bearer" metadata) and what it may see. The
// decisions are auth's, shared with the aRPC door.

// caller is the authenticated side of one call.
type caller struct {
	// identity is the authenticated identity, "" without authentication
	identity string
	// key scopes the caller's stream and mutation IDs: its client ID, within
	// its identity when it has one, so that no identity can take over
	// another's stream or replay its mutations by naming its client ID
	key string
	// mask hides the states the identity may not observe; nil for none
	mask *engine.Mask
	// conn tells the caller's connection (its peer address): of the streams
	// of one client ID, a Mutate reply continues the one on its connection
	conn string
}

// admit checks a call (see check), authenticates it and applies AllowId /
// AllowFn to its identity (or, without one, to its client ID).
func (s *Service) admit(ctx context.Context, clientId string) (caller, error) {
	if err := s.checkOpen(); err != nil {
		return caller{}, err
	}
	g := auth.Guard{Tokens: s.opts.Tokens, Policy: s.opts.Policy}
	identity, err := g.Authenticate(peerTLS(ctx), bearer(ctx))
	if err != nil {
		return caller{}, err
	}
	who := clientId
	if identity != "" {
		who = identity
	}
	if err := s.checkAllowed(who); err != nil {
		return caller{}, err
	}
	cl := caller{identity: identity, key: clientId}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		cl.conn = p.Addr.String()
	}
	if identity != "" && clientId != "" {
		cl.key = identity + "\x00" + clientId
	}
	if p := s.opts.Policy; p != nil {
		cl.mask = engine.NewMask(s.names, func(state string) bool {
			return p.Allowed(identity, auth.Observe, state)
		})
	}
	return cl, nil
}

// peerTLS returns the TLS state of the call's connection, nil for
// plaintext.
func peerTLS(ctx context.Context) *tls.ConnectionState {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	if info, ok := p.AuthInfo.(credentials.TLSInfo); ok {
		return &info.State
	}
	return nil
}

// bearer returns the token of the call's "authorization: Bearer TOKEN"
// metadata, "" for none.
func bearer(ctx context.Context) string {
	for _, v := range metadata.ValueFromIncomingContext(ctx, "authorization") {
		if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
			return strings.TrimSpace(v[7:])
		}
	}
	return ""
}

// checkObserve refuses a read of states the caller may not observe.
func (s *Service) checkObserve(cl caller, states am.S) error {
	return s.opts.Policy.Check(cl.identity, auth.Observe, states)
}

// payloadFor reports whether a payload addressed to id is the caller's
// (auth.Addressed, as on the aRPC door).
func (cl caller) payloadFor(id, clientId string) bool {
	return auth.Addressed(id, cl.identity, clientId)
}
