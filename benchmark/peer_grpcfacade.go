package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"google.golang.org/grpc"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/bridge"
)

func init() {
	register(20, grpcFacadeTransport{})
	register(21, grpcFacadeTransport{tls: true})
}

// grpcFacadeTransport is our gRPC facade (package bridge) with its defaults:
// one bridge.Server (gRPC, aRPC and HTTP on one port) in front of the same
// asyncmachine worker, and bridge.Dial clients, each through the counting
// proxy, whose Worker is the same *arpc.Worker the aRPC row drives. So the
// loops are the aRPC row's, over gRPC: local reads and waits on the replica
// (kept current by the WatchClock stream), remote mutations as unary Mutate.
type grpcFacadeTransport struct {
	// tls makes the port TLS (ServerOpts.TLSConfig, ClientOpts.TLSConfig)
	tls bool
}

func (t grpcFacadeTransport) Name() string {
	if t.tls {
		return "grpc-facade-tls"
	}
	return "grpc-facade"
}

func (t grpcFacadeTransport) Desc() string {
	if t.tls {
		return "the grpc-facade row over TLS 1.3 (server certificate, ECDSA P-256, ALPN h2): ServerOpts.TLSConfig, ClientOpts.TLSConfig"
	}
	return "our gRPC facade (package bridge), defaults (latency-first pushes, no rate cap): " +
		"bridge.Server, bridge.Dial clients driving Client.Worker"
}

// facadeSession is one worker behind one bridge.Server, and its clients.
type facadeSession struct {
	w       *Worker
	srv     *bridge.Server
	served  chan struct{}
	clients []*bridge.Client
	names   am.S
	// addr, schema and opts are how clients dial
	addr   string
	schema am.Schema
	opts   *bridge.ClientOpts
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	// streamed counts the WatchClock messages the clients received
	// (updates, heartbeats, payloads): the server's side of the calls
	streamed atomic.Int64
	// canceled counts sgp's CallOps answered Canceled that ran all the same
	canceled atomic.Int64

	gate  *gate
	armed <-chan struct{}

	sink     *am.Machine
	received chan []byte
	payload  []byte
}

func newFacadeSession(
	ctx context.Context, useTLS bool, env *Env, clients int, withSink bool,
) (*facadeSession, error) {
	return newFacadeSessionWith(ctx, env, clients, arpcSessionOpts{tls: useTLS,
		sink: withSink})
}

// newFacadeSessionWith is newFacadeSession with the options of the aRPC
// row's sessions.
func newFacadeSessionWith(
	ctx context.Context, env *Env, clients int, o arpcSessionOpts,
) (*facadeSession, error) {
	useTLS, withSink := o.tls, o.sink
	ctx, cancel := context.WithCancel(ctx)
	schema, names := arpcSchema()
	w, err := NewWorker(ctx, "facade-worker", schema, names)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &facadeSession{
		w: w, names: names, ctx: ctx, cancel: cancel,
		clients: make([]*bridge.Client, clients),
	}
	if withSink {
		if s.sink, s.received, err = newArpcSink(ctx); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	var sopts *bridge.ServerOpts
	if useTLS {
		sopts = &bridge.ServerOpts{TLSConfig: benchTLS().server}
	}
	srv, err := bridge.NewServer(ctx, ln, "facade", w.Mach, sopts)
	if err != nil {
		_ = ln.Close()
		_ = s.Close()
		return nil, err
	}
	s.srv, s.served = srv, make(chan struct{})
	go func() {
		defer close(s.served)
		_ = srv.Serve()
	}()
	addr, err := env.Expose(ln.Addr().String())
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	opts := &bridge.ClientOpts{
		Consumer:     s.sink,
		PushAllTicks: o.allTicks,
		TLSConfig: func() *tls.Config {
			if useTLS {
				return benchTLS().client
			}
			return nil
		}(),
		DialOptions: []grpc.DialOption{
			grpc.WithStreamInterceptor(s.countStream),
		},
	}
	s.addr, s.schema, s.opts = addr, schema, opts
	err = connectAll(ctx, clients, func(i int) error {
		c, err := bridge.Dial(ctx, addr, fmt.Sprintf("facade-%d", i), schema, names, opts)
		s.clients[i] = c
		return err
	})
	if err != nil {
		_ = s.Close()
		return nil, err
	}

	return s, nil
}

// countStream counts the messages received on client streams.
func (s *facadeSession) countStream(
	ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn,
	method string, streamer grpc.Streamer, opts ...grpc.CallOption,
) (grpc.ClientStream, error) {
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &countingStream{ClientStream: cs, n: &s.streamed}, nil
}

type countingStream struct {
	grpc.ClientStream
	n *atomic.Int64
}

func (c *countingStream) RecvMsg(m any) error {
	err := c.ClientStream.RecvMsg(m)
	if err == nil {
		c.n.Add(1)
	}
	return err
}

func (s *facadeSession) worker() *arpc.Worker { return s.clients[0].Worker }

// Calls counts the clients' gRPC calls (bridge.ClientStats.Calls) plus the
// stream messages the server sent them.
func (s *facadeSession) Calls() int64 {
	n := s.streamed.Load()
	for _, c := range s.clients {
		if c != nil {
			n += int64(c.Stats().Calls)
		}
	}

	return n
}

// Close closes the clients, shuts the server down and stops the worker.
func (s *facadeSession) Close() error {
	s.once.Do(func() {
		var wg sync.WaitGroup
		for _, c := range s.clients {
			if c != nil {
				wg.Go(func() { _ = c.Close() })
			}
		}
		wg.Wait()
		if s.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
			_ = s.srv.Shutdown(ctx)
			cancel()
			<-s.served
		}
		s.cancel()
		s.wg.Wait()
		disposeAll(s.w.Mach, s.sink)
	})

	return nil
}

