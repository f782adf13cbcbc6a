package arpc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

func TestPayloadReachesConsumer(t *testing.T) {
	consumer := am.New(context.Background(), ss.ConsumerSchema, nil)
	t.Cleanup(consumer.Dispose)
	require.NoError(t, consumer.VerifyStates(ss.ConsumerStates.Names()))
	got := make(chan *arpc.ArgsPayload, 1)
	_, err := consumer.HandlersBind(&consumerHandlers{got: got})
	require.NoError(t, err)

	p := newPair(t, pairOpts{consumer: consumer})
	p.worker.Add1(ss.WorkerStates.SendPayload, arpc.Pass(&arpc.A{
		Name:    "mypayload",
		Payload: &arpc.ArgsPayload{Name: "mypayload", Data: []byte{1, 2, 3}},
	}))
	select {
	case pl := <-got:
		assert.Equal(t, "mypayload", pl.Name)
		assert.Equal(t, []byte{1, 2, 3}, pl.Data)
		assert.Equal(t, p.worker.Id(), pl.Source, "source filled by the server")
		assert.NotEmpty(t, pl.Token, "token filled by the server")
	case <-time.After(5 * time.Second):
		t.Fatal("payload not delivered")
	}
}

type consumerHandlers struct{ got chan *arpc.ArgsPayload }

func (h *consumerHandlers) WorkerPayloadState(e *am.Event) {
	h.got <- arpc.ParseArgs(e.Args).Payload
}

func TestGet(t *testing.T) {
	p := newPair(t, pairOpts{setup: func(s *arpc.Server, _ *arpc.Client) {
		s.Getter = func(name string) any {
			if name == "answer" {
				return 42
			}
			return nil
		}
	}})
	ctx := context.Background()
	v, err := p.client.Get(ctx, "answer")
	require.NoError(t, err)
	assert.Equal(t, 42, v)
	v, err = p.client.Get(ctx, "nothing")
	require.NoError(t, err)
	assert.Nil(t, v)
}

func TestAllowIdRejects(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(t, ctx)
	s := startServer(t, ctx, w, func(s *arpc.Server) {
		s.AllowId = arpc.GetClientId("allowed-" + t.Name())
	})
	bad := newClient(t, ctx, s.Addr, "intruder", nil)
	bad.Start()
	waitState(t, bad.Mach, ss.ClientStates.ErrNoAccess)
	assert.ErrorIs(t, bad.Mach.Err(), arpc.ErrNoAccess)
	assert.True(t, bad.Mach.Not1(ss.ClientStates.Ready))

	good := newClient(t, ctx, s.Addr, "allowed", nil)
	startClient(t, good)
}

