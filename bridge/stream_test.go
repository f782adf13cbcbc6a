package bridge_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/clock"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

// replica applies ClockUpdates by the rule of bridge.proto.
type replica struct {
	seq  uint64
	time []uint64
}

func (r *replica) apply(t *testing.T, u *bridgev1.ClockUpdate) {
	t.Helper()
	switch {
	case u.ToSeq <= r.seq:
		return
	case u.Full:
		r.time = make([]uint64, len(testNames))
	case u.FromSeq != r.seq:
		t.Fatalf("gap: update %d→%d on replica %d", u.FromSeq, u.ToSeq, r.seq)
	}
	for i, idx := range u.Indexes {
		r.time[idx] += u.Deltas[i]
	}
	r.seq = u.ToSeq
	require.Equal(t, u.Sum, clock.Sum(r.time), "drift")
}

func openWatch(t *testing.T, rpc bridgev1.BridgeServiceClient,
	req *bridgev1.WatchClockRequest, r *replica,
) bridgev1.BridgeService_WatchClockClient {
	t.Helper()
	st, err := rpc.WatchClock(tctx(t), req)
	require.NoError(t, err)
	for {
		msg, err := st.Recv()
		require.NoError(t, err)
		if d := msg.GetInitialSyncDone(); d != nil {
			require.Equal(t, r.seq, d.Seq)
			return st
		}
		if u := msg.GetUpdate(); u != nil {
			r.apply(t, u)
		}
	}
}

// TestSlowWatcherCoalesced: a watcher that reads slowly gets merged updates
// (coalesced > 1), never a gap, and ends equal to the worker.
func TestSlowWatcherCoalesced(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil) // default push throttle
	rpc := rawClient(t, s.Addr().String())
	var r replica
	st := openWatch(t, rpc, &bridgev1.WatchClockRequest{ClientId: "slow"}, &r)
	for i := 0; i < 500; i++ {
		w.Add1("E", nil)
	}
	want := w.Time(nil)
	var updates int
	var maxCoalesced uint64
	for !assert.ObjectsAreEqual([]uint64(want), r.time) {
		msg, err := st.Recv()
		require.NoError(t, err)
		if u := msg.GetUpdate(); u != nil {
			updates++
			maxCoalesced = max(maxCoalesced, u.Coalesced)
			r.apply(t, u)
		}
	}
	assert.Less(t, updates, 500, "updates were merged")
	assert.Greater(t, maxCoalesced, uint64(1))
}

// TestStalledWatcher: a client that opens a stream and never reads does not
// affect others; the server holds at most one pending update for it and
// Shutdown stays bounded.
func TestStalledWatcher(t *testing.T) {
	w := newWorker(t)
	l := listen(t)
	s, err := bridge.NewServer(context.Background(), l, "s", w,
		&bridge.ServerOpts{Service: bridge.ServiceOpts{PushInterval: time.Nanosecond}})
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	addr := s.Addr().String()

	stalledRpc := rawClient(t, addr)
	sctx, scancel := context.WithCancel(context.Background())
	defer scancel()
	_, err = stalledRpc.WatchClock(sctx, &bridgev1.WatchClockRequest{
		ClientId: "stalled"})
	require.NoError(t, err)
	g := dial(t, addr, "healthy", nil)

	// clock updates merge; payloads cannot, so 800 KB of them fill gRPC's
	// flow-control windows and block the stalled stream's Send
	blob := make([]byte, 4<<10)
	for i := 0; i < 2000; i++ {
		w.Add1("E", nil)
		if i%10 == 0 {
			w.Add1(ss.WorkerStates.SendPayload, arpc.Pass(&arpc.A{
				Payload: &arpc.ArgsPayload{Name: "blob", Data: blob}}))
		}
	}
	start := time.Now()
	for i := 0; i < 50; i++ {
		require.Equal(t, am.Executed, g.Worker.Add1("E", nil))
	}
	assert.Less(t, time.Since(start), 5*time.Second)
	waitCh(t, g.Worker.WhenTime1("E", w.Tick("E"), nil), "healthy watcher")
	assert.Equal(t, w.Time(nil), g.Worker.Time(nil))

	// the stalled stream blocks graceful shutdown only until ctx ends
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start = time.Now()
	err = s.Shutdown(ctx)
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, <-served)
}

