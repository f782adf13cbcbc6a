package bridge_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/bridge"
)

// tickDoor dials the server's worker through one door, with or without
// PushAllTicks, and returns the replica.
type tickDoor struct {
	name string
	dial func(t *testing.T, addr, name string, allTicks bool,
		dopts ...grpc.DialOption) *arpc.Worker
}

// tickDoors are the doors every PushAllTicks test runs on.
var tickDoors = []tickDoor{
	{name: "grpc", dial: func(t *testing.T, addr, name string, allTicks bool,
		dopts ...grpc.DialOption,
	) *arpc.Worker {
		return dial(t, addr, name, &bridge.ClientOpts{PushAllTicks: allTicks,
			DialOptions: dopts}).Worker
	}},
	{name: "arpc", dial: func(t *testing.T, addr, name string, allTicks bool,
		_ ...grpc.DialOption,
	) *arpc.Worker {
		// a loaded CI machine (-race, shared cores) may stall a process
		// for over the default 1 s liveness bound: a reconnect is a gap,
		// which these tests count as a failure
		return newARPCClientOpts(t, addr, name,
			&arpc.ClientOpts{PushAllTicks: allTicks},
			func(c *arpc.Client) { c.PingTimeout = time.Minute }).Worker
	}},
}

// stepLog records final handler calls, in order, on both sides.
type stepLog struct {
	mx    sync.Mutex
	calls []string
	args  []am.A
	auto  []bool
	types []am.MutationType
	gaps  uint64
	// n counts the calls, done closes when n reaches want
	n    atomic.Int64
	want int64
	done chan struct{}
}

func newStepLog(want int64) *stepLog {
	return &stepLog{want: want, done: make(chan struct{})}
}

func (l *stepLog) add(e *am.Event) {
	l.mx.Lock()
	l.calls = append(l.calls, e.Name)
	l.args = append(l.args, e.Args)
	if tx := e.Transition(); tx != nil && tx.Mutation != nil {
		l.auto = append(l.auto, tx.Mutation.IsAuto)
		l.types = append(l.types, tx.Mutation.Type)
	}
	l.gaps += arpc.Gap(e)
	l.mx.Unlock()
	if l.n.Add(1) == l.want {
		close(l.done)
	}
}

func (l *stepLog) snapshot() []string {
	l.mx.Lock()
	defer l.mx.Unlock()
	return append([]string(nil), l.calls...)
}

// finals are final handlers of the apitest schema's A, D, F and G.
type finals struct{ l *stepLog }

func (h *finals) AState(e *am.Event) { h.l.add(e) }
func (h *finals) AEnd(e *am.Event)   { h.l.add(e) }
func (h *finals) DState(e *am.Event) { h.l.add(e) }
func (h *finals) DEnd(e *am.Event)   { h.l.add(e) }
func (h *finals) FState(e *am.Event) { h.l.add(e) }
func (h *finals) FEnd(e *am.Event)   { h.l.add(e) }

// Helper is not a handler name: ignored.
func (h *finals) Helper() {}

// negotiation has a negotiation handler besides a final one.
type negotiation struct{ finals }

func (h *negotiation) AEnter(*am.Event) bool { return true }

