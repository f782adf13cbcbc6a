package arpc_test

import (
	"context"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/internal/apitest"
	"github.com/arpcbridge/arpcbridge/internal/faultproxy"
)

var (
	testSchema = apitest.Schema
	testNames  = apitest.Names
)

func newWorker(t testing.TB, ctx context.Context) *am.Machine {
	t.Helper()
	w, err := am.NewCommon(ctx, "w-"+t.Name(), testSchema, testNames, nil, nil,
		&am.Opts{DontLogStackTrace: true})
	require.NoError(t, err)
	t.Cleanup(w.Dispose)
	return w
}

// pair is a worker served by a Server, with a Ready Client, over loopback.
type pair struct {
	worker *am.Machine
	server *arpc.Server
	client *arpc.Client
	rw     *arpc.Worker
}

type pairOpts struct {
	pushInterval time.Duration
	setup        func(s *arpc.Server, c *arpc.Client)
	consumer     *am.Machine
	// wire is the encoding × compression of the client; the default when
	// nil
	wire *wireCombo
}

func newPair(t testing.TB, o pairOpts) *pair {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := newWorker(t, ctx)
	s := startServer(t, ctx, w, func(s *arpc.Server) {
		if o.pushInterval != 0 {
			s.PushInterval = o.pushInterval
		}
	})
	c := newClient(t, ctx, s.Addr, "c", &arpc.ClientOpts{Consumer: o.consumer})
	if o.wire != nil {
		o.wire.apply(c)
	}
	if o.setup != nil {
		o.setup(s, c)
	}
	startClient(t, c)
	return &pair{worker: w, server: s, client: c, rw: c.Worker}
}

func startServer(t testing.TB, ctx context.Context, w am.Api,
	set func(s *arpc.Server),
) *arpc.Server {
	t.Helper()
	s, err := arpc.NewServer(ctx, "127.0.0.1:0", "s-"+t.Name(), w, nil)
	require.NoError(t, err)
	if set != nil {
		set(s)
	}
	s.Start()
	t.Cleanup(func() { s.Stop(true) })
	waitState(t, s.Mach, ss.ServerStates.RpcReady)
	return s
}

func newClient(t testing.TB, ctx context.Context, addr, name string,
	opts *arpc.ClientOpts,
) *arpc.Client {
	t.Helper()
	c, err := arpc.NewClient(ctx, addr, name+"-"+t.Name(), testSchema, testNames,
		opts)
	require.NoError(t, err)
	c.ConnRetries = -1
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Stop(ctx, true)
	})
	return c
}

func startClient(t testing.TB, c *arpc.Client) {
	t.Helper()
	c.Start()
	waitState(t, c.Mach, ss.ClientStates.Ready)
}

// waitState waits for a state, failing the test after 5s or on Exception.
func waitState(t testing.TB, m am.Api, state string) {
	t.Helper()
	select {
	case <-m.When1(state, nil):
	case <-time.After(5 * time.Second):
		t.Fatalf("timeout waiting for %s on %s: %s (err: %v)", state, m.Id(),
			m.StringAll(), m.Err())
	}
}

// waitCh waits for a channel within 5s.
func waitCh(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("timeout waiting for %s", what)
	}
}

// waitChT waits for a value on a channel within 5s.
func waitChT[T any](t testing.TB, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("timeout waiting for %s", what)
	}
}

// newProxy starts a fault proxy in front of target, closed when the test
// ends.
func newProxy(t testing.TB, target string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(target, faultproxy.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}
