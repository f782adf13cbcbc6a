package faultproxy_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/internal/faultproxy"
)

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name    string
		target  string
		opts    faultproxy.Options
		wantErr error
	}{
		{"empty target", "", faultproxy.Options{}, faultproxy.ErrEmptyTarget},
		{"negative dial timeout", "127.0.0.1:1", faultproxy.Options{DialTimeout: -1}, faultproxy.ErrInvalidOptions},
		{"negative chunk size", "127.0.0.1:1", faultproxy.Options{ChunkSize: -1}, faultproxy.ErrInvalidOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := faultproxy.New(tt.target, tt.opts)
			require.ErrorIs(t, err, tt.wantErr)
			require.Nil(t, p)
		})
	}
}

func TestForward(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		chunk int
	}{
		{"one byte", 1, 0},
		{"small", 1 << 10, 0},
		{"large", 1 << 20, 0},
		{"many small chunks", 64 << 10, 512},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startEcho(t)
			p, err := faultproxy.New(srv.addr(), faultproxy.Options{ChunkSize: tt.chunk})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, p.Close()) })

			msg := make([]byte, tt.size)
			_, _ = rand.Read(msg)
			roundTrip(t, dial(t, p), msg)

			want := int64(tt.size)
			eventually(t, func() bool {
				s := p.Stats()
				return s.BytesToTarget == want && s.BytesToClient == want
			}, "byte counters")
			s := p.Stats()
			require.EqualValues(t, 1, s.Accepted)
			require.EqualValues(t, 1, s.Active)
			require.Zero(t, s.Cut)
		})
	}
}

func TestHalfClose(t *testing.T) {
	srv := startEcho(t)
	p := newProxy(t, srv.addr())
	c := dial(t, p)

	msg := []byte("last words")
	_, err := c.Write(msg)
	require.NoError(t, err)
	require.NoError(t, c.CloseWrite())

	require.NoError(t, c.SetReadDeadline(time.Now().Add(ioTimeout)))
	got, err := io.ReadAll(c)
	require.NoError(t, err, "want the echo then EOF")
	require.Equal(t, msg, got)

	srv.waitEnded(t, 1)
	eventually(t, func() bool { return p.Stats().Active == 0 }, "link released")
	require.Zero(t, p.Stats().Cut, "a normal end is not a cut")
}

func TestCutAll(t *testing.T) {
	tests := []struct {
		name  string
		conns int
	}{
		{"no connections", 0},
		{"one connection", 1},
		{"several connections", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startEcho(t)
			p := newProxy(t, srv.addr())

			var conns []net.Conn
			for i := range tt.conns {
				c := dial(t, p)
				roundTrip(t, c, fmt.Appendf(nil, "hello %d", i))
				conns = append(conns, c)
			}

			p.CutAll()

			for _, c := range conns {
				expectClosed(t, c)
			}
			srv.waitEnded(t, tt.conns) // the target side is closed too
			require.EqualValues(t, tt.conns, p.Stats().Cut)
			wantRounds := int64(0)
			if tt.conns > 0 {
				wantRounds = 1
			}
			require.Equal(t, wantRounds, p.Stats().CutRounds)
			eventually(t, func() bool { return p.Stats().Active == 0 }, "links released")

			// The proxy keeps serving new connections.
			roundTrip(t, dial(t, p), []byte("again"))
		})
	}
}

