package faultproxy_test

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/internal/faultproxy"
)

// ioTimeout bounds every blocking read or write a test expects to finish.
const ioTimeout = 5 * time.Second

// quiet is how long a test watches for something that must not happen.
const quiet = 150 * time.Millisecond

// echoServer is a loopback TCP server that writes back everything it
// reads. It tracks its connections so tests can observe them closing.
type echoServer struct {
	ln       net.Listener
	wg       sync.WaitGroup
	accepted atomic.Int64
	ended    chan struct{} // receives once per connection whose handler returned

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// startEcho starts an echo server that is closed when the test ends.
func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &echoServer{
		ln:    ln,
		ended: make(chan struct{}, 64),
		conns: make(map[net.Conn]struct{}),
	}
	s.wg.Go(s.serve)
	t.Cleanup(s.close)
	return s
}

func (s *echoServer) addr() string { return s.ln.Addr().String() }

func (s *echoServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepted.Add(1)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				_ = c.Close()
				s.ended <- struct{}{}
			}()
			_, _ = io.Copy(c, c)
		})
	}
}

// close stops the server and waits for its goroutines. Idempotent.
func (s *echoServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// waitEnded waits until n server-side connections have ended.
func (s *echoServer) waitEnded(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(ioTimeout)
	for range n {
		select {
		case <-s.ended:
		case <-deadline:
			t.Fatalf("server connections did not end within %v", ioTimeout)
		}
	}
}

// newProxy starts a proxy to target that is closed when the test ends.
func newProxy(t *testing.T, target string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(target, faultproxy.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

// dial connects to the proxy; the conn is closed when the test ends.
func dial(t *testing.T, p *faultproxy.Proxy) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), ioTimeout)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip writes msg and reads back its echo.
func roundTrip(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(ioTimeout)))
	defer func() { _ = c.SetDeadline(time.Time{}) }()

	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		errc <- err
	}()
	got := make([]byte, len(msg))
	_, rerr := io.ReadFull(c, got)
	require.NoError(t, <-errc)
	require.NoError(t, rerr)
	require.Equal(t, msg, got)
}

// expectClosed asserts that the peer closed c: reading, after any bytes
// still in flight, ends in EOF or another error that is not a timeout.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(ioTimeout)))
	_, err := io.Copy(io.Discard, c)
	if err == nil {
		return // EOF
	}
	require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "conn still open after %v", ioTimeout)
}

// expectSilent asserts that nothing arrives on c and it stays open for the
// quiet period.
func expectSilent(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(quiet)))
	n, err := c.Read(make([]byte, 1))
	require.Zero(t, n, "bytes arrived")
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, c.SetReadDeadline(time.Time{}))
}

// eventually polls cond until it holds or the I/O timeout passes. Use it
// only to observe counters, never to order events.
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", msg)
		}
		time.Sleep(time.Millisecond)
	}
}

// errDeadline is the error of a read whose deadline passed.
var errDeadline = os.ErrDeadlineExceeded
