package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// spanOut is what the console exporter prints of a span.
type spanOut struct {
	Name        string
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct{ TraceID, SpanID string }
}

// consoleSpans decodes the spans the console exporter wrote among other
// lines (logs).
func consoleSpans(t *testing.T, out string) []spanOut {
	t.Helper()
	var spans []spanOut
	for i := 0; i < len(out); i++ {
		if out[i] != '{' || (i > 0 && out[i-1] != '\n') {
			continue
		}
		var s spanOut
		d := json.NewDecoder(strings.NewReader(out[i:]))
		if err := d.Decode(&s); err == nil && s.Name != "" {
			spans = append(spans, s)
			i += int(d.InputOffset()) - 1
		}
	}
	return spans
}

// OTEL_* configure tracing in the CLI: with the console exporter, the span of
// "bridge add" and the server's span of the mutation share a trace, on both
// doors; without OTEL_* variables nothing is exported.
func TestTracingCLI(t *testing.T) {
	env := []string{"OTEL_TRACES_EXPORTER=console", "OTEL_SERVICE_NAME=t"}
	s := startServer(t, env, "--demo-interval", "1h")
	var clients []spanOut
	for _, door := range []string{"--grpc=false", "--grpc"} {
		r := cli(t, env, "add", s.addr, "JobQueued", door)
		r.want(t, 0)
		spans := consoleSpans(t, r.stderr)
		found := false
		for _, sp := range spans {
			if sp.Name == "bridge add" {
				clients = append(clients, sp)
				found = true
			}
		}
		if !found {
			t.Fatalf("%s: no \"bridge add\" span:\n%s", door, r.stderr)
		}
	}
	if code, _ := s.stop(t); code != 0 {
		t.Fatalf("serve exit %d\n%s", code, s.stderr)
	}
	server := consoleSpans(t, s.stderr.String())
	for _, c := range clients {
		found := false
		for _, sp := range server {
			if sp.Name == "arpc.mutation" &&
				sp.SpanContext.TraceID == c.SpanContext.TraceID {
				found = true
			}
		}
		if !found {
			t.Errorf("no server mutation span in trace %s:\n%s",
				c.SpanContext.TraceID, s.stderr)
		}
	}

	quiet := startServer(t, nil)
	r := cli(t, nil, "add", quiet.addr, "JobQueued")
	r.want(t, 0)
	if strings.Contains(r.stderr, "SpanContext") {
		t.Errorf("spans without OTEL_*:\n%s", r.stderr)
	}
	cli(t, []string{"OTEL_TRACES_EXPORTER=zipkin"}, "version").want(t,
		exitBadInput, "OTEL_TRACES_EXPORTER")
}
