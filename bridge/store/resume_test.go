package store_test

import (
	"context"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Clients of both doors that outlive a restart of the server (on the same
// port, from the same state file) resume with a diff, not a full resync, and
// end on the restored clock; a gRPC mutation retried across the restart is
// replayed.
func TestClientsResumeAcrossRestart(t *testing.T) {
	path := statePath(t)
	a := start(t, path, "127.0.0.1:0", nil)
	addr := a.addr()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	ac, err := arpc.NewClient(ctx, addr, "a", testSchema, testNames, nil)
	require.NoError(t, err)
	ac.ReconnectOn = true
	ac.Start()
	defer ac.Stop(context.Background(), true)
	select {
	case <-ac.Mach.When1(ss.ClientStates.Ready, ctx):
	case <-ctx.Done():
		t.Fatal("aRPC client not ready")
	}
	gc, err := bridge.Dial(ctx, addr, "g", testSchema, testNames,
		&bridge.ClientOpts{ConnRetryTimeout: 20 * time.Second})
	require.NoError(t, err)
	defer func() { _ = gc.Close() }()

	ac.Worker.Add1("E", nil)
	gc.Worker.Add1("E", nil)
	gc.Worker.Add1("A", nil)
	cc, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer func() { _ = cc.Close() }()
	raw := bridgev1.NewBridgeServiceClient(cc)
	req := &bridgev1.MutateRequest{ClientId: "raw", Type: bridgev1.MutationType_MUTATION_TYPE_ADD,
		States: []string{"E"}, MutationId: "raw-1", NoSync: true}
	resp, err := raw.Mutate(ctx, req)
	require.NoError(t, err)
	require.False(t, resp.Replayed)
	want := a.mach.Time(nil)
	a.stop(t)

	b := start(t, path, addr, nil)
	require.Equal(t, want, b.mach.Time(nil))
	for _, w := range []am.Api{ac.Worker, gc.Worker} {
		require.Eventually(t, func() bool {
			return am.Time(w.Time(nil)).Sum(nil) == want.Sum(nil)
		}, 10*time.Second, 10*time.Millisecond, "%s back on the restored clock",
			w.Id())
	}
	resp, err = raw.Mutate(ctx, req)
	require.NoError(t, err)
	assert.True(t, resp.Replayed, "retried across the restart: replayed")
	assert.Equal(t, want, b.mach.Time(nil), "applied once")
	assert.Zero(t, ac.Stats().FullSyncs, "aRPC resumed with a diff")
	assert.Zero(t, gc.Stats().Resyncs, "gRPC resumed with a diff")
	assert.Equal(t, want, am.Time(ac.Worker.Time(nil)))
}
