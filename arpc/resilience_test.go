package arpc_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/internal/faultproxy"
)

// ledger counts the mutations of state E applied on a worker by their "id"
// arg, to prove lost = 0 and duplicated = 0.
type ledger struct {
	mx      sync.Mutex
	applied map[string]int
	// attempted holds every id a mutator sent, whatever its outcome: an
	// applied id must be one of them
	attempted map[string]bool
	// onApply, when set, runs inside the worker's transition
	onApply func(id string)
}

func (l *ledger) EState(e *am.Event) {
	id, _ := e.Args["id"].(string)
	if id == "" {
		return
	}
	l.mx.Lock()
	l.applied[id]++
	fn := l.onApply
	l.mx.Unlock()
	if fn != nil {
		fn(id)
	}
}

// newLedgerWorker is a test worker whose E activations are counted.
func newLedgerWorker(t testing.TB, ctx context.Context) (*am.Machine, *ledger) {
	t.Helper()
	// a generous handler timeout: a slow handler under -race on 2 cores
	// would put the machine in backoff, which cancels mutations (the
	// machine's rule, not the network's)
	w, err := am.NewCommon(ctx, "w-"+t.Name(), testSchema, testNames, nil, nil,
		&am.Opts{HandlerTimeout: time.Minute, DontLogStackTrace: true})
	require.NoError(t, err)
	t.Cleanup(w.Dispose)
	l := &ledger{applied: map[string]int{}, attempted: map[string]bool{}}
	_, err = w.HandlersBind(l)
	require.NoError(t, err)
	return w, l
}

// attempt records an id about to be sent.
func (l *ledger) attempt(id string) {
	l.mx.Lock()
	l.attempted[id] = true
	l.mx.Unlock()
}

func (l *ledger) count() int {
	l.mx.Lock()
	defer l.mx.Unlock()
	return len(l.applied)
}

// check compares the mutations the worker accepted (issued: the calls
// succeeded and the result was not Canceled) with those applied on the
// worker: each must be applied exactly once, and no mutation at all more
// than once.
func (l *ledger) check(t testing.TB, issued []string) {
	t.Helper()
	l.mx.Lock()
	defer l.mx.Unlock()
	lost, dup := 0, 0
	for _, id := range issued {
		if l.applied[id] == 0 {
			lost++
		}
	}
	unknown := 0
	for id, n := range l.applied {
		if n > 1 {
			dup += n - 1
		}
		if len(l.attempted) > 0 && !l.attempted[id] {
			unknown++
		}
	}
	assert.Zero(t, unknown, "applied mutations nobody sent")
	t.Logf("issued %d, applied %d distinct, lost %d, duplicated %d",
		len(issued), len(l.applied), lost, dup)
	assert.Zero(t, lost, "lost mutations")
	assert.Zero(t, dup, "duplicated mutations")
}

// mutator is a client adding E in a loop, each with a unique id.
type mutator struct {
	c      *arpc.Client
	l      *ledger
	issued []string
	failed []error
	// canceled counts mutations the worker refused (am.Canceled): a
	// machine whose queue is full (am.Opts.QueueLimit) refuses more, and
	// clients outpace a worker's transitions under -race
	canceled int
}

func (m *mutator) run(ctx context.Context, name string) {
	for i := 0; ctx.Err() == nil; i++ {
		id := fmt.Sprintf("%s-%d", name, i)
		m.l.attempt(id)
		res, err := m.c.Worker.Mutate(context.Background(), am.MutationAdd,
			am.S{"E"}, am.A{"id": id})
		switch {
		case err != nil:
			m.failed = append(m.failed, fmt.Errorf("%s: %w", id, err))
		case res == am.Canceled:
			// refused, or (asyncmachine reports the queue's outcome) applied
			// by another goroutine's queue run: not counted either way
			m.canceled++
		default:
			m.issued = append(m.issued, id)
		}
	}
}

