package faultproxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arpcbridge/arpcbridge/internal/backoff"
)

// Defaults used when the corresponding [Options] field is zero.
const (
	DefaultListenAddr  = "127.0.0.1:0"
	DefaultDialTimeout = 5 * time.Second
	DefaultChunkSize   = 32 << 10
)

// Errors returned by [New].
var (
	// ErrEmptyTarget means New was given an empty target address.
	ErrEmptyTarget = errors.New("faultproxy: empty target address")
	// ErrInvalidOptions means an [Options] field holds a negative value.
	ErrInvalidOptions = errors.New("faultproxy: invalid options")
)

// Options configures a [Proxy]. The zero value means the defaults.
type Options struct {
	// ListenAddr is the TCP address the proxy listens on.
	// Default: [DefaultListenAddr], a free loopback port.
	ListenAddr string
	// DialTimeout bounds each dial to the target. Default: [DefaultDialTimeout].
	DialTimeout time.Duration
	// ChunkSize is the largest number of bytes read from one side before
	// being forwarded as a chunk to the other. Default: [DefaultChunkSize].
	ChunkSize int
	// Logger receives debug records about failed dials and accept errors.
	// Default: records are discarded.
	Logger *slog.Logger
}

// Stats is a snapshot of a proxy's counters. Counters only grow, except
// Active.
type Stats struct {
	// BytesToTarget counts bytes written to target connections
	// (client to server).
	BytesToTarget int64
	// BytesToClient counts bytes written to client connections
	// (server to client).
	BytesToClient int64
	// Accepted counts accepted client connections, refused ones included.
	Accepted int64
	// Refused counts connections closed on accept because of [Proxy.Refuse].
	Refused int64
	// Cut counts connections closed by [Proxy.CutAll] or [Proxy.CutEvery].
	Cut int64
	// CutRounds counts the calls of [Proxy.CutAll] (made by hand or by
	// [Proxy.CutEvery]) that closed at least one connection.
	CutRounds int64
	// Active is the number of connections currently held by the proxy.
	Active int64
}

type counters struct {
	toTarget, toClient                             atomic.Int64
	accepted, refused, cut, cutRounds, activeLinks atomic.Int64
}

// Proxy is a fault-injecting TCP proxy. Create it with [New] and release
// it with [Proxy.Close].
//
// All methods are safe for concurrent use. Fault settings apply
// immediately and may be changed at any time; calls after Close are no-ops.
// The proxy owns its listener, every accepted connection, every dialled
// target connection and every goroutine it starts.
type Proxy struct {
	ln          net.Listener
	log         *slog.Logger
	dialTimeout time.Duration
	chunkSize   int
	bufs        sync.Pool // *[]byte of chunkSize

	done chan struct{}  // closed by Close
	wg   sync.WaitGroup // all goroutines started by the proxy

	mu        sync.Mutex
	closed    bool
	closeErr  error
	target    string
	delay     time.Duration
	blackhole bool
	refuse    bool
	// changed is closed and replaced whenever blackhole changes, waking
	// every goroutine waiting for traffic to flow again.
	changed chan struct{}
	links   map[*link]struct{}

	cutMu   sync.Mutex    // serialises CutEvery
	cutStop chan struct{} // stops the running cut loop; nil if none
	cutDone chan struct{} // closed when the running cut loop exits

	stats counters
}

// New starts a proxy that forwards connections to target. It listens on
// opts.ListenAddr and accepts connections until [Proxy.Close].
func New(target string, opts Options) (*Proxy, error) {
	if target == "" {
		return nil, ErrEmptyTarget
	}
	if opts.DialTimeout < 0 || opts.ChunkSize < 0 {
		return nil, fmt.Errorf("%w: negative DialTimeout or ChunkSize", ErrInvalidOptions)
	}
	if opts.ListenAddr == "" {
		opts.ListenAddr = DefaultListenAddr
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.ChunkSize == 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}

	ln, err := net.Listen("tcp", opts.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	size := opts.ChunkSize
	p := &Proxy{
		ln:          ln,
		log:         opts.Logger,
		dialTimeout: opts.DialTimeout,
		chunkSize:   size,
		bufs: sync.Pool{New: func() any {
			b := make([]byte, size)
			return &b
		}},
		done:    make(chan struct{}),
		target:  target,
		changed: make(chan struct{}),
		links:   make(map[*link]struct{}),
	}
	p.wg.Go(p.acceptLoop)
	return p, nil
}

// Addr returns the address clients should dial, e.g. "127.0.0.1:41234".
func (p *Proxy) Addr() string {
	return p.ln.Addr().String()
}

// Close stops the proxy: it closes the listener and every connection, stops
// [Proxy.CutEvery], and waits for all the proxy's goroutines to exit.
// Connections closed by Close are not counted as cut. Close is idempotent;
// every call waits and returns the result of the first.
func (p *Proxy) Close() error {
	p.mu.Lock()
	first := !p.closed
	var links []*link
	if first {
		p.closed = true
		close(p.done)
		p.closeErr = p.ln.Close()
		links = p.snapshotLocked()
	}
	err := p.closeErr
	p.mu.Unlock()

	for _, l := range links {
		l.close()
	}
	p.wg.Wait()
	return err
}

// CutAll closes every current connection, both the client's and the
// target's side, and counts them in [Stats.Cut]. Peers see the connection
// closed (EOF or reset). New connections are not affected.
func (p *Proxy) CutAll() {
	p.mu.Lock()
	links := p.snapshotLocked()
	p.mu.Unlock()

	cut := false
	for _, l := range links {
		if l.close() {
			p.stats.cut.Add(1)
			cut = true
		}
	}
	if cut {
		p.stats.cutRounds.Add(1)
	}
}

// SetDelay adds latency d to every chunk read afterwards, in each
// direction. Chunks are delayed, not the stream: throughput is preserved
// and ordering is kept. Zero (the default) disables the delay; negative
// values count as zero.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = max(d, 0)
	p.mu.Unlock()
}