// TestPushAllTicksInOrder: +A then -A, an Auto state and args, all in one
// update (pushes disabled: a mutation reply of the client carries them),
// reach the client's final handlers one by one, in order, with their
// mutation types, Auto flags and args; a client without PushAllTicks sees
// one merged change and cannot bind handlers.
func TestPushAllTicksInOrder(t *testing.T) {
	for _, door := range tickDoors {
		t.Run(door.name, func(t *testing.T) {
			w := newWorker(t)
			s := startServer(t, w, &bridge.ServerOpts{Service: bridge.ServiceOpts{
				PushInterval: arpc.PushesDisabled}})
			addr := s.Addr().String()
			rw := door.dial(t, addr, "ticks", true)
			plain := door.dial(t, addr, "plain", false)

			_, err := plain.HandlersBind(&finals{})
			require.ErrorIs(t, err, arpc.ErrNotLocal)
			_, err = rw.HandlersBind(&negotiation{})
			require.ErrorIs(t, err, arpc.ErrNegotiationHandler)
			require.ErrorIs(t, err, arpc.ErrNotLocal)
			_, err = rw.HandlersBindMaps(map[string]am.HandlerNegotiation{
				"AExit": func(*am.Event) bool { return true }}, nil)
			require.ErrorIs(t, err, arpc.ErrNegotiationHandler)

			log := newStepLog(6)
			id, err := rw.HandlersBind(&finals{l: log})
			require.NoError(t, err)
			assert.Equal(t, []string{id}, rw.Handlers())
			var trans atomic.Int64
			_, err = rw.TracerBind(&countTracer{TracerNoOp: am.TracerNoOp{Id: "c1"}, n: &trans})
			require.NoError(t, err)
			var plainTrans atomic.Int64
			_, err = plain.TracerBind(&countTracer{TracerNoOp: am.TracerNoOp{Id: "c2"}, n: &plainTrans})
			require.NoError(t, err)

			// worker-side, between two updates of the client
			w.Add1("A", am.A{"n": 7.0, "ch": make(chan int)})
			w.Remove1("A", nil)
			w.Add1("D", nil) // Auto F follows, in its own transition
			w.Remove1("D", nil)
			// the client's own mutation brings them all in its reply
			require.Equal(t, am.Executed, rw.Add1("E", nil))
			waitCh(t, log.done, "6 handler calls")
			assert.Equal(t, []string{"AState", "AEnd", "DState", "FState", "DEnd",
				"FEnd"}, log.snapshot())
			log.mx.Lock()
			assert.Equal(t, 7.0, log.args[0]["n"], "args that travel")
			assert.NotContains(t, log.args[0], "ch", "args that cannot travel")
			assert.Equal(t, []bool{false, false, false, true, false, false},
				log.auto)
			assert.Equal(t, am.MutationRemove, log.types[1])
			assert.Zero(t, log.gaps)
			log.mx.Unlock()
			// one TransitionEnd per worker transition: 5 + the client's E
			assert.Equal(t, int64(6), trans.Load())
			assert.Equal(t, w.Time(nil), rw.Time(nil))

			require.Equal(t, am.Executed, plain.Add1("E", nil))
			assert.Equal(t, w.Time(nil), plain.Time(nil))
			assert.Equal(t, int64(1), plainTrans.Load(), "merged, one change")

			require.NoError(t, rw.HandlersDetach(id))
			assert.Empty(t, rw.Handlers())
		})
	}
}

// countTracer counts TransitionEnd calls.
type countTracer struct {
	am.TracerNoOp
	n *atomic.Int64
}

func (t *countTracer) TransitionEnd(*am.Transition) { t.n.Add(1) }

// workerFinals counts the worker's own final handler calls.
type workerFinals struct{ n atomic.Int64 }

func (h *workerFinals) GState(*am.Event) { h.n.Add(1) }
func (h *workerFinals) GEnd(*am.Event)   { h.n.Add(1) }
func (h *workerFinals) HState(*am.Event) { h.n.Add(1) }
func (h *workerFinals) HEnd(*am.Event)   { h.n.Add(1) }

// clientFinals counts the client's final handler calls of the same states.
type clientFinals struct{ l *stepLog }

func (h *clientFinals) GState(e *am.Event) { h.l.n.Add(1); h.check() }
func (h *clientFinals) GEnd(e *am.Event)   { h.l.n.Add(1); h.check() }
func (h *clientFinals) HState(e *am.Event) { h.l.n.Add(1); h.check() }
func (h *clientFinals) HEnd(e *am.Event)   { h.l.n.Add(1); h.check() }

func (h *clientFinals) check() {
	if h.l.n.Load() == h.l.want {
		close(h.l.done)
	}
}

