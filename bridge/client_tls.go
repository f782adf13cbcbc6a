package bridge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"

	"google.golang.org/grpc/credentials"

	"github.com/arpcbridge/arpcbridge/arpc"
)

// bearerCreds send "authorization: Bearer TOKEN" metadata with every call.
// They do not require TLS, so a token works on loopback too; across a
// network, only TLS keeps it secret.
type bearerCreds struct{ token string }

func (b bearerCreds) GetRequestMetadata(context.Context, ...string) (
	map[string]string, error,
) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (bearerCreds) RequireTransportSecurity() bool { return false }

// watchedTLS are TLS transport credentials that report a refusal (the
// server's certificate did not verify, or the server refused ours with an
// alert, during or, with TLS 1.3, right after the handshake) to refused,
// so that Dial fails at once with ErrUnauthenticated instead of waiting
// for a connection that will never come.
type watchedTLS struct {
	credentials.TransportCredentials
	refused *atomic.Pointer[func(error)]
}

func newWatchedTLS(cfg *tls.Config) *watchedTLS {
	return &watchedTLS{TransportCredentials: credentials.NewTLS(cfg),
		refused: &atomic.Pointer[func(error)]{}}
}

func (w *watchedTLS) report(err error) {
	fn := w.refused.Load()
	switch {
	case fn == nil:
	case tlsRefusal(err):
		(*fn)(errRefused(err))
	}
}

func (w *watchedTLS) ClientHandshake(ctx context.Context, authority string,
	conn net.Conn,
) (net.Conn, credentials.AuthInfo, error) {
	c, info, err := w.TransportCredentials.ClientHandshake(ctx, authority, conn)
	if err != nil {
		if fn := w.refused.Load(); fn != nil && (errors.Is(err, io.EOF) ||
			errors.Is(err, syscall.ECONNRESET)) {
			// closed on our ClientHello: a server that does not speak TLS
			(*fn)(fmt.Errorf("%w: TLS handshake with %s: connection closed "+
				"(a plaintext server?): %w", arpc.ErrNetwork, authority, err))
		}
		w.report(err)
		return nil, nil, err
	}
	return &alertConn{Conn: c, w: w}, info, nil
}

func (w *watchedTLS) Clone() credentials.TransportCredentials {
	return &watchedTLS{TransportCredentials: w.TransportCredentials.Clone(),
		refused: w.refused}
}

// alertConn reports a TLS alert that ends a read.
type alertConn struct {
	net.Conn
	w *watchedTLS
}

func (c *alertConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.w.report(err)
	}
	return n, err
}

// tlsRefusal reports whether err is a TLS refusal no retry will fix: an
// alert from the server, or a server certificate that did not verify.
func tlsRefusal(err error) bool {
	var (
		oe   *net.OpError
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		ierr x509.CertificateInvalidError
	)
	return (errors.As(err, &oe) && oe.Op == "remote error") ||
		errors.As(err, &verr) || errors.As(err, &uerr) ||
		errors.As(err, &herr) || errors.As(err, &ierr)
}

// errRefused is the cause of a Dial cancelled by a TLS refusal.
func errRefused(err error) error {
	return fmt.Errorf("%w: %w: TLS: %w", arpc.ErrNetwork,
		arpc.ErrUnauthenticated, err)
}
