package auth

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
)

// ALPN protocol IDs of the shared port. A TLS server of the bridge selects,
// per connection, the one protocol the client will speak: ALPNARPC for aRPC
// clients, ALPNHTTP1 for HTTP clients that offer it (curl, browsers: they
// get HTTP/1.1 even when they also offer h2), else ALPNH2 (gRPC clients,
// which offer h2 alone; grpc-go 1.67+ refuses a connection without it).
const (
	ALPNARPC  = "arpc/1"
	ALPNH2    = "h2"
	ALPNHTTP1 = "http/1.1"
)

// ServerALPN returns a copy of cfg that negotiates the shared port's
// protocols (see ALPNARPC). A GetConfigForClient of cfg is still called and
// its result gets the same treatment.
func ServerALPN(cfg *tls.Config) *tls.Config {
	out := cfg.Clone()
	out.NextProtos = []string{ALPNH2, ALPNARPC, ALPNHTTP1}
	inner := cfg.GetConfigForClient
	base := cfg.Clone()
	base.GetConfigForClient = nil
	out.GetConfigForClient = func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
		c := base
		if inner != nil {
			got, err := inner(hi)
			if err != nil {
				return nil, err
			}
			if got != nil {
				c = got
			}
		}
		protos := pickALPN(hi.SupportedProtos)
		if slices.Equal(c.NextProtos, protos) {
			return c, nil
		}
		c = c.Clone()
		c.NextProtos = protos
		return c, nil
	}
	return out
}

func pickALPN(offered []string) []string {
	for _, p := range []string{ALPNARPC, ALPNHTTP1, ALPNH2} {
		if slices.Contains(offered, p) {
			return []string{p}
		}
	}
	return nil
}

// ServerTLS serves a certificate and key, and with a client CA requires and
// verifies client certificates (mTLS), from files it reloads on Reload:
// new handshakes use the new files, live connections keep going. Safe for
// concurrent use.
type ServerTLS struct {
	// CertFile and KeyFile are the PEM certificate (chain) and key; ClientCAFile,
	// when set, the PEM CA bundle client certificates must chain to.
	CertFile, KeyFile, ClientCAFile string

	cur atomic.Pointer[tls.Config]
}

// LoadServerTLS loads the files (see ServerTLS). Errors wrap ErrBadFile.
func LoadServerTLS(certFile, keyFile, clientCAFile string) (*ServerTLS, error) {
	s := &ServerTLS{CertFile: certFile, KeyFile: keyFile,
		ClientCAFile: clientCAFile}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload reads the files again; on error the previous ones stay in use.
func (s *ServerTLS) Reload() error {
	cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
	if err != nil {
		return fmt.Errorf("%w: TLS certificate %s / key %s: %w", ErrBadFile,
			s.CertFile, s.KeyFile, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{cert}}
	if s.ClientCAFile != "" {
		pool, err := LoadCAPool(s.ClientCAFile)
		if err != nil {
			return err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	s.cur.Store(cfg)
	return nil
}

// Config returns a server config that uses the files as last (re)loaded,
// negotiating the shared port's protocols (ServerALPN).
func (s *ServerTLS) Config() *tls.Config {
	return ServerALPN(&tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.cur.Load(), nil
		},
	})
}

// Files returns the files to watch for changes.
func (s *ServerTLS) Files() []string {
	out := []string{s.CertFile, s.KeyFile}
	if s.ClientCAFile != "" {
		out = append(out, s.ClientCAFile)
	}
	return out
}

// LoadCAPool reads a PEM bundle of CA certificates.
func LoadCAPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: CA file: %w", ErrBadFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: CA file %s: no PEM certificates",
			ErrBadFile, path)
	}
	return pool, nil
}

// ClientTLS returns a client config: caFile (PEM) verifies the server
// instead of the system roots when set; certFile and keyFile present a
// client certificate when set (both or neither). serverName overrides the
// name checked against the server's certificate (default: the host
// dialed).
func ClientTLS(caFile, certFile, keyFile, serverName string) (*tls.Config,
	error,
) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pool, err := LoadCAPool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	switch {
	case certFile != "" && keyFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: client certificate %s / key %s: %w",
				ErrBadFile, certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case certFile != "" || keyFile != "":
		return nil, fmt.Errorf("%w: a client certificate needs both the "+
			"certificate and the key file", ErrBadFile)
	}
	return cfg, nil
}
