package bridge_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/auth"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
	"github.com/arpcbridge/arpcbridge/internal/testcerts"
)

// failFast bounds a refused connection: a refusal never looks like a hang
// (Dial's ConnTimeout is 20 s in these tests; 5 s leaves room for a loaded
// CI machine running the race detector).
const failFast = 5 * time.Second

type pki struct {
	ca, other *testcerts.CA
	server    *testcerts.Cert
	good      *testcerts.Cert
}

func newPKI() *pki {
	ca := testcerts.NewCA("ca")
	return &pki{ca: ca, other: testcerts.NewCA("other"), server: ca.Server(),
		good: ca.Issue(testcerts.Opts{URIs: []string{"spiffe://test/ui-1"}})}
}

func (p *pki) mtls() *tls.Config { return testcerts.ServerConfig(p.server, p.ca) }

func TestTLSSharedPortAllDoors(t *testing.T) {
	p := newPKI()
	w := newWorker(t)
	var ids []string
	s := startServer(t, w, &bridge.ServerOpts{TLSConfig: p.mtls(),
		Service: bridge.ServiceOpts{AllowFn: func(id string) bool {
			ids = append(ids, id)
			return true
		}}})
	addr := s.Addr().String()
	cfg := testcerts.ClientConfig(p.ca, p.good)

	// aRPC
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ac, err := arpc.NewClient(ctx, addr, "a", testSchema, testNames,
		&arpc.ClientOpts{TLSConfig: cfg})
	require.NoError(t, err)
	ac.ConnRetries = -1
	ac.Start()
	t.Cleanup(func() { ac.Stop(context.Background(), true) })
	select {
	case <-ac.Mach.When1(ss.ClientStates.Ready, nil):
	case <-time.After(5 * time.Second):
		t.Fatalf("aRPC over TLS: %v", ac.Mach.Err())
	}
	assert.Equal(t, am.Executed, ac.Worker.Add1("A", nil))

	// gRPC, the Go client
	gc := dial(t, addr, "g", &bridge.ClientOpts{TLSConfig: cfg})
	assert.Equal(t, am.Executed, gc.Worker.Add1("E", nil))
	assert.True(t, w.Is(am.S{"A", "E"}))
	assert.Equal(t, []string{"spiffe://test/ui-1"}, slices.Compact(ids),
		"both doors see the certificate's identity, not the client IDs")

	// gRPC health, a plain grpc-go client (ALPN h2)
	cc, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	require.NoError(t, err)
	defer cc.Close()
	hr, err := healthpb.NewHealthClient(cc).Check(tctx(t), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, hr.Status)

	// HTTP, from a client that offers h2 and http/1.1 (as curl does)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg.Clone(),
		ForceAttemptHTTP2: true}, Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + addr + "/healthz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok\n", string(body))
	assert.Equal(t, "HTTP/1.1", resp.Proto)
	assert.NotNil(t, resp.TLS)
}

