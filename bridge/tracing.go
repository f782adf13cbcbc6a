package bridge

import (
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
)

// Tracing: both ends of the gRPC door are instrumented with otelgrpc, with
// the global TracerProvider and MeterProvider (otel.SetTracerProvider;
// without them, no-ops) and the W3C trace context (traceparent,
// tracestate) in the calls' metadata, whatever the global propagator is,
// as on the aRPC door. A Mutate's server span is the parent of the
// worker's arpc.MutationSpanName span.

// traceContext is the propagator of both doors.
var traceContext = propagation.TraceContext{}

// otelServerOption instruments the gRPC server.
func otelServerOption() grpc.ServerOption {
	return grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithPropagators(traceContext)))
}

// otelDialOption instruments a client connection dialed by Dial.
func otelDialOption() grpc.DialOption {
	return grpc.WithStatsHandler(otelgrpc.NewClientHandler(
		otelgrpc.WithPropagators(traceContext)))
}