// TestResume: a stream opened with known_seq and known_time starts with a
// diff (not full) from there.
func TestResume(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	rpc := rawClient(t, s.Addr().String())
	ctx := tctx(t)
	hs, err := rpc.Handshake(ctx, &bridgev1.HandshakeRequest{ClientId: "r",
		ProtocolVersion: 1})
	require.NoError(t, err)
	w.Add1("A", nil)
	r := replica{seq: hs.Seq, time: hs.Time}
	st := openWatch(t, rpc, &bridgev1.WatchClockRequest{ClientId: "r",
		KnownSeq: hs.Seq, KnownTime: hs.Time,
		HeartbeatInterval: durationpb.New(100 * time.Millisecond)}, &r)
	assert.Equal(t, []uint64(w.Time(nil)), r.time)
	// idle: heartbeats name the stream's seq
	for {
		msg, err := st.Recv()
		require.NoError(t, err)
		if hb := msg.GetHeartbeat(); hb != nil {
			assert.Equal(t, r.seq, hb.Seq)
			break
		}
	}
	// Sync with known_seq only: a diff while the engine remembers it
	w.Add1("D", nil)
	sr, err := rpc.Sync(ctx, &bridgev1.SyncRequest{ClientId: "r",
		KnownSeq: r.seq})
	require.NoError(t, err)
	assert.False(t, sr.Update.Full)
	r.apply(t, sr.Update)
	assert.Equal(t, []uint64(w.Time(nil)), r.time)
}

// TestExactlyOnce: a repeated mutation_id is answered with the first result
// and does not mutate again.
func TestExactlyOnce(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	rpc := rawClient(t, s.Addr().String())
	ctx := tctx(t)
	req := &bridgev1.MutateRequest{ClientId: "c", MutationId: "m-1",
		Type: bridgev1.MutationType_MUTATION_TYPE_ADD, States: []string{"E"}}
	first, err := rpc.Mutate(ctx, req)
	require.NoError(t, err)
	again, err := rpc.Mutate(ctx, req)
	require.NoError(t, err)
	assert.False(t, first.Replayed)
	assert.True(t, again.Replayed)
	assert.Equal(t, first.Result, again.Result)
	assert.Equal(t, uint64(1), w.Tick("E"))
	req.MutationId = "m-2"
	_, err = rpc.Mutate(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), w.Tick("E"))
}

// TestPayloads: the worker's SendPayload reaches the stream as bytes,
// UTF-8 text or JSON; data JSON cannot encode is skipped (and logged).
func TestPayloads(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	rpc := rawClient(t, s.Addr().String())
	var r replica
	st := openWatch(t, rpc, &bridgev1.WatchClockRequest{ClientId: "p"}, &r)
	send := func(name string, data any, to string) {
		w.Add1(ss.WorkerStates.SendPayload, arpc.Pass(&arpc.A{Id: to,
			Payload: &arpc.ArgsPayload{Name: name, Data: data}}))
	}
	send("bin", []byte{1, 2, 3}, "")
	send("text", "héllo", "")
	send("other-client", "x", "someone-else")
	send("bad", make(chan int), "")
	send("json", map[string]int{"n": 1}, "p")
	var got []*bridgev1.Payload
	for len(got) < 3 {
		msg, err := st.Recv()
		require.NoError(t, err)
		if p := msg.GetPayload(); p != nil {
			got = append(got, p)
		}
	}
	assert.Equal(t, "bin", got[0].Name)
	assert.Equal(t, []byte{1, 2, 3}, got[0].Data)
	assert.Equal(t, "application/octet-stream", got[0].ContentType)
	assert.Equal(t, "héllo", string(got[1].Data))
	assert.Equal(t, "json", got[2].Name)
	assert.JSONEq(t, `{"n":1}`, string(got[2].Data))
	assert.Equal(t, "application/json", got[2].ContentType)
	assert.Equal(t, w.Id(), got[2].Source)
	assert.NotEmpty(t, got[2].Token)
}

