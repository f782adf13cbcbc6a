package arpc_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/auth"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/internal/testcerts"
)

// failFast is how long a refused connection may take to fail: a refusal
// must never look like a hang (the client's ConnTimeout is 3 s).
const failFast = 2 * time.Second

// connectErr starts c and returns the error it fails with, or nil once
// Ready; a client that neither fails nor gets Ready within failFast fails
// the test.
func connectErr(t *testing.T, c *arpc.Client) error {
	t.Helper()
	start := time.Now()
	c.Start()
	select {
	case <-c.Mach.When1(ss.ClientStates.Ready, nil):
		return nil
	case <-c.Mach.When1(am.StateException, nil):
	case <-time.After(failFast):
		t.Fatalf("client neither Ready nor failed after %s: %s", failFast,
			c.Mach.StringAll())
	}
	require.Less(t, time.Since(start), failFast)
	return c.Mach.Err()
}

func TestTLSMutualAuth(t *testing.T) {
	ca, otherCA := testcerts.NewCA("ca"), testcerts.NewCA("other")
	srvCert := ca.Server()
	good := ca.Issue(testcerts.Opts{CN: "cn-name", DNS: []string{"ui-1"}})
	expired := ca.Issue(testcerts.Opts{CN: "old", Expired: true})
	foreign := otherCA.Issue(testcerts.Opts{CN: "ui-1"})

	tests := []struct {
		name    string
		tls     *tls.Config
		wantErr error
		wantIn  string
	}{
		{"good cert", testcerts.ClientConfig(ca, good), nil, ""},
		{"expired cert", testcerts.ClientConfig(ca, expired),
			arpc.ErrUnauthenticated, "expired"},
		{"wrong CA", func() *tls.Config {
			// presented even though the server asks for another CA's
			c := testcerts.ClientConfig(ca, nil)
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (
				*tls.Certificate, error,
			) {
				return &foreign.TLS, nil
			}
			return c
		}(), arpc.ErrUnauthenticated, "unknown certificate authority"},
		{"no cert", testcerts.ClientConfig(ca, nil), arpc.ErrUnauthenticated,
			"certificate required"},
		{"plaintext client", nil, arpc.ErrUnauthenticated, "requires TLS"},
		{"server cert for another host", func() *tls.Config {
			c := testcerts.ClientConfig(ca, good)
			c.ServerName = "bridge.example.com"
			return c
		}(), arpc.ErrUnauthenticated, "bridge.example.com"},
		{"untrusted server", testcerts.ClientConfig(otherCA, good),
			arpc.ErrUnauthenticated, "unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := newWorker(t, ctx)
			var identity string
			s := startServer(t, ctx, w, func(s *arpc.Server) {
				s.TLSConfig = testcerts.ServerConfig(srvCert, ca)
				s.AllowFn = func(id string) bool { identity = id; return true }
			})
			c := newClient(t, ctx, s.Addr, "c", &arpc.ClientOpts{TLSConfig: tt.tls})
			err := connectErr(t, c)
			if tt.wantErr == nil {
				require.NoError(t, err)
				// the first DNS SAN, not the CN nor the client's own ID
				assert.Equal(t, "ui-1", identity)
				assert.Equal(t, am.Executed, c.Worker.Add1("A", nil))
				assert.True(t, w.Is1("A"))
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			assert.Contains(t, err.Error(), tt.wantIn)
		})
	}
}

func TestTLSClientOnPlaintextServerFailsFast(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ca := testcerts.NewCA("ca")
	s := startServer(t, ctx, newWorker(t, ctx), nil)
	c := newClient(t, ctx, s.Addr, "c",
		&arpc.ClientOpts{TLSConfig: testcerts.ClientConfig(ca, nil)})
	err := connectErr(t, c)
	require.ErrorIs(t, err, arpc.ErrNetwork)
	assert.Contains(t, err.Error(), "plaintext server")
}

func TestTLSStalledHandshakeIsBounded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ca := testcerts.NewCA("ca")
	s := startServer(t, ctx, newWorker(t, ctx), func(s *arpc.Server) {
		s.TLSConfig = testcerts.ServerConfig(ca.Server(), nil)
		s.HandshakeTimeout = 200 * time.Millisecond
	})
	for _, send := range [][]byte{nil, {0x16, 0x03, 0x01, 0x00, 0x50}} {
		conn, err := net.Dial("tcp", s.Addr)
		require.NoError(t, err)
		_, err = conn.Write(send)
		require.NoError(t, err)
		start := time.Now()
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadAll(conn)
		require.NoError(t, err, "the server closes, not our deadline")
		assert.Less(t, time.Since(start), 2*time.Second)
		_ = conn.Close()
	}
	// the server still serves
	c := newClient(t, ctx, s.Addr, "c",
		&arpc.ClientOpts{TLSConfig: testcerts.ClientConfig(ca, nil)})
	require.NoError(t, connectErr(t, c))
}

