package arpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/soheilhy/cmux"

	ss "github.com/arpcbridge/arpcbridge/arpc/states"

	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
)

// DefaultMuxMaxClients is the default limit of concurrent clients of a Mux.
const DefaultMuxMaxClients = 10_000

// DefaultMuxReadTimeout is the default time a Mux that owns its port gives
// a new connection to send its first bytes (the aRPC preface) before cmux
// drops it.
const DefaultMuxReadTimeout = 5 * time.Second

// MuxMatcher matches aRPC connections on a shared port: aRPC clients speak
// first, with a 4-byte preface. It reads the first bytes of a connection and
// reports whether they are aRPC's, as a port multiplexer's matcher does (it
// is a github.com/soheilhy/cmux Matcher). Give the listener cmux returns
// for it to a Mux as Mux.Listener, e.g.
//
//	m := cmux.New(lis)
//	m.SetReadTimeout(arpc.DefaultMuxReadTimeout)
//	mux.Listener = m.Match(arpc.MuxMatcher())
func MuxMatcher() func(r io.Reader) bool {
	return cmux.PrefixMatcher(wire.Preface)
}

// MuxNewServer creates the Server of one incoming connection. num numbers
// the connections of a Mux from 1; conn is the connection, which the Mux
// sets as Server.Conn when the callback left it empty. The callback must not
// start the server: the Mux starts it, and stops and disposes it when its
// client leaves. Servers of one worker share its engine (one diff
// computation per push for all of them) and its exactly-once memory.
type MuxNewServer func(num int, conn net.Conn) (*Server, error)

// MuxOpts are optional settings of NewMux. The zero value means defaults.
type MuxOpts struct {
	// Parent is a parent machine for the mux's machine (am.Opts.Parent).
	Parent am.Api
	// Logger receives the mux's diagnostics. Default: discarded.
	Logger *slog.Logger
}

// Mux serves many aRPC clients on one port with a new Server per
// connection (a Server serves one client). Set the exported fields after
// NewMux and before Start.
//
// The port: with Listener set, the Mux accepts from it as it is (typically a
// cmux sub-listener matched with MuxMatcher, sharing a port with gRPC and
// HTTP); otherwise it listens on Addr and matches aRPC connections with its
// own cmux, which drops other protocols and silent peers (ReadTimeout)
// before any Server is created. Either way the Mux owns the listener and
// closes it on Stop; closing a cmux sub-listener closes the shared port.
//
// Past MaxClients, a connection is answered with ErrBusy in its handshake
// and closed; its client fails at once (Mach.Err wraps ErrBusy, in the
// client's ErrNoAccess state) instead of hanging or retrying.
type Mux struct {
	// Mach is the mux's state machine (states.MuxSchema): Start, Ready,
	// ClientConnected (per connection), HasClients, NewServerErr, Exception.
	Mach *am.Machine
	// Name is the mux's name, part of its machine's ID.
	Name string
	// Addr is the listen address when Listener is empty. After Ready it holds
	// the actual address.
	Addr string
	// Listener, when set, is accepted from instead of listening on Addr.
	Listener net.Listener
	// MaxClients limits concurrent clients. Default DefaultMuxMaxClients;
	// negative means no limit.
	MaxClients int
	// ReadTimeout bounds the matching of a new connection when the Mux owns
	// its port. Default DefaultMuxReadTimeout.
	ReadTimeout time.Duration
	// TLSConfig, when set and the Mux listens on Addr itself, makes the port
	// speak TLS only (see TLSListener): the handshake comes first, within
	// ReadTimeout, then the aRPC preface. With Listener set, TLS is the
	// listener's business (bridge.ServerOpts.TLSConfig does it for a shared
	// port). Clients need ClientOpts.TLSConfig.
	TLSConfig *tls.Config

	newServer MuxNewServer
	log       *slog.Logger
	ctx       context.Context
	cancel    context.CancelFunc

	mx       sync.Mutex
	started  bool
	stopped  bool
	root     net.Listener
	cm       cmux.CMux
	num      int
	servers  map[*muxClient]struct{}
	lastErr  error
	accepted uint64
	refused  uint64
	failed   uint64
	wg       sync.WaitGroup
}

// muxClient is one connection of a Mux and its Server.
type muxClient struct {
	net.Conn
	m       *Mux
	s       *Server
	closing atomic.Bool
	once    sync.Once
	// releasing is set (under m.mx) when release begins
	releasing bool
}

