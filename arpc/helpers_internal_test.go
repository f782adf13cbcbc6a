package arpc

import (
	"context"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/require"

	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/internal/apitest"
)

// internalPair is a worker served over loopback to a Ready client, for
// tests that need the package's internals. pushInterval 0 keeps the
// default.
func internalPair(t *testing.T, ctx context.Context, name string,
	pushInterval time.Duration,
) (*am.Machine, *Client) {
	t.Helper()
	w, err := am.NewCommon(ctx, "w-"+name, apitest.Schema, apitest.Names,
		nil, nil, nil)
	require.NoError(t, err)
	t.Cleanup(w.Dispose)
	s, err := NewServer(ctx, "127.0.0.1:0", "s-"+name, w, nil)
	require.NoError(t, err)
	if pushInterval > 0 {
		s.PushInterval = pushInterval
	}
	s.Start()
	t.Cleanup(func() { s.Stop(true) })
	<-s.Mach.When1(ss.ServerStates.RpcReady, ctx)
	c, err := NewClient(ctx, s.Addr, "c-"+name, apitest.Schema, apitest.Names,
		nil)
	require.NoError(t, err)
	c.Start()
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Stop(stopCtx, true)
	})
	select {
	case <-c.Mach.When1(ss.ClientStates.Ready, ctx):
	case <-ctx.Done():
		t.Fatal("client not Ready")
	}
	return w, c
}
