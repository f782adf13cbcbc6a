package store_test

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/bridge"
	"github.com/arpcbridge/arpcbridge/bridge/store"
	"github.com/arpcbridge/arpcbridge/internal/apitest"
)

var (
	testSchema = apitest.Schema
	testNames  = apitest.Names
)

// newMachine returns a fresh machine of the test schema, disposed when the
// test ends. Every incarnation of a "restarted" server gets a new one.
func newMachine(t testing.TB) *am.Machine {
	t.Helper()
	m, err := am.NewCommon(context.Background(), "w", testSchema, testNames,
		nil, nil, &am.Opts{DontLogStackTrace: true})
	require.NoError(t, err)
	t.Cleanup(m.Dispose)
	return m
}

func statePath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "w.state")
}

// incarnation is one "process": a machine, its store and a server.
type incarnation struct {
	mach  *am.Machine
	st    *store.Store
	srv   *bridge.Server
	done  chan error
	ended bool
}

// start opens path, serves a fresh machine restored from it on addr
// ("127.0.0.1:0" for any port) and returns it; stop ends it.
func start(t testing.TB, path, addr string, opts *store.Options,
) *incarnation {
	t.Helper()
	st, err := store.Open(path, opts)
	require.NoError(t, err)
	mach := newMachine(t)
	var l net.Listener
	// the previous incarnation's port may linger for a moment
	require.Eventually(t, func() bool {
		l, err = net.Listen("tcp", addr)
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	srv, err := bridge.NewServer(context.Background(), l, "s", mach,
		&bridge.ServerOpts{Store: st})
	if err != nil {
		_ = l.Close()
		_ = st.Close()
		require.NoError(t, err)
	}
	inc := &incarnation{mach: mach, st: st, srv: srv, done: make(chan error, 1)}
	go func() { inc.done <- srv.Serve() }()
	t.Cleanup(func() { inc.stop(t) })
	// serving: a Shutdown before Serve started would make Serve fail
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	require.Eventually(t, func() bool {
		resp, err := hc.Get("http://" + inc.addr() + "/healthz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 5*time.Second, 5*time.Millisecond)
	return inc
}

// stop shuts the server down and closes the store (as a SIGTERM does).
func (inc *incarnation) stop(t testing.TB) {
	t.Helper()
	if inc.ended {
		return
	}
	inc.ended = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, inc.srv.Shutdown(ctx))
	require.NoError(t, <-inc.done)
	require.NoError(t, inc.st.Close())
	inc.mach.Dispose()
}

func (inc *incarnation) addr() string { return inc.srv.Addr().String() }