// resilientClient is a client tuned for a flaky network: quick reconnects
// with no practical retry limit within the test.
func resilientClient(t testing.TB, ctx context.Context, addr, name string,
	wire ...wireCombo,
) *arpc.Client {
	t.Helper()
	c := newClient(t, ctx, addr, name, nil)
	for _, w := range wire {
		w.apply(c)
	}
	c.ReconnectOn = true
	c.ConnRetries = 1000
	c.ConnTimeout = time.Second
	c.ConnRetryDelay = 5 * time.Millisecond
	c.ConnRetryBackoff = 100 * time.Millisecond
	// generous: these tests run under -race on 2 shared cores
	c.CallTimeout = 3 * time.Second
	c.PingTimeout = 500 * time.Millisecond
	c.CallRetries = 1000
	c.CallRetryTimeout = 30 * time.Second
	c.CallRetryDelay = time.Millisecond
	c.CallRetryBackoff = 50 * time.Millisecond
	return c
}

// waitSameClock waits until the replica's time equals the worker's, after
// the worker's queue drained.
func waitSameClock(t testing.TB, w *am.Machine, rw *arpc.Worker) {
	t.Helper()
	waitCh(t, w.WhenQueue(am.Result(w.QueueTick())), "worker queue")
	want := w.Time(nil)
	select {
	case <-rw.WhenTime(rw.StateNames(), want, nil):
	case <-time.After(10 * time.Second):
		t.Fatalf("replica %v never reached %v", rw.Time(nil), want)
	}
	require.Equal(t, want, rw.Time(nil))
}

// runMutators runs clients mutating E until stop, plus the worker mutating
// itself (G/H toggles and its own E adds), and returns what they issued.
func runMutators(t *testing.T, w *am.Machine, l *ledger,
	clients []*arpc.Client, during func(),
) []string {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	muts := make([]*mutator, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		muts[i] = &mutator{c: c, l: l}
		wg.Go(func() { muts[i].run(ctx, fmt.Sprintf("c%d", i)) })
	}
	var workerIssued []string
	localCanceled := 0
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			id := fmt.Sprintf("w-%d", i)
			l.attempt(id)
			if w.Add1("E", am.A{"id": id}) == am.Canceled {
				localCanceled++
			} else {
				workerIssued = append(workerIssued, id)
			}
			if i%2 == 0 {
				w.Toggle1("G", nil)
			} else {
				w.Toggle1("H", nil)
			}
			time.Sleep(time.Millisecond) // pacing, not synchronisation
		}
	})
	during()
	stop()
	wg.Wait()
	t.Logf("worker-side Add1 answered Canceled %d of %d times", localCanceled,
		localCanceled+len(workerIssued))
	var issued []string
	for i, m := range muts {
		assert.Empty(t, m.failed, "client %d failed mutations", i)
		t.Logf("client %d: %d accepted, %d canceled by the worker", i,
			len(m.issued), m.canceled)
		issued = append(issued, m.issued...)
	}
	require.NotEmpty(t, issued)
	return append(issued, workerIssued...)
}

// TestServerKilledAndRestarted kills the server (a mux on a fixed port)
// several times while clients mutate, and restarts it on the same port. A
// kill is a crash as clients see it: every connection dies at once with no
// goodbye (the fault proxy in front cuts them and refuses new ones while
// the old server goes away), then a new server listens on the same port.
// Clients reconnect because the link died, not because they were told
// (ReconnectOn is off).
func TestServerKilledAndRestarted(t *testing.T) {
	for i, combo := range wireCombos {
		t.Run(combo.String(), func(t *testing.T) {
			// the default combo takes three kills, the others one
			kills := 1
			if i == 0 {
				kills = 3
			}
			serverKilledAndRestarted(t, combo, kills)
		})
	}
}

