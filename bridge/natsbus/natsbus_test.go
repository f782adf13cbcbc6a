package natsbus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/bridge/natsbus"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
	"github.com/arpcbridge/arpcbridge/internal/door"
	"github.com/arpcbridge/arpcbridge/internal/faultproxy"
)

func TestOneServer(t *testing.T) {
	s := startNATS(t, nil)
	w := newWorker(t, "one")
	p := publish(t, connect(t, s.ClientURL()), w, nil)
	w.Add1("A", nil)

	c := dial(t, connect(t, s.ClientURL()), "one", nil)
	inSync(t, w, c, "after dial")
	assert.True(t, c.Worker.Is1("A"))
	assert.Equal(t, uint64(1), c.Stats().Snapshots)

	// the worker's own changes come through the stream
	w.Add1("D", nil)
	inSync(t, w, c, "worker change")
	assert.True(t, c.Worker.Is1("F"), "auto state on the replica")

	// mutations by request-reply, visible locally when they return
	assert.Equal(t, am.Executed, c.Worker.Add1("G", nil))
	assert.True(t, c.Worker.Is1("G"), "read-your-writes")
	assert.True(t, w.Is1("G"))
	assert.Equal(t, am.Executed, c.Worker.Remove1("G", nil))
	assert.False(t, c.Worker.Is1("G"))
	assert.Equal(t, am.Executed, c.Worker.Set(am.S{"B", "E"}, nil))
	inSync(t, w, c, "after set")
	assert.Equal(t, am.Executed, c.Worker.CanAdd1("A", nil))

	// local waits
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	when := c.Worker.When1("H", ctx)
	w.Add1("H", nil)
	select {
	case <-when:
	case <-ctx.Done():
		t.Fatal("When1 did not fire")
	}
	// errors
	c.Worker.AddErrState("Err1", errors.New("boom"), nil)
	inSync(t, w, c, "after AddErrState")
	assert.True(t, w.Is1("Err1"))
	require.Error(t, c.Worker.Err())
	assert.Contains(t, c.Worker.Err().Error(), "boom")

	// Dial's ctx bounds the client
	dctx, dcancel := context.WithCancel(context.Background())
	c2, err := natsbus.Dial(dctx, connect(t, s.ClientURL()), "one", testSchema,
		testNames, nil)
	require.NoError(t, err)
	dcancel()
	select {
	case <-c2.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after ctx ended")
	}
	require.NoError(t, c2.Close())

	st := p.Stats()
	assert.Greater(t, st.Updates, uint64(3))
	assert.GreaterOrEqual(t, st.Mutations, uint64(4))
	assert.Less(t, st.Bytes/st.Updates, uint64(64), "small diffs")
}

func TestExactlyOnce(t *testing.T) {
	s := startNATS(t, nil)
	w := newWorker(t, "once")
	publish(t, connect(t, s.ClientURL()), w, nil)
	c := dial(t, connect(t, s.ClientURL()), "once", nil)
	// E is multi: each execution ticks it
	before := w.Tick("E")
	for range 5 {
		assert.Equal(t, am.Executed, c.Worker.Add1("E", nil))
	}
	after5 := w.Tick("E")
	assert.Greater(t, after5, before+5, "5 activations of a multi state")
	inSync(t, w, c, "multi")

	// a retry over NATS of one mutation ID runs once, and says so
	nc := connect(t, s.ClientURL())
	req, err := proto.Marshal(&bridgev1.MutateRequest{
		Type:   bridgev1.MutationType_MUTATION_TYPE_ADD,
		States: []string{"E"}, MutationId: "x.1", ClientId: "raw"})
	require.NoError(t, err)
	var replayed []bool
	for range 2 {
		msg, err := nc.Request(natsbus.MutateSubject("once"), req, 5*time.Second)
		require.NoError(t, err)
		var resp bridgev1.MutateResponse
		require.NoError(t, proto.Unmarshal(msg.Data, &resp))
		assert.Equal(t, bridgev1.MutationResult_MUTATION_RESULT_EXECUTED,
			resp.Result)
		replayed = append(replayed, resp.Replayed)
	}
	assert.Equal(t, []bool{false, true}, replayed)
	assert.Equal(t, after5+2, w.Tick("E"), "one run for mutation x.1")
	after5 = w.Tick("E")

	// a retry of one mutation ID runs once, through the same mutation path
	m := door.MutatorFor(w)
	for range 3 {
		res, _, err := m.Run(context.Background(), &door.Mutation{
			Client: c.Id, Id: 77, Type: door.MutAdd, States: am.S{"E"}})
		require.NoError(t, err)
		assert.Equal(t, am.Executed, res)
	}
	assert.Equal(t, after5+2, w.Tick("E"), "one run for mutation ID 77")
}

