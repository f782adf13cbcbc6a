package main

import (
	"context"
	"fmt"
	"net"
	"sync"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc"
	arpcstates "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/benchmark/states"
)

func init() { register(10, arpcTransport{}) }

// arpcTransport is our aRPC door (package arpc) with its defaults: one
// arpc.Server per client on the shared worker (a Server serves one client at
// a time), each client through the counting proxy, the loops driving
// Client.Worker.
type arpcTransport struct{}

func (arpcTransport) Name() string { return "arpc" }
func (arpcTransport) Desc() string {
	return "our aRPC door (package arpc), defaults (100 ms push interval)"
}

// arpcSchema is the benchmark worker schema merged with our worker states.
func arpcSchema() (am.Schema, am.S) {
	return states.WorkerSchema.Merge(arpcstates.WorkerSchema),
		am.SAdd(ws.Names(), arpcstates.WorkerStates.Names())
}

type arpcPair struct {
	srv *arpc.Server
	cli *arpc.Client
}

type arpcSession struct {
	w      *Worker
	pairs  []arpcPair
	schema am.Schema
	names  am.S
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	gate  *gate
	armed <-chan struct{}

	sink     *am.Machine
	received chan []byte
	payload  []byte
}

func newArpcSession(
	ctx context.Context, env *Env, clients int, withSink bool,
) (*arpcSession, error) {
	ctx, cancel := context.WithCancel(ctx)
	schema, names := arpcSchema()
	w, err := NewWorker(ctx, "arpc-worker", schema, names)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &arpcSession{w: w, schema: schema, names: names, ctx: ctx, cancel: cancel}
	if withSink {
		if s.sink, s.received, err = newArpcSink(ctx); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	for i := range clients {
		if err := s.connect(ctx, env, fmt.Sprintf("arpc-%d", i)); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("client %d of %d: %w", i+1, clients, err)
		}
	}

	return s, nil
}

// connect starts one server on its own listener and one client through env.
func (s *arpcSession) connect(ctx context.Context, env *Env, name string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv, err := arpc.NewServer(s.ctx, "", name, s.w.Mach, nil)
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv.Listener = ln
	s.pairs = append(s.pairs, arpcPair{srv: srv})
	srv.Start()
	if err := waitState(ctx, srv.Mach, arpcstates.ServerStates.RpcReady); err != nil {
		return err
	}
	addr, err := env.Expose(ln.Addr().String())
	if err != nil {
		return err
	}
	var opts *arpc.ClientOpts
	if s.sink != nil {
		opts = &arpc.ClientOpts{Consumer: s.sink}
	}
	cli, err := arpc.NewClient(s.ctx, addr, name, s.schema, s.names, opts)
	if err != nil {
		return err
	}
	s.pairs[len(s.pairs)-1].cli = cli
	cli.Start()

	return waitState(ctx, cli.Mach, arpcstates.ClientStates.Ready)
}

func (s *arpcSession) worker() *arpc.Worker { return s.pairs[0].cli.Worker }

// Calls is -1 ("—"): package arpc has no call counters yet.
func (s *arpcSession) Calls() int64 { return -1 }

func (s *arpcSession) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.wg.Wait()
		machs := []*am.Machine{s.w.Mach, s.sink}
		for _, p := range s.pairs {
			if p.cli != nil {
				machs = append(machs, p.cli.Mach)
			}
			if p.srv != nil {
				machs = append(machs, p.srv.Mach)
			}
		}
		disposeAll(machs...)
	})

	return nil
}

// SGP

func (arpcTransport) SetupSGP(ctx context.Context, env *Env) (SGPSession, error) {
	return newArpcSession(ctx, env, 1, false)
}

