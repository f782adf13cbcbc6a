package arpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cenkalti/rpc2"

	"github.com/arpcbridge/arpcbridge/arpc/auth"

	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
)

// TLS on a port: every accepted connection is a server-side TLS connection
// whose handshake runs on its first read or write, bounded by a timeout, so
// a port multiplexer (cmux) routes the decrypted bytes and a stalled
// handshake costs one deadline, never the accept loop. A plaintext client
// gets a clear answer before the connection closes: an aRPC client its
// Hello refused with ErrUnauthenticated, an HTTP/1 client a 400 response.

// DefaultTLSHandshakeTimeout bounds a server-side TLS handshake.
const DefaultTLSHandshakeTimeout = 5 * time.Second

// TLSListener returns a listener whose connections speak TLS with cfg
// (negotiating the shared port's ALPN protocols, see auth.ServerALPN) and
// complete their handshake within timeout (default
// DefaultTLSHandshakeTimeout) of their first read or write. Closing it
// closes l.
func TLSListener(l net.Listener, cfg *tls.Config,
	timeout time.Duration,
) net.Listener {
	return &tlsListener{Listener: l, cfg: auth.ServerALPN(cfg),
		timeout: orDefault(timeout, DefaultTLSHandshakeTimeout)}
}

type tlsListener struct {
	net.Listener
	cfg     *tls.Config
	timeout time.Duration
}

func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return serverTLS(c, l.cfg, l.timeout), nil
}

// serverTLS wraps a server-side connection in TLS with a bounded handshake.
func serverTLS(c net.Conn, cfg *tls.Config, timeout time.Duration) *tlsConn {
	pc := &peekConn{Conn: c}
	return &tlsConn{Conn: tls.Server(pc, cfg), raw: pc, timeout: timeout}
}

// tlsConn is a server-side TLS connection that handshakes, within its
// timeout, before the first byte is read or written. It looks at the
// client's first bytes itself first: the TLS stack would swallow more than
// it needs from a plaintext client, and there would be nothing to answer.
type tlsConn struct {
	*tls.Conn
	raw     *peekConn
	timeout time.Duration
	once    sync.Once
	err     error
	// readDl is the read deadline set by the user of the connection (cmux),
	// restored after the handshake, which sets its own
	mx     sync.Mutex
	readDl time.Time
}

func (c *tlsConn) handshake() error {
	c.once.Do(func() {
		c.err = c.doHandshake()
		if c.err != nil {
			// the TLS stack sent its alert (with TLS 1.3, a refused client
			// certificate is noticed after the client's handshake is done,
			// and the client is writing): read until the client hangs up,
			// briefly, so that our close does not reset the connection and
			// discard the alert before the client reads it
			_ = c.raw.SetReadDeadline(time.Now().Add(min(c.timeout, time.Second)))
			drain(c.raw)
			_ = c.raw.Close()
			return
		}
		c.mx.Lock()
		_ = c.raw.SetReadDeadline(c.readDl)
		c.mx.Unlock()
	})
	return c.err
}

func (c *tlsConn) doHandshake() error {
	_ = c.raw.SetReadDeadline(time.Now().Add(c.timeout))
	var head [len(wire.Preface)]byte
	if _, err := io.ReadFull(c.raw.Conn, head[:]); err != nil {
		return fmt.Errorf("%w: tls handshake with %s: %w", ErrNetworkTimeout,
			c.RemoteAddr(), err)
	}
	c.raw.head = head[:]
	if head[0] != 0x16 {
		// not a TLS handshake record: a plaintext client
		answerPlaintext(c.raw, head[:], c.timeout)
		return fmt.Errorf("%w: tls handshake with %s: a plaintext client on a "+
			"TLS port", ErrUnauthenticated, c.RemoteAddr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := c.Conn.HandshakeContext(ctx); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: not done within %s: %w", ErrNetworkTimeout,
				c.timeout, err)
		}
		return fmt.Errorf("tls handshake with %s: %w", c.RemoteAddr(), err)
	}
	return nil
}

func (c *tlsConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *tlsConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *tlsConn) SetReadDeadline(t time.Time) error {
	c.mx.Lock()
	defer c.mx.Unlock()
	c.readDl = t
	return c.Conn.SetReadDeadline(t)
}

func (c *tlsConn) SetDeadline(t time.Time) error {
	c.mx.Lock()
	defer c.mx.Unlock()
	c.readDl = t
	return c.Conn.SetDeadline(t)
}

// peekConn reads head before the connection.
type peekConn struct {
	net.Conn
	head []byte
}

