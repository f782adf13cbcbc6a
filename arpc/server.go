package arpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/auth"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// DefaultPushInterval is the PushInterval of a new Server: 0, no rate cap.
// Pushes are latency-first whatever the interval: a change after a quiet
// period is sent at once; within a busy period changes are merged until the
// worker settles (engine.SettleTime without a transition) or for at most
// engine.DefaultMaxDelay; changes made while a push is being written are
// merged into the next one; the last change is always sent.
const DefaultPushInterval = engine.DefaultPushInterval

// DefaultMaxPendingTransitions is Server.MaxPendingTransitions (and the gRPC
// service's) when unset: engine.DefaultMaxPendingTransitions, 16384 worker
// transitions per PushAllTicks client.
const DefaultMaxPendingTransitions = engine.DefaultMaxPendingTransitions

// PushesDisabled, as PushInterval, turns pushes off: clients then see
// worker-side changes only in mutation replies and Sync.
const PushesDisabled = engine.PushesDisabled

// DefaultHandshakeTimeout bounds how long a connection may take to complete
// its handshake before the server drops it.
const DefaultHandshakeTimeout = 5 * time.Second

// ServerOpts are optional settings of NewServer. The zero value means
// defaults.
type ServerOpts struct {
	// PayloadState is the worker state whose Add mutations deliver payloads
	// to the client (args as for SendPayload: A.Payload, optionally A.Id to
	// address one client). Default states.WorkerStates.SendPayload; another
	// state must be the worker's.
	PayloadState string
	// Parent is a parent machine for the server's machine (am.Opts.Parent).
	Parent am.Api
	// Logger receives the server's diagnostics. Default: slog.Default()
	// discarding below Warn is not applied; pass a logger to see them.
	Logger *slog.Logger
}

// Server exposes one worker machine to one client at a time (use a Mux for
// many). Set the exported fields after NewServer and before Start.
type Server struct {
	// Mach is the server's own state machine: RpcStarting, RpcReady,
	// ClientConnected, Handshaking, HandshakeDone, Exception...
	Mach *am.Machine

	// Addr is the listen address. After RpcReady it holds the actual address
	// (e.g. the port picked for ":0").
	Addr string
	// Listener, when set, is served instead of listening on Addr. The server
	// closes it on Stop.
	Listener net.Listener
	// Conn, when set, is served as the only connection (no listening).
	Conn net.Conn
	// NoNewListener stops the server from creating a listener when neither
	// Listener nor Conn is set.
	NoNewListener bool
	// PushInterval is the minimum spacing between two clock pushes to the
	// client, an optional rate cap with the same meaning on every door:
	// positive is the spacing, 0 is no cap (DefaultPushInterval),
	// PushesDisabled (negative) turns pushes off. See DefaultPushInterval
	// for how pushes are paced.
	PushInterval time.Duration
	// ChunkSize is the largest payload (as encoded) sent in one message;
	// larger ones go as chunks of this size, interleaved with clock pushes,
	// and the client reassembles and verifies them (see DefaultChunkSize).
	// Default DefaultChunkSize (64 KiB); at least 1 KiB.
	ChunkSize int
	// PayloadBytes caps the payload bytes pending for the client (see
	// PayloadSize); past it, payloads are dropped and counted. Default
	// DefaultPayloadBytes (256 MiB); negative: no cap.
	PayloadBytes int64
	// MaxPendingTransitions bounds, for a client with PushAllTicks, how many
	// worker transitions may wait for it (a slow reader) before its next
	// update is one merged diff marked as a gap (WorkerStats.Gaps on the
	// client, arpc.Gap in its handlers). The same option as
	// bridge.ServiceOpts.MaxPendingTransitions. Default
	// DefaultMaxPendingTransitions.
	MaxPendingTransitions int
	// AllowId, when set, admits only the client with this ID; others get
	// ErrNoAccess. An authenticated client (see Tokens, TLSConfig) is
	// matched by its identity instead of the ID it chose itself: without
	// authentication, AllowId is a guard against mistakes, not security.
	AllowId string
	// AllowFn, when set, decides which client IDs (identities, as for
	// AllowId) are admitted (checked after AllowId).
	AllowFn func(clientId string) bool
	// Getter answers Client.Get. Its values must be encodable in the
	// client's Encoding (a value that is not gives the client
	// ErrInvalidParams naming the getter). It runs in
	// the client's request order (see docs/protocol.md): keep it quick.
	Getter func(name string) any
	// MaxMsgSize limits one incoming message, and what a compressed one
	// decompresses to. Default DefaultMaxMsgSize.
	MaxMsgSize int
	// Compression is the server's side of the compression negotiated with
	// each client (see Compression and docs/protocol.md): "" (the default)
	// follows the client's ClientOpts.Compression; CompressionNone refuses
	// compression; CompressionS2 or CompressionZstd is used with every client
	// that asks for compression, whichever codec it asked for (clients
	// decode both). A client that asks for none gets none. Any other value
	// (e.g. CompressionGzip, the gRPC door's) makes Start fail with
	// ErrInvalidParams.
	Compression Compression
	// CompressThreshold is the smallest body (or full snapshot) the server
	// compresses once compression is negotiated. Default
	// DefaultCompressThreshold (1 KiB).
	CompressThreshold int
	// HandshakeTimeout bounds a connection's handshake. Default
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each write to the client: a write blocked on a
	// client that does not read fails after between half of it and all of it
	// (the deadline is renewed when half has passed). Default
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Hooks observe the server's events (see ServerHooks). Default: none.
	Hooks ServerHooks
	// TLSConfig, when set, makes the server speak TLS on every connection
	// it accepts or is given that is not TLS already (see TLSListener): the
	// handshake must complete within HandshakeTimeout, and a plaintext
	// client is told ErrUnauthenticated. With ClientCAs and
	// tls.RequireAndVerifyClientCert (mTLS), a client's identity is its
	// certificate's (see auth.CertIdentity). Default: plaintext.
	TLSConfig *tls.Config
	// Tokens maps bearer tokens (ClientOpts.Token) to identities. Default:
	// none; a client that sends a token is then refused.
	Tokens *auth.Tokens
	// Policy authorizes identities per state (see auth.Policy): mutations of
	// states the identity may not mutate fail with ErrPermissionDenied and
	// change nothing; states it may not observe never leave the server.
	// With Tokens or a Policy set, every client must authenticate (a
	// verified client certificate or a token), else ErrUnauthenticated.
	// Default: none, everything allowed.
	Policy *auth.Policy

	name   string
	worker am.Api
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mx       sync.Mutex
	started  bool
	stopped  bool
	engine   *engine.Engine
	listener net.Listener
	sess     *session
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup

	hashOnce sync.Once
	hash     string

	traffic trafficCounters
	// mutator is the worker's mutation path
	mutator *door.Mutator
	// payloadState delivers payloads (ServerOpts.PayloadState)
	payloadState string
}

