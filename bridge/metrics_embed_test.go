package bridge_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/bridge"
)

func scrape(t *testing.T, addr string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/metrics", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// A program embedding bridge.NewServer gets /metrics as ServerOpts.HTTP's
// doc says (it used to get 404: the metrics lived in an internal package
// that only the CLI wired): both doors' counters, per-method gRPC metrics
// and the build-info gauge.
func TestMetricsEmbedded(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	addr := s.Addr().String()
	g := dial(t, addr, "g", nil)
	a := newARPCClient(t, addr, "a")
	require.Equal(t, am.Executed, g.Worker.Add1("A", nil))
	require.Equal(t, am.Executed, a.Worker.Add1("C", nil))

	code, body := scrape(t, addr)
	require.Equal(t, http.StatusOK, code, body)
	for _, want := range []string{
		`arpcbridge_mutations_total{door="arpc",result="executed"} 1`,
		`arpcbridge_mutations_total{door="grpc",result="executed"} 1`,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Mutate",` +
			`grpc_service="arpc.bridge.v1.BridgeService",grpc_type="unary"} 1`,
		`grpc_server_started_total{grpc_method="Sync",` +
			`grpc_service="arpc.bridge.v1.BridgeService",grpc_type="unary"} 0`,
		`grpc_server_handling_seconds_bucket{grpc_method="Mutate"`,
		`arpcbridge_build_info{commit=`,
		`go_goroutines `,
	} {
		assert.Contains(t, body, want)
	}
	assert.NotNil(t, s.Metrics())
}

// ServerOpts.Registerer: the server's metrics join the program's registry
// (served at /metrics with the program's own), a second server on the same
// registry is refused, and Shutdown frees the names for a new server.
func TestMetricsRegisterer(t *testing.T) {
	reg := prometheus.NewRegistry()
	mine := prometheus.NewCounter(prometheus.CounterOpts{Name: "my_counter",
		Help: "The embedding program's own."})
	reg.MustRegister(mine)
	mine.Add(3)

	w := newWorker(t)
	l := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := bridge.NewServer(ctx, l, "s", w, &bridge.ServerOpts{Registerer: reg})
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	code, body := scrape(t, s.Addr().String())
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "my_counter 3")
	assert.Contains(t, body, `arpcbridge_clients{door="arpc"} 0`)
	assert.NotContains(t, body, "go_goroutines", "the program's registry has no runtime collector")

	_, err = bridge.NewServer(ctx, listen(t), "s2", w,
		&bridge.ServerOpts{Registerer: reg})
	require.ErrorContains(t, err, "metrics")
	require.NoError(t, s.Shutdown(context.Background()))
	require.NoError(t, <-served)

	s3, err := bridge.NewServer(ctx, listen(t), "s3", w,
		&bridge.ServerOpts{Registerer: reg})
	require.NoError(t, err, "after Shutdown the names are free")
	require.NoError(t, s3.Shutdown(context.Background()))
}

// NoMetrics: no /metrics from the server; ServerOpts.HTTP gets the path.
func TestNoMetrics(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, &bridge.ServerOpts{NoMetrics: true,
		HTTP: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(rw, "mine "+r.URL.Path)
		})})
	code, body := scrape(t, s.Addr().String())
	assert.Equal(t, http.StatusOK, code)
	assert.True(t, strings.HasPrefix(body, "mine /metrics"), body)
	assert.Nil(t, s.Metrics())
}
