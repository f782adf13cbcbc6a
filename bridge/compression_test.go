package bridge_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/bridge"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

// A client that offers gzip or zstd (grpc-encoding) gets the stream
// compressed: a compressible 4 MiB payload costs a fraction of its size on
// the wire; without compression, all of it.
func TestCompressionNegotiated(t *testing.T) {
	const size = 4 << 20
	data := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog. ",
		size/45+1))[:size]
	for _, tc := range []struct {
		comp    string
		atMost  int64
		atLeast int64
	}{
		{"", 0, size},
		{"gzip", size / 20, 0},
		{"zstd", size / 20, 0},
	} {
		t.Run("compression="+tc.comp, func(t *testing.T) {
			w := newWorker(t)
			cl := &countingListener{Listener: listen(t)}
			s := startServerOn(t, cl, w, nil)
			written := &cl.out
			var opts []grpc.DialOption
			if tc.comp != "" {
				opts = append(opts, grpc.WithDefaultCallOptions(
					grpc.UseCompressor(tc.comp)))
			}
			rpc := rawClient(t, s.Addr().String(), opts...)
			var r replica
			st := openWatch(t, rpc, &bridgev1.WatchClockRequest{ClientId: "z",
				ChunkedPayloads: true}, &r)
			before := written.Load()
			sendPayload(t, w, "text", data)
			got := 0
			for got < size {
				msg, err := st.Recv()
				require.NoError(t, err)
				got += len(msg.GetPayloadChunk().GetData())
			}
			wire := written.Load() - before
			t.Logf("%d payload bytes, %d on the wire", size, wire)
			if tc.atMost > 0 {
				assert.Less(t, wire, tc.atMost)
			}
			assert.GreaterOrEqual(t, wire, tc.atLeast)
		})
	}
}

// A compressed message that expands past the server's message limit (a
// decompression bomb, over a real socket) fails its call with
// RESOURCE_EXHAUSTED; the connection and the server go on serving.
func TestDecompressionBomb(t *testing.T) {
	for _, comp := range []string{"gzip", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			w := newWorker(t)
			s := startServer(t, w, &bridge.ServerOpts{MaxRecvMsgSize: 1 << 20})
			rpc := rawClient(t, s.Addr().String(),
				grpc.WithDefaultCallOptions(grpc.UseCompressor(comp)))
			// 32 MiB of one letter: a few KiB compressed
			args, err := structpb.NewStruct(map[string]any{
				"bomb": strings.Repeat("a", 32<<20)})
			require.NoError(t, err)
			_, err = rpc.Mutate(tctx(t), &bridgev1.MutateRequest{
				ClientId: "bomber", Type: bridgev1.MutationType_MUTATION_TYPE_ADD,
				States: []string{"A"}, Args: args})
			require.Error(t, err)
			assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
			assert.Contains(t, err.Error(), "decompression")
			assert.False(t, w.Is1("A"), "nothing of the bomb ran")
			// the same connection, and the server, still serve
			res, err := rpc.Mutate(tctx(t), &bridgev1.MutateRequest{
				ClientId: "bomber", Type: bridgev1.MutationType_MUTATION_TYPE_ADD,
				States: []string{"A"}})
			require.NoError(t, err)
			assert.Equal(t, bridgev1.MutationResult_MUTATION_RESULT_EXECUTED,
				res.Result)
			dial(t, s.Addr().String(), "after", &bridge.ClientOpts{
				Compression: arpc.Compression(comp)})
		})
	}
}

func TestDialCompressionUnknown(t *testing.T) {
	_, err := bridge.Dial(tctx(t), "127.0.0.1:1", "x", testSchema, testNames,
		&bridge.ClientOpts{Compression: "lz4"})
	require.ErrorIs(t, err, arpc.ErrInvalidParams)
	assert.Contains(t, err.Error(), "lz4")
}

// One Compression type for both doors: each refuses, clearly, the
// compression only the other door offers.
func TestCompressionOfTheOtherDoor(t *testing.T) {
	_, err := bridge.Dial(tctx(t), "127.0.0.1:1", "x", testSchema, testNames,
		&bridge.ClientOpts{Compression: arpc.CompressionS2})
	require.ErrorIs(t, err, arpc.ErrInvalidParams)
	assert.Contains(t, err.Error(), "gRPC door")

	_, err = arpc.NewClient(tctx(t), "127.0.0.1:1", "gz", testSchema,
		testNames, &arpc.ClientOpts{Compression: arpc.CompressionGzip})
	require.ErrorIs(t, err, arpc.ErrInvalidParams)
	assert.Contains(t, err.Error(), "aRPC door")
}
