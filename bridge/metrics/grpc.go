package metrics

import (
	"context"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

// GRPCServerOptions returns the gRPC server options that feed the metrics:
// GRPCStatsHandler and the per-method interceptors of
// go-grpc-middleware's Prometheus provider (grpc_server_started_total,
// grpc_server_handled_total{grpc_code}, grpc_server_msg_received_total,
// grpc_server_msg_sent_total, grpc_server_handling_seconds). Call
// InitializeGRPC once the services are registered.
func (m *Metrics) GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.StatsHandler(m.GRPCStatsHandler()),
		grpc.ChainUnaryInterceptor(m.grpc.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(m.grpc.StreamServerInterceptor()),
	}
}

// InitializeGRPC creates the per-method series of every method registered on
// gs at zero, so that they show before the first call.
func (m *Metrics) InitializeGRPC(gs *grpc.Server) { m.grpc.InitializeMetrics(gs) }

// GRPCStatsHandler returns a gRPC server stats handler (grpc.StatsHandler)
// feeding the gRPC door's metrics: connections, bytes, Mutate results,
// WatchClock pushes and resumes.
func (m *Metrics) GRPCStatsHandler() stats.Handler {
	return &grpcStats{m: m, fresh: map[string]struct{}{}}
}

// maxFresh bounds the client IDs remembered between their Handshake and
// their first WatchClock (clients that never watch would pile up).
const maxFresh = 4096

type grpcStats struct {
	m *Metrics

	// fresh holds the client IDs that did a Handshake and have not opened a
	// WatchClock stream since: their next stream is not a reconnect even
	// though it resumes from the handshake's time.
	mx    sync.Mutex
	fresh map[string]struct{}
}

var _ stats.Handler = (*grpcStats)(nil)

// rpcKey keys the *rpcInfo of one RPC in its context.
type rpcKey struct{}

// rpcInfo is what the handler remembers about one RPC.
type rpcInfo struct {
	// sent counts the messages the server sent on the RPC.
	sent atomic.Int64
}

func (*grpcStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, rpcKey{}, &rpcInfo{})
}

func (g *grpcStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	switch s := s.(type) {
	case *stats.OutPayload:
		if s.IsClient() {
			return
		}
		g.m.conns.grpcBytes.Add(int64(s.WireLength))
		info, _ := ctx.Value(rpcKey{}).(*rpcInfo)
		first := true
		if info != nil {
			first = info.sent.Add(1) == 1
		}
		switch msg := s.Payload.(type) {
		case *bridgev1.WatchClockResponse:
			// the first update of a stream is its initial sync, not a push
			if u := msg.GetUpdate(); u != nil && !first {
				g.m.pushed(DoorGRPC, u.FromSeq, u.ToSeq, u.Coalesced, u.Full)
			}
		case *bridgev1.MutateResponse:
			if !msg.Replayed {
				g.m.mutatedProto(msg.Result)
			}
		}
	case *stats.InPayload:
		if s.IsClient() {
			return
		}
		switch req := s.Payload.(type) {
		case *bridgev1.HandshakeRequest:
			g.mx.Lock()
			if len(g.fresh) >= maxFresh {
				clear(g.fresh)
			}
			g.fresh[req.ClientId] = struct{}{}
			g.mx.Unlock()
		case *bridgev1.WatchClockRequest:
			g.mx.Lock()
			_, fresh := g.fresh[req.ClientId]
			delete(g.fresh, req.ClientId)
			g.mx.Unlock()
			if !fresh && req.KnownSeq > 0 {
				g.m.reconnects.WithLabelValues(DoorGRPC).Inc()
			}
		}
	}
}

func (*grpcStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}

func (g *grpcStats) HandleConn(_ context.Context, s stats.ConnStats) {
	if s.IsClient() {
		return
	}
	switch s.(type) {
	case *stats.ConnBegin:
		g.m.conns.grpcConns.Add(1)
	case *stats.ConnEnd:
		g.m.conns.grpcConns.Add(-1)
	}
}

// mutatedProto counts a Mutate reply's result.
func (m *Metrics) mutatedProto(res bridgev1.MutationResult) {
	switch res {
	case bridgev1.MutationResult_MUTATION_RESULT_EXECUTED:
		m.mutations.WithLabelValues(DoorGRPC, "executed").Inc()
	case bridgev1.MutationResult_MUTATION_RESULT_CANCELED:
		m.mutations.WithLabelValues(DoorGRPC, "canceled").Inc()
	case bridgev1.MutationResult_MUTATION_RESULT_QUEUED:
		m.mutations.WithLabelValues(DoorGRPC, "queued").Inc()
	}
}
