package arpc_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
)

// trafficTimeout bounds every blocking step of the traffic tests.
const trafficTimeout = 5 * time.Second

// trafficEcho is a loopback echo server for the traffic tests. Its
// handlers signal on ended when they return.
type trafficEcho struct {
	ln    net.Listener
	wg    sync.WaitGroup
	ended chan struct{}
}

// startTrafficEcho serves echo on ln, or on a new loopback listener if ln
// is nil, until the test ends.
func startTrafficEcho(t *testing.T, ln net.Listener) *trafficEcho {
	t.Helper()
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
	}
	s := &trafficEcho{ln: ln, ended: make(chan struct{}, 64)}
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			s.wg.Go(func() {
				defer func() { s.ended <- struct{}{} }()
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					_ = c.Close()
				}()
				_, _ = io.Copy(c, c)
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// startTrafficMeter runs TrafficMeter to fwdTo and returns its address and
// a stop function that ends it and returns the count. Stop runs at cleanup
// if the test did not call it.
func startTrafficMeter(t *testing.T, fwdTo string) (addr string, stop func() int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	counter := make(chan int64, 1)
	end := make(chan struct{})
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		arpc.TrafficMeter(ln, fwdTo, counter, end)
	}()

	var once sync.Once
	var total int64
	stop = func() int64 {
		once.Do(func() {
			close(end)
			select {
			case total = <-counter:
			case <-time.After(trafficTimeout):
				t.Fatal("TrafficMeter did not report after end")
			}
			<-returned
		})
		return total
	}
	t.Cleanup(func() { stop() })
	return ln.Addr().String(), stop
}

// trafficRoundTrip writes msg on c and reads back its echo.
func trafficRoundTrip(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(trafficTimeout)))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		errc <- err
	}()
	got := make([]byte, len(msg))
	_, rerr := io.ReadFull(c, got)
	require.NoError(t, <-errc)
	require.NoError(t, rerr)
	require.True(t, bytes.Equal(msg, got), "echo differs")
}

// requireTrafficClosed asserts that the peer closed c.
func requireTrafficClosed(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(trafficTimeout)))
	_, err := io.Copy(io.Discard, c)
	if err != nil {
		require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "conn still open")
	}
}

