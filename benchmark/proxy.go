package main

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// proxyBufSize is the copy buffer of one direction of a proxied connection.
const proxyBufSize = 64 << 10

// Proxy is a TCP proxy that counts the bytes it forwards. Clients dial
// [Proxy.Addr]; each accepted connection is paired with a new connection to
// the target. Counters are safe for concurrent use.
//
// Proxy owns its goroutines: one accept loop and two copiers per connection,
// all ended by [Proxy.Close], which is idempotent.
type Proxy struct {
	ln     net.Listener
	target string

	up    atomic.Int64 // client → server
	down  atomic.Int64 // server → client
	conns atomic.Int64 // accepted connections

	mu     sync.Mutex
	open   map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewProxy listens on a random loopback port and forwards every connection
// to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, open: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()

	return p, nil
}

// Addr is the address clients dial.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Bytes returns the bytes forwarded so far, both directions added up.
func (p *Proxy) Bytes() int64 { return p.up.Load() + p.down.Load() }

// Conns returns how many connections the proxy accepted.
func (p *Proxy) Conns() int64 { return p.conns.Load() }

// Close stops accepting, closes every proxied connection and waits for the
// proxy's goroutines to exit.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for c := range p.open {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()

	return err
}

// track registers c for Close; it reports false (and closes c) when the proxy
// is already closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.open[c] = struct{}{}

	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.open, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.conns.Add(1)
		if !p.track(client) {
			return
		}
		p.wg.Add(1)
		go p.serve(client)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)

	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)

	// when one direction ends, close both so the other copier returns too
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			_ = client.Close()
			_ = server.Close()
		})
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer closeBoth()
		copyCounting(server, client, &p.up)
	}()
	copyCounting(client, server, &p.down)
	closeBoth()
}

// copyCounting copies src to dst until either fails, adding every forwarded
// byte to n as it goes (so counters are current while a connection is open).
func copyCounting(dst io.Writer, src io.Reader, n *atomic.Int64) {
	buf := make([]byte, proxyBufSize)
	for {
		nr, err := src.Read(buf)
		if nr > 0 {
			// count before writing: the peer may read these bytes (and a
			// caller may look at the counter) before Write returns
			n.Add(int64(nr))
			nw, werr := dst.Write(buf[:nr])
			if werr != nil {
				n.Add(int64(nw - nr)) // take back what was not forwarded
				return
			}
		}
		if err != nil {
			// io.EOF or a closed connection: either way this direction is done
			return
		}
	}
}
