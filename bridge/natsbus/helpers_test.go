package natsbus_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/bridge/natsbus"
	"github.com/arpcbridge/arpcbridge/internal/apitest"
)

var (
	testSchema = apitest.Schema
	testNames  = apitest.Names
)

// startNATS runs a JetStream server on a loopback port until the test ends.
func startNATS(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	if opts == nil {
		opts = &server.Options{}
	}
	opts.Host, opts.JetStream, opts.NoLog, opts.NoSigs = "127.0.0.1", true,
		true, true
	if opts.Port == 0 {
		opts.Port = -1
	}
	if opts.StoreDir == "" {
		opts.StoreDir = t.TempDir()
	}
	s, err := server.NewServer(opts)
	require.NoError(t, err)
	s.Start()
	require.True(t, s.ReadyForConnections(10*time.Second), "NATS not ready")
	t.Cleanup(func() { stopNATS(s) })
	return s
}

func stopNATS(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}

// connect returns a NATS connection that retries forever, closed when the
// test ends.
func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond), nats.RetryOnFailedConnect(true))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

func newWorker(t testing.TB, id string) *am.Machine {
	t.Helper()
	w, err := am.NewCommon(context.Background(), id, testSchema, testNames,
		nil, nil, &am.Opts{DontLogStackTrace: true})
	require.NoError(t, err)
	t.Cleanup(w.Dispose)
	return w
}

func publish(t testing.TB, nc *nats.Conn, w am.Api,
	opts *natsbus.PublisherOpts,
) *natsbus.Publisher {
	t.Helper()
	p, err := natsbus.NewPublisher(context.Background(), nc, w, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

func dial(t testing.TB, nc *nats.Conn, id string, opts *natsbus.ClientOpts,
) *natsbus.Client {
	t.Helper()
	c, err := natsbus.Dial(context.Background(), nc, id, testSchema, testNames,
		opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// eventually waits until the replica's time equals the worker's.
func inSync(t testing.TB, w am.Api, c *natsbus.Client, what string) {
	t.Helper()
	require.Eventually(t, func() bool {
		return fmt.Sprint(w.Time(nil)) == fmt.Sprint(c.Worker.Time(nil))
	}, 10*time.Second, 5*time.Millisecond, "%s: worker %v replica %v", what,
		w.Time(nil), c.Worker.Time(nil))
}

// syncBuf is a goroutine-safe buffer for a child's stderr.
type syncBuf struct {
	mx sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mx.Lock()
	defer s.mx.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mx.Lock()
	defer s.mx.Unlock()
	return s.b.String()
}
