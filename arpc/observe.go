package arpc

import (
	"context"
	"log/slog"
	"time"

	"github.com/cenkalti/rpc2"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// TracerName is the OpenTelemetry instrumentation scope of this module's
// spans, taken from the global TracerProvider (otel.SetTracerProvider;
// without one the spans are no-ops and cost next to nothing).
const TracerName = door.TracerName

// MutationSpanName names the server's span around one client mutation
// running on the worker, on every door (aRPC, gRPC, NATS). Its parent is
// the client's span when the door carried one: the W3C traceparent of the
// aRPC mutation's headers, or the gRPC call's (otelgrpc). The Go clients
// send the span of the context of Worker.Mutate, or, for Add, Remove, Set,
// Toggle and the other am.Api methods without a context, of the worker's
// context (the ctx given to NewClient or bridge.Dial).
const MutationSpanName = door.MutationSpanName

// loggedCall wraps an aRPC request handler so that each call writes one
// debug line (method, client, duration, error) to the server's log; with
// debug logging off it returns fn itself.
func loggedCall[A, R any](ses *session, method string,
	fn func(*rpc2.Client, A, R) error,
) func(*rpc2.Client, A, R) error {
	log := ses.s.log
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return fn
	}
	return func(c *rpc2.Client, args A, resp R) error {
		start := time.Now()
		err := fn(c, args, resp)
		attrs := []slog.Attr{slog.String("door", "arpc"),
			slog.String("method", method), slog.String("client", ses.id()),
			slog.Duration("duration", time.Since(start))}
		if err != nil {
			attrs = append(attrs, slog.String("err", err.Error()))
		} else if msg := respErr(resp); msg != "" {
			attrs = append(attrs, slog.String("err", msg))
		}
		log.LogAttrs(context.Background(), slog.LevelDebug, "call", attrs...)
		return err
	}
}

// respErr returns the message of the error a reply carries, if its type
// has one.
func respErr(resp any) string {
	var we *wire.Error
	switch r := resp.(type) {
	case *wire.RespGet:
		we = r.Err
	case *wire.RespMut:
		we = r.Err
	case *wire.RespSync:
		we = r.Err
	case *wire.RespErr:
		we = r.Err
	}
	if we == nil {
		return ""
	}
	return we.Msg
}

// traceProp is the W3C trace context propagator: aRPC carries it whatever
// the global propagator (otel.SetTextMapPropagator) is.
var traceProp = propagation.TraceContext{}

// injectTrace adds the W3C trace context of ctx's span (traceparent,
// tracestate) to headers; headers stay as they are (nil: nothing on the
// wire) when ctx has no valid span.
func injectTrace(ctx context.Context, headers map[string]string,
) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return headers
	}
	if headers == nil {
		headers = make(map[string]string, 2)
	}
	traceProp.Inject(ctx, propagation.MapCarrier(headers))
	return headers
}

// extractTrace returns ctx with the remote span context of headers (a
// mutation's), for the server's span to continue the client's.
func extractTrace(ctx context.Context, headers map[string]string,
) context.Context {
	if len(headers) == 0 {
		return ctx
	}
	return traceProp.Extract(ctx, propagation.MapCarrier(headers))
}
