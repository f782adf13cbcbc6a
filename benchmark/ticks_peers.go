package main

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/bridge"
)

// stepCounter is a client-side tracer counting the worker's Ping
// transitions a client received one by one: a TransitionEnd whose Ping tick
// moved by one transition's step (1 when Ping was inactive, 2 when the
// multi state was active) from the last one seen. A merged update (a larger
// jump) moves the mark without counting; an update that moves nothing or
// goes back is not counted. The same rule for every row.
type stepCounter struct {
	*am.TracerNoOp
	idx  int
	last atomic.Uint64
	n    atomic.Int64
}

func newStepCounter(id string, names am.S, start uint64) *stepCounter {
	c := &stepCounter{TracerNoOp: &am.TracerNoOp{Id: id},
		idx: indexOf(names, ws.Ping)}
	c.last.Store(start)
	return c
}

func indexOf(names am.S, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

func (c *stepCounter) TransitionEnd(tx *am.Transition) {
	if c.idx < 0 || c.idx >= len(tx.TimeAfter) {
		return
	}
	now := tx.TimeAfter[c.idx]
	last := c.last.Load()
	if now <= last {
		return
	}
	c.last.Store(now)
	if now-last <= 2 {
		c.n.Add(1)
	}
}

// tracerBinder is the part of am.Api that binds a tracer.
type tracerBinder interface {
	TracerBind(t am.Tracer) (string, error)
	Tick(state string) uint64
}

// bindCounters binds a stepCounter to each client.
func bindCounters(prefix string, names am.S, clients []tracerBinder,
) ([]*stepCounter, error) {
	out := make([]*stepCounter, len(clients))
	for i, c := range clients {
		out[i] = newStepCounter(fmt.Sprintf("%s-ticks-%d", prefix, i), names,
			c.Tick(ws.Ping))
		if _, err := c.TracerBind(out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func counts(cs []*stepCounter) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.n.Load()
	}
	return out
}

// ours

// workerTicks counts what the remote workers of one of our rows received
// one by one: the part of arpcTicks and facadeTicks both doors share.
type workerTicks struct {
	workers  []*arpc.Worker
	counters []*stepCounter
}

// newWorkerTicks binds a step counter to each remote worker of session;
// on failure it closes the session.
func newWorkerTicks(row string, names am.S, workers []*arpc.Worker,
	session io.Closer,
) (workerTicks, error) {
	bs := make([]tracerBinder, len(workers))
	for i, w := range workers {
		bs[i] = w
	}
	cs, err := bindCounters(row, names, bs)
	if err != nil {
		_ = session.Close()
	}
	return workerTicks{workers: workers, counters: cs}, err
}

// workersOf returns the remote worker of each client.
func workersOf[C any](clients []C, worker func(C) *arpc.Worker) []*arpc.Worker {
	ws := make([]*arpc.Worker, len(clients))
	for i, c := range clients {
		ws[i] = worker(c)
	}
	return ws
}

func (t workerTicks) Delivered() []int64 { return counts(t.counters) }

func (t workerTicks) Gaps() int64 {
	var n int64
	for _, w := range t.workers {
		n += int64(w.Stats().GapTransitions)
	}
	return n
}

// arpcTicks is an arpc row session whose clients asked for every
// transition.
type arpcTicks struct {
	*arpcSession
	workerTicks
}

func (t arpcTransport) SetupTicks(ctx context.Context, env *Env, clients int,
) (TicksSession, error) {
	s, err := newArpcSessionWith(ctx, env, clients,
		arpcSessionOpts{tls: t.tls, allTicks: true})
	if err != nil {
		return nil, err
	}
	wt, err := newWorkerTicks("arpc", s.names, workersOf(s.clients,
		func(c *arpc.Client) *arpc.Worker { return c.Worker }), s)
	if err != nil {
		return nil, err
	}
	return &arpcTicks{arpcSession: s, workerTicks: wt}, nil
}

// facadeTicks is a grpc-facade row session whose clients asked for every
// transition.
type facadeTicks struct {
	*facadeSession
	workerTicks
}

func (t grpcFacadeTransport) SetupTicks(ctx context.Context, env *Env,
	clients int,
) (TicksSession, error) {
	s, err := newFacadeSessionWith(ctx, env, clients,
		arpcSessionOpts{tls: t.tls, allTicks: true})
	if err != nil {
		return nil, err
	}
	wt, err := newWorkerTicks("facade", s.names, workersOf(s.clients,
		func(c *bridge.Client) *arpc.Worker { return c.Worker }), s)
	if err != nil {
		return nil, err
	}
	return &facadeTicks{facadeSession: s, workerTicks: wt}, nil
}

// upstream

// upstreamTicks is an upstream session whose clients set SyncMutations.
type upstreamTicks struct {
	*upstreamSession
	counters []*stepCounter
}

func (t upstreamTransport) SetupTicks(ctx context.Context, env *Env,
	clients int,
) (TicksSession, error) {
	s, err := t.newSession(ctx)
	if err != nil {
		return nil, err
	}
	s.syncMutations = true
	if err := s.setup(ctx, env, clients, nil); err != nil {
		_ = s.Close()
		return nil, err
	}
	bs := make([]tracerBinder, len(s.conns))
	for i, c := range s.conns {
		bs[i] = c.cli.NetMach
	}
	cs, err := bindCounters(s.id, s.names, bs)
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	return &upstreamTicks{upstreamSession: s, counters: cs}, nil
}

func (s *upstreamTicks) Delivered() []int64 { return counts(s.counters) }

// Gaps is unknown: upstream does not say when it merges.
func (s *upstreamTicks) Gaps() int64 { return -1 }