func TestBadInput(t *testing.T) {
	s := startNATS(t, nil)
	w := newWorker(t, "bad")
	nc := connect(t, s.ClientURL())
	publish(t, nc, w, nil)
	// garbage on the mutate subject gets an error reply; the publisher lives
	msg, err := nc.Request(natsbus.MutateSubject("bad"), []byte{0xff, 0x01},
		2*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "400", msg.Header.Get("Nats-Service-Error-Code"))
	// a wrong schema is refused at Dial
	_, err = natsbus.Dial(context.Background(), nc, "bad", testSchema,
		am.S{"A", "B"}, nil)
	require.ErrorIs(t, err, arpc.ErrSchemaMismatch)
	// same names, other relations
	other := am.SchemaMerge(testSchema, am.Schema{"B": {Require: am.S{"A"}}})
	_, err = natsbus.Dial(context.Background(), nc, "bad", other, testNames, nil)
	require.ErrorIs(t, err, arpc.ErrSchemaMismatch)
	// schema discovery, for clients without one
	schema, names, err := natsbus.Discover(context.Background(), nc, "bad", "")
	require.NoError(t, err)
	assert.Equal(t, testNames, names)
	assert.Equal(t, am.S{"B"}, schema["C"].Require)
	// no publisher
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = natsbus.Dial(ctx, nc, "nobody", testSchema, testNames, nil)
	require.ErrorIs(t, err, natsbus.ErrNoPublisher)
	_, err = natsbus.Dial(ctx, nc, "a.b", testSchema, testNames, nil)
	require.ErrorIs(t, err, natsbus.ErrMachineId)
	c := dial(t, nc, "bad", nil)
	assert.Equal(t, am.Canceled, c.Worker.Add1("nope", nil))
}

// TestRetentionSnapshot: a client cut off while retention dropped the
// updates after its position resumes from a new snapshot (counted), and one
// cut off briefly resumes from its last sequence without one.
func TestRetentionSnapshot(t *testing.T) {
	s := startNATS(t, nil)
	w := newWorker(t, "ret")
	publish(t, connect(t, s.ClientURL()), w, &natsbus.PublisherOpts{MaxMsgs: 5,
		PushInterval: 2 * time.Millisecond})
	proxy, err := faultproxy.New(s.Addr().String(), faultproxy.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = proxy.Close() })
	c := dial(t, connect(t, "nats://"+proxy.Addr()), "ret", nil)
	inSync(t, w, c, "start")

	// short outage: fewer updates than retention keeps
	proxy.Refuse(true)
	proxy.CutAll()
	w.Add1("E", nil)
	proxy.Refuse(false)
	inSync(t, w, c, "short outage")
	assert.Zero(t, c.Stats().Resnapshots, "resumed from its sequence")

	// long outage: retention (5 messages) drops what the client needs
	proxy.Refuse(true)
	proxy.CutAll()
	for range 30 {
		w.Add1("E", nil)
		time.Sleep(3 * time.Millisecond) // separate pushes
	}
	proxy.Refuse(false)
	inSync(t, w, c, "long outage")
	assert.GreaterOrEqual(t, c.Stats().Resnapshots, uint64(1),
		"a new snapshot after retention dropped the stream's part")
	assert.GreaterOrEqual(t, c.Stats().Reconnects, uint64(1))
	w.Add1("G", nil)
	inSync(t, w, c, "after")
}

