package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/soheilhy/cmux"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/auth"
	"github.com/arpcbridge/arpcbridge/bridge/metrics"
	"github.com/arpcbridge/arpcbridge/bridge/store"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

// Server defaults.
const (
	// DefaultReadTimeout bounds how long a new connection may take to send
	// the bytes that tell its protocol apart.
	DefaultReadTimeout = 5 * time.Second
	// DefaultMaxRecvMsgSize limits one incoming gRPC message; larger ones
	// get RESOURCE_EXHAUSTED. The same default as aRPC's frame limit.
	DefaultMaxRecvMsgSize = arpc.DefaultMaxMsgSize
)

// ServerOpts are optional settings of NewServer. The zero value means
// defaults: gRPC, aRPC, Connect, gRPC-Web and HTTP /healthz on the one
// listener.
type ServerOpts struct {
	// Service configures the gRPC service (allow list, getter, push
	// interval).
	Service ServiceOpts
	// HTTP serves HTTP requests (HTTP/1.1 and h2c) other than /healthz,
	// which the server answers itself (200 while serving, 503 once shutting
	// down or once the worker is gone), other than GET /metrics, which the
	// server answers itself too (see Registerer, NoMetrics), and other than
	// calls of the gRPC services (Connect and gRPC-Web, see NoConnect).
	// Default: 404 for everything else.
	HTTP http.Handler
	// Registerer receives the server's Prometheus metrics (package
	// bridge/metrics: both doors, the clock engine, per-method gRPC server
	// metrics, a build-info gauge), which GET /metrics serves along with
	// whatever else the Registerer holds when it is a prometheus.Gatherer
	// (a *prometheus.Registry, prometheus.DefaultRegisterer). NewServer
	// fails when it holds another server's metrics already; Shutdown
	// unregisters them. Default: a registry of the server's own, with the
	// Go runtime and process collectors.
	Registerer prometheus.Registerer
	// NoMetrics turns the metrics off: no hooks on either door and no GET
	// /metrics (ServerOpts.HTTP gets it).
	NoMetrics bool
	// NoTracing leaves out the OpenTelemetry instrumentation of the gRPC
	// door (otelgrpc: server spans, the callers' W3C trace context), about
	// 1.3 KiB and 18 allocations per call. The worker's span of each
	// mutation (arpc.MutationSpanName) stays, a no-op without a
	// TracerProvider. Default: traced with the global TracerProvider.
	NoTracing bool
	// NoConnect disables the Connect and gRPC-Web door: by default, HTTP
	// requests to /<service>/<method> of every service registered on the
	// gRPC server (as of Serve) are transcoded to gRPC and served by it.
	NoConnect bool
	// ReadTimeout bounds the protocol detection of a new connection
	// (cmux.SetReadTimeout). Default DefaultReadTimeout.
	ReadTimeout time.Duration
	// MaxRecvMsgSize limits one incoming gRPC message. Default
	// DefaultMaxRecvMsgSize.
	MaxRecvMsgSize int
	// StreamWorkers is how many goroutines the gRPC server keeps for running
	// calls (grpc.NumStreamWorkers, experimental in grpc-go), instead of
	// starting one per call. A
	// worker keeps the stack that a worker machine's transition grew, which
	// a fresh goroutine has to grow (copy) again on every Mutate. A
	// WatchClock stream occupies a worker for its whole life; when none is
	// idle, a call gets a new goroutine as without workers. Default
	// 2*GOMAXPROCS, at least 4: few enough that idle workers stay warm;
	// negative means none.
	StreamWorkers int
	// GRPCOptions are appended to the gRPC server's options, after the
	// defaults (among them the door's protobuf codec and 128 KiB shared
	// write buffers, see docs/grpc.md, chunked payloads), so they win.
	GRPCOptions []grpc.ServerOption
	// NoARPC disables the native aRPC door.
	NoARPC bool
	// ConfigureARPC, when set, is called on every aRPC server the Mux
	// creates (one per connection), before it starts: set PushInterval,
	// AllowId, Getter... there. By default the aRPC servers take AllowId,
	// AllowFn, Getter, PushInterval, ChunkSize, PayloadBytes, Tokens and
	// Policy from Service (their
	// connections are TLS already when TLSConfig is set).
	ConfigureARPC func(s *arpc.Server)
	// TLSConfig, when set, makes the whole port TLS: every connection is
	// handshaken first (within ReadTimeout), then told apart by its first
	// decrypted bytes as without TLS. ALPN selects "arpc/1" for aRPC
	// clients, "http/1.1" for HTTP clients that offer it, else "h2" (gRPC);
	// see auth.ServerALPN. With ClientCAs and tls.RequireAndVerifyClientCert
	// it is mTLS, and clients are identified by their certificates (see
	// auth.CertIdentity). A plaintext client is refused with a clear error
	// (aRPC: ErrUnauthenticated, HTTP/1: 400), never left hanging. Use
	// auth.LoadServerTLS for files reloaded while serving. Default:
	// plaintext.
	TLSConfig *tls.Config
	// Policy authorizes identities per state on both doors (see
	// ServiceOpts.Policy and arpc.Server.Policy). Default: Service.Policy.
	Policy *auth.Policy
	// Tokens maps bearer tokens to identities on both doors (gRPC
	// "authorization: Bearer" metadata, the aRPC Hello). Default:
	// Service.Tokens.
	Tokens *auth.Tokens
	// Logger receives the server's diagnostics. Default: discarded.
	Logger *slog.Logger
	// Store makes the worker durable (see package bridge/store): NewServer
	// attaches it to the worker (store.Store.Attach) before anything else
	// touches the worker, unless it is attached to it already, and the
	// worker must then be an *am.Machine that did not change yet.
	// Shutdown writes what is pending; closing the store after Shutdown is
	// the caller's.
	Store *store.Store
}

