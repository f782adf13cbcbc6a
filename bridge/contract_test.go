package bridge_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

// A known_seq the server never reached (the client knew a restarted server)
// gets a full snapshot, never a diff "from" a sequence ahead of the update's.
func TestKnownSeqAheadOfServerGetsFullSnapshot(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	rpc := rawClient(t, s.Addr().String())
	ctx := tctx(t)
	hs, err := rpc.Handshake(ctx, &bridgev1.HandshakeRequest{ClientId: "ahead",
		ProtocolVersion: 1})
	require.NoError(t, err)
	w.Add1("A", nil)
	ahead := hs.Seq + 100

	sr, err := rpc.Sync(ctx, &bridgev1.SyncRequest{ClientId: "ahead",
		KnownSeq: ahead, KnownTime: hs.Time})
	require.NoError(t, err)
	assert.True(t, sr.Update.Full, "Sync")
	assert.Equal(t, []uint64(w.Time(nil)), fullTime(sr.Update, len(hs.Time)))

	st, err := rpc.WatchClock(ctx, &bridgev1.WatchClockRequest{
		ClientId: "ahead", KnownSeq: ahead, KnownTime: hs.Time})
	require.NoError(t, err)
	msg, err := st.Recv()
	require.NoError(t, err)
	u := msg.GetUpdate()
	require.NotNil(t, u)
	assert.True(t, u.Full, "WatchClock's first update")
	assert.Equal(t, []uint64(w.Time(nil)), fullTime(u, len(hs.Time)))
}

func fullTime(u *bridgev1.ClockUpdate, n int) []uint64 {
	t := make([]uint64, n)
	for i, idx := range u.Indexes {
		t[idx] += u.Deltas[i]
	}
	return t
}

// A stream replaced by a newer one of the same client_id ends ABORTED with
// an ErrorInfo (reason REPLACED), like every error status of the service.
func TestReplacedStreamCarriesErrorInfo(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	rpc := rawClient(t, s.Addr().String())
	ctx := tctx(t)
	first, err := rpc.WatchClock(ctx, &bridgev1.WatchClockRequest{ClientId: "twice"})
	require.NoError(t, err)
	// the first stream is registered once its initial sync arrived
	for {
		msg, err := first.Recv()
		require.NoError(t, err)
		if msg.GetInitialSyncDone() != nil {
			break
		}
	}
	second, err := rpc.WatchClock(ctx, &bridgev1.WatchClockRequest{ClientId: "twice"})
	require.NoError(t, err)
	_, err = second.Recv()
	require.NoError(t, err)
	for {
		if _, err = first.Recv(); err != nil {
			break
		}
	}
	st := status.Convert(err)
	require.Equal(t, codes.Aborted, st.Code(), err)
	var reason string
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			reason = info.Reason
		}
	}
	assert.Equal(t, "REPLACED", reason)
}
