package arpc_test

import (
	"context"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

// bindTarget is a user machine that a server's states are bound to.
func bindTarget(t *testing.T) *am.Machine {
	t.Helper()
	schema := am.Schema{
		am.StateException: {Multi: true},
		"Up":              {},
		"Conn":            {},
		"ServerUp":        {Multi: true},
		"Joined":          {Multi: true},
		"Left":            {Multi: true},
	}
	m, err := am.NewCommon(context.Background(), "bind-"+t.Name(), schema,
		am.S{am.StateException, "Up", "Conn", "ServerUp", "Joined", "Left"}, nil,
		nil, nil)
	require.NoError(t, err)
	t.Cleanup(m.Dispose)
	return m
}

// newBindServer creates a server of a fresh worker, not started.
func newBindServer(t *testing.T, ctx context.Context) *arpc.Server {
	t.Helper()
	s, err := arpc.NewServer(ctx, "127.0.0.1:0", "s-"+t.Name(),
		newWorker(t, ctx), nil)
	require.NoError(t, err)
	t.Cleanup(func() { s.Stop(true) })
	return s
}

// waitNot waits for state to be inactive, failing the test after 5s.
func waitNot(t *testing.T, m am.Api, state string) {
	t.Helper()
	waitCh(t, m.WhenNot1(state, nil), state+" inactive on "+m.Id())
}

// waitTick waits for state to reach tick, failing the test after 5s.
func waitTick(t *testing.T, m am.Api, state string, tick uint64) {
	t.Helper()
	select {
	case <-m.WhenTime1(state, tick, nil):
	case <-time.After(5 * time.Second):
		t.Fatalf("timeout waiting for %s to reach tick %d on %s: %d", state,
			tick, m.Id(), m.Tick(state))
	}
}

// stopClient stops c and waits until the server saw it go.
func stopClient(t *testing.T, c *arpc.Client, s *arpc.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Stop(ctx, false)
	waitNot(t, s.Mach, ss.ServerStates.ClientConnected)
}

func TestBindServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newBindServer(t, ctx)
	target := bindTarget(t)
	require.NoError(t, arpc.BindServer(s.Mach, target, "Up", "Conn"))
	assert.False(t, target.Any1("Up", "Conn"))

	s.Start()
	waitState(t, target, "Up")
	assert.False(t, target.Is1("Conn"))

	c := newClient(t, ctx, s.Addr, "c1", nil)
	startClient(t, c)
	waitState(t, target, "Conn")

	stopClient(t, c, s)
	waitNot(t, target, "Conn")
	assert.True(t, target.Is1("Up"))

	// a second client: mirrored again
	c2 := newClient(t, ctx, s.Addr, "c2", nil)
	startClient(t, c2)
	waitState(t, target, "Conn")
	assert.Equal(t, uint64(3), target.Tick("Conn"))

	s.Stop(false)
	waitNot(t, target, "Up")
	waitNot(t, target, "Conn")
}

// States already active when binding are mirrored at once.
func TestBindServerSyncsActiveStates(t *testing.T) {
	p := newPair(t, pairOpts{})
	target := bindTarget(t)
	require.NoError(t, arpc.BindServer(p.server.Mach, target, "Up", "Conn"))
	assert.True(t, target.Is(am.S{"Up", "Conn"}), target.StringAll())
	assert.Equal(t, uint64(1), target.Tick("Up"))

	stopClient(t, p.client, p.server)
	waitNot(t, target, "Conn")
	assert.True(t, target.Is1("Up"))
}

func TestBindServerMulti(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newBindServer(t, ctx)
	target := bindTarget(t)
	require.NoError(t, arpc.BindServerMulti(s.Mach, target, "Up", "Joined",
		"Left"))

	s.Start()
	waitState(t, target, "Up")

	// every connection and disconnection is one activation of a multi state
	for i := range 2 {
		c := newClient(t, ctx, s.Addr, "c", nil)
		startClient(t, c)
		waitTick(t, target, "Joined", uint64(2*i+1))
		stopClient(t, c, s)
		waitTick(t, target, "Left", uint64(2*i+1))
	}
	assert.Equal(t, uint64(3), target.Tick("Joined"))
	assert.Equal(t, uint64(3), target.Tick("Left"))

	s.Stop(false)
	waitNot(t, target, "Up")
}

// A client connected before BindServerMulti is reported once.
func TestBindServerMultiSyncsConnectedClient(t *testing.T) {
	p := newPair(t, pairOpts{})
	target := bindTarget(t)
	require.NoError(t, arpc.BindServerMulti(p.server.Mach, target, "Up",
		"Joined", "Left"))
	assert.True(t, target.Is1("Up"))
	assert.Equal(t, uint64(1), target.Tick("Joined"))
	assert.Zero(t, target.Tick("Left"))

	stopClient(t, p.client, p.server)
	waitTick(t, target, "Left", 1)
	assert.Equal(t, uint64(1), target.Tick("Joined"), "not reported twice")
}

func TestBindServerRpcReady(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newBindServer(t, ctx)
	target := bindTarget(t)
	require.NoError(t, arpc.BindServerRpcReady(s.Mach, target, "ServerUp"))

	s.Start()
	waitTick(t, target, "ServerUp", 1)

	// Add only: the server stopping leaves it as it is
	s.Stop(false)
	waitNot(t, s.Mach, ss.ServerStates.RpcReady)
	assert.True(t, target.Is1("ServerUp"))
	assert.Equal(t, uint64(1), target.Tick("ServerUp"))

	// bound to an already ready server: reported at once
	p := newPair(t, pairOpts{})
	target2 := bindTarget(t)
	require.NoError(t, arpc.BindServerRpcReady(p.server.Mach, target2,
		"ServerUp"))
	assert.Equal(t, uint64(1), target2.Tick("ServerUp"))
}

func TestBindServerInvalidParams(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newBindServer(t, ctx)
	target := bindTarget(t)
	notServer := bindTarget(t)
	tests := []struct {
		name string
		bind func() error
	}{
		{"nil source", func() error {
			return arpc.BindServer(nil, target, "Up", "Conn")
		}},
		{"nil target", func() error {
			return arpc.BindServerRpcReady(s.Mach, nil, "Up")
		}},
		{"empty state", func() error {
			return arpc.BindServer(s.Mach, target, "Up", "")
		}},
		{"unknown target state", func() error {
			return arpc.BindServerMulti(s.Mach, target, "Up", "Joined", "Nope")
		}},
		{"unknown rpcReady", func() error {
			return arpc.BindServerRpcReady(s.Mach, target, "Nope")
		}},
		{"source not a server", func() error {
			return arpc.BindServer(notServer, target, "Up", "Conn")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.ErrorIs(t, tt.bind(), arpc.ErrInvalidParams)
		})
	}
	// nothing was bound: starting the server leaves target alone
	s.Start()
	waitState(t, s.Mach, ss.ServerStates.RpcReady)
	assert.False(t, target.Any1("Up", "Conn", "ServerUp"))
}
