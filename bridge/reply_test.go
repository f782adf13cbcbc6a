package bridge_test

import (
	"context"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/arpcbridge/arpcbridge/bridge"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

// TestReplyContinuesStream: a client whose stream is at its known_seq gets
// its own mutations in the Mutate replies, and the stream does not repeat
// them (it may still, when it wins the race for the update). Applying both
// by the rule never meets a gap, and the heartbeat names the chain's head.
func TestReplyContinuesStream(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, &bridge.ServerOpts{
		Service: bridge.ServiceOpts{PushInterval: time.Nanosecond}})
	rpc := rawClient(t, s.Addr().String())
	ctx := tctx(t)
	var r replica
	st := openWatch(t, rpc, &bridgev1.WatchClockRequest{ClientId: "me",
		HeartbeatInterval: durationpb.New(bridge.MinHeartbeat)}, &r)
	msgs := make(chan *bridgev1.WatchClockResponse, 1000)
	go func() {
		defer close(msgs)
		for {
			msg, err := st.Recv()
			if err != nil {
				return
			}
			msgs <- msg
		}
	}()

	const n = 100
	for range n {
		resp, err := rpc.Mutate(ctx, &bridgev1.MutateRequest{ClientId: "me",
			Type:     bridgev1.MutationType_MUTATION_TYPE_ADD,
			States:   []string{"E"},
			KnownSeq: r.seq})
		require.NoError(t, err)
		require.Equal(t, r.seq, resp.Update.FromSeq)
		r.apply(t, resp.Update)
	}
	// a change of the worker's own still comes on the stream, continuing
	// the replies' chain
	w.Add1("A", nil)
	var pushed int
	for msg := range msgs {
		if u := msg.GetUpdate(); u != nil {
			pushed++
			r.apply(t, u)
		}
		if w.Is1("A") && r.seq > 0 && assert.ObjectsAreEqual(
			[]uint64(w.Time(nil)), r.time) {
			break
		}
	}
	assert.Less(t, pushed, n, "the stream repeated every reply")
	for msg := range msgs {
		if hb := msg.GetHeartbeat(); hb != nil {
			assert.Equal(t, r.seq, hb.Seq)
			break
		}
	}
}

// TestLostReplyResyncs: a Go client whose Mutate failed after the worker
// ran it (its reply lost) resyncs, since the stream may have left that
// update to the reply.
func TestLostReplyResyncs(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, &bridge.ServerOpts{
		Service: bridge.ServiceOpts{PushInterval: time.Nanosecond}})
	lose := func(ctx context.Context, method string, req, reply any,
		cc *grpc.ClientConn, invoker grpc.UnaryInvoker,
		opts ...grpc.CallOption,
	) error {
		if err := invoker(ctx, method, req, reply, cc, opts...); err != nil {
			return err
		}
		if method == bridgev1.BridgeService_Mutate_FullMethodName {
			return status.Error(codes.DeadlineExceeded, "reply lost")
		}
		return nil
	}
	g := dial(t, s.Addr().String(), "lost", &bridge.ClientOpts{
		CallRetries:       -1,
		HeartbeatInterval: bridge.MaxHeartbeat,
		DialOptions:       []grpc.DialOption{grpc.WithUnaryInterceptor(lose)},
	})
	assert.Equal(t, am.Canceled, g.Worker.Add1("A", nil))
	require.True(t, w.Is1("A"), "the worker ran it")
	waitCh(t, g.Worker.When1("A", nil), "replica resynced")
}

// TestIgnoredReplyHeartbeat: a client that drops a reply's update learns
// from the next heartbeat that it is behind the stream's head, and
// resyncs.
func TestIgnoredReplyHeartbeat(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, &bridge.ServerOpts{
		Service: bridge.ServiceOpts{PushInterval: time.Nanosecond}})
	drop := func(ctx context.Context, method string, req, reply any,
		cc *grpc.ClientConn, invoker grpc.UnaryInvoker,
		opts ...grpc.CallOption,
	) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if resp, ok := reply.(*bridgev1.MutateResponse); ok && err == nil {
			resp.Update = nil
		}
		return err
	}
	g := dial(t, s.Addr().String(), "drop", &bridge.ClientOpts{
		HeartbeatInterval: bridge.MinHeartbeat,
		DialOptions:       []grpc.DialOption{grpc.WithUnaryInterceptor(drop)},
	})
	start := time.Now()
	assert.Equal(t, am.Executed, g.Worker.Add1("A", nil))
	waitCh(t, g.Worker.When1("A", nil), "replica resynced")
	t.Logf("caught up after %v, %+v", time.Since(start), g.Stats())
}
