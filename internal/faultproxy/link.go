package faultproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// queueLen bounds the chunks in flight per direction, which bounds the
// memory a delayed or blackholed link holds to queueLen*ChunkSize.
const queueLen = 16

// chunk is a piece of the stream read from one side, due for delivery to
// the other side at due.
type chunk struct {
	buf *[]byte
	n   int
	due time.Time
}

// link is one proxied connection: a client conn and, once dialled, a
// target conn. Its run goroutine is owned by the proxy; run owns the
// link's per-direction goroutines and waits for them.
type link struct {
	p      *Proxy
	client net.Conn
	ctx    context.Context // cancelled by close; bounds the dial
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	server net.Conn // nil until dialled
}

func newLink(p *Proxy, client net.Conn) *link {
	ctx, cancel := context.WithCancel(context.Background())
	return &link{p: p, client: client, ctx: ctx, cancel: cancel}
}

// close closes both sides of the link and wakes all its goroutines. It
// reports whether this call did the closing.
func (l *link) close() bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.closed = true
	server := l.server
	l.mu.Unlock()

	l.cancel()
	_ = l.client.Close()
	if server != nil {
		_ = server.Close()
	}
	return true
}

// setServer attaches the dialled target conn, or closes it and reports
// false if the link was closed during the dial.
func (l *link) setServer(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = c.Close()
		return false
	}
	l.server = c
	return true
}

// run dials the target and forwards both directions until both finish or
// the link is closed.
func (l *link) run() {
	defer l.p.unregister(l)
	defer l.close()

	// A blackholed proxy accepts connections but sends them nowhere.
	if !l.p.waitFlowing(l.ctx.Done()) {
		return
	}
	target := l.p.currentTarget()
	d := net.Dialer{Timeout: l.p.dialTimeout}
	server, err := d.DialContext(l.ctx, "tcp", target)
	if err != nil {
		l.p.log.Debug("faultproxy: dial target", "target", target, "err", err)
		return
	}
	if !l.setServer(server) {
		return
	}

	up := make(chan chunk, queueLen)
	down := make(chan chunk, queueLen)
	var wg sync.WaitGroup
	wg.Go(func() { l.read(l.client, up) })
	wg.Go(func() { l.write(server, up, &l.p.stats.toTarget) })
	wg.Go(func() { l.read(server, down) })
	l.write(l.client, down, &l.p.stats.toClient)
	wg.Wait()
}

// read reads chunks from src into out until EOF or an error. EOF closes out
// so the writer can forward the half-close; any other error closes the
// whole link.
func (l *link) read(src net.Conn, out chan<- chunk) {
	defer close(out)
	for {
		buf := l.p.getBuf()
		n, err := src.Read(*buf)
		if n > 0 {
			c := chunk{buf: buf, n: n, due: time.Now().Add(l.p.currentDelay())}
			select {
			case out <- c:
			case <-l.ctx.Done():
				l.p.putBuf(buf)
				return
			}
		} else {
			l.p.putBuf(buf)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				l.close()
			}
			return
		}
	}
}

// write delivers chunks from in to dst, each no earlier than its due time
// and only while the proxy is not blackholed, adding delivered bytes to
// sent. When in is exhausted it half-closes dst.
func (l *link) write(dst net.Conn, in <-chan chunk, sent *atomic.Int64) {
	for c := range in {
		if !l.hold(c.due) {
			l.p.putBuf(c.buf)
			return
		}
		n, err := dst.Write((*c.buf)[:c.n])
		sent.Add(int64(n))
		l.p.putBuf(c.buf)
		if err != nil {
			l.close()
			return
		}
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// hold waits until due and until traffic flows. It reports false if the
// link was closed meanwhile.
func (l *link) hold(due time.Time) bool {
	if wait := time.Until(due); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-l.ctx.Done():
			t.Stop()
			return false
		}
	}
	return l.p.waitFlowing(l.ctx.Done())
}