// TestPushAllTicksCount: as many worker transitions as manyTransitions
// (100,000 without the race detector), made as fast as the worker can,
// give the client's final handlers exactly as many calls as the worker's
// own final handlers got, without a gap.
func TestPushAllTicksCount(t *testing.T) {
	for _, door := range tickDoors {
		t.Run(door.name, func(t *testing.T) {
			w := newWorker(t)
			wh := &workerFinals{}
			_, err := w.HandlersBind(wh)
			require.NoError(t, err)
			s := startServer(t, w, &bridge.ServerOpts{Service: bridge.ServiceOpts{
				MaxPendingTransitions: manyTransitions}})
			rw := door.dial(t, s.Addr().String(), "count", true)
			// G and H remove each other: every Add is one transition that
			// ends one and starts the other (two final handler calls)
			want := int64(2*manyTransitions - 1)
			cl := newStepLog(want)
			_, err = rw.HandlersBind(&clientFinals{l: cl})
			require.NoError(t, err)
			start := time.Now()
			for i := range manyTransitions {
				if i%2 == 0 {
					w.Add1("G", nil)
				} else {
					w.Add1("H", nil)
				}
			}
			select {
			case <-cl.done:
			case <-time.After(60 * time.Second):
				t.Fatalf("client handlers: %d of %d calls (%+v)", cl.n.Load(), want,
					rw.Stats())
			}
			t.Logf("%d transitions delivered in %v", manyTransitions,
				time.Since(start))
			assert.Equal(t, wh.n.Load(), cl.n.Load())
			assert.Equal(t, want, wh.n.Load())
			st := rw.Stats()
			assert.Zero(t, st.Gaps, "%+v", st)
			assert.GreaterOrEqual(t, st.Transitions, uint64(manyTransitions))
		})
	}
}

// blockingTracer holds the client's read loop on its first TransitionEnd
// once armed, until released: a slow client.
type blockingTracer struct {
	am.TracerNoOp
	armed   atomic.Bool
	held    chan struct{}
	release chan struct{}
	once    sync.Once
}

func (t *blockingTracer) TransitionEnd(*am.Transition) {
	if !t.armed.Load() {
		return
	}
	t.once.Do(func() {
		close(t.held)
		<-t.release
	})
}

// TestPushAllTicksSlowClient: a client that stops reading hits the
// server's bound: the server holds at most MaxPendingTransitions for it,
// then sends one merged diff, which the client counts as a gap and its
// handlers learn about (arpc.Gap); the replica converges all the same.
func TestPushAllTicksSlowClient(t *testing.T) {
	const bound = 100
	for _, door := range tickDoors {
		t.Run(door.name, func(t *testing.T) {
			w := newWorker(t)
			s := startServer(t, w, &bridge.ServerOpts{Service: bridge.ServiceOpts{
				MaxPendingTransitions: bound}})
			// small HTTP/2 windows: the server's writes block soon
			rw := door.dial(t, s.Addr().String(), "slow", true,
				grpc.WithInitialWindowSize(1<<16),
				grpc.WithInitialConnWindowSize(1<<16))
			log := newStepLog(-1)
			_, err := rw.HandlersBindMaps(nil, map[string]am.HandlerFinal{
				"AnyState": log.add})
			require.NoError(t, err)
			bt := &blockingTracer{TracerNoOp: am.TracerNoOp{Id: "slow"}, held: make(chan struct{}),
				release: make(chan struct{})}
			_, err = rw.TracerBind(bt)
			require.NoError(t, err)
			bt.armed.Store(true)

			maxPending := 0
			for i := range slowTransitions {
				if i%2 == 0 {
					w.Add1("G", nil)
				} else {
					w.Add1("H", nil)
				}
				if i%1000 == 0 {
					maxPending = max(maxPending,
						s.Service().Stats().TransitionsPending)
				}
			}
			waitCh(t, bt.held, "client read loop held")
			assert.LessOrEqual(t, maxPending, bound, "bounded on the server")
			assert.Positive(t, s.Service().Stats().TransitionGaps+1)
			close(bt.release)
			waitCh(t, rw.WhenTime(am.S{"G", "H"}, w.Time(am.S{"G", "H"}), nil),
				"replica converged")
			require.Eventually(t, func() bool {
				log.mx.Lock()
				defer log.mx.Unlock()
				return log.gaps > 0
			}, 10*time.Second, 5*time.Millisecond, "a handler saw the gap")
			st := rw.Stats()
			assert.Positive(t, st.Gaps)
			assert.Positive(t, st.GapTransitions)
			assert.Equal(t, w.Time(nil), rw.Time(nil))
		})
	}
}