// NewServer creates a server for worker, which must have the worker states
// (states.WorkerSchema) and verified state names. ctx bounds the server's
// life; name becomes part of the server machine's ID.
func NewServer(
	ctx context.Context, addr string, name string, worker am.Api,
	opts *ServerOpts,
) (*Server, error) {
	if worker == nil {
		return nil, fmt.Errorf("%w: nil worker", ErrInvalidParams)
	}
	if !worker.Has(ss.WorkerStates.Names()) {
		return nil, fmt.Errorf("%w: worker %s lacks the worker states %v (merge "+
			"states.WorkerSchema)", ErrInvalidParams, worker.Id(),
			ss.WorkerStates.Names())
	}
	if opts == nil {
		opts = &ServerOpts{}
	}
	payloadState := opts.PayloadState
	if payloadState == "" {
		payloadState = ss.WorkerStates.SendPayload
	} else if !worker.Has1(payloadState) {
		return nil, fmt.Errorf("%w: payload state %q is not a state of worker %s",
			ErrInvalidParams, payloadState, worker.Id())
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mach, err := am.NewCommon(ctx, "rs-"+name, ss.ServerSchema,
		ss.ServerStates.Names(), nil, opts.Parent, nil)
	if err != nil {
		return nil, err
	}
	logMachFromEnv(mach, EnvAmRpcLogServer, opts.Logger)
	sctx, cancel := context.WithCancel(mach.Context())
	s := &Server{
		Mach:         mach,
		Addr:         addr,
		PushInterval: DefaultPushInterval,
		name:         name,
		worker:       worker,
		log:          log.With("server", name),
		ctx:          sctx,
		cancel:       cancel,
		conns:        map[net.Conn]struct{}{},
		payloadState: payloadState,
	}
	return s, nil
}

// Start starts serving: it results in RpcReady, or Exception with
// ErrNetwork when the address cannot be listened on. Calling Start again
// does nothing.
func (s *Server) Start() am.Result {
	s.mx.Lock()
	if s.started || s.stopped {
		s.mx.Unlock()
		return am.Canceled
	}
	s.started = true
	s.mx.Unlock()

	res := s.Mach.Add(am.S{ss.SharedStates.Start, ss.ServerStates.RpcStarting},
		nil)
	if _, err := compressionCode(s.Compression); err != nil {
		// a setting no Hello could negotiate: refused before serving
		s.fail(ss.SharedStates.ErrRpc, err)
		return am.Canceled
	}
	e, err := engine.Attach(s.worker)
	if err != nil {
		s.fail(ss.SharedStates.ErrRpc, fmt.Errorf("%w: %w", ErrWorkerGone, err))
		return am.Canceled
	}
	s.mx.Lock()
	s.engine = e
	s.mutator = door.MutatorFor(s.worker)
	s.mx.Unlock()

	s.wg.Add(1)
	go s.run()
	return res
}

func (s *Server) run() {
	defer s.wg.Done()
	// stop with the worker; a callback, not a goroutine per server
	life := s.engine.Context()
	stopWatch := context.AfterFunc(life, func() {
		s.log.Warn("worker gone, stopping", "err", context.Cause(life))
		s.Stop(false)
	})
	defer stopWatch()

	if s.Conn != nil {
		s.Addr = s.Conn.LocalAddr().String()
		s.Mach.Add1(ss.ServerStates.RpcReady, nil)
		s.serveConn(s.Conn)
		return
	}
	l := s.Listener
	if l == nil {
		if s.NoNewListener {
			s.fail(ss.SharedStates.ErrNetwork,
				fmt.Errorf("%w: no listener and NoNewListener set", ErrNetwork))
			return
		}
		var err error
		l, err = net.Listen("tcp", s.Addr)
		if err != nil {
			s.fail(ss.SharedStates.ErrNetwork, fmt.Errorf("%w: %w", ErrNetwork, err))
			return
		}
	}
	s.mx.Lock()
	if s.stopped {
		s.mx.Unlock()
		_ = l.Close()
		return
	}
	s.listener = l
	s.Addr = l.Addr().String()
	s.mx.Unlock()
	s.Mach.Add1(ss.ServerStates.RpcReady, nil)

	for {
		conn, err := l.Accept()
		if err != nil {
			if s.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				s.fail(ss.SharedStates.ErrNetwork, fmt.Errorf("%w: accept: %w",
					ErrNetwork, err))
			}
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(conn)
		}()
	}
}

