package arpc_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/soheilhy/cmux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

// startMux serves worker through a Mux on a loopback port; set (optional)
// adjusts it before Start. The mux is stopped and disposed with the test.
func startMux(t testing.TB, ctx context.Context, worker am.Api,
	set func(m *arpc.Mux),
) *arpc.Mux {
	t.Helper()
	newServer := func(num int, _ net.Conn) (*arpc.Server, error) {
		return arpc.NewServer(ctx, "", fmt.Sprintf("%s-%d", t.Name(), num),
			worker, nil)
	}
	m, err := arpc.NewMux(ctx, t.Name(), newServer, nil)
	require.NoError(t, err)
	m.Addr = "127.0.0.1:0"
	if set != nil {
		set(m)
	}
	m.Start()
	t.Cleanup(func() { m.Stop(true) })
	waitState(t, m.Mach, ss.MuxStates.Ready)
	return m
}

// muxClient creates a client of addr without registering a cleanup, for
// tests that start and stop many.
// serverLog records the servers a mux made, in order.
type serverLog struct {
	mx      sync.Mutex
	servers []*arpc.Server
}

// list returns the servers made so far.
func (l *serverLog) list() []*arpc.Server {
	l.mx.Lock()
	defer l.mx.Unlock()
	return slices.Clone(l.servers)
}

// startLoggedMux is startMux recording every server it makes.
func startLoggedMux(t testing.TB, ctx context.Context, worker am.Api,
) (*arpc.Mux, *serverLog) {
	t.Helper()
	log := &serverLog{}
	newServer := func(num int, _ net.Conn) (*arpc.Server, error) {
		s, err := arpc.NewServer(ctx, "", fmt.Sprintf("%s-%d", t.Name(), num),
			worker, nil)
		if err == nil {
			log.mx.Lock()
			log.servers = append(log.servers, s)
			log.mx.Unlock()
		}
		return s, err
	}
	m, err := arpc.NewMux(ctx, t.Name(), newServer, nil)
	require.NoError(t, err)
	m.Addr = "127.0.0.1:0"
	m.Start()
	t.Cleanup(func() { m.Stop(true) })
	waitState(t, m.Mach, ss.MuxStates.Ready)
	return m, log
}

func muxClient(t testing.TB, ctx context.Context, addr, name string) *arpc.Client {
	t.Helper()
	c, err := arpc.NewClient(ctx, addr, name, testSchema, testNames, nil)
	require.NoError(t, err)
	c.ConnRetries = -1
	return c
}

func stopClients(t testing.TB, clients []*arpc.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { c.Stop(ctx, true) })
	}
	wg.Wait()
}

// waitMuxEmpty waits until every server of the mux was released.
func waitMuxEmpty(t testing.TB, m *arpc.Mux) {
	t.Helper()
	select {
	case <-m.Mach.WhenNot1(ss.MuxStates.HasClients, nil):
	case <-time.After(10 * time.Second):
		t.Fatalf("mux still has %d clients", m.Stats().Clients)
	}
	deadline := time.Now().Add(5 * time.Second)
	// HasClients goes with the last release; the count is read under a lock
	for m.Stats().Clients != 0 && time.Now().Before(deadline) {
		<-m.Mach.WhenNot1(ss.MuxStates.HasClients, nil)
	}
	require.Zero(t, m.Stats().Clients)
}

// TestMuxConcurrentConnectsAllGetPushes is the handshake race of the
// anchor: many clients connect at once and each must receive the next
// worker-side change once Ready. Repeated, since the race is rare per run.
func TestMuxConcurrentConnectsAllGetPushes(t *testing.T) {
	clients, reps := 100, 50
	if testing.Short() {
		reps = 5
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(t, ctx)
	m := startMux(t, ctx, w, nil)

	for rep := range reps {
		cs := make([]*arpc.Client, clients)
		for i := range cs {
			cs[i] = muxClient(t, ctx, m.Addr, fmt.Sprintf("r%d-c%d", rep, i))
		}
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Go(func() { c.Start() })
		}
		wg.Wait()
		for _, c := range cs {
			waitState(t, c.Mach, ss.ClientStates.Ready)
		}
		w.Add1("E", nil)
		want := w.Tick("E")
		for i, c := range cs {
			select {
			case <-c.Worker.WhenTime1("E", want, nil):
			case <-time.After(5 * time.Second):
				t.Fatalf("rep %d: client %d Ready but never got tick %d of E (has %d)",
					rep, i, want, c.Worker.Tick("E"))
			}
		}
		stopClients(t, cs)
	}
	waitMuxEmpty(t, m)
	st := m.Stats()
	assert.EqualValues(t, clients*reps, st.Accepted)
	assert.Zero(t, st.Refused)
}

