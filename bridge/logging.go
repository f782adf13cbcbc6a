package bridge

import (
	"context"
	"log/slog"
	"path"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// debugLogOptions returns the gRPC server options that write one debug line
// per connection opened and closed and per call (method, client, status
// code, duration), none when log does not log debug. Mutations get their own
// line from the worker's mutation path (arpc.Mutator).
func debugLogOptions(log *slog.Logger) []grpc.ServerOption {
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return nil
	}
	return []grpc.ServerOption{
		grpc.StatsHandler(connLogger{log}),
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any,
			info *grpc.UnaryServerInfo, next grpc.UnaryHandler,
		) (any, error) {
			start := time.Now()
			resp, err := next(ctx, req)
			logCall(ctx, log, info.FullMethod, clientIdOf(req), start, err)
			return resp, err
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream,
			info *grpc.StreamServerInfo, next grpc.StreamHandler,
		) error {
			start := time.Now()
			rs := &recvStream{ServerStream: ss}
			err := next(srv, rs)
			logCall(ss.Context(), log, info.FullMethod, rs.clientId, start, err)
			return err
		}),
	}
}

// clientIdOf returns the client_id of a request of this service.
func clientIdOf(req any) string {
	if r, ok := req.(interface{ GetClientId() string }); ok {
		return r.GetClientId()
	}
	return ""
}

func logCall(ctx context.Context, log *slog.Logger, method, clientId string,
	start time.Time, err error,
) {
	attrs := []slog.Attr{slog.String("door", "grpc"),
		slog.String("method", path.Base(method)), slog.String("client", clientId),
		slog.String("code", status.Code(err).String()),
		slog.Duration("duration", time.Since(start))}
	if err != nil {
		attrs = append(attrs, slog.String("err", status.Convert(err).Message()))
	}
	log.LogAttrs(ctx, slog.LevelDebug, "call", attrs...)
}

// recvStream remembers the client_id of a stream's request.
type recvStream struct {
	grpc.ServerStream
	clientId string
}

func (s *recvStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil && s.clientId == "" {
		s.clientId = clientIdOf(m)
	}
	return err
}

// connLogger logs gRPC connections opened and closed.
type connLogger struct{ log *slog.Logger }

func (connLogger) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return ctx
}
func (connLogger) HandleRPC(context.Context, stats.RPCStats) {}

// remoteKey keys a connection's remote address in its context.
type remoteKey struct{}

func (connLogger) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	if info.RemoteAddr == nil {
		return ctx
	}
	return context.WithValue(ctx, remoteKey{}, info.RemoteAddr.String())
}

func (l connLogger) HandleConn(ctx context.Context, s stats.ConnStats) {
	if s.IsClient() {
		return
	}
	remote, _ := ctx.Value(remoteKey{}).(string)
	switch s.(type) {
	case *stats.ConnBegin:
		l.log.Debug("connection opened", "door", "grpc", "remote", remote)
	case *stats.ConnEnd:
		l.log.Debug("connection closed", "door", "grpc", "remote", remote)
	}
}
