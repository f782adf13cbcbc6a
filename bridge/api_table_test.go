package bridge_test

import (
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/internal/apitest"
)

// TestApiTable runs the shared am.Api behaviour table: the gRPC-backed
// *arpc.Worker must answer like a local machine of the same schema.
func TestApiTable(t *testing.T) {
	apitest.Run(t, func(t *testing.T) (*am.Machine, am.Api) {
		w := newWorker(t)
		return w, w
	}, func(t *testing.T) (*am.Machine, am.Api) {
		w := newWorker(t)
		s := startServer(t, w, nil)
		c := dial(t, s.Addr().String(), "table", nil)
		return w, c.Worker
	})
}