func (s *arpcSession) Run(ctx context.Context, n int) error {
	wk := s.worker()
	for range n {
		tick := wk.Tick(ws.Event)
		op := states.StateValue(wk.Switch(states.WorkerGroups.Values))
		if wk.Add1(ws.CallOp, am.A{states.ArgOp: op}) == am.Canceled {
			return fmt.Errorf("arpc: CallOp canceled: %w", wk.Err())
		}
		select {
		case <-wk.WhenTime1(ws.Event, tick+1, ctx):
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	return nil
}

func (s *arpcSession) Errors() int64 { return s.w.Errors() }

// round trip

func (arpcTransport) SetupRoundTrip(ctx context.Context, env *Env) (RoundTripSession, error) {
	return newArpcSession(ctx, env, 1, false)
}

func (s *arpcSession) RoundTrip(_ context.Context) error {
	if s.worker().Add1(ws.Ping, nil) == am.Canceled {
		return fmt.Errorf("arpc: Ping canceled: %w", s.worker().Err())
	}
	return nil
}

// burst

func (arpcTransport) SetupBurst(ctx context.Context, env *Env) (BurstSession, error) {
	return newArpcSession(ctx, env, 1, false)
}

func (s *arpcSession) Mutate(_ context.Context, n int) error {
	for range n {
		if s.w.Mach.Add1(ws.Ping, nil) == am.Canceled {
			return fmt.Errorf("arpc: worker Ping canceled")
		}
	}
	return nil
}

func (s *arpcSession) WaitSynced(ctx context.Context) error {
	want := s.w.Mach.Time(s.names)
	wk := s.worker()
	select {
	case <-wk.WhenTime(s.names, want, ctx):
	case <-ctx.Done():
		return fmt.Errorf("client at %v, worker at %v: %w", wk.Time(s.names), want, ctx.Err())
	}
	if got := wk.Time(s.names); !equalTime(got, want) {
		return fmt.Errorf("%w: client clock %v, worker %v", ErrMismatch, got, want)
	}
	return nil
}

func equalTime(a, b am.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fan-out

func (arpcTransport) SetupFanOut(ctx context.Context, env *Env, clients int) (FanOutSession, error) {
	s, err := newArpcSession(ctx, env, clients, false)
	if err != nil {
		return nil, err
	}
	s.gate = newGate(clients)
	for i, p := range s.pairs {
		s.wg.Add(1)
		go s.follow(i, p.cli.Worker)
	}

	return s, nil
}

func (s *arpcSession) follow(i int, wk *arpc.Worker) {
	defer s.wg.Done()
	for {
		tick := wk.Tick(ws.Ping)
		s.gate.Seen(i, tick)
		select {
		case <-wk.WhenTime1(ws.Ping, tick+1, s.ctx):
		case <-s.ctx.Done():
			return
		}
	}
}

func (s *arpcSession) Change(_ context.Context) error {
	if s.w.Mach.Add1(ws.Ping, nil) == am.Canceled {
		return fmt.Errorf("arpc: worker Ping canceled")
	}
	s.armed = s.gate.Arm(s.w.Mach.Tick(ws.Ping))
	return nil
}

func (s *arpcSession) WaitAll(ctx context.Context) error { return s.gate.Wait(ctx, s.armed) }

// payload

func (arpcTransport) SetupPayload(ctx context.Context, env *Env) (PayloadSession, error) {
	return newArpcSession(ctx, env, 1, true)
}

func (s *arpcSession) Fetch(ctx context.Context, size int) error {
	s.payload = payloadOf(s.payload, size)
	s.w.Mach.Add1(arpcstates.WorkerStates.SendPayload, arpc.Pass(&arpc.A{
		Payload: &arpc.ArgsPayload{Name: "bench", Data: s.payload},
	}))

	return awaitPayload(ctx, s.received, size)
}

// arpcSinkHandlers hand each WorkerPayload's bytes to a channel.
type arpcSinkHandlers struct{ received chan []byte }

func (h *arpcSinkHandlers) WorkerPayloadState(e *am.Event) {
	var b []byte
	if p := arpc.ParseArgs(e.Args).Payload; p != nil {
		b, _ = p.Data.([]byte)
	}
	select {
	case h.received <- b:
	default:
	}
}

// newArpcSink is a consumer machine for our aRPC payloads.
func newArpcSink(ctx context.Context) (*am.Machine, chan []byte, error) {
	received := make(chan []byte, 1)
	m, err := am.NewCommon(ctx, "arpc-sink", arpcstates.ConsumerSchema,
		arpcstates.ConsumerStates.Names(), &arpcSinkHandlers{received: received},
		nil, &am.Opts{DontLogStackTrace: true})
	if err != nil {
		return nil, nil, err
	}

	return m, received, nil
}