func TestTLSRefusalsFailFast(t *testing.T) {
	p := newPKI()
	expired := p.ca.Issue(testcerts.Opts{CN: "old", Expired: true})
	foreign := p.other.Issue(testcerts.Opts{CN: "ui-1"})
	forced := func(c *testcerts.Cert) *tls.Config {
		cfg := testcerts.ClientConfig(p.ca, nil)
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (
			*tls.Certificate, error,
		) {
			return &c.TLS, nil
		}
		return cfg
	}
	s := startServer(t, newWorker(t), &bridge.ServerOpts{TLSConfig: p.mtls()})
	addr := s.Addr().String()
	tests := []struct {
		name   string
		cfg    *tls.Config
		wantIn string
	}{
		{"expired", forced(expired), "expired certificate"},
		{"wrong CA", forced(foreign), "unknown certificate authority"},
		{"no cert", testcerts.ClientConfig(p.ca, nil), "certificate required"},
		{"wrong host", func() *tls.Config {
			c := testcerts.ClientConfig(p.ca, p.good)
			c.ServerName = "bridge.example.com"
			return c
		}(), "bridge.example.com"},
		{"untrusted server", testcerts.ClientConfig(p.other, p.good), "unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := bridge.Dial(context.Background(), addr, "c", testSchema,
				testNames, &bridge.ClientOpts{TLSConfig: tt.cfg,
					ConnTimeout: 20 * time.Second})
			require.ErrorIs(t, err, arpc.ErrUnauthenticated)
			assert.Contains(t, err.Error(), tt.wantIn)
			assert.Less(t, time.Since(start), failFast)
		})
	}

	t.Run("plaintext grpc-go call", func(t *testing.T) {
		start := time.Now()
		_, err := rawClient(t, addr).Handshake(tctx(t),
			&bridgev1.HandshakeRequest{ClientId: "c"})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "this server requires TLS")
		assert.Less(t, time.Since(start), failFast)
	})
	t.Run("plaintext gRPC client", func(t *testing.T) {
		_, err := bridge.Dial(context.Background(), addr, "c", testSchema,
			testNames, &bridge.ClientOpts{ConnTimeout: 20 * time.Second})
		require.ErrorIs(t, err, arpc.ErrUnauthenticated)
		assert.Contains(t, err.Error(), "this server requires TLS")
	})
	t.Run("plaintext HTTP client", func(t *testing.T) {
		resp, err := (&http.Client{Timeout: failFast}).Get("http://" + addr + "/healthz")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.Contains(t, string(body), "requires TLS")
	})
	t.Run("stalled handshake", func(t *testing.T) {
		ps := startServer(t, newWorker(t), &bridge.ServerOpts{TLSConfig: p.mtls(),
			ReadTimeout: 200 * time.Millisecond})
		conn, err := net.Dial("tcp", ps.Addr().String())
		require.NoError(t, err)
		defer conn.Close()
		start := time.Now()
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadAll(conn)
		require.NoError(t, err, "closed by the server, not by our deadline")
		assert.Less(t, time.Since(start), failFast)
	})
	t.Run("TLS client, plaintext server", func(t *testing.T) {
		ps := startServer(t, newWorker(t), nil)
		start := time.Now()
		_, err := bridge.Dial(context.Background(), ps.Addr().String(), "c",
			testSchema, testNames, &bridge.ClientOpts{TLSConfig: testcerts.ClientConfig(p.ca, p.good),
				ConnTimeout: 20 * time.Second})
		require.ErrorIs(t, err, arpc.ErrNetwork)
		assert.Contains(t, err.Error(), "a plaintext server?")
		assert.Less(t, time.Since(start), failFast)
		resp, err := (&http.Client{Timeout: failFast, Transport: &http.Transport{
			TLSClientConfig: testcerts.ClientConfig(p.ca, nil)}}).Get(
			"https://" + ps.Addr().String() + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
		}
		require.Error(t, err)
		assert.Less(t, time.Since(start), failFast+time.Second)
	})
}

const bridgePolicy = `
rules:
  - identity: "ui-*"
    mutate:  {allow: ["A", "B", "E"]}
    observe: {allow: ["*"], deny: ["H", "Exception"]}
`