// TestPayloadsDropped: a watcher that does not read while the worker sends
// more payloads than the stream can buffer (gRPC's flow-control windows and
// engine.PayloadQueue) learns how many were dropped from the next heartbeat
// once it reads; every payload is either received or counted.
func TestPayloadsDropped(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	// static 64 KiB windows: no bandwidth probing that would grow them
	rpc := rawClient(t, s.Addr().String(),
		grpc.WithInitialWindowSize(64<<10),
		grpc.WithInitialConnWindowSize(64<<10))
	var r replica
	st := openWatch(t, rpc, &bridgev1.WatchClockRequest{ClientId: "slow",
		HeartbeatInterval: durationpb.New(100 * time.Millisecond)}, &r)

	// not reading: 4 MiB of payloads block the stream's Send after about
	// 128 KiB, and the engine queues PayloadQueue more
	sent := 4 * engine.PayloadQueue
	blob := make([]byte, 4<<10)
	for range sent {
		require.Equal(t, am.Executed, w.Add1(ss.WorkerStates.SendPayload,
			arpc.Pass(&arpc.A{Payload: &arpc.ArgsPayload{Name: "blob",
				Data: blob}})))
	}

	var received int
	var dropped uint64
	for {
		msg, err := st.Recv()
		require.NoError(t, err, "received %d, dropped %d", received, dropped)
		if msg.GetPayload() != nil {
			received++
		}
		if hb := msg.GetHeartbeat(); hb != nil {
			dropped = hb.PayloadsDropped
			if received+int(dropped) == sent {
				break
			}
		}
	}
	assert.Positive(t, dropped)
	assert.GreaterOrEqual(t, received, engine.PayloadQueue)
	assert.Equal(t, dropped, s.Service().Stats().PayloadsDropped)
}

// gatedConn is a connection whose reads wait while its gate is closed.
type gatedConn struct {
	net.Conn
	gate *atomic.Pointer[chan struct{}]
}

func (c gatedConn) Read(b []byte) (int, error) {
	if ch := c.gate.Load(); ch != nil {
		<-*ch
	}
	return c.Conn.Read(b)
}

// TestClientPayloadsDropped: the Go client reports the payloads the server
// dropped while it did not read (here: its connection's reads held), from
// the heartbeats, once it reads again.
func TestClientPayloadsDropped(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	var gate atomic.Pointer[chan struct{}]
	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		return gatedConn{Conn: c, gate: &gate}, err
	}
	c := dial(t, s.Addr().String(), "slow", &bridge.ClientOpts{
		HeartbeatInterval: 100 * time.Millisecond,
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(dialer),
			grpc.WithInitialWindowSize(64 << 10),
			grpc.WithInitialConnWindowSize(64 << 10)},
	})

	held := make(chan struct{})
	gate.Store(&held)
	release := sync.OnceFunc(func() {
		gate.Store(nil)
		close(held)
	})
	defer release()
	sent := 4 * engine.PayloadQueue
	blob := make([]byte, 4<<10)
	for range sent {
		w.Add1(ss.WorkerStates.SendPayload, arpc.Pass(&arpc.A{
			Payload: &arpc.ArgsPayload{Name: "blob", Data: blob}}))
	}
	release()

	assert.Eventually(t, func() bool {
		st := c.Stats()
		return st.PayloadsDropped > 0 &&
			st.Payloads+st.PayloadsDropped == uint64(sent)
	}, 10*time.Second, 20*time.Millisecond, "stats %+v", c.Stats())
	assert.Equal(t, s.Service().Stats().PayloadsDropped,
		c.Stats().PayloadsDropped)
}

// TestShutdownEndsStreams: Shutdown ends watch streams with UNAVAILABLE
// and the aRPC clients are told goodbye.
func TestShutdownEndsStreams(t *testing.T) {
	w := newWorker(t)
	l := listen(t)
	s, err := bridge.NewServer(context.Background(), l, "s", w, nil)
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	rpc := rawClient(t, s.Addr().String())
	var r replica
	st := openWatch(t, rpc, &bridgev1.WatchClockRequest{ClientId: "x"}, &r)
	a := newARPCClient(t, s.Addr().String(), "bye")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.Shutdown(ctx))
	require.NoError(t, <-served)
	for {
		if _, err = st.Recv(); err != nil {
			break
		}
	}
	assert.Equal(t, codes.Unavailable, status.Code(err), err)
	waitCh(t, a.Mach.When1(ss.ClientStates.Disconnected, nil), "aRPC bye")
}
