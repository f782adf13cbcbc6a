package bridge_test

import (
	"context"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/bridge"
)

// inMemoryTracing installs a global TracerProvider recording into an
// in-memory exporter until the test ends.
func inMemoryTracing(t *testing.T) (*tracetest.InMemoryExporter, trace.Tracer) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(prev)
		_ = tp.Shutdown(context.Background())
	})
	return exp, tp.Tracer("test")
}

// mutationSpan returns the server's span of a mutation in trace id.
func mutationSpan(t *testing.T, exp *tracetest.InMemoryExporter,
	id trace.TraceID,
) tracetest.SpanStub {
	t.Helper()
	for _, s := range exp.GetSpans() {
		if s.Name == arpc.MutationSpanName && s.SpanContext.TraceID() == id {
			return s
		}
	}
	t.Fatalf("no %s span in trace %s: %v", arpc.MutationSpanName, id,
		spanNames(exp))
	return tracetest.SpanStub{}
}

func spanNames(exp *tracetest.InMemoryExporter) []string {
	var out []string
	for _, s := range exp.GetSpans() {
		out = append(out, s.Name)
	}
	return out
}

func attr(s tracetest.SpanStub, key string) attribute.Value {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// A span around a client's mutation continues into the worker's transition
// on the server, over real sockets: on the aRPC door through the W3C
// traceparent of the mutation's headers, on the gRPC door through otelgrpc
// (client span, server span, then the mutation's).
func TestTracingContinuesIntoTheWorker(t *testing.T) {
	exp, tr := inMemoryTracing(t)
	w := newWorker(t)
	s := startServer(t, w, nil)
	addr := s.Addr().String()
	workers := map[string]*arpc.Worker{
		"arpc": newARPCClient(t, addr, "a").Worker,
		"grpc": dial(t, addr, "g", nil).Worker,
	}
	for door, cw := range workers {
		t.Run(door, func(t *testing.T) {
			ctx, span := tr.Start(tctx(t), "client "+door)
			res, err := cw.Mutate(ctx, am.MutationAdd, am.S{"A"}, nil)
			span.End()
			require.NoError(t, err)
			require.Equal(t, am.Executed, res)
			w.Remove1("A", nil)

			id := span.SpanContext().TraceID()
			m := mutationSpan(t, exp, id)
			assert.Equal(t, door, attr(m, "arpc.door").AsString())
			assert.Equal(t, []string{"A"},
				attr(m, "arpc.mutation.states").AsStringSlice())
			assert.Equal(t, "executed", attr(m, "arpc.mutation.result").AsString())
			assert.Equal(t, trace.SpanKindServer, m.SpanKind)
			if door == "arpc" {
				assert.Equal(t, span.SpanContext().SpanID(), m.Parent.SpanID(),
					"the client's span is the parent")
				assert.True(t, m.Parent.IsRemote())
				return
			}
			// otelgrpc: the client's call span is a child of ours
			var call tracetest.SpanStub
			for _, s := range exp.GetSpans() {
				if s.SpanKind == trace.SpanKindClient &&
					s.Name == "arpc.bridge.v1.BridgeService/Mutate" &&
					s.SpanContext.TraceID() == id {
					call = s
				}
			}
			require.Equal(t, span.SpanContext().SpanID(), call.Parent.SpanID(),
				"%v", spanNames(exp))
			assert.NotEqual(t, call.SpanContext.SpanID(), m.Parent.SpanID(),
				"the server's call span is between them")
		})
	}
}

// Add1 and the other am.Api methods have no context: they carry the span of
// the worker's context, the one the client was created with.
func TestTracingAdd1UsesTheClientContext(t *testing.T) {
	exp, tr := inMemoryTracing(t)
	w := newWorker(t)
	s := startServer(t, w, nil)
	addr := s.Addr().String()
	for _, door := range []string{"arpc", "grpc"} {
		t.Run(door, func(t *testing.T) {
			ctx, span := tr.Start(tctx(t), "session "+door)
			defer span.End()
			var cw *arpc.Worker
			if door == "arpc" {
				c, err := arpc.NewClient(ctx, addr, "a1", testSchema, testNames, nil)
				require.NoError(t, err)
				c.ConnRetries = -1
				c.Start()
				defer c.Stop(context.Background(), true)
				waitCh(t, c.Mach.When1("Ready", nil), "aRPC client ready")
				cw = c.Worker
			} else {
				c, err := bridge.Dial(ctx, addr, "g1", testSchema, testNames, nil)
				require.NoError(t, err)
				defer c.Close()
				cw = c.Worker
			}
			require.Equal(t, am.Executed, cw.Add1("B", nil))
			w.Remove1("B", nil)
			mutationSpan(t, exp, span.SpanContext().TraceID())
		})
	}
}

// NoTracing leaves otelgrpc out on both ends: no call spans, and the
// worker's mutation span starts a trace of its own.
func TestNoTracing(t *testing.T) {
	exp, tr := inMemoryTracing(t)
	w := newWorker(t)
	s := startServer(t, w, &bridge.ServerOpts{NoTracing: true})
	g := dial(t, s.Addr().String(), "g", &bridge.ClientOpts{NoTracing: true})
	ctx, span := tr.Start(tctx(t), "client")
	res, err := g.Worker.Mutate(ctx, am.MutationAdd, am.S{"A"}, nil)
	span.End()
	require.NoError(t, err)
	require.Equal(t, am.Executed, res)
	var mutations int
	for _, s := range exp.GetSpans() {
		assert.NotContains(t, s.Name, "BridgeService", "no otelgrpc spans")
		if s.Name == arpc.MutationSpanName {
			mutations++
			assert.NotEqual(t, span.SpanContext().TraceID(), s.SpanContext.TraceID())
		}
	}
	assert.Equal(t, 1, mutations)
}