// Server serves one worker on one listener to both doors: gRPC
// (BridgeService, grpc.health.v1, server reflection), native aRPC and
// HTTP/1.1 or h2c (/healthz, Connect and gRPC-Web calls of the gRPC
// services, and ServerOpts.HTTP). Health (gRPC and /healthz) is
// SERVING until Shutdown or until the worker is gone (disposed, or its
// schema changed), NOT_SERVING after. Connections are told apart by
// their first bytes (cmux): the aRPC preface, an HTTP/1 method, an HTTP/2
// preface with a native gRPC content type (to grpc-go), or any other HTTP/2
// preface (to the HTTP side). Create it with NewServer, run Serve and
// end it with Shutdown.
type Server struct {
	svc    *Service
	gs     *grpc.Server
	health *health.Server
	http   *http.Server
	mux    cmux.CMux
	arpc   *arpcDoor
	root   net.Listener
	log    *slog.Logger
	opts   ServerOpts

	// connect is set by Serve unless NoConnect; maxRecv is the resolved
	// MaxRecvMsgSize
	connect *connectDoor
	maxRecv int
	// metrics are nil with NoMetrics
	metrics *metrics.Metrics

	grpcL, httpL, h2cL, arpcL net.Listener

	mx       sync.Mutex
	serving  bool
	stopping bool
	stopped  chan struct{}
	wg       sync.WaitGroup
}