func TestTLSHugeCertChainRefused(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ca := testcerts.NewCA("ca")
	s := startServer(t, ctx, newWorker(t, ctx), func(s *arpc.Server) {
		s.TLSConfig = testcerts.ServerConfig(ca.Server(), ca)
	})
	// a leaf followed by 2,000 junk intermediates (~1 MB): the TLS stack
	// refuses the oversized handshake message; the server lives on
	leaf := ca.Issue(testcerts.Opts{CN: "ui-1"})
	chain := leaf.TLS
	for range 2000 {
		chain.Certificate = append(chain.Certificate, ca.Cert.Raw)
	}
	cfg := testcerts.ClientConfig(ca, nil)
	cfg.Certificates = []tls.Certificate{chain}
	c := newClient(t, ctx, s.Addr, "huge", &arpc.ClientOpts{TLSConfig: cfg})
	err := connectErr(t, c)
	require.Error(t, err)
	assert.True(t, errors.Is(err, arpc.ErrNetwork) ||
		errors.Is(err, arpc.ErrUnauthenticated), "%v", err)

	ok := newClient(t, ctx, s.Addr, "ok",
		&arpc.ClientOpts{TLSConfig: testcerts.ClientConfig(ca, leaf)})
	require.NoError(t, connectErr(t, ok))
}

func TestTokens(t *testing.T) {
	ca := testcerts.NewCA("ca")
	srvCert := ca.Server()
	alice := ca.Issue(testcerts.Opts{URIs: []string{"spiffe://x/alice"},
		DNS: []string{"ignored"}})
	tokens := auth.NewTokens(map[string]string{"s3cret": "spiffe://x/alice",
		"other": "bob"})
	tests := []struct {
		name     string
		token    string
		cert     *testcerts.Cert
		wantErr  bool
		wantIdIn string
	}{
		{"token", "s3cret", nil, false, "spiffe://x/alice"},
		{"cert and matching token", "s3cret", alice, false, "spiffe://x/alice"},
		{"cert alone", "", alice, false, "spiffe://x/alice"},
		{"unknown token", "nope", nil, true, "unknown token"},
		{"nothing", "", nil, true, "credentials required"},
		{"cert and another identity's token", "other", alice, true,
			`the certificate names "spiffe://x/alice", the token "bob"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var identity string
			s := startServer(t, ctx, newWorker(t, ctx), func(s *arpc.Server) {
				cfg := testcerts.ServerConfig(srvCert, nil)
				// certificates optional: verified when given
				cfg.ClientCAs = ca.Pool()
				cfg.ClientAuth = tls.VerifyClientCertIfGiven
				s.TLSConfig = cfg
				s.Tokens = tokens
				s.AllowFn = func(id string) bool { identity = id; return true }
			})
			c := newClient(t, ctx, s.Addr, "c", &arpc.ClientOpts{
				TLSConfig: testcerts.ClientConfig(ca, tt.cert), Token: tt.token})
			err := connectErr(t, c)
			if !tt.wantErr {
				require.NoError(t, err)
				assert.Equal(t, tt.wantIdIn, identity)
				return
			}
			require.ErrorIs(t, err, arpc.ErrUnauthenticated)
			assert.Contains(t, err.Error(), tt.wantIdIn)
			if tt.token != "" {
				assert.NotContains(t, err.Error(), tt.token, "tokens are never echoed")
			}
		})
	}
}

func TestMuxTLS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ca := testcerts.NewCA("ca")
	w := newWorker(t, ctx)
	m, err := arpc.NewMux(ctx, "m", func(num int, _ net.Conn) (*arpc.Server,
		error,
	) {
		return arpc.NewServer(ctx, "", "s", w, nil)
	}, nil)
	require.NoError(t, err)
	m.Addr = "127.0.0.1:0"
	m.TLSConfig = testcerts.ServerConfig(ca.Server(), nil)
	m.ReadTimeout = time.Second
	m.Start()
	t.Cleanup(func() { m.Stop(true) })
	waitState(t, m.Mach, ss.MuxStates.Ready)
	for _, name := range []string{"a", "b"} {
		c := newClient(t, ctx, m.Addr, name,
			&arpc.ClientOpts{TLSConfig: testcerts.ClientConfig(ca, nil)})
		require.NoError(t, connectErr(t, c))
		assert.Equal(t, am.Executed, c.Worker.Add1("B", nil))
	}
	plain := newClient(t, ctx, m.Addr, "plain", nil)
	require.ErrorIs(t, connectErr(t, plain), arpc.ErrUnauthenticated)
}
