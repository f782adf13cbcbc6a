package auth

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"

	"github.com/soheilhy/cmux"
)

// CertIdentity returns the identity a certificate names: its first URI SAN,
// else its first DNS SAN, else its subject common name.
func CertIdentity(cert *x509.Certificate) string {
	switch {
	case cert == nil:
		return ""
	case len(cert.URIs) > 0:
		return cert.URIs[0].String()
	case len(cert.DNSNames) > 0:
		return cert.DNSNames[0]
	}
	return cert.Subject.CommonName
}

// PeerIdentity returns the identity of a TLS peer whose certificate was
// verified (mTLS), "" when there is none: an unverified certificate names
// nobody.
func PeerIdentity(state *tls.ConnectionState) string {
	if state == nil || len(state.VerifiedChains) == 0 ||
		len(state.PeerCertificates) == 0 {
		return ""
	}
	return CertIdentity(state.PeerCertificates[0])
}

// ConnState returns the TLS state of conn, looking through the wrappers of
// a shared port: a cmux connection, or any type with a NetConn or Unwrap
// method returning the connection it wraps; nil for a plaintext
// connection.
func ConnState(conn net.Conn) *tls.ConnectionState {
	for range 8 {
		switch c := conn.(type) {
		case nil:
			return nil
		case interface{ ConnectionState() tls.ConnectionState }:
			st := c.ConnectionState()
			return &st
		case *cmux.MuxConn:
			conn = c.Conn
		case interface{ NetConn() net.Conn }:
			conn = c.NetConn()
		case interface{ Unwrap() net.Conn }:
			conn = c.Unwrap()
		default:
			return nil
		}
	}
	return nil
}

// Guard authenticates and authorizes the clients of one server: both doors
// hold the same Guard values. The zero value (no tokens, no policy)
// authenticates nobody and allows everything.
type Guard struct {
	// Tokens maps bearer tokens to identities; nil takes no tokens.
	Tokens *Tokens
	// Policy authorizes identities per state; nil allows everything.
	Policy *Policy
}

// Required reports whether clients must authenticate: a token file or a
// policy is set.
func (g Guard) Required() bool { return g.Tokens != nil || g.Policy != nil }

// Authenticate returns the identity of a client from its TLS state (a
// verified certificate) and its bearer token (may be empty). Without
// credentials it returns "" when the server requires none (see Required),
// else ErrUnauthenticated. A token the server does not know, or a token and
// a certificate naming different identities, are ErrUnauthenticated too.
// Errors never contain the token.
func (g Guard) Authenticate(state *tls.ConnectionState, token string) (string,
	error,
) {
	certId := PeerIdentity(state)
	if token != "" {
		if g.Tokens == nil {
			return "", fmt.Errorf("%w: this server takes no tokens",
				ErrUnauthenticated)
		}
		tokId, ok := g.Tokens.Lookup(token)
		switch {
		case !ok:
			return "", fmt.Errorf("%w: unknown token", ErrUnauthenticated)
		case certId != "" && certId != tokId:
			return "", fmt.Errorf("%w: the certificate names %q, the token %q",
				ErrUnauthenticated, certId, tokId)
		}
		return tokId, nil
	}
	if certId == "" && g.Required() {
		return "", fmt.Errorf("%w: credentials required (a client certificate "+
			"or a token)", ErrUnauthenticated)
	}
	return certId, nil
}

// Addressed reports whether a payload addressed to `to` (empty: everyone)
// is for a client: addressed to its identity when it has one, else to its
// self-declared client ID (which authenticates nobody).
func Addressed(to, identity, clientId string) bool {
	switch {
	case to == "":
		return true
	case identity != "":
		return to == identity
	}
	return to == clientId
}