func TestSchemaMismatch(t *testing.T) {
	tests := []struct {
		name   string
		schema am.Schema
		names  am.S
		want   string
	}{
		{"order", testSchema, am.SAdd(ss.WorkerStates.Names(),
			am.S{"B", "A", "C", "D", "E", "F", "G", "H", "Err1"}), `state 2 is "B"`},
		{"relation", am.SchemaMerge(testSchema, am.Schema{
			"C": {Require: am.S{"A"}}}), testNames, `state "C" require`},
		{"extra", am.SchemaMerge(testSchema, am.Schema{"Z": {}}),
			am.SAdd(testNames, am.S{"Z"}), `client has extra state "Z"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := newWorker(t, ctx)
			before := w.Time(nil)
			s := startServer(t, ctx, w, nil)
			c, err := arpc.NewClient(ctx, s.Addr, "mismatch", tt.schema, tt.names, nil)
			require.NoError(t, err)
			defer c.Stop(ctx, true)
			c.Start()
			waitState(t, c.Mach, ss.ClientStates.ErrSchema)
			require.ErrorIs(t, c.Mach.Err(), arpc.ErrSchemaMismatch)
			assert.Contains(t, c.Mach.Err().Error(), tt.want)
			assert.Equal(t, before, w.Time(nil), "nothing mutated")
		})
	}
}

func TestSecondClientRejected(t *testing.T) {
	p := newPair(t, pairOpts{})
	second := newClient(t, context.Background(), p.server.Addr, "second", nil)
	second.Start()
	waitState(t, second.Mach, ss.ClientStates.ErrNoAccess)
	assert.ErrorIs(t, second.Mach.Err(), arpc.ErrBusy)

	// the first one is unaffected
	require.Equal(t, am.Executed, p.rw.Add1("A", nil))
	assert.True(t, p.client.Mach.Is1(ss.ClientStates.Ready))
}

// blocker blocks the worker's handler of state A until released.
type blocker struct {
	release chan struct{}
	entered chan struct{}
}

func (b *blocker) AState(_ *am.Event) {
	if b.entered != nil {
		b.entered <- struct{}{}
	}
	<-b.release
}

func TestCallTimeoutHonoured(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := am.NewCommon(ctx, "w-"+t.Name(), testSchema, testNames, nil, nil,
		&am.Opts{HandlerTimeout: time.Minute, DontLogStackTrace: true})
	require.NoError(t, err)
	defer w.Dispose()
	b := &blocker{release: make(chan struct{})}
	_, err = w.HandlersBind(b)
	require.NoError(t, err)
	s := startServer(t, ctx, w, nil)
	c := newClient(t, ctx, s.Addr, "c", nil)
	c.CallTimeout = 200 * time.Millisecond
	startClient(t, c)

	start := time.Now()
	res := c.Worker.Add1("A", nil)
	took := time.Since(start)
	close(b.release)
	assert.Equal(t, am.Canceled, res)
	assert.ErrorIs(t, c.Worker.LastErr(), arpc.ErrNetworkTimeout)
	assert.Less(t, took, 2*time.Second, "returned at the deadline, not late")

	// the late reply's clock still reaches the replica
	waitCh(t, c.Worker.When1("A", nil), "A after late reply")
	_, err = c.Worker.Mutate(ctx, am.MutationAdd, am.S{"B"}, nil)
	require.NoError(t, err)
}

func TestServerStopDisconnectsClient(t *testing.T) {
	p := newPair(t, pairOpts{})
	p.server.Stop(false)
	waitState(t, p.client.Mach, ss.ClientStates.Disconnected)
	err := p.client.Mach.Err()
	require.True(t, errors.Is(err, arpc.ErrNoConn) || errors.Is(err, arpc.ErrNetwork),
		"err: %v", err)
	assert.Equal(t, am.Canceled, p.rw.Add1("A", nil))
	err = p.rw.LastErr()
	assert.True(t, errors.Is(err, arpc.ErrNoConn) || errors.Is(err, arpc.ErrNetwork),
		"err: %v", err)
}

func TestNewServerRejectsWorkerWithoutWorkerStates(t *testing.T) {
	m := am.New(context.Background(), am.Schema{"A": {}}, nil)
	defer m.Dispose()
	_, err := arpc.NewServer(context.Background(), "", "x", m, nil)
	require.ErrorIs(t, err, arpc.ErrInvalidParams)
}

// ServerOpts.PayloadState moves payload delivery to another worker state;
// SendPayload then carries nothing to this server's client.
func TestCustomPayloadState(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	schema := am.SchemaMerge(testSchema, am.Schema{"Deliver": {Multi: true}})
	names := am.SAdd(testNames, am.S{"Deliver"})
	w, err := am.NewCommon(ctx, "w-"+t.Name(), schema, names, nil, nil, nil)
	require.NoError(t, err)
	defer w.Dispose()

	_, err = arpc.NewServer(ctx, "127.0.0.1:0", "bad", w,
		&arpc.ServerOpts{PayloadState: "Nope"})
	require.ErrorIs(t, err, arpc.ErrInvalidParams)

	s, err := arpc.NewServer(ctx, "127.0.0.1:0", "s-"+t.Name(), w,
		&arpc.ServerOpts{PayloadState: "Deliver"})
	require.NoError(t, err)
	s.Start()
	t.Cleanup(func() { s.Stop(true) })
	waitState(t, s.Mach, ss.ServerStates.RpcReady)

	consumer := am.New(ctx, ss.ConsumerSchema, nil)
	defer consumer.Dispose()
	got := make(chan *arpc.ArgsPayload, 2)
	_, err = consumer.HandlersBind(&consumerHandlers{got: got})
	require.NoError(t, err)
	c, err := arpc.NewClient(ctx, s.Addr, "c", schema, names,
		&arpc.ClientOpts{Consumer: consumer})
	require.NoError(t, err)
	startClient(t, c)
	t.Cleanup(func() { c.Stop(context.Background(), true) })

	w.Add1(ss.WorkerStates.SendPayload, arpc.Pass(&arpc.A{
		Payload: &arpc.ArgsPayload{Name: "not-this-way"}}))
	w.Add1("Deliver", arpc.Pass(&arpc.A{
		Payload: &arpc.ArgsPayload{Name: "this-way", Data: "x"}}))
	recv := func(what string) *arpc.ArgsPayload {
		select {
		case pl := <-got:
			return pl
		case <-time.After(5 * time.Second):
			t.Fatalf("timeout waiting for %s", what)
			return nil
		}
	}
	assert.Equal(t, "this-way", recv("payload via Deliver").Name)
	require.NoError(t, s.SendPayload(ctx, &arpc.ArgsPayload{Name: "direct"}))
	assert.Equal(t, "direct", recv("payload via Server.SendPayload").Name)
}

// The worker's state groups reach the replica with the handshake.
func TestGroupsReplicated(t *testing.T) {
	p := newPair(t, pairOpts{setup: func(s *arpc.Server, _ *arpc.Client) {}})
	g, order := p.rw.Groups()
	assert.Empty(t, g)
	assert.Empty(t, order)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(t, ctx)
	w.SetGroupsString(map[string]am.S{"Pair": {"G", "H"}, "Letters": {"A", "B"}},
		[]string{"Pair", "Letters"})
	s := startServer(t, ctx, w, nil)
	c := newClient(t, ctx, s.Addr, "groups", nil)
	startClient(t, c)
	wantG, wantOrder := w.Groups()
	g, order = c.Worker.Groups()
	assert.Equal(t, wantG, g)
	assert.Equal(t, wantOrder, order)
	assert.Equal(t, []int{w.Index1("G"), w.Index1("H")}, g["Pair"])
}