// NewServer prepares a server of worker on l; name names the aRPC servers'
// machines. ctx bounds the aRPC door's machines; Shutdown ends everything.
func NewServer(ctx context.Context, l net.Listener, name string,
	worker am.Api, opts *ServerOpts,
) (*Server, error) {
	if l == nil {
		return nil, fmt.Errorf("%w: nil listener", arpc.ErrInvalidParams)
	}
	if opts == nil {
		opts = &ServerOpts{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Service.Logger == nil {
		opts.Service.Logger = log
	}
	if opts.Store != nil {
		if err := attachStore(opts.Store, worker); err != nil {
			return nil, err
		}
	}
	if opts.Policy != nil {
		opts.Service.Policy = opts.Policy
	}
	if opts.Tokens != nil {
		opts.Service.Tokens = opts.Tokens
	}
	svc, err := NewService(worker, &opts.Service)
	if err != nil {
		return nil, err
	}
	var met *metrics.Metrics
	if !opts.NoMetrics {
		met, err = metrics.NewWithOptions(svc.eng,
			metrics.Options{Registerer: opts.Registerer})
		if err != nil {
			svc.Close()
			return nil, err
		}
	}
	maxRecv := opts.MaxRecvMsgSize
	if maxRecv <= 0 {
		maxRecv = DefaultMaxRecvMsgSize
	}
	gopts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxRecv),
		// find dead peers of long streams
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time: 30 * time.Second, Timeout: 10 * time.Second}),
	}
	if opts.TLSConfig != nil {
		// TLS is terminated below cmux; this tells gRPC the peer's TLS state
		gopts = append(gopts, grpc.Creds(terminatedTLS{}))
	}
	if workers := streamWorkers(opts.StreamWorkers); workers > 0 {
		gopts = append(gopts, grpc.NumStreamWorkers(uint32(workers)))
	}
	if !opts.NoTracing {
		gopts = append(gopts, otelServerOption())
	}
	gopts = append(gopts, debugLogOptions(log.With("server", name))...)
	if met != nil {
		gopts = append(gopts, met.GRPCServerOptions()...)
	}
	// the protobuf codec with large buffers pooled (codec.go), and writes
	// batched up to serverWriteBuffer (see there)
	gopts = append(gopts, codecServerOption(),
		grpc.WriteBufferSize(serverWriteBuffer), grpc.SharedWriteBuffer(true))
	gopts = append(gopts, opts.GRPCOptions...)
	s := &Server{
		svc:     svc,
		gs:      grpc.NewServer(gopts...),
		health:  health.NewServer(),
		root:    l,
		log:     log.With("server", name),
		opts:    *opts,
		maxRecv: maxRecv,
		metrics: met,
		stopped: make(chan struct{}),
	}
	svc.Register(s.gs)
	healthpb.RegisterHealthServer(s.gs, s.health)
	s.health.SetServingStatus(bridgev1.BridgeService_ServiceDesc.ServiceName,
		healthpb.HealthCheckResponse_SERVING)
	reflection.Register(s.gs)

	readTimeout := opts.ReadTimeout
	if readTimeout <= 0 {
		readTimeout = DefaultReadTimeout
	}
	muxL := l
	if opts.TLSConfig != nil {
		muxL = arpc.TLSListener(l, opts.TLSConfig, readTimeout)
	}
	s.mux = cmux.New(muxL)
	s.mux.SetReadTimeout(readTimeout)
	s.mux.HandleError(func(err error) bool {
		var nm cmux.ErrNotMatched
		if errors.As(err, &nm) {
			s.log.Debug("unknown protocol, connection closed", "err", err)
		}
		return true
	})
	// cheapest matchers first: aRPC needs 4 bytes, HTTP/1 a method name
	if !opts.NoARPC {
		s.arpcL = subListener{s.mux.Match(arpc.MuxMatcher())}
	}
	s.httpL = subListener{s.mux.Match(cmux.HTTP1Fast())}
	// native gRPC only: gRPC-Web and Connect over h2c go to the HTTP side
	s.grpcL = subListener{s.mux.MatchWithWriters(nativeGRPCMatcher())}
	s.h2cL = subListener{s.mux.Match(cmux.HTTP2())}

	s.http = &http.Server{Handler: s.httpHandler(opts.HTTP),
		ReadHeaderTimeout: readTimeout, Protocols: new(http.Protocols)}
	s.http.Protocols.SetHTTP1(true)
	s.http.Protocols.SetUnencryptedHTTP2(true)
	if !opts.NoARPC {
		door, err := newARPCDoor(ctx, name, worker, s.arpcL, opts, met, log)
		if err != nil {
			svc.Close()
			if met != nil {
				met.Unregister()
			}
			return nil, err
		}
		s.arpc = door
	}
	return s, nil
}

// streamWorkers resolves ServerOpts.StreamWorkers.
func streamWorkers(n int) int {
	switch {
	case n < 0:
		return 0
	case n == 0:
		return max(4, 2*runtime.GOMAXPROCS(0))
	}
	return n
}

