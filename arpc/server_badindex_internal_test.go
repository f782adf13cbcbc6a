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

// The server checks state indexes itself: a client that skips the
// replica's name check (or a hostile one) gets ErrInvalidParams over the
// wire, nothing is mutated, and the session keeps serving.
func TestServerRefusesUnknownStateIndex(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := am.NewCommon(ctx, "w-badindex", apitest.Schema, apitest.Names,
		nil, nil, nil)
	require.NoError(t, err)
	defer w.Dispose()
	s, err := NewServer(ctx, "127.0.0.1:0", "s-badindex", w, nil)
	require.NoError(t, err)
	s.Start()
	defer s.Stop(true)
	<-s.Mach.When1(ss.ServerStates.RpcReady, ctx)
	c, err := NewClient(ctx, s.Addr, "c-badindex", apitest.Schema,
		apitest.Names, nil)
	require.NoError(t, err)
	c.Start()
	defer c.Stop(ctx, true)
	select {
	case <-c.Mach.When1(ss.ClientStates.Ready, ctx):
	case <-ctx.Done():
		t.Fatal("client not Ready")
	}
	before := w.Time(nil)

	for _, idx := range []int{len(apitest.Names), 999} {
		res, err := transport{c}.Mutate(ctx, &ArgsMut{Type: mutAdd,
			States: []int{idx}}, false)
		require.Equal(t, am.Canceled, res, "index %d", idx)
		require.ErrorIs(t, err, ErrInvalidParams, "index %d", idx)
	}
	require.Equal(t, before, w.Time(nil), "nothing mutated")

	res, err := transport{c}.Mutate(ctx, &ArgsMut{Type: mutAdd,
		States: []int{w.Index1("A")}}, false)
	require.NoError(t, err)
	require.Equal(t, am.Executed, res, "the session keeps serving")
	require.Zero(t, c.Stats().Reconnects)
}
