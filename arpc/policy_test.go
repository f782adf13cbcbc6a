package arpc_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/auth"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

// hiddenTick is the tick the hidden state starts with: a value whose
// encoding (a uvarint, as in every clock message) cannot turn up in the
// traffic by chance.
const hiddenTick = 233_573_357

const testPolicy = `
rules:
  - identity: "obs-*"
    mutate:  {allow: ["A", "B", "H"], deny: ["H"]}
    observe: {allow: ["*"], deny: ["H", "G"]}
  - identity: all
    mutate:  {allow: ["*"]}
    observe: {allow: ["*"]}
`

// recordingListener records the bytes written to each accepted connection
// (what the server sends), on top of the counting listener.
type recordingListener struct {
	*arpc.CountingListener
	mx    sync.Mutex
	conns []*bytes.Buffer
}

type recordedConn struct {
	net.Conn
	l   *recordingListener
	buf *bytes.Buffer
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.CountingListener.Accept()
	if err != nil {
		return nil, err
	}
	l.mx.Lock()
	defer l.mx.Unlock()
	buf := &bytes.Buffer{}
	l.conns = append(l.conns, buf)
	return &recordedConn{Conn: c, l: l, buf: buf}, nil
}

func (c *recordedConn) Write(p []byte) (int, error) {
	c.l.mx.Lock()
	c.buf.Write(p)
	c.l.mx.Unlock()
	return c.Conn.Write(p)
}

// sent returns the bytes of connections from, to (exclusive) and the
// written total the counting listener saw.
func (l *recordingListener) sent(from, to int) []byte {
	l.mx.Lock()
	defer l.mx.Unlock()
	var out []byte
	for _, b := range l.conns[from:min(to, len(l.conns))] {
		out = append(out, b.Bytes()...)
	}
	return out
}

func (l *recordingListener) count() int {
	l.mx.Lock()
	defer l.mx.Unlock()
	return len(l.conns)
}