func TestSetDelay(t *testing.T) {
	const delay = 50 * time.Millisecond
	srv := startEcho(t)
	p := newProxy(t, srv.addr())
	c := dial(t, p)
	roundTrip(t, c, []byte("warm up"))

	p.SetDelay(delay)
	start := time.Now()
	roundTrip(t, c, []byte("slow"))
	require.GreaterOrEqual(t, time.Since(start), 2*delay, "delay applies in each direction")

	// Many small writes, each likely its own chunk, arrive complete and in
	// order.
	var want bytes.Buffer
	errc := make(chan error, 1)
	go func() {
		for i := range 200 {
			if _, err := fmt.Fprintf(c, "%04d,", i); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := range 200 {
		fmt.Fprintf(&want, "%04d,", i)
	}
	got := make([]byte, want.Len())
	require.NoError(t, c.SetReadDeadline(time.Now().Add(ioTimeout)))
	_, err := io.ReadFull(c, got)
	require.NoError(t, err)
	require.NoError(t, <-errc)
	require.Equal(t, want.String(), string(got))

	p.SetDelay(0)
	roundTrip(t, c, []byte("fast again"))
}

func TestBlackhole(t *testing.T) {
	t.Run("existing connection", func(t *testing.T) {
		srv := startEcho(t)
		p := newProxy(t, srv.addr())
		c := dial(t, p)
		roundTrip(t, c, []byte("before"))
		before := p.Stats()

		p.Blackhole(true)
		msg := []byte("held")
		_, err := c.Write(msg)
		require.NoError(t, err)
		expectSilent(t, c)
		s := p.Stats()
		require.Equal(t, before.BytesToTarget, s.BytesToTarget, "nothing reached the target")
		require.Zero(t, s.Cut)

		p.Blackhole(false)
		got := make([]byte, len(msg))
		require.NoError(t, c.SetReadDeadline(time.Now().Add(ioTimeout)))
		_, err = io.ReadFull(c, got)
		require.NoError(t, err, "held bytes are delivered once lifted")
		require.Equal(t, msg, got)
	})

	t.Run("new connection", func(t *testing.T) {
		srv := startEcho(t)
		p := newProxy(t, srv.addr())

		p.Blackhole(true)
		c := dial(t, p)
		eventually(t, func() bool { return p.Stats().Accepted == 1 }, "accepted")
		_, err := c.Write([]byte("anyone?"))
		require.NoError(t, err)
		expectSilent(t, c)
		require.Zero(t, srv.accepted.Load(), "target must not be dialled")

		p.Blackhole(false)
		got := make([]byte, len("anyone?"))
		require.NoError(t, c.SetReadDeadline(time.Now().Add(ioTimeout)))
		_, err = io.ReadFull(c, got)
		require.NoError(t, err)
		require.Equal(t, "anyone?", string(got))
		require.EqualValues(t, 1, srv.accepted.Load())
	})

	t.Run("cut while blackholed", func(t *testing.T) {
		srv := startEcho(t)
		p := newProxy(t, srv.addr())
		p.Blackhole(true)
		c := dial(t, p)
		eventually(t, func() bool { return p.Stats().Active == 1 }, "link registered")

		p.CutAll()
		expectClosed(t, c)
		require.EqualValues(t, 1, p.Stats().Cut)
	})
}

func TestRefuse(t *testing.T) {
	srv := startEcho(t)
	p := newProxy(t, srv.addr())
	open := dial(t, p)
	roundTrip(t, open, []byte("open"))

	p.Refuse(true)
	expectClosed(t, dial(t, p))
	eventually(t, func() bool { return p.Stats().Refused == 1 }, "refused counter")
	require.EqualValues(t, 1, srv.accepted.Load(), "refused conns never reach the target")
	roundTrip(t, open, []byte("existing conns unaffected"))

	p.Refuse(false)
	roundTrip(t, dial(t, p), []byte("accepted again"))
	s := p.Stats()
	require.EqualValues(t, 3, s.Accepted)
	require.EqualValues(t, 1, s.Refused)
}

func TestCutEvery(t *testing.T) {
	const interval = 10 * time.Millisecond
	srv := startEcho(t)
	p := newProxy(t, srv.addr())

	p.CutEvery(interval)
	for range 3 {
		c := dial(t, p)
		expectClosed(t, c) // the loop keeps cutting new connections
	}
	eventually(t, func() bool { return p.Stats().Cut >= 3 }, "three cuts")

	p.CutEvery(0)
	cuts := p.Stats().Cut
	c := dial(t, p)
	roundTrip(t, c, []byte("survives"))
	// A read that times out, rather than failing, proves the conn is open.
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*interval)))
	_, err := c.Read(make([]byte, 1))
	require.ErrorIs(t, err, errDeadline)
	require.Equal(t, cuts, p.Stats().Cut, "no cuts after CutEvery(0)")

	// Restarting the loop and closing the proxy must not leak it.
	p.CutEvery(interval)
	p.CutEvery(interval / 2)
}