func TestMuxMaxClientsRefusesClearly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(t, ctx)
	m := startMux(t, ctx, w, func(m *arpc.Mux) { m.MaxClients = 2 })

	var cs []*arpc.Client
	for i := range 2 {
		c := newClient(t, ctx, m.Addr, fmt.Sprintf("ok%d", i), nil)
		startClient(t, c)
		cs = append(cs, c)
	}
	over := newClient(t, ctx, m.Addr, "over", nil)
	over.Start()
	waitState(t, over.Mach, ss.ClientStates.ErrNoAccess)
	require.ErrorIs(t, over.Mach.Err(), arpc.ErrBusy)
	assert.Contains(t, over.Mach.Err().Error(), "limit of 2")
	assert.EqualValues(t, 1, m.Stats().Refused)

	// a slot frees up when a client leaves
	cs[0].Stop(ctx, true)
	require.Eventually(t, func() bool { return m.Stats().Clients == 1 },
		5*time.Second, time.Millisecond)
	late := newClient(t, ctx, m.Addr, "late", nil)
	startClient(t, late)
	require.Equal(t, am.Executed, late.Worker.Add1("A", nil))
}

// TestMuxDisposesServers connects and disconnects clients and checks that
// every server is stopped and disposed and the engine has no subscribers
// left.
func TestMuxDisposesServers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(t, ctx)
	m, log := startLoggedMux(t, ctx, w)

	for i := range 10 {
		c := muxClient(t, ctx, m.Addr, fmt.Sprintf("c%d", i))
		startClient(t, c)
		require.Equal(t, am.Executed, c.Worker.Add1("E", nil))
		waitState(t, m.Mach, ss.MuxStates.HasClients)
		stopClients(t, []*arpc.Client{c})
		waitMuxEmpty(t, m)
	}
	servers := log.list()
	require.Len(t, servers, 10)
	for _, s := range servers {
		// am disposes in the background
		waitCh(t, s.Mach.WhenDisposed(), s.Mach.Id()+" disposed")
	}
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	assert.Zero(t, e.Stats().Subscribers)
}

func TestMuxNewServerErr(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errNope := fmt.Errorf("%w: nope", arpc.ErrInvalidParams)
	m, err := arpc.NewMux(ctx, t.Name(), func(int, net.Conn) (*arpc.Server, error) {
		return nil, errNope
	}, nil)
	require.NoError(t, err)
	m.Addr = "127.0.0.1:0"
	m.Start()
	defer m.Stop(true)
	waitState(t, m.Mach, ss.MuxStates.Ready)

	c := newClient(t, ctx, m.Addr, "c", nil)
	c.ConnTimeout = time.Second
	c.Start()
	waitState(t, c.Mach, am.StateException)
	// the client learns why, not "connection reset"
	assert.ErrorIs(t, c.Mach.Err(), arpc.ErrInvalidParams)
	assert.Contains(t, c.Mach.Err().Error(), "nope")
	waitState(t, m.Mach, ss.MuxStates.NewServerErr)
	assert.ErrorIs(t, m.NewServerErr(), errNope)
	assert.EqualValues(t, 1, m.Stats().NewServerErrs)
	waitMuxEmpty(t, m)
}

// A callback written as upstream's examples are (it starts its server
// itself) is refused clearly: the Mux reports it (NewServerErr, the state,
// the count), and the client's handshake fails with that error instead of a
// reset connection.
func TestMuxCallbackStartingItsServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(t, ctx)
	m, err := arpc.NewMux(ctx, t.Name(), func(num int, _ net.Conn) (*arpc.Server, error) {
		s, err := arpc.NewServer(ctx, "127.0.0.1:0", fmt.Sprintf("own-%d", num),
			w, nil)
		if err != nil {
			return nil, err
		}
		s.Start()
		return s, nil
	}, nil)
	require.NoError(t, err)
	m.Addr = "127.0.0.1:0"
	m.Start()
	defer m.Stop(true)
	waitState(t, m.Mach, ss.MuxStates.Ready)

	c := newClient(t, ctx, m.Addr, "c", nil)
	c.ConnRetries = -1
	c.Start()
	waitState(t, c.Mach, am.StateException)
	cerr := c.Mach.Err()
	require.ErrorIs(t, cerr, arpc.ErrInvalidParams)
	assert.Contains(t, cerr.Error(), "return it unstarted")
	assert.NotContains(t, cerr.Error(), "reset")
	waitState(t, m.Mach, ss.MuxStates.NewServerErr)
	require.ErrorIs(t, m.NewServerErr(), arpc.ErrInvalidParams)
	assert.Contains(t, m.NewServerErr().Error(), "started")
	assert.EqualValues(t, 1, m.Stats().NewServerErrs)
	waitMuxEmpty(t, m)
}

