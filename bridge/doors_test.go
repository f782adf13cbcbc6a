package bridge_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge"
)

// newARPCClient returns a Ready aRPC client of addr.
func newARPCClient(t testing.TB, addr, name string) *arpc.Client {
	t.Helper()
	return newARPCClientOpts(t, addr, name, nil)
}

// newARPCClientOpts is newARPCClient with options, and functions that
// configure the client before it starts.
func newARPCClientOpts(t testing.TB, addr, name string, opts *arpc.ClientOpts,
	configure ...func(c *arpc.Client),
) *arpc.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := arpc.NewClient(ctx, addr, name, testSchema, testNames, opts)
	require.NoError(t, err)
	c.ConnRetries = -1
	for _, f := range configure {
		f(c)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		c.Stop(sctx, true)
		cancel()
	})
	c.Start()
	select {
	case <-c.Mach.When1(ss.ClientStates.Ready, nil):
	case <-time.After(5 * time.Second):
		t.Fatalf("aRPC client not ready: %v", c.Mach.Err())
	}
	return c
}

// TestBothDoorsOnePort: a mutation made through gRPC is seen by an aRPC
// client and vice versa, both connected to the same port, and the two
// replicas converge on the worker's time.
func TestBothDoorsOnePort(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	addr := s.Addr().String()
	g := dial(t, addr, "grpc-side", nil)
	a := newARPCClient(t, addr, "arpc-side")

	// gRPC → aRPC
	require.Equal(t, am.Executed, g.Worker.Add1("A", nil))
	assert.True(t, g.Worker.Is(am.S{"A", "B"}), "reply carries the diff")
	waitCh(t, a.Worker.When(am.S{"A", "B"}, nil), "aRPC sees gRPC's A")

	// aRPC → gRPC, with a relation (Remove A) and an Auto state (F)
	require.Equal(t, am.Executed, a.Worker.Add1("D", nil))
	waitCh(t, g.Worker.When(am.S{"D", "F"}, nil), "gRPC sees aRPC's D and auto F")
	waitCh(t, g.Worker.WhenNot1("A", nil), "gRPC sees A removed")

	// worker-side changes reach both
	w.Add1("E", nil)
	waitCh(t, g.Worker.WhenTime1("E", 1, nil), "gRPC sees E")
	waitCh(t, a.Worker.WhenTime1("E", 1, nil), "aRPC sees E")
	assert.Equal(t, w.Time(nil), g.Worker.Time(nil))
	assert.Equal(t, w.Time(nil), a.Worker.Time(nil))

	// one engine for both doors
	assert.Equal(t, int64(2), s.Service().Stats().Subscribers)
}

// TestHealthReflectionHTTP: grpc.health.v1, server reflection and HTTP/1.1
// /healthz and /metrics share the port.
func TestHealthReflectionHTTP(t *testing.T) {
	w := newWorker(t)
	mine := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/mine" {
			http.NotFound(rw, r)
			return
		}
		_, _ = io.WriteString(rw, "bridge_up 1\n")
	})
	s := startServer(t, w, &bridge.ServerOpts{HTTP: mine})
	addr := s.Addr().String()
	ctx := tctx(t)

	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(
		insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	for _, svc := range []string{"", "arpc.bridge.v1.BridgeService"} {
		resp, err := healthpb.NewHealthClient(cc).Check(ctx,
			&healthpb.HealthCheckRequest{Service: svc})
		require.NoError(t, err)
		assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.Status, svc)
	}

	rs, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	require.NoError(t, err)
	require.NoError(t, rs.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}))
	rr, err := rs.Recv()
	require.NoError(t, err)
	var names []string
	for _, svc := range rr.GetListServicesResponse().GetService() {
		names = append(names, svc.Name)
	}
	assert.Contains(t, names, "arpc.bridge.v1.BridgeService")
	assert.Contains(t, names, "grpc.health.v1.Health")
	require.NoError(t, rs.CloseSend())

	get := func(path string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet,
			"http://"+addr+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)
	code, body = get("/mine")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "bridge_up 1")
	// the server answers /metrics itself, as /healthz
	code, body = get("/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `arpcbridge_clients{door="grpc"}`)
	code, _ = get("/nope")
	assert.Equal(t, http.StatusNotFound, code)
	http.DefaultClient.CloseIdleConnections()
}

// TestHealthWorkerGone: once the worker is disposed, grpc.health.v1 reports
// NOT_SERVING for the server and for BridgeService, as /healthz turns 503.
func TestHealthWorkerGone(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	addr := s.Addr().String()
	ctx := tctx(t)
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(
		insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	hc := healthpb.NewHealthClient(cc)
	services := []string{"", "arpc.bridge.v1.BridgeService"}
	for _, svc := range services {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		require.NoError(t, err)
		require.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.Status, svc)
	}

	w.Dispose()
	for _, svc := range services {
		assert.Eventually(t, func() bool {
			resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
			return err == nil &&
				resp.Status == healthpb.HealthCheckResponse_NOT_SERVING
		}, 5*time.Second, 10*time.Millisecond, "service %q", svc)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://"+addr+"/healthz", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	http.DefaultClient.CloseIdleConnections()
}

// TestServeShutdownRace: a Shutdown as soon as gRPC answers, which may come
// before Serve has started the aRPC door, still makes Serve return nil.
func TestServeShutdownRace(t *testing.T) {
	w := newWorker(t)
	for range 10 {
		s, err := bridge.NewServer(context.Background(), listen(t), "s", w, nil)
		require.NoError(t, err)
		served := make(chan error, 1)
		go func() { served <- s.Serve() }()
		cc, err := grpc.NewClient(s.Addr().String(),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		_, err = healthpb.NewHealthClient(cc).Check(tctx(t),
			&healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
		require.NoError(t, err)
		require.NoError(t, cc.Close())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		require.NoError(t, s.Shutdown(ctx))
		cancel()
		require.NoError(t, <-served)
	}
}