// Close closes the connection and, the first time, releases its server in
// the background (Close runs on the server's own goroutines).
func (mc *muxClient) Close() error {
	err := mc.Conn.Close()
	if mc.closing.CompareAndSwap(false, true) {
		// while release has not begun, the client's count is held, so this
		// Add cannot race with Stop's Wait; once it has, there is nothing to do
		m := mc.m
		m.mx.Lock()
		if mc.releasing {
			m.mx.Unlock()
			return err
		}
		m.wg.Add(1)
		m.mx.Unlock()
		go func() {
			defer m.wg.Done()
			mc.release()
		}()
	}
	return err
}

// NetConn returns the wrapped connection (for auth.ConnState).
func (mc *muxClient) NetConn() net.Conn { return mc.Conn }

// release stops and disposes the server, once.
func (mc *muxClient) release() {
	mc.once.Do(func() {
		m := mc.m
		m.mx.Lock()
		mc.releasing = true
		m.mx.Unlock()
		defer m.wg.Done()
		if mc.s != nil {
			mc.s.Stop(true)
		}
		m.mx.Lock()
		delete(m.servers, mc)
		empty := len(m.servers) == 0
		m.mx.Unlock()
		if empty && !m.Mach.IsDisposed() {
			m.Mach.Remove1(ss.MuxStates.HasClients, nil)
		}
	})
}

// NewMux creates a mux calling newServer for every connection. ctx bounds
// the mux's life; name becomes part of its machine's ID.
func NewMux(ctx context.Context, name string, newServer MuxNewServer,
	opts *MuxOpts,
) (*Mux, error) {
	if newServer == nil {
		return nil, fmt.Errorf("%w: nil MuxNewServer", ErrInvalidParams)
	}
	if opts == nil {
		opts = &MuxOpts{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mach, err := am.NewCommon(ctx, "rm-"+name, ss.MuxSchema,
		ss.MuxStates.Names(), nil, opts.Parent, nil)
	if err != nil {
		return nil, err
	}
	logMachFromEnv(mach, EnvAmRpcLogMux, opts.Logger)
	mctx, cancel := context.WithCancel(mach.Context())
	return &Mux{
		Mach:        mach,
		Name:        name,
		MaxClients:  DefaultMuxMaxClients,
		ReadTimeout: DefaultMuxReadTimeout,
		newServer:   newServer,
		log:         log.With("mux", name),
		ctx:         mctx,
		cancel:      cancel,
		servers:     map[*muxClient]struct{}{},
	}, nil
}

// Start opens the port (unless Listener is set) and starts accepting,
// resulting in Ready, or Exception with ErrNetwork. Calling it again does
// nothing.
func (m *Mux) Start() am.Result {
	m.mx.Lock()
	if m.started || m.stopped {
		m.mx.Unlock()
		return am.Canceled
	}
	m.started = true
	m.mx.Unlock()
	res := m.Mach.Add1(ss.MuxStates.Start, nil)

	l := m.Listener
	var root net.Listener
	var cm cmux.CMux
	if l == nil {
		var err error
		root, err = net.Listen("tcp", m.Addr)
		if err != nil {
			m.fail(fmt.Errorf("%w: %w", ErrNetwork, err))
			return am.Canceled
		}
		if m.TLSConfig != nil {
			root = TLSListener(root, m.TLSConfig,
				orDefault(m.ReadTimeout, DefaultMuxReadTimeout))
		}
		cm = cmux.New(root)
		cm.SetReadTimeout(orDefault(m.ReadTimeout, DefaultMuxReadTimeout))
		l = cm.Match(MuxMatcher())
	}
	m.mx.Lock()
	if m.stopped {
		m.mx.Unlock()
		if root != nil {
			_ = root.Close()
		}
		return am.Canceled
	}
	m.root, m.cm = root, cm
	m.Addr = l.Addr().String()
	m.wg.Add(1)
	if cm != nil {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			// returns once root is closed, after its matchers finished
			_ = cm.Serve()
		}()
	}
	m.mx.Unlock()
	// Ready before the first accept: an early client's ClientConnected would
	// otherwise run concurrently and leave this Add queued, so that callers
	// checking Ready right after Start could still see it inactive
	m.Mach.Add1(ss.MuxStates.Ready, nil)
	go m.accept(l)
	return res
}

func (m *Mux) accept(l net.Listener) {
	defer m.wg.Done()
	for {
		conn, err := l.Accept()
		if err != nil {
			if m.ctx.Err() != nil || errors.Is(err, net.ErrClosed) ||
				errors.Is(err, cmux.ErrListenerClosed) ||
				errors.Is(err, cmux.ErrServerClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.fail(fmt.Errorf("%w: accept: %w", ErrNetwork, err))
			return
		}
		m.admit(conn)
	}
}

// admit creates, registers and starts the server of one connection.
func (m *Mux) admit(conn net.Conn) {
	m.mx.Lock()
	if m.stopped {
		m.mx.Unlock()
		_ = conn.Close()
		return
	}
	if limit := orDefaultInt(m.MaxClients, DefaultMuxMaxClients); m.MaxClients >= 0 &&
		len(m.servers) >= limit {
		m.refused++
		m.wg.Add(1)
		m.mx.Unlock()
		m.log.Warn("refusing a client over the limit", "limit", limit)
		go func() {
			defer m.wg.Done()
			m.refuse(conn, fmt.Errorf("%w: mux %s is at its limit of %d clients",
				ErrBusy, m.Name, limit))
		}()
		return
	}
	m.num++
	num := m.num
	m.accepted++
	mc := &muxClient{Conn: conn, m: m}
	m.servers[mc] = struct{}{}
	// held until release
	m.wg.Add(1)
	m.mx.Unlock()
	m.Mach.Add(am.S{ss.MuxStates.ClientConnected, ss.MuxStates.HasClients}, nil)

	s, err := m.callNewServer(num, mc)
	if err == nil && s.Conn != nil && s.Conn != net.Conn(mc) {
		s.Stop(true)
		err = fmt.Errorf("%w: MuxNewServer set Server.Conn to another "+
			"connection", ErrInvalidParams)
	}
	if err != nil {
		m.mx.Lock()
		m.failed++
		m.lastErr = err
		m.mx.Unlock()
		m.log.Error("new server failed", "num", num, "err", err)
		m.Mach.EvAddErrState(nil, ss.MuxStates.NewServerErr, err, nil)
		_ = conn.Close()
		mc.release()
		return
	}
	mc.s = s
	s.Conn = mc
	if s.Start() == am.Canceled {
		// the server could not start (e.g. its worker is gone)
		_ = mc.Close()
	}
}

// callNewServer calls the callback, turning a panic or a nil server into an
// error.
func (m *Mux) callNewServer(num int, conn net.Conn) (s *Server, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("%w: MuxNewServer panicked: %v", ErrRpc, r)
		}
	}()
	s, err = m.newServer(num, conn)
	if err == nil && s == nil {
		err = fmt.Errorf("%w: MuxNewServer returned no server", ErrInvalidParams)
	}
	return s, err
}