func TestPolicyHiddenStatesNeverLeave(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(t, ctx)
	idxH, idxG := slices.Index(testNames, "H"), slices.Index(testNames, "G")
	// give H a tick nobody can miss
	exp, _, err := w.Export()
	require.NoError(t, err)
	exp.Time[idxH] = hiddenTick
	require.NoError(t, w.Import(exp))
	require.True(t, w.Is1("H"))

	policy, err := auth.ParsePolicy("policy.yaml", []byte(testPolicy))
	require.NoError(t, err)
	tokens := auth.NewTokens(map[string]string{"t-obs": "obs-1", "t-all": "all"})

	var pushedMx sync.Mutex
	// pushed holds the decoded pushes of the observer's servers: those whose
	// client is not the control (by its client ID, not by the connection's
	// number, which a retried dial shifts)
	var pushed []engine.Update
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rec := &recordingListener{CountingListener: arpc.NewCountingListener(raw)}
	m, err := arpc.NewMux(ctx, "m", func(num int, _ net.Conn) (*arpc.Server,
		error,
	) {
		s, err := arpc.NewServer(ctx, "", "s", w, nil)
		if err != nil {
			return nil, err
		}
		s.Tokens, s.Policy, s.PushInterval = tokens, policy, time.Millisecond
		var control atomic.Bool
		s.Hooks.Handshake = func(clientId string, _ bool) {
			// the control is the client named "all" (newClient: rc-all-TestName)
			control.Store(strings.HasPrefix(clientId, "rc-all-"))
		}
		s.Hooks.Pushed = func(u *engine.Update) {
			if control.Load() {
				return
			}
			pushedMx.Lock()
			pushed = append(pushed, *u)
			pushedMx.Unlock()
		}
		return s, nil
	}, nil)
	require.NoError(t, err)
	m.Listener = rec
	m.Start()
	t.Cleanup(func() { m.Stop(true) })
	waitState(t, m.Mach, ss.MuxStates.Ready)
	proxy := newProxy(t, rec.Addr().String())

	pattern := binary.AppendUvarint(nil, hiddenTick)

	// the control: an identity that may see H gets its tick on the wire
	all := newClient(t, ctx, proxy.Addr(), "all", &arpc.ClientOpts{Token: "t-all"})
	require.NoError(t, connectErr(t, all))
	assert.Equal(t, uint64(hiddenTick), all.Worker.Tick("H"))
	require.True(t, bytes.Contains(rec.sent(0, 1), pattern),
		"the check must be able to fail")
	allConns := rec.count()

	obs := newClient(t, ctx, proxy.Addr(), "obs", &arpc.ClientOpts{Token: "t-obs"})
	obs.ReconnectOn = true
	obs.ConnRetries = 10
	require.NoError(t, connectErr(t, obs))
	rw := obs.Worker
	assert.Zero(t, rw.Tick("H"), "hidden: inactive, tick 0")
	assert.False(t, rw.Is1("H"))

	// the worker changes hidden and visible states; the observer mutates
	for i := range 20 {
		w.Toggle1("G", nil)
		w.Toggle1("H", nil)
		if i%5 == 0 {
			require.Equal(t, am.Executed, rw.Add1("A", nil))
			rw.Remove1("A", nil)
		}
	}
	// refused mutations change nothing, on every mutation type
	before := w.Time(nil)
	for _, mut := range []func() (am.Result, error){
		func() (am.Result, error) { return rw.Mutate(ctx, am.MutationAdd, am.S{"H"}, nil) },
		func() (am.Result, error) { return rw.Mutate(ctx, am.MutationRemove, am.S{"A", "H"}, nil) },
		func() (am.Result, error) { return rw.Mutate(ctx, am.MutationSet, am.S{"A"}, nil) },
		func() (am.Result, error) { return rw.Mutate(ctx, am.MutationAdd, am.S{"C"}, nil) },
	} {
		res, err := mut()
		require.ErrorIs(t, err, arpc.ErrPermissionDenied)
		assert.Equal(t, am.Canceled, res)
	}
	assert.Equal(t, before, w.Time(nil), "refused mutations changed the worker")
	rw.Add1NS("H", nil)
	_, err = obs.Get(ctx, "x")
	assert.ErrorIs(t, err, arpc.ErrUnsupported, "Get still answers")

	// Sync, and a reconnect with a resume
	rw.Sync()
	proxy.CutAll()
	waitState(t, obs.Mach, ss.ClientStates.Ready)
	w.Toggle1("H", nil)
	w.Add1("B", nil)
	require.Eventually(t, func() bool { return rw.Is1("B") }, 5*time.Second,
		5*time.Millisecond)
	rw.Sync()
	assert.Equal(t, w.Time(am.S{"A", "B", "C"}), rw.Time(am.S{"A", "B", "C"}))
	assert.Zero(t, rw.Tick("H"))
	assert.Zero(t, rw.Tick("G"))
	assert.Zero(t, rw.Stats().Resyncs, "sums of visible states only: no drift")
	assert.GreaterOrEqual(t, obs.Stats().Reconnects, uint64(1))

	// decoded: no push carried a hidden index
	pushedMx.Lock()
	require.NotEmpty(t, pushed)
	for _, u := range pushed {
		for _, p := range u.Diff {
			require.NotContains(t, []uint64{uint64(idxH), uint64(idxG)}, p[0],
				"push %+v", u)
		}
	}
	pushedMx.Unlock()
	// raw: the observer's connections never carried H's tick
	obsBytes := rec.sent(allConns, rec.count())
	require.NotEmpty(t, obsBytes)
	assert.False(t, bytes.Contains(obsBytes, pattern),
		"the hidden state's tick left the server")
	_, written := rec.Bytes()
	assert.GreaterOrEqual(t, written, int64(len(obsBytes)))
}

// TestPayloadsAddressedToIdentities: with authentication, A.Id addresses an
// identity; a client ID (which the client chose) addresses nobody.
func TestPayloadsAddressedToIdentities(t *testing.T) {
	consumer, got := newPayloadConsumer(t)
	p := newPair(t, pairOpts{consumer: consumer, setup: func(s *arpc.Server,
		c *arpc.Client,
	) {
		s.Tokens = auth.NewTokens(map[string]string{"t-bob": "bob"})
		c.Token = "t-bob"
	}})
	send := func(name, to string) {
		p.worker.Add1(ss.WorkerStates.SendPayload, arpc.Pass(&arpc.A{Id: to,
			Payload: &arpc.ArgsPayload{Name: name}}))
	}
	send("to-client-id", p.client.Mach.Id())
	send("to-alice", "alice")
	send("to-bob", "bob")
	send("to-all", "")
	// payloads of a connection arrive in order
	assert.Equal(t, "to-bob", nextPayload(t, got).Name)
	assert.Equal(t, "to-all", nextPayload(t, got).Name)
	// Server.SendPayload addresses the identity too
	require.NoError(t, p.server.SendPayload(context.Background(),
		&arpc.ArgsPayload{Name: "direct"}))
	assert.Equal(t, "direct", nextPayload(t, got).Name)
}
