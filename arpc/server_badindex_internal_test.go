package arpc

import (
	"context"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/internal/apitest"

	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// The server checks state indexes itself: a client that skips the
// replica's name check (or a hostile one) gets ErrInvalidParams over the
// wire, nothing is mutated, and the session keeps serving.
func TestServerRefusesUnknownStateIndex(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, c := internalPair(t, ctx, "badindex", 0)
	before := w.Time(nil)

	for _, idx := range []int{len(apitest.Names), 999} {
		res, err := transport{c}.Mutate(ctx, &door.Mut{Type: door.MutAdd,
			States: []int{idx}}, false)
		require.Equal(t, am.Canceled, res, "index %d", idx)
		require.ErrorIs(t, err, ErrInvalidParams, "index %d", idx)
	}
	require.Equal(t, before, w.Time(nil), "nothing mutated")

	res, err := transport{c}.Mutate(ctx, &door.Mut{Type: door.MutAdd,
		States: []int{w.Index1("A")}}, false)
	require.NoError(t, err)
	require.Equal(t, am.Executed, res, "the session keeps serving")
	require.Zero(t, c.Stats().Reconnects)
}

// A client's Bye ends its session at once: the server releases the slot
// while the client still holds the connection open.
func TestByeReleasesSessionAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, c := internalPair(t, ctx, "bye", 0)
	cc := c.current()
	require.NotNil(t, cc)
	require.NoError(t, cc.rc.Notify(wire.MBye, &wire.Empty{}))
	select {
	case <-cc.done:
		// the server closed the connection; the client did not
	case <-ctx.Done():
		t.Fatal("the server kept the session after Bye")
	}
}