func TestPolicyGRPC(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.WriteFile(pf, []byte(bridgePolicy), 0o600))
	policy, err := auth.LoadPolicy(pf)
	require.NoError(t, err)
	tokens := auth.NewTokens(map[string]string{"t-ui": "ui-1", "t-x": "x"})
	w := newWorker(t)
	idxH := slices.Index(testNames, "H")
	w.Add1("H", nil)
	s := startServer(t, w, &bridge.ServerOpts{Policy: policy, Tokens: tokens})
	addr := s.Addr().String()

	// no or bad credentials: UNAUTHENTICATED, on the raw stubs too
	raw := rawClient(t, addr)
	_, err = raw.Handshake(tctx(t), &bridgev1.HandshakeRequest{ClientId: "r"})
	assert.Equal(t, codes.Unauthenticated, status.Code(err))
	bad := metadata.AppendToOutgoingContext(tctx(t), "authorization", "Bearer nope")
	_, err = raw.Handshake(bad, &bridgev1.HandshakeRequest{ClientId: "r"})
	assert.Equal(t, codes.Unauthenticated, status.Code(err))
	assert.NotContains(t, err.Error(), "nope")
	_, err = bridge.Dial(context.Background(), addr, "c", testSchema, testNames,
		&bridge.ClientOpts{Token: "nope"})
	require.ErrorIs(t, err, arpc.ErrUnauthenticated)

	ui := metadata.AppendToOutgoingContext(tctx(t), "authorization", "Bearer t-ui")
	hs, err := raw.Handshake(ui, &bridgev1.HandshakeRequest{ClientId: "r"})
	require.NoError(t, err)
	assert.Zero(t, hs.Time[idxH], "Handshake hides H")

	// a refused mutation: PERMISSION_DENIED naming the state, nothing changed
	before := w.Time(nil)
	_, err = raw.Mutate(ui, &bridgev1.MutateRequest{ClientId: "r",
		Type: bridgev1.MutationType_MUTATION_TYPE_ADD, States: []string{"A", "C"}})
	st := status.Convert(err)
	assert.Equal(t, codes.PermissionDenied, st.Code())
	assert.Contains(t, st.Message(), "state C")
	_, err = raw.Mutate(ui, &bridgev1.MutateRequest{ClientId: "r",
		Type: bridgev1.MutationType_MUTATION_TYPE_SET, States: []string{"A"}})
	assert.Equal(t, codes.PermissionDenied, status.Code(err))
	assert.Equal(t, before, w.Time(nil))

	// a forged known time cannot probe H: the answer is a diff without it
	known := slices.Clone(hs.Time)
	known[idxH] = 1 << 40
	sr, err := raw.Sync(ui, &bridgev1.SyncRequest{ClientId: "r",
		KnownSeq: hs.Seq, KnownTime: known})
	require.NoError(t, err)
	assert.False(t, sr.Update.Full)
	assert.NotContains(t, sr.Update.Indexes, uint32(idxH))

	// the Go client: hidden H, refused mutations with errors.Is
	c := dial(t, addr, "c", &bridge.ClientOpts{Token: "t-ui"})
	_, err = c.Worker.Mutate(tctx(t), am.MutationAdd, am.S{"C"}, nil)
	require.ErrorIs(t, err, arpc.ErrPermissionDenied)
	for range 5 {
		w.Toggle1("H", nil)
		w.Toggle1("B", nil)
	}
	require.Equal(t, am.Executed, c.Worker.Add1("E", nil))
	require.Eventually(t, func() bool {
		return c.Worker.Tick("B") == w.Tick("B")
	}, 5*time.Second, 5*time.Millisecond)
	assert.Zero(t, c.Worker.Tick("H"))
	assert.Zero(t, c.Worker.Stats().Resyncs)

	// a raw stream never carries H: its snapshot, then H and B change
	stream, err := raw.WatchClock(ui, &bridgev1.WatchClockRequest{ClientId: "r2"})
	require.NoError(t, err)
	idxB := uint32(slices.Index(testNames, "B"))
	for changed := false; ; {
		msg, err := stream.Recv()
		require.NoError(t, err)
		if msg.GetInitialSyncDone() != nil {
			w.Toggle1("H", nil)
			w.Toggle1("B", nil)
			changed = true
		}
		u := msg.GetUpdate()
		if u == nil {
			continue
		}
		assert.NotContains(t, u.Indexes, uint32(idxH))
		if changed && slices.Contains(u.Indexes, idxB) {
			break
		}
	}

	// another identity is unknown to the policy: nothing
	x := dial(t, addr, "x", &bridge.ClientOpts{Token: "t-x"})
	assert.Zero(t, x.Worker.TimeSum(nil), "observes nothing, but may connect")
	_, err = x.Worker.Mutate(tctx(t), am.MutationAdd, am.S{"A"}, nil)
	require.ErrorIs(t, err, arpc.ErrPermissionDenied)

	// a reload takes effect for new calls
	require.NoError(t, os.WriteFile(pf, []byte(`rules: [{identity: "ui-*", mutate: {allow: ["*"]}}]`), 0o600))
	require.NoError(t, policy.Reload())
	_, err = c.Worker.Mutate(tctx(t), am.MutationAdd, am.S{"D"}, nil)
	require.NoError(t, err)
	assert.True(t, w.Is1("D"))
}
