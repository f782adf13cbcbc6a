package door

import (
	"context"
	"log/slog"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the OpenTelemetry instrumentation scope of this module's
// spans, taken from the global TracerProvider (otel.SetTracerProvider;
// without one the spans are no-ops and cost next to nothing). arpc
// re-exports it.
const TracerName = "github.com/arpcbridge/arpcbridge"

// MutationSpanName names the server's span around one client mutation
// running on the worker (every door: aRPC, gRPC, NATS). Its parent is the
// client's span when the door carried one (gRPC metadata, the traceparent
// of an aRPC mutation's headers).
const MutationSpanName = "arpc.mutation"

// MutationTypeName names a mutation type for logs and traces: "add",
// "remove", "set", "add_err", "toggle".
func MutationTypeName(t uint8) string {
	switch t {
	case MutAdd:
		return "add"
	case MutRemove:
		return "remove"
	case MutSet:
		return "set"
	case MutAddErr:
		return "add_err"
	case MutToggle:
		return "toggle"
	}
	return "unknown"
}

func startMutationSpan(ctx context.Context, worker string, mut *Mutation,
) (context.Context, trace.Span) {
	tr := otel.GetTracerProvider().Tracer(TracerName)
	ctx, span := tr.Start(ctx, MutationSpanName,
		trace.WithSpanKind(trace.SpanKindServer))
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("arpc.worker", worker),
			attribute.String("arpc.door", mut.Door),
			attribute.String("arpc.client_id", mut.ClientId),
			attribute.String("arpc.mutation.type", MutationTypeName(mut.Type)),
			attribute.StringSlice("arpc.mutation.states", mut.States),
		)
	}
	return ctx, span
}

func endMutationSpan(span trace.Span, res am.Result, replayed bool,
	err error,
) {
	if span.IsRecording() {
		span.SetAttributes(attribute.String("arpc.mutation.result", res.String()),
			attribute.Bool("arpc.mutation.replayed", replayed))
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
}

// logMutation writes one debug line about a mutation to mut.Log.
func logMutation(ctx context.Context, mut *Mutation, res am.Result,
	replayed bool, err error, took time.Duration,
) {
	if mut.Log == nil || !mut.Log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("door", mut.Door),
		slog.String("client", mut.ClientId),
		slog.String("type", MutationTypeName(mut.Type)),
		slog.Any("states", []string(mut.States)),
		slog.String("result", res.String()),
		slog.Duration("duration", took),
	}
	if replayed {
		attrs = append(attrs, slog.Bool("replayed", true))
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	mut.Log.LogAttrs(ctx, slog.LevelDebug, "mutation", attrs...)
}
