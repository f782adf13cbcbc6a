//go:build ignore

// Enable this peer by deleting the build tag above once package arpc exists
// with the API used below (see README.md, "Enabling our rows").

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

// arpcTransport is our aRPC door: one arpc.Server on the worker, clients
// through the counting proxy, the client loop driving c.Worker.
type arpcTransport struct{}

func (arpcTransport) Name() string { return "arpc" }
func (arpcTransport) Desc() string { return "our aRPC door (package arpc)" }

// arpcSchema is the benchmark worker schema merged with our aRPC worker
// states.
func arpcSchema() (am.Schema, am.S) {
	return states.WorkerSchema.Merge(arpcstates.WorkerSchema),
		am.SAdd(ws.Names(), arpcstates.WorkerStates.Names())
}

type arpcSession struct {
	w      *Worker
	srv    *arpc.Server
	cls    []*arpc.Client
	schema am.Schema
	names  am.S
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	gate   *gate
	armed  <-chan struct{}
}

func newArpcSession(ctx context.Context, env *Env, clients int) (*arpcSession, error) {
	ctx, cancel := context.WithCancel(ctx)
	schema, names := arpcSchema()
	w, err := NewWorker(ctx, "arpc-worker", schema, names)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &arpcSession{w: w, schema: schema, names: names, ctx: ctx, cancel: cancel}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close() // TODO: pass the listener if ServerOpts gains one
	if s.srv, err = arpc.NewServer(ctx, addr, "arpc-bench", w.Mach, nil); err != nil {
		_ = s.Close()
		return nil, err
	}
	s.srv.Start()
	if err := waitState(ctx, s.srv.Mach, arpcstates.ServerStates.RpcReady); err != nil {
		_ = s.Close()
		return nil, err
	}
	proxied, err := env.Expose(addr)
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	for i := range clients {
		c, err := arpc.NewClient(ctx, proxied, fmt.Sprintf("c%d", i), schema, names, nil)
		if err != nil {
			_ = s.Close()
			return nil, err
		}
		s.cls = append(s.cls, c)
		c.Start()
		if err := waitState(ctx, c.Mach, arpcstates.ClientStates.Ready); err != nil {
			_ = s.Close()
			return nil, err
		}
	}

	return s, nil
}

// Calls: TODO once arpc exposes call counters; -1 prints as "—".
func (s *arpcSession) Calls() int64 { return -1 }

func (s *arpcSession) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.wg.Wait()
		machs := []*am.Machine{s.w.Mach}
		if s.srv != nil {
			machs = append(machs, s.srv.Mach)
		}
		for _, c := range s.cls {
			machs = append(machs, c.Mach)
		}
		disposeAll(machs...)
	})

	return nil
}

func (arpcTransport) SetupSGP(ctx context.Context, env *Env) (SGPSession, error) {
	return newArpcSession(ctx, env, 1)
}

func (s *arpcSession) Run(ctx context.Context, n int) error {
	wk := s.cls[0].Worker
	for range n {
		tick := wk.Tick(ws.Event)
		op := states.StateValue(wk.Switch(states.WorkerGroups.Values))
		if wk.Add1(ws.CallOp, am.A{states.ArgOp: op}) == am.Canceled {
			return fmt.Errorf("arpc: CallOp canceled")
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

func (arpcTransport) SetupRoundTrip(ctx context.Context, env *Env) (RoundTripSession, error) {
	return newArpcSession(ctx, env, 1)
}

func (s *arpcSession) RoundTrip(_ context.Context) error {
	if s.cls[0].Worker.Add1(ws.Ping, nil) == am.Canceled {
		return fmt.Errorf("arpc: Ping canceled")
	}
	return nil
}

func (arpcTransport) SetupBurst(ctx context.Context, env *Env) (BurstSession, error) {
	return newArpcSession(ctx, env, 1)
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
	select {
	case <-s.cls[0].Worker.WhenTime(s.names, want, ctx):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (arpcTransport) SetupFanOut(ctx context.Context, env *Env, clients int) (FanOutSession, error) {
	s, err := newArpcSession(ctx, env, clients)
	if err != nil {
		return nil, err
	}
	s.gate = newGate(clients)
	for i, c := range s.cls {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				tick := c.Worker.Tick(ws.Ping)
				s.gate.Seen(i, tick)
				select {
				case <-c.Worker.WhenTime1(ws.Ping, tick+1, s.ctx):
				case <-s.ctx.Done():
					return
				}
			}
		}()
	}

	return s, nil
}

func (s *arpcSession) Change(_ context.Context) error {
	if s.w.Mach.Add1(ws.Ping, nil) == am.Canceled {
		return fmt.Errorf("arpc: worker Ping canceled")
	}
	s.armed = s.gate.Arm(s.w.Mach.Tick(ws.Ping))
	return nil
}

func (s *arpcSession) WaitAll(ctx context.Context) error { return s.gate.Wait(ctx, s.armed) }

// Payloads: TODO once arpc has a payload path (SendPayload or a stream).
