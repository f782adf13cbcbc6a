package bridge_test

import (
	"context"
	"net"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/arpcbridge/arpcbridge/bridge"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
	"github.com/arpcbridge/arpcbridge/internal/apitest"
)

var (
	testSchema = apitest.Schema
	testNames  = apitest.Names
)

func newWorker(t testing.TB) *am.Machine {
	t.Helper()
	w, err := am.NewCommon(context.Background(), "w-"+t.Name(), testSchema,
		testNames, nil, nil, &am.Opts{DontLogStackTrace: true})
	require.NoError(t, err)
	t.Cleanup(w.Dispose)
	return w
}

// startServer serves w on a loopback port with both doors until the test
// ends.
func startServer(t testing.TB, w am.Api, opts *bridge.ServerOpts) *bridge.Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return startServerOn(t, l, w, opts)
}

// startServerOn is startServer on a listener of the caller's.
func startServerOn(t testing.TB, l net.Listener, w am.Api,
	opts *bridge.ServerOpts,
) *bridge.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := bridge.NewServer(ctx, l, "s", w, opts)
	if err != nil {
		cancel()
		_ = l.Close()
		require.NoError(t, err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		require.NoError(t, s.Shutdown(sctx))
		require.NoError(t, <-served)
		cancel()
	})
	return s
}

// dial returns a ready gRPC client of the server's worker.
func dial(t testing.TB, addr string, name string, opts *bridge.ClientOpts,
) *bridge.Client {
	t.Helper()
	c, err := bridge.Dial(context.Background(), addr, name, testSchema,
		testNames, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// rawClient returns plain generated stubs over a new connection.
func rawClient(t testing.TB, addr string, opts ...grpc.DialOption,
) bridgev1.BridgeServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	return bridgev1.NewBridgeServiceClient(cc)
}

func tctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitCh waits for ch within 5s.
func waitCh(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("timeout waiting for %s", what)
	}
}

func insecureCreds() credentials.TransportCredentials {
	return insecure.NewCredentials()
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return l
}
