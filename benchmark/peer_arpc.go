package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
	arpcstates "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/benchmark/states"
)

func init() {
	register(10, arpcTransport{})
	register(11, arpcTransport{tls: true})
}

// arpcTransport is our aRPC door (package arpc) with its defaults, served the
// intended way: one arpc.Mux per worker on one port (a Server per
// connection, all sharing the worker's engine), every client through the
// counting proxy, the loops driving Client.Worker.
type arpcTransport struct {
	// tls makes the port TLS (Mux.TLSConfig, ClientOpts.TLSConfig)
	tls bool
}

func (t arpcTransport) Name() string {
	if t.tls {
		return "arpc-tls"
	}
	return "arpc"
}

func (t arpcTransport) Desc() string {
	if t.tls {
		return "the arpc row over TLS 1.3 (server certificate, ECDSA P-256): Mux.TLSConfig, ClientOpts.TLSConfig"
	}
	return "our aRPC door (package arpc), defaults (latency-first pushes, no rate cap), one arpc.Mux per worker"
}

// arpcSchema is the benchmark worker schema merged with our worker states.
func arpcSchema() (am.Schema, am.S) {
	return states.WorkerSchema.Merge(arpcstates.WorkerSchema),
		am.SAdd(ws.Names(), arpcstates.WorkerStates.Names())
}

// connectConcurrency bounds how many clients of one session connect at once
// (setup only, never timed).
const connectConcurrency = 8

// stopTimeout bounds stopping one session's clients.
const stopTimeout = 10 * time.Second

