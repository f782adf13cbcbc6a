package arpc

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arpcbridge/arpcbridge/internal/backoff"
)

// trafficDialTimeout bounds each dial TrafficMeter makes to its destination.
const trafficDialTimeout = 10 * time.Second

// TrafficMeter forwards every connection accepted on listener to fwdTo
// (TCP) and counts the bytes it forwards in both directions. Useful for
// tests and benchmarks that measure how much an RPC exchange puts on the
// wire.
//
// It blocks until end is closed, so callers run it in a goroutine. Then it
// stops accepting, closes the listener and every connection on both sides,
// waits for all its goroutines to exit, and sends the total byte count once
// on counter (unless counter is nil). The send blocks until received, so
// give counter a buffer of one if nobody may be reading it.
//
// TrafficMeter takes ownership of listener and closes it. Connections whose
// dial to fwdTo fails are closed and count nothing. A half-close (EOF) in
// one direction is passed on to the other side. Bytes are counted as they
// are written to the receiving side, so once a peer has read a byte it is
// included in the total.
func TrafficMeter(
	listener net.Listener, fwdTo string, counter chan<- int64,
	end <-chan struct{},
) {
	ctx, cancel := context.WithCancel(context.Background())
	conns := &trafficConns{set: make(map[net.Conn]struct{})}
	var total atomic.Int64
	var wg sync.WaitGroup

	wg.Go(func() {
		trafficAccept(ctx, listener, func(c net.Conn) {
			if !conns.add(c) {
				return
			}
			wg.Go(func() { trafficForward(ctx, c, fwdTo, conns, &total) })
		})
	})

	<-end
	cancel()
	conns.closeAll()
	_ = listener.Close()
	wg.Wait()

	if counter != nil {
		counter <- total.Load()
	}
}

// trafficAccept accepts connections and passes them to handle until
// listener fails permanently or ctx ends.
func trafficAccept(ctx context.Context, listener net.Listener, handle func(net.Conn)) {
	delay := backoff.New(5*time.Millisecond, time.Second)
	for {
		c, err := listener.Accept()
		if err == nil {
			delay.Reset()
			handle(c)
			continue
		}
		if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
			return
		}
		// transient failures such as running out of file descriptors
		if !delay.Wait(ctx) {
			return
		}
	}
}

// trafficForward dials fwdTo for client and copies both ways, adding the
// bytes written to total. It returns when both directions are done or the
// meter is shutting down.
func trafficForward(
	ctx context.Context, client net.Conn, fwdTo string, conns *trafficConns,
	total *atomic.Int64,
) {
	defer conns.remove(client)

	d := net.Dialer{Timeout: trafficDialTimeout}
	server, err := d.DialContext(ctx, "tcp", fwdTo)
	if err != nil {
		return
	}
	if !conns.add(server) {
		return
	}
	defer conns.remove(server)

	var wg sync.WaitGroup
	wg.Go(func() { trafficCopy(server, client, total) })
	trafficCopy(client, server, total)
	wg.Wait()
}

// trafficCopy copies src to dst and adds the bytes written to total. On
// EOF it half-closes dst; on any other error, or if dst cannot half-close,
// it closes both so the opposite direction ends too.
func trafficCopy(dst, src net.Conn, total *atomic.Int64) {
	n, err := io.Copy(dst, src)
	total.Add(n)
	if err == nil {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
			return
		}
	}
	_ = src.Close()
	_ = dst.Close()
}

// trafficConns is the set of open connections of one TrafficMeter, both
// accepted and dialled. Once closed it rejects new members.
type trafficConns struct {
	mu     sync.Mutex
	closed bool
	set    map[net.Conn]struct{}
}

// add tracks c, or closes it and reports false if the set is closed.
func (s *trafficConns) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return false
	}
	s.set[c] = struct{}{}
	return true
}

// remove closes c and stops tracking it.
func (s *trafficConns) remove(c net.Conn) {
	s.mu.Lock()
	delete(s.set, c)
	s.mu.Unlock()
	_ = c.Close()
}

// closeAll closes every tracked connection and rejects later ones.
func (s *trafficConns) closeAll() {
	s.mu.Lock()
	s.closed = true
	conns := make([]net.Conn, 0, len(s.set))
	for c := range s.set {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// CountingListener wraps a [net.Listener] so that every connection it
// accepts counts the bytes read from and written to it. Use it on the
// server side of tests and benchmarks to measure traffic without a proxy
// hop (see [TrafficMeter] for a forwarding meter).
//
// Totals cover all accepted connections, also after they are closed. All
// methods are safe for concurrent use. The accepted connections wrap the
// originals, so they are not *net.TCPConn; closing the CountingListener
// closes the wrapped listener but not the accepted connections.
type CountingListener struct {
	net.Listener
	read, written atomic.Int64
}

// NewCountingListener returns a CountingListener wrapping ln, which it
// owns from then on.
func NewCountingListener(ln net.Listener) *CountingListener {
	return &CountingListener{Listener: ln}
}

// Accept waits for the next connection and returns it wrapped so that its
// Read and Write calls add to the listener's totals.
func (l *CountingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, l: l}, nil
}

// Bytes returns the total bytes read from and written to all connections
// accepted so far. A byte counts once the Read or Write call that moved it
// has returned.
func (l *CountingListener) Bytes() (read, written int64) {
	return l.read.Load(), l.written.Load()
}

// countedConn is a connection accepted by a CountingListener.
type countedConn struct {
	net.Conn
	l *CountingListener
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.read.Add(int64(n))
	return n, err
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.l.written.Add(int64(n))
	return n, err
}