func serverKilledAndRestarted(t *testing.T, combo wireCombo, kills int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, l := newLedgerWorker(t, ctx)
	m := startMux(t, ctx, w, nil)
	addr := m.Addr
	p := newProxy(t, addr)

	clients := make([]*arpc.Client, 3)
	for i := range clients {
		clients[i] = resilientClient(t, ctx, p.Addr(), fmt.Sprintf("k%d", i),
			combo)
		clients[i].ReconnectOn = false
		startClient(t, clients[i])
	}
	issued := runMutators(t, w, l, clients, func() {
		for k := range kills {
			// let some mutations through
			before := l.count()
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) &&
				l.count() < before+50; {
				time.Sleep(5 * time.Millisecond) // polling a counter
			}
			p.Refuse(true)
			p.CutAll()
			m.Stop(true)
			m = startMux(t, ctx, w, func(m *arpc.Mux) { m.Addr = addr })
			p.Refuse(false)
			// every client is back before the next kill
			for _, c := range clients {
				for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) &&
					(c.Stats().Reconnects < uint64(k+1) ||
						c.Mach.Not1(ss.ClientStates.Ready)); {
					time.Sleep(5 * time.Millisecond) // polling a counter
				}
			}
		}
	})
	for _, c := range clients {
		waitState(t, c.Mach, ss.ClientStates.Ready)
		waitSameClock(t, w, c.Worker)
		st := c.Stats()
		assert.GreaterOrEqual(t, st.Reconnects, uint64(kills), "reconnects")
		assert.Zero(t, st.FullSyncs, "resumed, not resynced")
		assert.Zero(t, c.Worker.Stats().Resyncs)
	}
	l.check(t, issued)
}

// TestConnectionsCutRepeatedly cuts every connection every 100 ms for 10 s
// (2 s with -short) while clients and the worker mutate, with the default
// encoding and compression, then for 2 s with each other one.
func TestConnectionsCutRepeatedly(t *testing.T) {
	dur := 10 * time.Second
	if testing.Short() {
		dur = 2 * time.Second
	}
	for i, combo := range wireCombos {
		t.Run(combo.String(), func(t *testing.T) {
			if i == 0 {
				connectionsCutRepeatedly(t, combo, dur)
			} else {
				connectionsCutRepeatedly(t, combo, 2*time.Second)
			}
		})
	}
}

func connectionsCutRepeatedly(t *testing.T, combo wireCombo,
	dur time.Duration,
) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, l := newLedgerWorker(t, ctx)
	m := startMux(t, ctx, w, nil)
	p := newProxy(t, m.Addr)

	clients := make([]*arpc.Client, 3)
	for i := range clients {
		clients[i] = resilientClient(t, ctx, p.Addr(), fmt.Sprintf("cut%d", i),
			combo)
		startClient(t, clients[i])
	}
	issued := runMutators(t, w, l, clients, func() {
		p.CutEvery(100 * time.Millisecond)
		time.Sleep(dur) // the length of the storm, not synchronisation
		p.CutEvery(0)
	})
	st := p.Stats()
	t.Logf("cut %d connections in %d rounds", st.Cut, st.CutRounds)
	// a round finds nothing to cut only while every client is reconnecting
	// (which takes longer, relatively, in a short storm)
	rounds := int64(dur / (100 * time.Millisecond))
	if dur < 5*time.Second {
		rounds /= 2
	}
	assert.Greater(t, st.CutRounds, rounds/2, "rounds that cut connections")
	for _, c := range clients {
		waitState(t, c.Mach, ss.ClientStates.Ready)
		waitSameClock(t, w, c.Worker)
		t.Logf("%s: %+v, worker %+v", c.Name, c.Stats(), c.Worker.Stats())
		assert.Zero(t, c.Stats().FullSyncs, "resumed, not resynced")
	}
	l.check(t, issued)
}

