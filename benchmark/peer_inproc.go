package main

import (
	"context"
	"fmt"
	"sync"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/benchmark/states"
)

func init() { register(50, inprocTransport{}) }

// inprocTransport drives the worker machine directly, in the same process:
// the floor for machine work, no network, no proxy.
type inprocTransport struct{}

func (inprocTransport) Name() string { return "inproc" }
func (inprocTransport) Desc() string {
	return "the same asyncmachine worker, driven in-process (floor for machine work; no wire)"
}

// inprocSession is one worker plus whatever the scenario needs on top.
type inprocSession struct {
	w      *Worker
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	// fan-out
	gate    *gate
	armed   <-chan struct{}
	clients int

	// payload
	sink     *am.Machine
	received chan []byte
	payload  []byte
}

func newInprocSession(ctx context.Context) (*inprocSession, error) {
	ctx, cancel := context.WithCancel(ctx)
	schema, names := BaseWorkerSchema()
	w, err := NewWorker(ctx, "inproc-worker", schema, names)
	if err != nil {
		cancel()
		return nil, err
	}

	return &inprocSession{w: w, cancel: cancel}, nil
}

func (s *inprocSession) Calls() int64 { return -1 }

func (s *inprocSession) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.wg.Wait()
		disposeAll(s.w.Mach, s.sink)
	})

	return nil
}

// SGP

func (inprocTransport) SetupSGP(ctx context.Context, _ *Env) (SGPSession, error) {
	return newInprocSession(ctx)
}

func (s *inprocSession) Run(ctx context.Context, n int) error {
	m := s.w.Mach
	for range n {
		tick := m.Tick(ws.Event)
		op := s.w.Value()
		if m.Add1(ws.CallOp, am.A{states.ArgOp: op}) == am.Canceled {
			return fmt.Errorf("inproc: CallOp canceled: %w", m.Err())
		}
		select {
		case <-m.WhenTime1(ws.Event, tick+1, ctx):
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	return nil
}

func (s *inprocSession) Errors() int64 { return s.w.Errors() }

// round trip

func (inprocTransport) SetupRoundTrip(
	ctx context.Context, _ *Env,
) (RoundTripSession, error) {
	return newInprocSession(ctx)
}

func (s *inprocSession) RoundTrip(_ context.Context) error {
	if s.w.Mach.Add1(ws.Ping, nil) == am.Canceled {
		return fmt.Errorf("inproc: Ping canceled")
	}

	return nil
}

// burst

func (inprocTransport) SetupBurst(ctx context.Context, _ *Env) (BurstSession, error) {
	return newInprocSession(ctx)
}

func (s *inprocSession) Mutate(_ context.Context, n int) error {
	for range n {
		if s.w.Mach.Add1(ws.Ping, nil) == am.Canceled {
			return fmt.Errorf("inproc: Ping canceled")
		}
	}

	return nil
}

// WaitSynced returns at once: the client reads the worker itself.
func (s *inprocSession) WaitSynced(_ context.Context) error { return nil }

// fan-out

func (inprocTransport) SetupFanOut(
	ctx context.Context, _ *Env, clients int,
) (FanOutSession, error) {
	s, err := newInprocSession(ctx)
	if err != nil {
		return nil, err
	}
	s.gate = newGate(clients)
	s.clients = clients
	sctx := s.w.Mach.Context()
	for i := range clients {
		s.wg.Add(1)
		go s.follow(sctx, i)
	}

	return s, nil
}

// follow is one in-process "client": it waits on the worker's Ping clock.
func (s *inprocSession) follow(ctx context.Context, i int) {
	defer s.wg.Done()
	m := s.w.Mach
	for {
		tick := m.Tick(ws.Ping)
		s.gate.Seen(i, tick)
		select {
		case <-m.WhenTime1(ws.Ping, tick+1, ctx):
		case <-ctx.Done():
			return
		}
	}
}

func (s *inprocSession) Change(_ context.Context) error {
	if s.w.Mach.Add1(ws.Ping, nil) == am.Canceled {
		return fmt.Errorf("inproc: Ping canceled")
	}
	s.armed = s.gate.Arm(s.w.Mach.Tick(ws.Ping))

	return nil
}

func (s *inprocSession) WaitAll(ctx context.Context) error {
	return s.gate.Wait(ctx, s.armed)
}

// payload

func (inprocTransport) SetupPayload(
	ctx context.Context, _ *Env,
) (PayloadSession, error) {
	s, err := newInprocSession(ctx)
	if err != nil {
		return nil, err
	}
	sink, received, err := newPayloadSink(s.w.Mach.Context(), "inproc-sink")
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	s.sink, s.received = sink, received

	return s, nil
}

func (s *inprocSession) Fetch(ctx context.Context, size int) error {
	s.payload = payloadOf(s.payload, size)
	s.sink.Add1(sinkStates.ServerPayload, am.A{argData: s.payload})

	return awaitPayload(ctx, s.received, size)
}