// Blackhole stalls all traffic while on. Existing connections stay open but
// no bytes are forwarded either way; new connections are accepted but the
// target is not dialled. Bytes already read are held, not dropped, and
// senders eventually block on full buffers, much like a network partition
// under TCP. Turning it off resumes forwarding and dialling.
func (p *Proxy) Blackhole(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.blackhole == on {
		return
	}
	p.blackhole = on
	close(p.changed)
	p.changed = make(chan struct{})
}

// CutEvery starts a background loop that calls [Proxy.CutAll] every
// interval, replacing any previous loop. An interval of zero or less stops
// the loop. When CutEvery returns, the previous loop has exited and cuts no
// more. The loop also stops on Close.
func (p *Proxy) CutEvery(interval time.Duration) {
	p.cutMu.Lock()
	defer p.cutMu.Unlock()

	if p.cutStop != nil {
		close(p.cutStop)
		<-p.cutDone
		p.cutStop, p.cutDone = nil, nil
	}
	if interval <= 0 {
		return
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	p.cutStop, p.cutDone = stop, done
	p.wg.Go(func() {
		defer close(done)
		p.cutLoop(interval, stop)
	})
}

// Refuse makes the proxy close new connections as soon as it accepts them
// while on. Existing connections are not affected.
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	p.refuse = on
	p.mu.Unlock()
}

// SetTarget changes the address dialled for connections accepted (or
// leaving a blackhole) afterwards. Existing connections keep their target.
// An empty addr is ignored.
func (p *Proxy) SetTarget(addr string) {
	if addr == "" {
		return
	}
	p.mu.Lock()
	p.target = addr
	p.mu.Unlock()
}

// Stats returns a snapshot of the proxy's counters.
func (p *Proxy) Stats() Stats {
	return Stats{
		BytesToTarget: p.stats.toTarget.Load(),
		BytesToClient: p.stats.toClient.Load(),
		Accepted:      p.stats.accepted.Load(),
		Refused:       p.stats.refused.Load(),
		Cut:           p.stats.cut.Load(),
		CutRounds:     p.stats.cutRounds.Load(),
		Active:        p.stats.activeLinks.Load(),
	}
}

func (p *Proxy) snapshotLocked() []*link {
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	return links
}

func (p *Proxy) cutLoop(interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.CutAll()
		case <-stop:
			return
		case <-p.done:
			return
		}
	}
}

// acceptLoop accepts client connections until the listener is closed.
func (p *Proxy) acceptLoop() {
	delay := backoff.New(5*time.Millisecond, time.Second)
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// transient failures such as running out of file descriptors:
			// back off rather than spin, but stay responsive to Close
			d := delay.Next()
			p.log.Warn("faultproxy: accept", "err", err, "retry", d)
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-p.done:
				t.Stop()
				return
			}
			continue
		}
		delay.Reset()
		p.stats.accepted.Add(1)
		p.admit(c)
	}
}

// admit registers c and starts forwarding it, unless the proxy refuses
// connections or is closed.
func (p *Proxy) admit(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return
	}
	if p.refuse {
		p.stats.refused.Add(1)
		_ = c.Close()
		return
	}
	l := newLink(p, c)
	p.links[l] = struct{}{}
	p.stats.activeLinks.Add(1)
	p.wg.Go(l.run)
}

func (p *Proxy) unregister(l *link) {
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
	p.stats.activeLinks.Add(-1)
}

func (p *Proxy) currentTarget() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target
}

func (p *Proxy) currentDelay() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.delay
}

// waitFlowing blocks while the proxy is blackholed. It reports false if
// done was closed first.
func (p *Proxy) waitFlowing(done <-chan struct{}) bool {
	for {
		p.mu.Lock()
		on, changed := p.blackhole, p.changed
		p.mu.Unlock()
		if !on {
			return true
		}
		select {
		case <-changed:
		case <-done:
			return false
		}
	}
}

func (p *Proxy) getBuf() *[]byte {
	return p.bufs.Get().(*[]byte)
}

func (p *Proxy) putBuf(b *[]byte) {
	p.bufs.Put(b)
}