// TestMuxOnSharedPort gives the mux a cmux sub-listener, as the one-port
// server does, next to an HTTP server on the same port.
func TestMuxOnSharedPort(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(t, ctx)

	root, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cm := cmux.New(root)
	cm.SetReadTimeout(time.Second)
	arpcL := cm.Match(arpc.MuxMatcher())
	httpL := cm.Match(cmux.HTTP1Fast())
	hs := &http.Server{Handler: http.HandlerFunc(
		func(rw http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(rw, "hi") })}
	var wg sync.WaitGroup
	wg.Go(func() { _ = hs.Serve(httpL) })
	wg.Go(func() { _ = cm.Serve() })
	defer wg.Wait()
	defer root.Close()
	defer hs.Close()

	m := startMux(t, ctx, w, func(m *arpc.Mux) { m.Listener = arpcL })
	require.Equal(t, root.Addr().String(), m.Addr)

	c := newClient(t, ctx, root.Addr().String(), "c", nil)
	startClient(t, c)
	require.Equal(t, am.Executed, c.Worker.Add1("A", nil))
	w.Add1("D", nil)
	waitCh(t, c.Worker.When1("D", nil), "push through the shared port")

	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get("http://" + root.Addr().String() + "/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, "hi", string(body))
}

// TestMuxDropsOtherProtocols: a mux owning its port drops connections that
// are not aRPC, without creating servers.
func TestMuxDropsOtherProtocols(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(t, ctx)
	m := startMux(t, ctx, w, func(m *arpc.Mux) {
		m.ReadTimeout = 200 * time.Millisecond
	})

	junk, err := net.Dial("tcp", m.Addr)
	require.NoError(t, err)
	defer junk.Close()
	_, err = junk.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	require.NoError(t, err)
	silent, err := net.Dial("tcp", m.Addr)
	require.NoError(t, err)
	defer silent.Close()
	for _, conn := range []net.Conn{junk, silent} {
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, err = io.Copy(io.Discard, conn)
		if err != nil {
			require.NotErrorIs(t, err, os.ErrDeadlineExceeded,
				"closed by the mux, not timed out")
		}
	}
	assert.Zero(t, m.Stats().Accepted)

	c := newClient(t, ctx, m.Addr, "c", nil)
	startClient(t, c)
}

// TestMuxSharesDiffs: one worker change pushed to many clients of one
// worker costs one diff computation.
func TestMuxSharesDiffs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(t, ctx)
	m := startMux(t, ctx, w, nil)
	n := 20
	cs := make([]*arpc.Client, n)
	for i := range cs {
		cs[i] = muxClient(t, ctx, m.Addr, fmt.Sprintf("c%d", i))
		startClient(t, cs[i])
	}
	defer stopClients(t, cs)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()

	before := e.Stats()
	w.Add1("E", nil)
	for _, c := range cs {
		waitCh(t, c.Worker.WhenTime1("E", w.Tick("E"), nil), "push")
	}
	after := e.Stats()
	assert.EqualValues(t, 1, after.DiffsComputed-before.DiffsComputed)
	assert.EqualValues(t, n-1, after.DiffsShared-before.DiffsShared)
}

// TestRelayTree serves a client's remote worker through a second mux: the
// fan-out goes worker → relay → leaves, mutations go back the same way.
func TestRelayTree(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(t, ctx)
	root := startMux(t, ctx, w, nil)

	relay := newClient(t, ctx, root.Addr, "relay", nil)
	startClient(t, relay)
	relayMux := startMux(t, ctx, relay.Worker, nil)

	leaves := make([]*arpc.Client, 5)
	for i := range leaves {
		leaves[i] = newClient(t, ctx, relayMux.Addr, fmt.Sprintf("leaf%d", i), nil)
		startClient(t, leaves[i])
	}

	// worker → leaves
	w.Add1("D", nil)
	for _, l := range leaves {
		waitCh(t, l.Worker.When1("D", nil), "D through the relay")
	}
	// leaf → worker, exactly once
	for range 3 {
		before := w.Tick("E")
		require.Equal(t, am.Executed, leaves[0].Worker.Add1("E", nil))
		want := w.Tick("E")
		// Multi: +1 when inactive, +2 when active (off and on again)
		assert.LessOrEqual(t, want-before, uint64(2))
		assert.Positive(t, want-before)
		for _, l := range leaves {
			waitCh(t, l.Worker.WhenTime1("E", want, nil), "E back to every leaf")
		}
	}
	for _, l := range leaves {
		assert.Equal(t, w.Time(nil), l.Worker.Time(nil))
	}
}
