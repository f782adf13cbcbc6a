package bridge

import (
	"context"
	"math"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/clock"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
	"github.com/arpcbridge/arpcbridge/internal/apitest"
)

// convertSeeds are wire messages of every kind the conversions read.
func convertSeeds(t testing.TB) [][]byte {
	args, err := structpb.NewStruct(map[string]any{"n": 1.5, "s": "x",
		"l": []any{1.0, "a", nil}, "m": map[string]any{"k": true}})
	require.NoError(t, err)
	args.Fields["nan"] = structpb.NewNumberValue(math.NaN())
	msgs := []proto.Message{
		&bridgev1.ClockUpdate{FromSeq: 3, ToSeq: 5, Indexes: []uint32{1, 4},
			Deltas: []uint64{1, 2}, Sum: 9, QueueTick: 2, Coalesced: 2},
		&bridgev1.ClockUpdate{ToSeq: 1, Indexes: []uint32{0}, Deltas: []uint64{1},
			Sum: 1, Full: true},
		&bridgev1.MutateRequest{Type: bridgev1.MutationType_MUTATION_TYPE_ADD,
			States: []string{"A", "E"}, Args: args, MutationId: "m-1",
			ClientId: "c", KnownSeq: 1},
		&bridgev1.MutateRequest{Type: bridgev1.MutationType_MUTATION_TYPE_REMOVE,
			StateIndexes: []uint32{2, 99}},
		&bridgev1.MutateResponse{Result: bridgev1.MutationResult_MUTATION_RESULT_QUEUED,
			QueueTick: 7},
		&bridgev1.HandshakeResponse{Schema: toProtoSchema(apitest.Schema,
			apitest.Names)},
		&bridgev1.SyncRequest{KnownSeq: 2, KnownTime: []uint64{0, 1, 2}},
		&bridgev1.CanMutateRequest{States: []string{"D"}},
		&bridgev1.GetRequest{Name: "x"},
	}
	var seeds [][]byte
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		require.NoError(t, err)
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzProtoToEngine feeds the same bytes, as every message kind a peer
// sends, to the proto-to-engine conversions and to the service's unary
// methods on a real worker. Nothing may panic; the service answers with a
// result or a gRPC status; what converts must convert back.
func FuzzProtoToEngine(f *testing.F) {
	for _, s := range convertSeeds(f) {
		f.Add(s, uint8(len(apitest.Names)))
	}
	worker, err := am.NewCommon(context.Background(), "fuzz", apitest.Schema,
		apitest.Names, nil, nil, &am.Opts{DontLogStackTrace: true})
	require.NoError(f, err)
	f.Cleanup(worker.Dispose)
	svc, err := NewService(worker, nil)
	require.NoError(f, err)
	f.Cleanup(svc.Close)
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		var pu bridgev1.ClockUpdate
		if proto.Unmarshal(data, &pu) == nil {
			if u, err := fromProtoUpdate(&pu, int(n)); err == nil {
				for _, p := range u.Diff {
					require.Less(t, p[0], uint64(n))
				}
				back := toProtoUpdate(u)
				assert.Equal(t, pu.GetIndexes(), back.GetIndexes())
				assert.Equal(t, pu.GetDeltas(), back.GetDeltas())
				if int(n) <= 64 {
					// applying cannot panic, it may only refuse
					_ = clock.Apply(make(am.Time, n), u.Diff)
				}
			} else {
				require.ErrorIs(t, err, arpc.ErrInvalidResp)
			}
		}
		var mr bridgev1.MutateRequest
		if proto.Unmarshal(data, &mr) == nil {
			a := fromStruct(mr.GetArgs())
			_, err := toStruct(a)
			require.NoError(t, err, "converted args convert back")
			checkStatus(t, func() error { _, err := svc.Mutate(ctx, &mr); return err })
		}
		var mresp bridgev1.MutateResponse
		if proto.Unmarshal(data, &mresp) == nil {
			if _, err := resultFromProto(mresp.Result, mresp.QueueTick); err != nil {
				require.ErrorIs(t, err, arpc.ErrInvalidResp)
			}
		}
		var hr bridgev1.HandshakeResponse
		if proto.Unmarshal(data, &hr) == nil && hr.Schema != nil {
			remote := fromProtoSchema(hr.Schema)
			names := make(am.S, len(hr.Schema.States))
			for i, st := range hr.Schema.States {
				names[i] = st.GetName()
			}
			if err := arpc.CompareSchemas(apitest.Schema, apitest.Names, remote,
				names); err != nil {
				require.ErrorIs(t, err, arpc.ErrSchemaMismatch)
			}
		}
		var sr bridgev1.SyncRequest
		if proto.Unmarshal(data, &sr) == nil {
			checkStatus(t, func() error { _, err := svc.Sync(ctx, &sr); return err })
		}
		var cr bridgev1.CanMutateRequest
		if proto.Unmarshal(data, &cr) == nil {
			checkStatus(t, func() error { _, err := svc.CanMutate(ctx, &cr); return err })
		}
		var hs bridgev1.HandshakeRequest
		if proto.Unmarshal(data, &hs) == nil {
			checkStatus(t, func() error { _, err := svc.Handshake(ctx, &hs); return err })
		}
		var gr bridgev1.GetRequest
		if proto.Unmarshal(data, &gr) == nil {
			checkStatus(t, func() error { _, err := svc.Get(ctx, &gr); return err })
		}
	})
}

// checkStatus runs a service call: its error, if any, must be a gRPC
// status.
func checkStatus(t *testing.T, call func() error) {
	t.Helper()
	if err := call(); err != nil {
		_, ok := status.FromError(err)
		require.True(t, ok, "not a status: %v", err)
	}
}