// connectAll calls connect(i) for i in [0, n), connectConcurrency at a time,
// and returns the first error.
func connectAll(ctx context.Context, n int, connect func(i int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	sem := make(chan struct{}, connectConcurrency)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		mu.Lock()
		failed := len(errs) > 0
		mu.Unlock()
		if failed {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := connect(i); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("client %d of %d: %w", i+1, n, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	return errors.Join(errs...)
}

type arpcSession struct {
	w       *Worker
	mux     *arpc.Mux
	clients []*arpc.Client
	schema  am.Schema
	names   am.S
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
	tls     bool
	// allTicks: clients ask for every transition (ClientOpts.PushAllTicks)
	allTicks bool
	// addr is what clients dial (the proxy)
	addr string

	// pushes counts clock pushes of every server of the mux (ServerHooks)
	pushes atomic.Int64
	// canceled counts sgp's CallOps answered Canceled that ran all the same
	canceled atomic.Int64

	gate  *gate
	armed <-chan struct{}

	sink     *am.Machine
	received chan []byte
	payload  []byte
}

func newArpcSession(
	ctx context.Context, useTLS bool, env *Env, clients int, withSink bool,
) (*arpcSession, error) {
	return newArpcSessionWith(ctx, env, clients, arpcSessionOpts{tls: useTLS,
		sink: withSink})
}

// arpcSessionOpts are how newArpcSessionWith sets a session up.
type arpcSessionOpts struct {
	tls  bool
	sink bool
	// allTicks dials with ClientOpts.PushAllTicks (the ticks scenario)
	allTicks bool
}

func newArpcSessionWith(
	ctx context.Context, env *Env, clients int, o arpcSessionOpts,
) (*arpcSession, error) {
	useTLS, withSink := o.tls, o.sink
	ctx, cancel := context.WithCancel(ctx)
	schema, names := arpcSchema()
	w, err := NewWorker(ctx, "arpc-worker", schema, names)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &arpcSession{
		w: w, schema: schema, names: names, ctx: ctx, cancel: cancel,
		clients: make([]*arpc.Client, clients), tls: useTLS,
		allTicks: o.allTicks,
	}
	if withSink {
		if s.sink, s.received, err = newArpcSink(ctx); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	addr, err := s.serve(env)
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	s.addr = addr
	err = connectAll(ctx, clients, func(i int) error {
		return s.connect(ctx, addr, i)
	})
	if err != nil {
		_ = s.Close()
		return nil, err
	}

	return s, nil
}

// serve starts the worker's mux on a loopback port and exposes it through
// env; it returns the address clients dial.
func (s *arpcSession) serve(env *Env) (string, error) {
	newServer := func(num int, _ net.Conn) (*arpc.Server, error) {
		srv, err := arpc.NewServer(s.ctx, "", fmt.Sprintf("arpc-%d", num), s.w.Mach, nil)
		if err != nil {
			return nil, err
		}
		srv.Hooks.Pushed = func(*engine.Update) { s.pushes.Add(1) }
		return srv, nil
	}
	mux, err := arpc.NewMux(s.ctx, "arpc", newServer, nil)
	if err != nil {
		return "", err
	}
	s.mux = mux
	mux.Addr = "127.0.0.1:0"
	if s.tls {
		mux.TLSConfig = benchTLS().server
	}
	mux.Start()
	if !mux.Mach.Is1(arpcstates.MuxStates.Ready) {
		return "", fmt.Errorf("arpc mux did not start: %w", mux.Mach.Err())
	}

	return env.Expose(mux.Addr)
}

// connect connects client i through the proxy at addr and waits until it
// is Ready.
func (s *arpcSession) connect(ctx context.Context, addr string, i int) error {
	opts := &arpc.ClientOpts{Consumer: s.sink, PushAllTicks: s.allTicks}
	if s.tls {
		opts.TLSConfig = benchTLS().client
	}
	cli, err := arpc.NewClient(s.ctx, addr, fmt.Sprintf("arpc-%d", i), s.schema, s.names, opts)
	if err != nil {
		return err
	}
	s.clients[i] = cli
	cli.Start()

	return waitState(ctx, cli.Mach, arpcstates.ClientStates.Ready)
}

func (s *arpcSession) worker() *arpc.Worker { return s.clients[0].Worker }

// Calls counts the clients' remote calls (arpc.ClientStats.Calls) plus the
// servers' clock pushes, the notifications that matter here.
func (s *arpcSession) Calls() int64 {
	n := s.pushes.Load()
	for _, c := range s.clients {
		if c != nil {
			n += int64(c.Stats().Calls)
		}
	}

	return n
}

// Close stops the clients (each says goodbye), then the mux (which stops
// its servers), then the worker.
func (s *arpcSession) Close() error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		var wg sync.WaitGroup
		for _, c := range s.clients {
			if c != nil {
				wg.Go(func() { c.Stop(ctx, true) })
			}
		}
		wg.Wait()
		if s.mux != nil {
			s.mux.Stop(true)
		}
		s.cancel()
		s.wg.Wait()
		disposeAll(s.w.Mach, s.sink)
	})

	return nil
}

// SGP

func (t arpcTransport) SetupSGP(ctx context.Context, env *Env) (SGPSession, error) {
	return newArpcSession(ctx, t.tls, env, 1, false)
}

func (s *arpcSession) Run(ctx context.Context, n int) error {
	return sgpRemote(ctx, s.worker(), n, &s.canceled)
}

// CanceledReplies counts the mutations the worker answered Canceled
// although they ran (see sgpRemote).
func (s *arpcSession) CanceledReplies() int64 { return s.canceled.Load() }

// canceledEventWait bounds the wait for the Event of a CallOp the worker
// answered Canceled: past it, the CallOp really did not run.
const canceledEventWait = 5 * time.Second

// sgpRemote runs n subscribe-get-process iterations on a remote worker:
// read the value locally, one remote Add1(CallOp), wait locally for Event.
// A CallOp answered Canceled (asyncmachine's false Canceled, see the
// throughput scenario) counts in canceled when its Event follows within
// canceledEventWait, and fails the run otherwise.
func sgpRemote(ctx context.Context, wk *arpc.Worker, n int, canceled *atomic.Int64) error {
	for range n {
		tick := wk.Tick(ws.Event)
		op := states.StateValue(wk.Switch(states.WorkerGroups.Values))
		before := wk.LastErr()
		wctx := ctx
		if wk.Add1(ws.CallOp, am.A{states.ArgOp: op}) == am.Canceled {
			if err := wk.LastErr(); err != nil && err != before {
				return fmt.Errorf("CallOp: %w", err)
			}
			canceled.Add(1)
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(ctx, canceledEventWait)
			defer cancel()
		}
		select {
		case <-wk.WhenTime1(ws.Event, tick+1, wctx):
		case <-wctx.Done():
			if ctx.Err() == nil {
				return fmt.Errorf("CallOp: no Event within %v: %w", canceledEventWait, ErrCanceled)
			}
			return ctx.Err()
		}
	}

	return nil
}

func (s *arpcSession) Errors() int64 { return s.w.Errors() }

// round trip

func (t arpcTransport) SetupRoundTrip(ctx context.Context, env *Env) (RoundTripSession, error) {
	return newArpcSession(ctx, t.tls, env, 1, false)
}

func (s *arpcSession) RoundTrip(_ context.Context) error { return pingRemote(s.worker()) }

// pingRemote makes one synchronous remote Add1(Ping). A call that failed
// returns its error; a reply of Canceled from a worker that took the call
// returns an error wrapping ErrCanceled.
func pingRemote(wk *arpc.Worker) error {
	before := wk.LastErr()
	if wk.Add1(ws.Ping, nil) != am.Canceled {
		return nil
	}
	if err := wk.LastErr(); err != nil && err != before {
		return fmt.Errorf("Ping: %w", err)
	}
	return fmt.Errorf("remote Ping: %w", ErrCanceled)
}

// burst

func (t arpcTransport) SetupBurst(ctx context.Context, env *Env) (BurstSession, error) {
	return newArpcSession(ctx, t.tls, env, 1, false)
}

func (s *arpcSession) Mutate(_ context.Context, n int) error { return pingWorker(s.w, n) }

// pingWorker makes n worker-side Add1(Ping).
func pingWorker(w *Worker, n int) error {
	for range n {
		if w.Mach.Add1(ws.Ping, nil) == am.Canceled {
			return fmt.Errorf("worker Ping canceled")
		}
	}
	return nil
}

func (s *arpcSession) WaitSynced(ctx context.Context) error {
	return waitSynced(ctx, s.w, s.worker(), s.names)
}

// waitSynced waits until the replica wk's clock equals the worker's.
func waitSynced(ctx context.Context, w *Worker, wk *arpc.Worker, names am.S) error {
	want := w.Mach.Time(names)
	select {
	case <-wk.WhenTime(names, want, ctx):
	case <-ctx.Done():
		return fmt.Errorf("client at %v, worker at %v: %w", wk.Time(names), want, ctx.Err())
	}
	if got := wk.Time(names); !equalTime(got, want) {
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

func (t arpcTransport) SetupFanOut(ctx context.Context, env *Env, clients int) (FanOutSession, error) {
	s, err := newArpcSession(ctx, t.tls, env, clients, false)
	if err != nil {
		return nil, err
	}
	s.gate = newGate(clients)
	for i, c := range s.clients {
		s.wg.Go(func() { followRemote(s.ctx, s.gate, i, c.Worker) })
	}

	return s, nil
}

// followRemote reports every Ping tick the replica wk sees to g as client
// i, until ctx ends.
func followRemote(ctx context.Context, g *gate, i int, wk *arpc.Worker) {
	for {
		tick := wk.Tick(ws.Ping)
		g.Seen(i, tick)
		select {
		case <-wk.WhenTime1(ws.Ping, tick+1, ctx):
		case <-ctx.Done():
			return
		}
	}
}

func (s *arpcSession) Change(_ context.Context) error {
	if err := pingWorker(s.w, 1); err != nil {
		return err
	}
	s.armed = s.gate.Arm(s.w.Mach.Tick(ws.Ping))
	return nil
}

func (s *arpcSession) WaitAll(ctx context.Context) error { return s.gate.Wait(ctx, s.armed) }

// payload

func (t arpcTransport) SetupPayload(ctx context.Context, env *Env) (PayloadSession, error) {
	return newArpcSession(ctx, t.tls, env, 1, true)
}

func (s *arpcSession) Fetch(ctx context.Context, size int) error {
	s.payload = sendPayload(s.w, s.payload, size)
	return awaitPayload(ctx, s.received, size)
}

// sendPayload has the worker send size bytes to every client (SendPayload)
// and returns the buffer for reuse.
func sendPayload(w *Worker, buf []byte, size int) []byte {
	buf = payloadOf(buf, size)
	w.Mach.Add1(arpcstates.WorkerStates.SendPayload, arpc.Pass(&arpc.A{
		Payload: &arpc.ArgsPayload{Name: "bench", Data: buf},
	}))
	return buf
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

// newArpcSink is a consumer machine for our payloads (aRPC and the gRPC
// facade deliver them alike).
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