// SGP

func (t grpcFacadeTransport) SetupSGP(ctx context.Context, env *Env) (SGPSession, error) {
	return newFacadeSession(ctx, t.tls, env, 1, false)
}

func (s *facadeSession) Run(ctx context.Context, n int) error {
	return sgpRemote(ctx, s.worker(), n, &s.canceled)
}

// CanceledReplies counts the mutations the worker answered Canceled
// although they ran (see sgpRemote).
func (s *facadeSession) CanceledReplies() int64 { return s.canceled.Load() }

func (s *facadeSession) Errors() int64 { return s.w.Errors() }

// round trip

func (t grpcFacadeTransport) SetupRoundTrip(ctx context.Context, env *Env) (RoundTripSession, error) {
	return newFacadeSession(ctx, t.tls, env, 1, false)
}

func (s *facadeSession) RoundTrip(_ context.Context) error { return pingRemote(s.worker()) }

// burst

func (t grpcFacadeTransport) SetupBurst(ctx context.Context, env *Env) (BurstSession, error) {
	return newFacadeSession(ctx, t.tls, env, 1, false)
}

func (s *facadeSession) Mutate(_ context.Context, n int) error { return pingWorker(s.w, n) }

func (s *facadeSession) WaitSynced(ctx context.Context) error {
	return waitSynced(ctx, s.w, s.worker(), s.names)
}

// fan-out

func (t grpcFacadeTransport) SetupFanOut(
	ctx context.Context, env *Env, clients int,
) (FanOutSession, error) {
	s, err := newFacadeSession(ctx, t.tls, env, clients, false)
	if err != nil {
		return nil, err
	}
	s.gate = newGate(clients)
	for i, c := range s.clients {
		s.wg.Go(func() { followRemote(s.ctx, s.gate, i, c.Worker) })
	}

	return s, nil
}

func (s *facadeSession) Change(_ context.Context) error {
	if err := pingWorker(s.w, 1); err != nil {
		return err
	}
	s.armed = s.gate.Arm(s.w.Mach.Tick(ws.Ping))
	return nil
}

func (s *facadeSession) WaitAll(ctx context.Context) error { return s.gate.Wait(ctx, s.armed) }

// payload: the worker's SendPayload arrives as a WatchClock payload message

func (t grpcFacadeTransport) SetupPayload(ctx context.Context, env *Env) (PayloadSession, error) {
	return newFacadeSession(ctx, t.tls, env, 1, true)
}

func (s *facadeSession) Fetch(ctx context.Context, size int) error {
	s.payload = sendPayload(s.w, s.payload, size)
	return awaitPayload(ctx, s.received, size)
}