// Stop closes the listener and the client's connection (telling the client
// goodbye), waits for the server's goroutines and detaches from the worker.
// dispose also disposes Mach. Idempotent.
func (s *Server) Stop(dispose bool) am.Result {
	s.mx.Lock()
	first := !s.stopped
	s.stopped = true
	l := s.listener
	sess := s.sess
	s.mx.Unlock()

	if first {
		if sess != nil {
			sess.sayBye()
		}
		s.cancel()
		if l != nil {
			_ = l.Close()
		} else if s.Listener != nil {
			_ = s.Listener.Close()
		}
		if s.Conn != nil {
			_ = s.Conn.Close()
		}
		s.closeConns()
		s.wg.Wait()
		s.mx.Lock()
		e := s.engine
		s.engine = nil
		s.mx.Unlock()
		if e != nil {
			e.Release()
		}
	}
	res := am.Executed
	if !s.Mach.IsDisposed() {
		res = s.Mach.Remove1(ss.SharedStates.Start, nil)
	}
	if dispose {
		s.Mach.Dispose()
	}
	return res
}

// Worker returns the served machine.
func (s *Server) Worker() am.Api { return s.worker }

// ServerStats are a server's counters.
type ServerStats struct {
	// BytesIn and BytesOut count the wire bytes of all its connections.
	BytesIn, BytesOut int64
}

// Stats returns the server's counters.
func (s *Server) Stats() ServerStats {
	return ServerStats{BytesIn: s.traffic.in.Load(), BytesOut: s.traffic.out.Load()}
}

func (s *Server) fail(state string, err error) {
	s.log.Error("server error", "err", err)
	s.Mach.EvAddErrState(nil, state, err, nil)
}

func (s *Server) trackConn(c net.Conn, add bool) bool {
	s.mx.Lock()
	defer s.mx.Unlock()
	if add {
		if s.stopped {
			return false
		}
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
	return true
}

func (s *Server) closeConns() {
	s.mx.Lock()
	defer s.mx.Unlock()
	for c := range s.conns {
		_ = c.Close()
	}
}

func (s *Server) handshakeTimeout() time.Duration {
	if s.HandshakeTimeout > 0 {
		return s.HandshakeTimeout
	}
	return DefaultHandshakeTimeout
}

func (s *Server) writeTimeout() time.Duration {
	if s.WriteTimeout > 0 {
		return s.WriteTimeout
	}
	return DefaultWriteTimeout
}

// schemaHash returns the worker's schema hash, computed once.
func (s *Server) schemaHash(e *engine.Engine) string {
	s.hashOnce.Do(func() {
		s.hash = SchemaHash(s.worker.Schema(), e.Names())
	})
	return s.hash
}
