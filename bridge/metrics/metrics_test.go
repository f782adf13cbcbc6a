package metrics_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"go.uber.org/goleak"

	"github.com/arpcbridge/arpcbridge/arpc/engine"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHandler(t *testing.T) {
	w, err := am.NewCommon(context.Background(), "w", am.SchemaMerge(
		ss.WorkerSchema, am.Schema{"A": {}}), am.SAdd(ss.WorkerStates.Names(),
		am.S{"A"}), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Dispose()
	eng, err := engine.Attach(w)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Release()
	m := metrics.New(eng)
	w.Add1("A", nil)
	w.Remove1("A", nil)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`arpcbridge_transitions_total 2`,
		`arpcbridge_clients{door="arpc"} 0`,
		`arpcbridge_clients{door="grpc"} 0`,
		`arpcbridge_mutations_total{door="grpc",result="queued"} 0`,
		`arpcbridge_pushes_total{door="arpc"} 0`,
		`arpcbridge_full_resyncs_total 0`,
		`# TYPE arpcbridge_push_lag_seconds histogram`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}
