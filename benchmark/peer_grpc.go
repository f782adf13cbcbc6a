package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	benchmarkv1 "github.com/arpcbridge/arpcbridge/gen/arpc/benchmark/v1"
)

func init() { register(40, grpcTransport{}) }

// grpcChunk is the payload stream's chunk size.
const grpcChunk = 32 << 10

// grpcTransport is a plain hand-written gRPC service (BenchmarkService) in
// front of a plain Go worker: a server stream of events, unary GetValue,
// CallOp and Ping, and a chunked payload stream.
type grpcTransport struct{}

func (grpcTransport) Name() string { return "grpc" }
func (grpcTransport) Desc() string {
	return "plain hand-written gRPC service (stream + unary calls) over a plain Go worker"
}

// grpcService implements BenchmarkServiceServer over a plainWorker and
// counts calls: unary calls plus every message a server stream sends.
type grpcService struct {
	benchmarkv1.UnimplementedBenchmarkServiceServer

	w       *plainWorker
	calls   atomic.Int64
	subs    atomic.Int64 // open Subscribe streams
	payload []byte
	payMu   sync.Mutex
}

func (g *grpcService) Subscribe(
	_ *benchmarkv1.SubscribeRequest,
	stream grpc.ServerStreamingServer[benchmarkv1.SubscribeResponse],
) error {
	wake, from := g.w.Subscribe()
	defer g.w.Unsubscribe(wake)
	g.subs.Add(1)
	defer g.subs.Add(-1)
	var seq uint64
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		}
		// one event per change, even when wake-ups were coalesced
		for v := g.w.Version() - from; seq < v; {
			seq++
			g.calls.Add(1)
			if err := stream.Send(&benchmarkv1.SubscribeResponse{Seq: seq}); err != nil {
				return err
			}
		}
	}
}

func (g *grpcService) GetValue(
	context.Context, *benchmarkv1.GetValueRequest,
) (*benchmarkv1.GetValueResponse, error) {
	g.calls.Add(1)
	return &benchmarkv1.GetValueResponse{Value: int32(g.w.Value())}, nil
}

func (g *grpcService) CallOp(
	_ context.Context, req *benchmarkv1.CallOpRequest,
) (*benchmarkv1.CallOpResponse, error) {
	g.calls.Add(1)
	ok, _ := g.w.CallOp(int(req.GetOp()))
	return &benchmarkv1.CallOpResponse{Ok: ok}, nil
}

func (g *grpcService) Ping(
	_ context.Context, req *benchmarkv1.PingRequest,
) (*benchmarkv1.PingResponse, error) {
	g.calls.Add(1)
	g.w.Change()
	return &benchmarkv1.PingResponse{Payload: req.GetPayload()}, nil
}

func (g *grpcService) Payloads(
	req *benchmarkv1.PayloadsRequest,
	stream grpc.ServerStreamingServer[benchmarkv1.PayloadsResponse],
) error {
	size := int(req.GetSize())
	chunk := int(req.GetChunkSize())
	if chunk <= 0 {
		chunk = grpcChunk
	}
	g.payMu.Lock()
	g.payload = payloadOf(g.payload, size)
	data := g.payload
	g.payMu.Unlock()
	for off := 0; off < size; off += chunk {
		g.calls.Add(1)
		end := min(off+chunk, size)
		if err := stream.Send(&benchmarkv1.PayloadsResponse{Data: data[off:end]}); err != nil {
			return err
		}
	}

	return nil
}

// grpcClient is one client connection and its stub.
type grpcClient struct {
	conn *grpc.ClientConn
	api  benchmarkv1.BenchmarkServiceClient
}

// grpcSession is one server with one or more clients.
type grpcSession struct {
	svc    *grpcService
	srv    *grpc.Server
	ctx    context.Context // session lifetime
	cancel context.CancelFunc
	cls    []grpcClient
	wg     sync.WaitGroup
	once   sync.Once

	// sgp: the one client's event stream
	events grpc.ServerStreamingClient[benchmarkv1.SubscribeResponse]
	// burst, fan-out
	gate    *gate
	armed   <-chan struct{}
	changes uint64
}

// newGRPCSession serves a fresh worker on loopback and connects clients
// through env.
func newGRPCSession(ctx context.Context, env *Env, clients int) (*grpcSession, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &grpcSession{svc: &grpcService{w: newPlainWorker()}, srv: grpc.NewServer()}
	s.ctx, s.cancel = context.WithCancel(ctx)
	benchmarkv1.RegisterBenchmarkServiceServer(s.srv, s.svc)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.Serve(ln)
	}()
	addr, err := env.Expose(ln.Addr().String())
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	for range clients {
		conn, err := grpc.NewClient(addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			_ = s.Close()
			return nil, err
		}
		s.cls = append(s.cls, grpcClient{conn, benchmarkv1.NewBenchmarkServiceClient(conn)})
	}

	return s, nil
}

func (s *grpcSession) Calls() int64 { return s.svc.calls.Load() }

func (s *grpcSession) Close() error {
	s.once.Do(func() {
		s.cancel()
		for _, c := range s.cls {
			_ = c.conn.Close()
		}
		s.srv.Stop()
		s.wg.Wait()
	})

	return nil
}