// refuse answers a connection's Hello with err and closes it, within the
// read timeout.
func (m *Mux) refuse(conn net.Conn, err error) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(orDefault(m.ReadTimeout,
		DefaultMuxReadTimeout)))
	stop := context.AfterFunc(m.ctx, func() { _ = conn.Close() })
	defer stop()
	// ends when the refused client hangs up, or at the deadline
	answerHello(conn, err)
}

// Stop closes the listener, stops and disposes every server (their clients
// are told goodbye) and waits for the mux's goroutines. dispose also
// disposes Mach. Idempotent.
func (m *Mux) Stop(dispose bool) am.Result {
	m.mx.Lock()
	first := !m.stopped
	m.stopped = true
	root, cm := m.root, m.cm
	clients := make([]*muxClient, 0, len(m.servers))
	for mc := range m.servers {
		clients = append(clients, mc)
	}
	m.mx.Unlock()

	if first {
		m.cancel()
		if root != nil {
			_ = root.Close()
			cm.Close()
		} else if m.Listener != nil {
			_ = m.Listener.Close()
		}
		var wg sync.WaitGroup
		for _, mc := range clients {
			wg.Go(mc.release)
		}
		wg.Wait()
		m.wg.Wait()
	}
	res := am.Executed
	if !m.Mach.IsDisposed() {
		res = m.Mach.Remove(am.S{ss.MuxStates.Ready, ss.MuxStates.Start}, nil)
	}
	if dispose {
		m.Mach.Dispose()
	}
	return res
}

func (m *Mux) fail(err error) {
	m.log.Error("mux error", "err", err)
	m.Mach.EvAddErrState(nil, ss.MuxStates.ErrNetwork, err, nil)
	m.Mach.Remove1(ss.MuxStates.Ready, nil)
}

// MuxStats are a mux's counters.
type MuxStats struct {
	// Clients is the number of connected clients (live servers).
	Clients int
	// Accepted counts connections given a server; Refused those over
	// MaxClients; NewServerErrs the failures of MuxNewServer.
	Accepted, Refused, NewServerErrs uint64
}

// Stats returns the mux's counters.
func (m *Mux) Stats() MuxStats {
	m.mx.Lock()
	defer m.mx.Unlock()
	return MuxStats{Clients: len(m.servers), Accepted: m.accepted,
		Refused: m.refused, NewServerErrs: m.failed}
}

// NewServerErr returns the last error of MuxNewServer, nil for none.
func (m *Mux) NewServerErr() error {
	m.mx.Lock()
	defer m.mx.Unlock()
	return m.lastErr
}