func TestSetTarget(t *testing.T) {
	first := startEcho(t)
	p := newProxy(t, first.addr())
	old := dial(t, p)
	roundTrip(t, old, []byte("first"))

	// The server restarts on another port.
	first.close()
	expectClosed(t, old)
	second := startEcho(t)
	p.SetTarget(second.addr())

	roundTrip(t, dial(t, p), []byte("second"))
	require.EqualValues(t, 1, second.accepted.Load())
	require.EqualValues(t, 1, first.accepted.Load())
}

func TestClosePromptWithLiveConnections(t *testing.T) {
	tests := []struct {
		name  string
		fault func(p *faultproxy.Proxy)
	}{
		{"idle", func(*faultproxy.Proxy) {}},
		{"blackhole", func(p *faultproxy.Proxy) { p.Blackhole(true) }},
		{"long delay", func(p *faultproxy.Proxy) { p.SetDelay(time.Hour) }},
		{"cut loop", func(p *faultproxy.Proxy) { p.CutEvery(time.Hour) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startEcho(t)
			p, err := faultproxy.New(srv.addr(), faultproxy.Options{})
			require.NoError(t, err)

			var conns []net.Conn
			for range 3 {
				c := dial(t, p)
				roundTrip(t, c, []byte("live"))
				conns = append(conns, c)
			}
			tt.fault(p)
			for _, c := range conns {
				_, err := c.Write([]byte("in flight"))
				require.NoError(t, err)
			}

			closed := make(chan error, 1)
			go func() { closed <- p.Close() }()
			select {
			case err := <-closed:
				require.NoError(t, err)
			case <-time.After(ioTimeout):
				t.Fatal("Close did not return promptly")
			}
			for _, c := range conns {
				expectClosed(t, c)
			}
			require.NoError(t, p.Close(), "Close is idempotent")
			require.Zero(t, p.Stats().Active)

			// Dialling a closed proxy fails or is closed at once.
			if c, err := net.DialTimeout("tcp", p.Addr(), ioTimeout); err == nil {
				expectClosed(t, c)
				_ = c.Close()
			}
		})
	}
}

func TestFaultsAfterClose(t *testing.T) {
	srv := startEcho(t)
	p, err := faultproxy.New(srv.addr(), faultproxy.Options{})
	require.NoError(t, err)
	require.NoError(t, p.Close())

	p.CutAll()
	p.SetDelay(time.Second)
	p.Blackhole(true)
	p.Blackhole(false)
	p.CutEvery(time.Millisecond) // must not start a goroutine; goleak checks
	p.Refuse(true)
	p.SetTarget("127.0.0.1:1")
	require.NoError(t, p.Close())
}

// TestConcurrentFaults flips every fault from several goroutines while
// traffic flows, for the race detector.
func TestConcurrentFaults(t *testing.T) {
	srv := startEcho(t)
	p := newProxy(t, srv.addr())

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p.Blackhole(i%2 == 0)
			p.SetDelay(time.Duration(i%3) * time.Millisecond)
			p.Refuse(i%5 == 0)
			p.SetTarget(srv.addr())
			if i%7 == 0 {
				p.CutAll()
			}
			_ = p.Stats()
		}
	})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p.CutEvery(time.Duration(i%3) * time.Millisecond)
		}
	})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", p.Addr(), ioTimeout)
				if err != nil {
					continue
				}
				// Faults make any step fail; only races and leaks matter.
				_ = c.SetDeadline(time.Now().Add(20 * time.Millisecond))
				_, _ = c.Write([]byte("x"))
				_, _ = c.Read(make([]byte, 1))
				_ = c.Close()
			}
		})
	}

	// Let the goroutines collide until enough connections went through.
	eventually(t, func() bool { return p.Stats().Accepted >= 50 }, "traffic under faults")
	close(stop)
	wg.Wait()
	p.Blackhole(false)
	p.CutEvery(0)
}
