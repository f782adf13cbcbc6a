package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/arpcbridge/arpcbridge/arpc/auth"
)

// reloadPoll is how often serve checks its TLS, token and policy files for
// changes (SIGHUP reloads them at once).
const reloadPoll = 2 * time.Second

// serveSecurity are serve's security flags and what they load.
type serveSecurity struct {
	tlsCert, tlsKey, tlsClientCA string
	tokensFile, policyFile       string

	tls    *auth.ServerTLS
	tokens *auth.Tokens
	policy *auth.Policy
}

func (s *serveSecurity) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.tlsCert, "tls-cert", "", "serve TLS on the port with this PEM certificate (chain); needs --tls-key")
	f.StringVar(&s.tlsKey, "tls-key", "", "the PEM private key of --tls-cert")
	f.StringVar(&s.tlsClientCA, "tls-client-ca", "", "require client certificates signed by this PEM CA bundle (mTLS); identities come from them")
	f.StringVar(&s.tokensFile, "auth-tokens", "", "bearer token file (YAML/JSON: tokens: [{identity, sha256}]) mapping tokens to identities")
	f.StringVar(&s.policyFile, "auth-policy", "", "per-state policy file (YAML/JSON: rules: [{identity, mutate, observe}]); clients must then authenticate")
}

// load reads the files; errors are bad input (exit 2).
func (s *serveSecurity) load() error {
	var err error
	switch {
	case (s.tlsCert == "") != (s.tlsKey == ""):
		return badInput("--tls-cert and --tls-key go together")
	case s.tlsClientCA != "" && s.tlsCert == "":
		return badInput("--tls-client-ca needs --tls-cert and --tls-key (mTLS is TLS)")
	}
	if s.tlsCert != "" {
		if s.tls, err = auth.LoadServerTLS(s.tlsCert, s.tlsKey, s.tlsClientCA); err != nil {
			return &codeError{exitBadInput, err}
		}
	}
	if s.tokensFile != "" {
		if s.tokens, err = auth.LoadTokens(s.tokensFile); err != nil {
			return &codeError{exitBadInput, err}
		}
	}
	if s.policyFile != "" {
		if s.policy, err = auth.LoadPolicy(s.policyFile); err != nil {
			return &codeError{exitBadInput, err}
		}
	}
	return nil
}

func (s *serveSecurity) tlsConfig() *tls.Config {
	if s.tls == nil {
		return nil
	}
	return s.tls.Config()
}

// mode describes the port for the first line serve prints.
func (s *serveSecurity) mode() string {
	switch {
	case s.tls != nil && s.tlsClientCA != "":
		return "; mTLS"
	case s.tls != nil:
		return "; TLS"
	}
	return ""
}

// scheme is the URL scheme of the port's HTTP side.
func (s *serveSecurity) scheme() string {
	if s.tls != nil {
		return "https"
	}
	return "http"
}

func (s *serveSecurity) files() []string {
	var out []string
	if s.tls != nil {
		out = append(out, s.tls.Files()...)
	}
	for _, f := range []string{s.tokensFile, s.policyFile} {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// reload reloads every file; a file that fails keeps its previous contents.
func (s *serveSecurity) reload(log *slog.Logger, why string) {
	for _, r := range []struct {
		what string
		on   bool
		fn   func() error
	}{
		{"tls", s.tls != nil, func() error { return s.tls.Reload() }},
		{"tokens", s.tokens != nil, func() error { return s.tokens.Reload() }},
		{"policy", s.policy != nil, func() error { return s.policy.Reload() }},
	} {
		if !r.on {
			continue
		}
		if err := r.fn(); err != nil {
			log.Error("reload failed, keeping the previous "+r.what, "why", why,
				"err", err)
			continue
		}
		log.Info("reloaded "+r.what, "why", why)
	}
}

// watch reloads the files when they change or on SIGHUP, until ctx ends.
// It returns at once when there is nothing to reload; otherwise run it on
// a goroutine serve waits for.
func (s *serveSecurity) watch(ctx context.Context, log *slog.Logger) {
	files := s.files()
	if len(files) == 0 {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	changed := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		auth.WatchFiles(ctx, reloadPoll, files, func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
	}()
	defer func() { <-done }()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			s.reload(log, "SIGHUP")
		case <-changed:
			s.reload(log, "file changed")
		}
	}
}

// isLoopback reports whether a listen address is this machine only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// clientSecurity are the security flags of the client commands.
type clientSecurity struct {
	tlsCA, tlsCert, tlsKey, token string
	cfg                           *tls.Config
}

func (c *clientSecurity) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.tlsCA, "tls-ca", "", "connect with TLS, verifying the server against this PEM CA bundle")
	f.StringVar(&c.tlsCert, "tls-cert", "", "connect with TLS, presenting this PEM client certificate (mTLS); needs --tls-key")
	f.StringVar(&c.tlsKey, "tls-key", "", "the PEM private key of --tls-cert")
	f.StringVar(&c.token, "token", "", "bearer token for servers with --auth-tokens (prefer BRIDGE_TOKEN: flags show in ps)")
}

// load builds the TLS config the flags ask for; nil for plaintext.
func (c *clientSecurity) load() error {
	if c.tlsCA == "" && c.tlsCert == "" && c.tlsKey == "" {
		return nil
	}
	cfg, err := auth.ClientTLS(c.tlsCA, c.tlsCert, c.tlsKey, "")
	if err != nil {
		return &codeError{exitBadInput, err}
	}
	c.cfg = cfg
	return nil
}

// grpcDialOpts are the credentials of a gRPC connection.
func (c *clientSecurity) grpcDialOpts() []grpc.DialOption {
	var creds credentials.TransportCredentials = insecure.NewCredentials()
	if c.cfg != nil {
		creds = credentials.NewTLS(c.cfg.Clone())
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if c.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(tokenCreds(c.token)))
	}
	return opts
}

type tokenCreds string

func (t tokenCreds) GetRequestMetadata(context.Context, ...string) (
	map[string]string, error,
) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

func (tokenCreds) RequireTransportSecurity() bool { return false }

// tlsRefusal tells, after a failed gRPC call, whether the TLS handshake
// with addr is what fails, and how: a refusal (the server's certificate
// does not verify, or the server refuses ours) is exit 5 with the TLS
// error; a plaintext server, unreachable. nil when TLS works (or is off).
func (c *clientSecurity) tlsRefusal(ctx context.Context, addr string) error {
	if c.cfg == nil {
		return nil
	}
	cfg := c.cfg.Clone()
	cfg.NextProtos = []string{auth.ALPNH2}
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{}}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err == nil {
		// with TLS 1.3 a refusal of our certificate comes after the handshake
		_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, err = conn.Read(make([]byte, 1))
		_ = conn.Close()
	}
	var (
		oe   *net.OpError
		verr *tls.CertificateVerificationError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &verr) || (errors.As(err, &oe) && oe.Op == "remote error"):
		return &codeError{exitDenied, fmt.Errorf("%s refused TLS: %w", addr, err)}
	}
	return nil
}