// TestGroupsAndWhenArgsOverGRPC: the Worker from bridge.Dial answers Groups
// like the worker, and WhenArgs matches on the server (numbers by value),
// each wait for itself.
func TestGroupsAndWhenArgsOverGRPC(t *testing.T) {
	w := newWorker(t)
	w.SetGroupsString(map[string]am.S{"Pair": {"G", "H"}, "Letters": {"A", "B"}},
		[]string{"Pair", "Letters"})
	s := startServer(t, w, nil)
	c := dial(t, s.Addr().String(), "wa", nil)

	wantG, wantOrder := w.Groups()
	require.Len(t, wantOrder, 2)
	g, order := c.Worker.Groups()
	assert.Equal(t, wantOrder, order)
	assert.Equal(t, wantG, g)

	ctx := tctx(t)
	match := c.Worker.WhenArgs("A", am.A{"id": 2}, ctx)
	other := c.Worker.WhenArgs("A", am.A{"id": 3}, ctx)
	w.Add1("A", am.A{"id": 1})
	w.Remove1("A", nil)
	w.Add1("A", am.A{"id": 2, "more": true})
	waitCh(t, match, "WhenArgs match")
	select {
	case <-other:
		t.Fatal("a wait with other args closed")
	default:
	}
	// a canceled wait closes; the server forgets it
	cctx, cancel := context.WithCancel(ctx)
	ch := c.Worker.WhenArgs("B", am.A{"x": "y"}, cctx)
	cancel()
	waitCh(t, ch, "canceled wait closes")

	bad := c.Worker.WhenArgs("nope", nil, ctx)
	waitCh(t, bad, "unknown state closes at once")
	assert.True(t, errors.Is(c.Worker.LastErr(), arpc.ErrInvalidParams))
}

// TestPushAllTicksRelay: a remote worker served again (a relay) passes
// every transition on to its own PushAllTicks clients, with mutation types
// and args, when its own upstream client asked for them.
func TestPushAllTicksRelay(t *testing.T) {
	for _, door := range tickDoors {
		t.Run(door.name, func(t *testing.T) {
			w := newWorker(t)
			root := startServer(t, w, &bridge.ServerOpts{Service: bridge.
				ServiceOpts{PushInterval: arpc.PushesDisabled}})
			relay := newARPCClientOpts(t, root.Addr().String(), "relay",
				&arpc.ClientOpts{PushAllTicks: true})
			mid := startServer(t, relay.Worker, nil)
			leaf := door.dial(t, mid.Addr().String(), "leaf", true)
			log := newStepLog(2)
			_, err := leaf.HandlersBind(&finals{l: log})
			require.NoError(t, err)

			w.Add1("A", am.A{"k": "v"})
			w.Remove1("A", nil)
			// the relay's own mutation brings both in its reply
			require.Equal(t, am.Executed, relay.Worker.Add1("G", nil))
			waitCh(t, log.done, "2 handler calls through the relay")
			assert.Equal(t, []string{"AState", "AEnd"}, log.snapshot())
			log.mx.Lock()
			assert.Equal(t, "v", log.args[0]["k"])
			assert.Equal(t, am.MutationRemove, log.types[1])
			log.mx.Unlock()
			waitCh(t, leaf.WhenTime(testNames, w.Time(nil), nil), "leaf converged")
			assert.Zero(t, leaf.Stats().Gaps)
		})
	}
}