func TestTrafficMeter(t *testing.T) {
	tests := []struct {
		name  string
		conns int
		size  int
	}{
		{"no connections", 0, 0},
		{"one small", 1, 5},
		{"one large", 1, 1 << 20},
		{"several concurrent", 8, 16 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startTrafficEcho(t, nil)
			addr, stop := startTrafficMeter(t, srv.ln.Addr().String())

			var wg sync.WaitGroup
			errs := make(chan error, tt.conns)
			for i := range tt.conns {
				wg.Go(func() {
					c, err := net.DialTimeout("tcp", addr, trafficTimeout)
					if err != nil {
						errs <- err
						return
					}
					defer c.Close()
					msg := bytes.Repeat([]byte{byte(i)}, tt.size)
					_ = c.SetDeadline(time.Now().Add(trafficTimeout))
					werr := make(chan error, 1)
					go func() {
						_, err := c.Write(msg)
						werr <- err
					}()
					got := make([]byte, len(msg))
					_, err = io.ReadFull(c, got)
					if err == nil {
						err = <-werr
					} else {
						_ = c.Close() // unblocks the writer
						<-werr
					}
					if err != nil {
						errs <- err
						return
					}
					if !bytes.Equal(msg, got) {
						errs <- fmt.Errorf("conn %d: echo differs", i)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}

			require.EqualValues(t, 2*tt.conns*tt.size, stop())
		})
	}
}

func TestTrafficMeterHalfClose(t *testing.T) {
	srv := startTrafficEcho(t, nil)
	addr, stop := startTrafficMeter(t, srv.ln.Addr().String())
	c, err := net.DialTimeout("tcp", addr, trafficTimeout)
	require.NoError(t, err)
	defer c.Close()

	_, err = c.Write([]byte("bye"))
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	require.NoError(t, c.SetReadDeadline(time.Now().Add(trafficTimeout)))
	got, err := io.ReadAll(c)
	require.NoError(t, err, "want the echo then EOF")
	require.Equal(t, "bye", string(got))
	require.EqualValues(t, 6, stop())
}

func TestTrafficMeterEndClosesConnections(t *testing.T) {
	srv := startTrafficEcho(t, nil)
	addr, stop := startTrafficMeter(t, srv.ln.Addr().String())

	var conns []net.Conn
	for range 3 {
		c, err := net.DialTimeout("tcp", addr, trafficTimeout)
		require.NoError(t, err)
		defer c.Close()
		trafficRoundTrip(t, c, []byte("live"))
		conns = append(conns, c)
	}

	require.EqualValues(t, 3*2*4, stop())
	for _, c := range conns {
		requireTrafficClosed(t, c)
	}
	for range conns { // the server side is closed too
		select {
		case <-srv.ended:
		case <-time.After(trafficTimeout):
			t.Fatal("server connection still open after end")
		}
	}
	_, err := net.DialTimeout("tcp", addr, trafficTimeout)
	require.Error(t, err, "listener closed after end")
}

func TestTrafficMeterDialFailure(t *testing.T) {
	// A port nothing listens on: reserve one, then release it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadAddr := ln.Addr().String()
	require.NoError(t, ln.Close())

	addr, stop := startTrafficMeter(t, deadAddr)
	c, err := net.DialTimeout("tcp", addr, trafficTimeout)
	require.NoError(t, err)
	defer c.Close()
	requireTrafficClosed(t, c)
	require.Zero(t, stop())
}

func TestTrafficMeterNilCounter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	end := make(chan struct{})
	close(end)
	arpc.TrafficMeter(ln, "127.0.0.1:1", nil, end) // must return, not block
}

func TestCountingListener(t *testing.T) {
	tests := []struct {
		name  string
		sizes []int
	}{
		{"no connections", nil},
		{"one", []int{5}},
		{"several", []int{1, 1 << 10, 256 << 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			cl := arpc.NewCountingListener(ln)
			srv := startTrafficEcho(t, cl)

			var want int64
			for _, size := range tt.sizes {
				c, err := net.DialTimeout("tcp", cl.Addr().String(), trafficTimeout)
				require.NoError(t, err)
				trafficRoundTrip(t, c, bytes.Repeat([]byte{'x'}, size))
				require.NoError(t, c.Close())
				// The handler returning orders its last Write before Bytes.
				select {
				case <-srv.ended:
				case <-time.After(trafficTimeout):
					t.Fatal("server handler did not end")
				}
				want += int64(size)
			}

			read, written := cl.Bytes()
			require.Equal(t, want, read)
			require.Equal(t, want, written)
		})
	}
}

// ExampleTrafficMeter measures one echo exchange through a TrafficMeter.
func ExampleTrafficMeter() {
	// An echo server for one connection.
	srv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := srv.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()

	// The meter in front of it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	counter := make(chan int64, 1)
	end := make(chan struct{})
	metered := make(chan struct{})
	go func() {
		defer close(metered)
		arpc.TrafficMeter(ln, srv.Addr().String(), counter, end)
	}()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("hello"))
	buf := make([]byte, 5)
	_, _ = io.ReadFull(c, buf)

	close(end)
	fmt.Println("bytes forwarded:", <-counter)
	<-metered
	<-served
	// Output:
	// bytes forwarded: 10
}

// ExampleCountingListener counts a server's traffic without a proxy hop.
func ExampleCountingListener() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	cl := arpc.NewCountingListener(ln)
	defer cl.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := cl.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()

	c, err := net.Dial("tcp", cl.Addr().String())
	if err != nil {
		panic(err)
	}
	_, _ = c.Write([]byte("hello"))
	buf := make([]byte, 5)
	_, _ = io.ReadFull(c, buf)
	_ = c.Close()
	<-served // the server's last Write has returned

	read, written := cl.Bytes()
	fmt.Printf("read %d, written %d\n", read, written)
	// Output:
	// read 5, written 5
}