func (c *peekConn) Read(b []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(b, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// errTLSRequired is what a plaintext aRPC client on a TLS port is told.
var errTLSRequired = fmt.Errorf("%w: this server requires TLS (set "+
	"ClientOpts.TLSConfig, or --tls-ca on the command line)", ErrUnauthenticated)

// answerPlaintext tells a plaintext client of a TLS port what is wrong,
// within timeout: head holds its first bytes, which raw reads again.
func answerPlaintext(raw net.Conn, head []byte, timeout time.Duration) {
	_ = raw.SetDeadline(time.Now().Add(timeout))
	switch {
	case bytes.HasPrefix(head, []byte(wire.Preface)):
		answerHello(raw, errTLSRequired)
	case isHTTP1(head):
		_, _ = io.WriteString(raw, "HTTP/1.0 400 Bad Request\r\n"+
			"Content-Type: text/plain\r\nConnection: close\r\n\r\n"+
			"This server requires TLS: use https://\n")
		drain(raw)
	case bytes.HasPrefix(head, []byte("PRI ")):
		// an HTTP/2 client, gRPC's: its first call gets UNAUTHENTICATED
		answerH2(raw, "this server requires TLS")
		drain(raw)
	}
	// anything else just sees the close
}

// drain half-closes conn and reads what the peer still sends, until it
// closes or the deadline passes: closing with unread input would reset
// the connection and could discard the answer before the peer reads it.
func drain(conn net.Conn) {
	if pc, ok := conn.(*peekConn); ok {
		conn = pc.Conn
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(conn, 64<<10))
}

func isHTTP1(head []byte) bool {
	for _, m := range []string{"GET ", "POST", "HEAD", "PUT ", "DELE", "OPTI",
		"PATC", "CONN", "TRAC"} {
		if bytes.HasPrefix(head, []byte(m)) {
			return true
		}
	}
	return false
}

// answerHello reads an aRPC client's preface and answers its Hello with
// err, until the client hangs up or the connection's deadline passes.
func answerHello(conn net.Conn, err error) {
	var pre [len(wire.Preface)]byte
	if _, e := io.ReadFull(conn, pre[:]); e != nil || string(pre[:]) != wire.Preface {
		return
	}
	rc := rpc2.NewClientWithCodec(newCodec(conn, 64<<10, time.Second, nil))
	rc.Handle(wire.MHello, func(_ *rpc2.Client, _ *wire.ArgsHello, resp *wire.RespHello) error {
		resp.Err = toWireErr(err)
		return nil
	})
	rc.Run()
}

// clientTLS runs the client side of a TLS handshake on conn within ctx;
// conn is closed on failure. Errors wrap ErrNetwork, and ErrUnauthenticated
// when the server's certificate did not verify (permanent: no retries).
func clientTLS(ctx context.Context, conn net.Conn, addr string,
	cfg *tls.Config,
) (net.Conn, error) {
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{auth.ALPNARPC}
	}
	tc := tls.Client(conn, cfg)
	err := tc.HandshakeContext(ctx)
	if err == nil {
		return &clientTLSConn{Conn: tc}, nil
	}
	_ = conn.Close()
	var verr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &verr):
		return nil, fmt.Errorf("%w: %w: TLS: the server's certificate: %w",
			ErrNetwork, ErrUnauthenticated, err)
	case isTLSAlert(err):
		// the server refused us in the handshake (e.g. our certificate)
		return nil, fmt.Errorf("%w: %w: TLS handshake with %s refused: %w",
			ErrNetwork, ErrUnauthenticated, addr, err)
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		return nil, fmt.Errorf("%w: TLS handshake with %s: connection closed "+
			"(a plaintext server?): %w", ErrNetwork, addr, err)
	}
	return nil, fmt.Errorf("%w: TLS handshake with %s: %w", ErrNetwork, addr,
		err)
}

// clientTLSConn remembers a TLS alert the server sent after the handshake:
// with TLS 1.3 a server refuses a client certificate only then, and the
// client must tell that refusal (permanent) from a broken link.
type clientTLSConn struct {
	*tls.Conn
	alert atomic.Pointer[error]
}

func (c *clientTLSConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && isTLSAlert(err) {
		c.alert.CompareAndSwap(nil, &err)
	}
	return n, err
}

// refusedByTLS returns ErrUnauthenticated when conn's server refused it
// with a TLS alert, else err.
func refusedByTLS(conn net.Conn, err error) error {
	if c, ok := conn.(*clientTLSConn); ok {
		if a := c.alert.Load(); a != nil {
			return fmt.Errorf("%w: %w: the server refused the TLS connection: %w",
				ErrNetwork, ErrUnauthenticated, *a)
		}
	}
	return err
}

// isTLSAlert reports whether err is an alert the TLS peer sent.
func isTLSAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}
