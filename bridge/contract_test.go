package bridge_test

import (
	"os"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
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

// A repeated client ID means the same client name, not a takeover: on both
// doors, two clients of one name stay connected, each gets every change, and
// a mutation of one reaches the other (gRPC streams of one client_id used to
// end the older one with ABORTED).
func TestSameClientIdCoexists(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	addr := s.Addr().String()
	g1 := dial(t, addr, "same", nil)
	g2 := dial(t, addr, "same", nil)
	a1 := newARPCClient(t, addr, "same")
	a2 := newARPCClient(t, addr, "same")
	workers := map[string]*arpc.Worker{"grpc 1": g1.Worker, "grpc 2": g2.Worker,
		"arpc 1": a1.Worker, "arpc 2": a2.Worker}
	for name, by := range workers {
		t.Run(name, func(t *testing.T) {
			for _, st := range []string{"A", "B"} {
				require.Equal(t, am.Executed, by.Toggle1(st, nil), by.LastErr())
			}
			want := w.Time(nil)
			for other, ow := range workers {
				waitCh(t, ow.WhenQuery(func(c am.Clock) bool {
					return c["A"] == want[w.Index1("A")] &&
						c["B"] == want[w.Index1("B")]
				}, nil), other+" sees "+name+"'s toggles")
			}
		})
	}
	for name, c := range map[string]interface{ Err() error }{"grpc 1": g1,
		"grpc 2": g2} {
		assert.NoError(t, c.Err(), name)
	}
	assert.True(t, a1.Mach.Is1(ss.ClientStates.Ready), "arpc 1 still ready")
	assert.True(t, a2.Mach.Is1(ss.ClientStates.Ready), "arpc 2 still ready")
}

// MUTATION_TYPE_TOGGLE is asyncmachine's all-or-nothing toggle, on both
// doors, as bridge.proto says (it used to say "deactivate the listed states
// that are active, activate the others", which the server never did).
func TestToggleAllOrNothing(t *testing.T) {
	proto, err := os.ReadFile("../proto/arpc/bridge/v1/bridge.proto")
	require.NoError(t, err)
	require.Contains(t, string(proto), "all or nothing",
		"bridge.proto documents the toggle the server does")
	require.NotContains(t, string(proto), "that are active, activate the others")

	w := newWorker(t)
	s := startServer(t, w, nil)
	addr := s.Addr().String()
	rpc := rawClient(t, addr)
	a := newARPCClient(t, addr, "a")
	toggles := map[string]func(t *testing.T, states am.S) am.Result{
		"grpc": func(t *testing.T, states am.S) am.Result {
			resp, err := rpc.Mutate(tctx(t), &bridgev1.MutateRequest{ClientId: "t",
				Type: bridgev1.MutationType_MUTATION_TYPE_TOGGLE, States: states})
			require.NoError(t, err)
			require.Equal(t, bridgev1.MutationResult_MUTATION_RESULT_EXECUTED,
				resp.Result)
			return am.Executed
		},
		"arpc": func(t *testing.T, states am.S) am.Result {
			waitCh(t, a.Worker.WhenQuery(func(c am.Clock) bool {
				return c["B"] == w.Tick("B") && c["C"] == w.Tick("C")
			}, nil), "the replica")
			return a.Worker.Toggle(states, nil)
		},
	}
	for door, toggle := range toggles {
		t.Run(door, func(t *testing.T) {
			w.Set(am.S{"B"}, nil) // B active, C not
			require.Equal(t, am.Executed, toggle(t, am.S{"B", "C"}))
			assert.True(t, w.Is(am.S{"B", "C"}), "some inactive: all added")
			require.Equal(t, am.Executed, toggle(t, am.S{"B", "C"}))
			assert.True(t, w.Not(am.S{"B", "C"}), "all active: all removed")
		})
	}
}