func (s *Server) httpHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			s.mx.Lock()
			stopping := s.stopping
			s.mx.Unlock()
			if stopping || s.svc.eng.Err() != nil {
				http.Error(w, "unavailable", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ok\n"))
			return
		}
		if s.metrics != nil && r.URL.Path == "/metrics" && (r.Method ==
			http.MethodGet || r.Method == http.MethodHead) {
			s.metrics.Handler().ServeHTTP(w, r)
			return
		}
		if s.connect != nil && s.connect.serves(r) {
			s.connect.ServeHTTP(w, r)
			return
		}
		if next == nil {
			http.NotFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Addr returns the listener's address.
func (s *Server) Addr() net.Addr { return s.root.Addr() }

// Service returns the gRPC service.
func (s *Server) Service() *Service { return s.svc }

// Metrics returns the server's metrics (nil with ServerOpts.NoMetrics), to
// register more collectors (Metrics.Registerer) or serve them elsewhere.
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }

// GRPC returns the gRPC server, for registering more services before Serve.
func (s *Server) GRPC() *grpc.Server { return s.gs }

// Serve serves until Shutdown (then it returns nil) or until the listener
// fails. Call it once.
func (s *Server) Serve() error {
	s.mx.Lock()
	if s.serving || s.stopping {
		s.mx.Unlock()
		return fmt.Errorf("%w: Serve called twice or after Shutdown",
			arpc.ErrInvalidParams)
	}
	s.serving = true
	s.mx.Unlock()
	if s.metrics != nil {
		// after NewServer, so that services registered on GRPC() count
		s.metrics.InitializeGRPC(s.gs)
	}
	if !s.opts.NoConnect {
		// after NewServer, so that services registered on GRPC() count
		door, err := newConnectDoor(s.gs, s.maxRecv)
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = s.Shutdown(ctx)
			return err
		}
		s.connect = door
	}

	errs := make(chan error, 8)
	run := func(name string, fn func() error) {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := fn(); err != nil && !s.isStopping() {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	run("grpc", func() error { return s.gs.Serve(s.grpcL) })
	for name, l := range map[string]net.Listener{
		"http": s.httpL, "h2c": h2cListener{s.h2cL}} {
		run(name, func() error {
			if err := s.http.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	run("cmux", s.mux.Serve)
	run("health", func() error { s.watchWorker(); return nil })
	if s.arpc != nil {
		// under mx: a Shutdown that comes first keeps the door from
		// starting (it has nothing to say goodbye to), else it stops the
		// started door; either way Serve then returns nil
		s.mx.Lock()
		var err error
		if !s.stopping {
			err = s.arpc.start()
		}
		s.mx.Unlock()
		if err != nil {
			errs <- err
		}
	}

	select {
	case err := <-errs:
		s.log.Error("serving failed", "err", err)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		return err
	case <-s.stopped:
		return nil
	}
}

// watchWorker turns gRPC health NOT_SERVING, for the server ("") and
// BridgeService, once the worker is gone (its engine is done), as /healthz
// turns 503. It returns then, or when the service closes (Shutdown, which
// turns health NOT_SERVING itself).
func (s *Server) watchWorker() {
	select {
	case <-s.svc.eng.Done():
	case <-s.svc.Done():
		return
	}
	s.log.Warn("worker gone: health NOT_SERVING", "err", s.svc.eng.Err())
	for _, name := range []string{"",
		bridgev1.BridgeService_ServiceDesc.ServiceName} {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
}

func (s *Server) isStopping() bool {
	s.mx.Lock()
	defer s.mx.Unlock()
	return s.stopping
}

// Shutdown stops the server gracefully: health turns NOT_SERVING, clock
// streams end with UNAVAILABLE, aRPC clients are told goodbye, unary calls
// in flight finish. When ctx ends first, the remaining connections are
// closed. It waits for every goroutine of the server and returns ctx's error
// if the graceful part did not finish in time. Idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mx.Lock()
	if s.stopping {
		s.mx.Unlock()
		<-s.stopped
		return nil
	}
	s.stopping = true
	s.mx.Unlock()

	s.health.Shutdown()
	// no new connections; the ones in flight are drained below
	_ = s.root.Close()
	s.mux.Close()
	s.svc.Close()
	if s.arpc != nil {
		s.arpc.stop()
	}
	graceful := make(chan struct{})
	go func() {
		s.gs.GracefulStop()
		close(graceful)
	}()
	var err error
	select {
	case <-graceful:
	case <-ctx.Done():
		err = ctx.Err()
		s.gs.Stop()
		<-graceful
	}
	if herr := s.http.Shutdown(ctx); herr != nil {
		_ = s.http.Close()
		if err == nil {
			err = herr
		}
	}
	s.wg.Wait()
	if s.opts.Store != nil {
		if ferr := s.opts.Store.Flush(ctx); ferr != nil && err == nil {
			err = ferr
		}
	}
	if s.metrics != nil {
		s.metrics.Unregister()
	}
	close(s.stopped)
	return err
}

// attachStore attaches a ServerOpts.Store to the worker.
func attachStore(st *store.Store, worker am.Api) error {
	m, ok := worker.(store.Machine)
	if !ok {
		return fmt.Errorf("%w: a store needs a local machine, not %T",
			arpc.ErrInvalidParams, worker)
	}
	return st.Attach(m)
}

// subListener is one protocol's share of the root listener. cmux's listeners
// close the root listener on Close; the Server closes it once itself, so the
// servers' Close calls are no-ops. Accept ends when cmux stops.
type subListener struct{ net.Listener }

func (subListener) Close() error { return nil }