// TestBlackholeCallTimeoutRetry: over a link that silently stops carrying
// bytes, a call ends at CallTimeout, a ping finds the connection dead and
// closes it, and the call is retried on the next connection and applied
// exactly once, though the original request reaches the worker too.
func TestBlackholeCallTimeoutRetry(t *testing.T) {
	setup := func(t *testing.T, retries int) (*am.Machine, *ledger,
		*faultproxy.Proxy, *arpc.Client,
	) {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		w, l := newLedgerWorker(t, ctx)
		// one Server: the reconnecting client takes over its half-open slot
		s := startServer(t, ctx, w, nil)
		p := newProxy(t, s.Addr)
		c := resilientClient(t, ctx, p.Addr(), "bh")
		c.CallTimeout = 300 * time.Millisecond
		// PingTimeout = CallTimeout: the link is blackholed before the call,
		// so at the call's deadline it has been silent for at least that long
		c.PingTimeout = 300 * time.Millisecond
		c.ConnTimeout = 300 * time.Millisecond
		c.CallRetries = retries
		startClient(t, c)
		require.Equal(t, am.Executed, c.Worker.Add1("E", am.A{"id": "before"}))
		return w, l, p, c
	}

	t.Run("timeout honoured", func(t *testing.T) {
		w, l, p, c := setup(t, -1)
		p.Blackhole(true)
		start := time.Now()
		_, err := c.Worker.Mutate(context.Background(), am.MutationAdd, am.S{"E"},
			am.A{"id": "probe"})
		took := time.Since(start)
		require.ErrorIs(t, err, arpc.ErrNetworkTimeout)
		require.ErrorIs(t, err, arpc.ErrNetwork, "the ping found it dead")
		// at the deadline: the liveness verdict comes from the silence
		// already observed; waiting for a sign of life would take
		// CallTimeout + PingTimeout (>= 600 ms)
		assert.Less(t, took, 300*time.Millisecond+250*time.Millisecond,
			"CallTimeout, plus slack")
		assert.GreaterOrEqual(t, took, 300*time.Millisecond)
		assert.EqualValues(t, 1, c.Stats().DeadConns)
		p.Blackhole(false)
		// the client reconnects by itself; the held request may still land,
		// but at most once
		waitState(t, c.Mach, ss.ClientStates.Ready)
		waitSameClock(t, w, c.Worker)
		l.mx.Lock()
		assert.LessOrEqual(t, l.applied["probe"], 1)
		l.mx.Unlock()
	})

	t.Run("retried exactly once", func(t *testing.T) {
		w, l, p, c := setup(t, 0)
		disconnected := c.Mach.When1(ss.ClientStates.Disconnected, nil)
		p.Blackhole(true)
		type result struct {
			res am.Result
			err error
		}
		done := make(chan result, 1)
		go func() {
			res, err := c.Worker.Mutate(context.Background(), am.MutationAdd,
				am.S{"E"}, am.A{"id": "bh"})
			done <- result{res, err}
		}()
		waitCh(t, disconnected, "dead connection closed after the call timeout")
		p.Blackhole(false)
		var r result
		select {
		case r = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("retried call did not return")
		}
		require.NoError(t, r.err)
		require.Equal(t, am.Executed, r.res)
		st := c.Stats()
		assert.GreaterOrEqual(t, st.DeadConns, uint64(1))
		assert.GreaterOrEqual(t, st.Reconnects, uint64(1))
		assert.Zero(t, st.FullSyncs)
		waitSameClock(t, w, c.Worker)
		l.check(t, []string{"before", "bh"})
	})
}

// TestReplyLostRetriedOnce cuts the connection while the worker applies a
// mutation, so its reply is lost: the retry on the next connection gets the
// original result and the Multi state is added exactly once.
func TestReplyLostRetriedOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, l := newLedgerWorker(t, ctx)
	m := startMux(t, ctx, w, nil)
	p := newProxy(t, m.Addr)
	c := resilientClient(t, ctx, p.Addr(), "lost")
	startClient(t, c)

	var cut atomic.Bool
	l.mx.Lock()
	l.onApply = func(id string) {
		if id == "cut-me" && cut.CompareAndSwap(false, true) {
			p.CutAll()
		}
	}
	l.mx.Unlock()
	before := w.Tick("E")
	res := c.Worker.Add1("E", am.A{"id": "cut-me"})
	require.Equal(t, am.Executed, res, "err: %v", c.Worker.LastErr())
	require.True(t, cut.Load())
	assert.EqualValues(t, 1, c.Stats().Reconnects)
	l.check(t, []string{"cut-me"})
	// one activation of a Multi state: +1 from inactive
	assert.Equal(t, before+1, w.Tick("E"))
	waitSameClock(t, w, c.Worker)
}