// subscribe opens n event streams (one per client, from) and waits until the
// server holds them all, so no change is missed.
func (s *grpcSession) subscribe(
	ctx context.Context,
) ([]grpc.ServerStreamingClient[benchmarkv1.SubscribeResponse], error) {
	streams := make([]grpc.ServerStreamingClient[benchmarkv1.SubscribeResponse], len(s.cls))
	for i, c := range s.cls {
		st, err := c.api.Subscribe(s.ctx, &benchmarkv1.SubscribeRequest{
			ClientId: fmt.Sprint(i),
		})
		if err != nil {
			return nil, err
		}
		streams[i] = st
	}
	deadline := time.Now().Add(upstreamReadyTimeout)
	for s.svc.subs.Load() < int64(len(s.cls)) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("grpc: %d of %d streams open", s.svc.subs.Load(), len(s.cls))
		}
		time.Sleep(time.Millisecond)
	}

	return streams, nil
}

// follow reads one client's events into the gate.
func (s *grpcSession) follow(i int, st grpc.ServerStreamingClient[benchmarkv1.SubscribeResponse]) {
	defer s.wg.Done()
	for {
		ev, err := st.Recv()
		if err != nil {
			return
		}
		s.gate.Seen(i, ev.GetSeq())
	}
}

func grpcSetup(ctx context.Context, env *Env, clients int) (*grpcSession, error) {
	s, err := newGRPCSession(ctx, env, clients)
	if err != nil {
		return nil, err
	}
	if err := s.warm(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}

	return s, nil
}

// warm makes one call per client so connections are up before timing.
func (s *grpcSession) warm(ctx context.Context) error {
	for _, c := range s.cls {
		if _, err := c.api.GetValue(ctx, &benchmarkv1.GetValueRequest{}); err != nil {
			return fmt.Errorf("grpc: %w", err)
		}
	}
	s.svc.calls.Store(0)

	return nil
}

// SGP

func (grpcTransport) SetupSGP(ctx context.Context, env *Env) (SGPSession, error) {
	s, err := grpcSetup(ctx, env, 1)
	if err != nil {
		return nil, err
	}
	streams, err := s.subscribe(ctx)
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	s.events = streams[0]

	return s, nil
}

// Run: GetValue, CallOp with the value, then wait for the change's event.
func (s *grpcSession) Run(ctx context.Context, n int) error {
	api := s.cls[0].api
	for range n {
		v, err := api.GetValue(ctx, &benchmarkv1.GetValueRequest{})
		if err != nil {
			return err
		}
		if _, err := api.CallOp(ctx, &benchmarkv1.CallOpRequest{Op: v.GetValue()}); err != nil {
			return err
		}
		if _, err := s.events.Recv(); err != nil {
			return fmt.Errorf("grpc event: %w", err)
		}
	}

	return nil
}

func (s *grpcSession) Errors() int64 { return s.svc.w.errs.Load() }

// round trip

func (grpcTransport) SetupRoundTrip(ctx context.Context, env *Env) (RoundTripSession, error) {
	return grpcSetup(ctx, env, 1)
}

func (s *grpcSession) RoundTrip(ctx context.Context) error {
	_, err := s.cls[0].api.Ping(ctx, &benchmarkv1.PingRequest{})
	return err
}

// burst

func (grpcTransport) SetupBurst(ctx context.Context, env *Env) (BurstSession, error) {
	return grpcSetupFollowers(ctx, env, 1)
}

func grpcSetupFollowers(ctx context.Context, env *Env, clients int) (*grpcSession, error) {
	s, err := grpcSetup(ctx, env, clients)
	if err != nil {
		return nil, err
	}
	streams, err := s.subscribe(ctx)
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	s.gate = newGate(clients)
	for i, st := range streams {
		s.wg.Add(1)
		go s.follow(i, st)
	}

	return s, nil
}

func (s *grpcSession) Mutate(_ context.Context, n int) error {
	for range n {
		s.svc.w.Change()
	}
	s.changes += uint64(n)

	return nil
}

func (s *grpcSession) WaitSynced(ctx context.Context) error {
	return s.gate.Wait(ctx, s.gate.Arm(s.changes))
}

// fan-out

func (grpcTransport) SetupFanOut(ctx context.Context, env *Env, clients int) (FanOutSession, error) {
	return grpcSetupFollowers(ctx, env, clients)
}

func (s *grpcSession) Change(_ context.Context) error {
	s.svc.w.Change()
	s.changes++
	s.armed = s.gate.Arm(s.changes)

	return nil
}

func (s *grpcSession) WaitAll(ctx context.Context) error {
	return s.gate.Wait(ctx, s.armed)
}

// payload

func (grpcTransport) SetupPayload(ctx context.Context, env *Env) (PayloadSession, error) {
	return grpcSetup(ctx, env, 1)
}

func (s *grpcSession) Fetch(ctx context.Context, size int) error {
	st, err := s.cls[0].api.Payloads(ctx, &benchmarkv1.PayloadsRequest{Size: uint64(size)})
	if err != nil {
		return err
	}
	buf := make([]byte, 0, size)
	for {
		msg, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		buf = append(buf, msg.GetData()...)
	}

	return checkPayload(buf, size)
}