// TestServerRestart: the NATS server restarts on the same port and store;
// publisher and client carry on.
func TestServerRestart(t *testing.T) {
	dir := t.TempDir()
	s := startNATS(t, &server.Options{StoreDir: dir})
	port := s.Addr().(*net.TCPAddr).Port
	w := newWorker(t, "rs")
	publish(t, connect(t, s.ClientURL()), w, nil)
	c := dial(t, connect(t, s.ClientURL()), "rs", nil)
	w.Add1("A", nil)
	inSync(t, w, c, "before")

	stopNATS(s)
	w.Add1("D", nil) // published once the server is back
	s2 := startNATS(t, &server.Options{StoreDir: dir, Port: port})
	_ = s2
	inSync(t, w, c, "after restart")
	assert.Equal(t, am.Executed, c.Worker.Add1("G", nil))
	assert.True(t, c.Worker.Is1("G"))
	assert.GreaterOrEqual(t, c.Stats().Reconnects, uint64(1))
}

// TestCluster: a 3-node cluster, the publisher on one node, clients on the
// other two.
func TestCluster(t *testing.T) {
	ports := make([]int, 3)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ports[i] = l.Addr().(*net.TCPAddr).Port
		require.NoError(t, l.Close())
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats",
			Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	nodes := make([]*server.Server, 3)
	for i := range nodes {
		nodes[i] = startNATS(t, &server.Options{ServerName: fmt.Sprintf("n%d", i),
			Cluster: server.ClusterOpts{Name: "arpc", Host: "127.0.0.1",
				Port: ports[i]}, Routes: routes})
	}
	// JetStream needs a meta leader
	require.Eventually(t, func() bool {
		for _, n := range nodes {
			if n.JetStreamIsLeader() {
				return true
			}
		}
		return false
	}, 20*time.Second, 20*time.Millisecond, "no JetStream meta leader")

	w := newWorker(t, "clu")
	ctx := context.Background()
	var p *natsbus.Publisher
	pnc := connect(t, nodes[0].ClientURL())
	require.Eventually(t, func() bool {
		var err error
		p, err = natsbus.NewPublisher(ctx, pnc, w,
			&natsbus.PublisherOpts{Replicas: 3})
		return err == nil
	}, 20*time.Second, 100*time.Millisecond, "publisher on a fresh cluster")
	t.Cleanup(func() { require.NoError(t, p.Close()) })

	c1 := dial(t, connect(t, nodes[1].ClientURL()), "clu", nil)
	c2 := dial(t, connect(t, nodes[2].ClientURL()), "clu", nil)
	w.Add1("A", nil)
	inSync(t, w, c1, "node 1")
	inSync(t, w, c2, "node 2")
	assert.Equal(t, am.Executed, c1.Worker.Add1("G", nil))
	assert.True(t, c1.Worker.Is1("G"))
	inSync(t, w, c2, "node 2 sees node 1's mutation")
	assert.Equal(t, am.Executed, c2.Worker.Add1("H", nil))
	inSync(t, w, c1, "node 1 sees node 2's mutation")
	assert.False(t, c1.Worker.Is1("G"))
}

// TestNoJetStream: a server without JetStream is a clear error, not a hang.
func TestNoJetStream(t *testing.T) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1,
		NoLog: true, NoSigs: true})
	require.NoError(t, err)
	s.Start()
	require.True(t, s.ReadyForConnections(10*time.Second))
	t.Cleanup(func() { stopNATS(s) })
	w := newWorker(t, "nojs")
	start := time.Now()
	_, err = natsbus.NewPublisher(context.Background(),
		connect(t, s.ClientURL()), w, &natsbus.PublisherOpts{
			SetupTimeout: time.Second})
	require.ErrorIs(t, err, arpc.ErrNetwork)
	assert.Less(t, time.Since(start), 10*time.Second)
	_, err = natsbus.NewPublisher(context.Background(),
		connect(t, s.ClientURL()), newWorker(t, "bad.id"), nil)
	require.ErrorIs(t, err, natsbus.ErrMachineId)
}