// TestConnectCyclesNoLeaks connects and disconnects 100 clients through a
// mux, each mutating once, and checks goroutines and fds return to their
// baseline.
func TestConnectCyclesNoLeaks(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, l := newLedgerWorker(t, ctx)
	m := startMux(t, ctx, w, nil)
	// warm up: first-use allocations (gob types, pools) are not leaks
	warm := muxClient(t, ctx, m.Addr, "warm")
	startClient(t, warm)
	stopClients(t, []*arpc.Client{warm})
	waitMuxEmpty(t, m)
	// an observer stays connected through all the cycles: its replica must
	// end equal to the worker
	observer := muxClient(t, ctx, m.Addr, "observer")
	startClient(t, observer)

	baseG := runtime.NumGoroutine()
	baseFd := countFds(t)
	cycles, par := 100, 10
	issued := make([]string, cycles)
	var wg sync.WaitGroup
	for worker := range par {
		wg.Go(func() {
			for i := worker; i < cycles; i += par {
				c := muxClient(t, ctx, m.Addr, fmt.Sprintf("cyc%d", i))
				c.Start()
				select {
				case <-c.Mach.When1(ss.ClientStates.Ready, nil):
				case <-time.After(10 * time.Second):
					t.Errorf("cycle %d: not Ready", i)
				}
				issued[i] = fmt.Sprintf("cyc-%d", i)
				l.attempt(issued[i])
				// the ledger checks it was applied once; a busy worker may answer
				// Canceled for its own reasons, but a call must not fail
				if res := c.Worker.Add1("E", am.A{"id": issued[i]}); res == am.Canceled &&
					c.Worker.LastErr() != nil {
					t.Errorf("cycle %d: %v", i, c.Worker.LastErr())
				}
				stopClients(t, []*arpc.Client{c})
			}
		})
	}
	wg.Wait()
	waitSameClock(t, w, observer.Worker)
	stopClients(t, []*arpc.Client{observer})
	waitMuxEmpty(t, m)
	l.check(t, issued)

	// goroutines and fds end asynchronously (disposal); poll the counters
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) &&
		(runtime.NumGoroutine() > baseG || countFds(t) > baseFd) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), baseG, "goroutines")
	assert.LessOrEqual(t, countFds(t), baseFd, "fds")
	assert.EqualValues(t, cycles+2, m.Stats().Accepted)
}

