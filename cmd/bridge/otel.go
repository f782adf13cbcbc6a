package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

const otelHelp = `Tracing (OpenTelemetry, docs/cli.md#tracing): configured only by the
standard OTEL_* variables, off when none is set. OTEL_TRACES_EXPORTER=otlp
(the default once OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set), console (spans as JSON on
stderr) or none; OTEL_EXPORTER_OTLP_PROTOCOL (or _TRACES_PROTOCOL)
http/protobuf (default) or grpc; OTEL_SERVICE_NAME (default "bridge"),
OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, OTEL_EXPORTER_OTLP_HEADERS and
the exporters' other variables. serve traces every mutation (span
"arpc.mutation", a child of the client's span) and every gRPC call; the
client commands trace their call ("bridge add" ...), whose context crosses
to the server on both doors.`

// tracerName names the CLI's own spans.
const tracerName = "github.com/arpcbridge/arpcbridge/cmd/bridge"

// setupTracing installs a global TracerProvider exporting as the OTEL_*
// environment variables say, and the W3C trace context propagator. Without
// any of them it does nothing. The returned function flushes and stops the
// exporter, within ctx.
func setupTracing(ctx context.Context, stderr io.Writer) (
	func(context.Context) error, error,
) {
	none := func(context.Context) error { return nil }
	exp, err := traceExporter(ctx, stderr)
	if err != nil || exp == nil {
		return none, err
	}
	if _, ok := os.LookupEnv("OTEL_SERVICE_NAME"); !ok {
		// the default before the environment, which may override it
		_ = os.Setenv("OTEL_SERVICE_NAME", "bridge")
	}
	res, err := resource.New(ctx, resource.WithFromEnv(),
		resource.WithTelemetrySDK(), resource.WithAttributes(
			semconv.ServiceVersion(readVersion().Version)))
	if err != nil {
		return none, badInput("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp,
		sdktrace.WithBatchTimeout(time.Second)), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{}))
	return tp.Shutdown, nil
}

// traceExporter returns the exporter OTEL_TRACES_EXPORTER names, nil for
// none.
func traceExporter(ctx context.Context, stderr io.Writer) (
	sdktrace.SpanExporter, error,
) {
	kind := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER"))
	if kind == "" {
		if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" &&
			os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return nil, nil
		}
		kind = "otlp"
	}
	switch kind {
	case "none":
		return nil, nil
	case "console":
		return stdouttrace.New(stdouttrace.WithWriter(stderr))
	case "otlp":
	default:
		return nil, badInput("OTEL_TRACES_EXPORTER=%q: want otlp, console "+
			"or none", kind)
	}
	proto := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var exp sdktrace.SpanExporter
	var err error
	switch proto {
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, badInput("OTEL_EXPORTER_OTLP_PROTOCOL=%q: want "+
			"http/protobuf or grpc", proto)
	}
	if err != nil {
		return nil, badInput("OTLP exporter: %w", err)
	}
	return exp, nil
}

// startSpan starts a span of the CLI's (a no-op without tracing).
func startSpan(ctx context.Context, name string) (context.Context, trace.Span) {
	return otel.Tracer(tracerName).Start(ctx, name)
}

// stopTracing flushes within a bounded time; an unreachable collector must
// not hold the command up.
func stopTracing(shutdown func(context.Context) error, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "bridge: tracing: %v\n", err)
	}
}