func countFds(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// awayWhile keeps the client's connection down (cut, and new ones refused)
// while fn runs, then lets it reconnect and waits until it is Ready again.
func awayWhile(t *testing.T, p *faultproxy.Proxy, c *arpc.Client, fn func()) {
	t.Helper()
	disconnected := c.Mach.When1(ss.ClientStates.Disconnected, nil)
	p.Refuse(true)
	p.CutAll()
	waitCh(t, disconnected, "disconnected")
	require.True(t, c.Mach.Not1(ss.ClientStates.Ready))
	fn()
	p.Refuse(false)
	waitState(t, c.Mach, ss.ClientStates.Ready)
}

// TestWaitsSurviveReconnect: waits made before a disconnection settle by
// what happened while the client was away.
func TestWaitsSurviveReconnect(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, _ := newLedgerWorker(t, ctx)
	s := startServer(t, ctx, w, nil)
	p := newProxy(t, s.Addr)
	c := resilientClient(t, ctx, p.Addr(), "waits")
	startClient(t, c)
	rw := c.Worker

	require.Equal(t, am.Executed, rw.Add1("A", nil))
	whenD := rw.When1("D", nil)
	aCtx := rw.NewStateCtx("A")
	require.NoError(t, aCtx.Err())

	awayWhile(t, p, c, func() {
		// D removes A
		w.Add1("D", nil)
		for range 1000 {
			w.Add1("E", nil)
		}
		assert.True(t, rw.Not1("D"), "the replica cannot know yet")
	})
	waitCh(t, whenD, "When1(D) made before the disconnect")
	waitCh(t, aCtx.Done(), "state ctx of A, deactivated while away")
	waitSameClock(t, w, rw)
	assert.Zero(t, c.Stats().FullSyncs, "resumed from the known clock")
	assert.Zero(t, rw.Stats().Resyncs)
	assert.EqualValues(t, 1, c.Stats().Reconnects)
}

// TestResumeSendsOneMergedDiff: after missing 10k worker mutations, a
// reconnecting client gets one merged diff, not a history nor a full
// resync; it costs no more than a fresh client's handshake.
func TestResumeSendsOneMergedDiff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, _ := newLedgerWorker(t, ctx)
	m := startMux(t, ctx, w, nil)
	p := newProxy(t, m.Addr)
	c := resilientClient(t, ctx, p.Addr(), "resume")
	startClient(t, c)

	var before arpc.ClientStats
	awayWhile(t, p, c, func() {
		for i := range 10_000 {
			w.Add1("E", nil)
			if i%2 == 0 {
				w.Toggle1("G", nil)
			}
		}
		before = c.Stats()
	})
	waitSameClock(t, w, c.Worker)
	resumeIn := c.Stats().BytesIn - before.BytesIn

	fresh := newClient(t, ctx, m.Addr, "fresh", nil)
	startClient(t, fresh)
	fullIn := fresh.Stats().BytesIn
	t.Logf("resume after 10k missed mutations: %d bytes in; a fresh "+
		"handshake (full clock): %d bytes", resumeIn, fullIn)
	assert.Zero(t, c.Stats().FullSyncs)
	// with this small schema both are mostly names and gob type headers;
	// what matters is that 10k missed mutations cost nothing extra
	// (BenchmarkResumeBytes compares on a wide schema)
	assert.Less(t, resumeIn, int64(1024))
}

// TestReconnectToRestartedWorkerResyncsInFull: the client comes back to a
// worker that started afresh (its ticks behind what the replica knows). A
// merged diff cannot express that, so the server sends a full snapshot,
// counted on both sides, and the replica equals the new worker.
func TestReconnectToRestartedWorkerResyncsInFull(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w1 := newWorker(t, ctx)
	m1 := startMux(t, ctx, w1, nil)
	p := newProxy(t, m1.Addr)
	c := resilientClient(t, ctx, p.Addr(), "restart")
	startClient(t, c)
	for range 10 {
		require.Equal(t, am.Executed, c.Worker.Add1("E", nil))
	}

	// the same schema, a fresh machine: E's tick is behind the replica's
	w2, err := am.NewCommon(ctx, "w2-"+t.Name(), testSchema, testNames, nil,
		nil, nil)
	require.NoError(t, err)
	defer w2.Dispose()
	w2.Add1("A", nil)
	m2 := startMux(t, ctx, w2, nil)
	awayWhile(t, p, c, func() {
		m1.Stop(true)
		p.SetTarget(m2.Addr)
	})
	waitSameClock(t, w2, c.Worker)
	assert.EqualValues(t, 1, c.Stats().FullSyncs, "one full resync")
	assert.Zero(t, c.Worker.Stats().Resyncs, "no drift on the way")
	assert.True(t, c.Worker.Is1("A"))
	require.Equal(t, am.Executed, c.Worker.Add1("E", nil))
	assert.Equal(t, w2.Tick("E"), c.Worker.Tick("E"))
}
