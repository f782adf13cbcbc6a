package bridge_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/bridge"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

// violation returns the first BadRequest field of a status error.
func violation(err error) string {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.FieldViolations) > 0 {
			return br.FieldViolations[0].Field
		}
	}
	return ""
}

// TestStatusCodes: bad requests get the documented codes, with the field
// named in a BadRequest detail, and leave the server serving.
func TestStatusCodes(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, &bridge.ServerOpts{Service: bridge.ServiceOpts{
		AllowFn: func(id string) bool { return id != "banned" },
		Getter: func(name string) any {
			if name == "value" {
				return 42
			}
			return nil
		},
	}})
	rpc := rawClient(t, s.Addr().String())
	ctx := tctx(t)
	add := bridgev1.MutationType_MUTATION_TYPE_ADD
	badErr, _ := structpb.NewStruct(map[string]any{bridge.ErrArgKey: 5.0})

	cases := []struct {
		name  string
		call  func() error
		code  codes.Code
		field string
	}{
		{"unknown state", func() error {
			_, err := rpc.Mutate(ctx, &bridgev1.MutateRequest{ClientId: "c",
				Type: add, States: []string{"A", "Nope"}})
			return err
		}, codes.InvalidArgument, "states[1]"},
		{"index out of range", func() error {
			_, err := rpc.Mutate(ctx, &bridgev1.MutateRequest{ClientId: "c",
				Type: add, StateIndexes: []uint32{999}})
			return err
		}, codes.InvalidArgument, "state_indexes[0]"},
		{"names and indexes", func() error {
			_, err := rpc.Mutate(ctx, &bridgev1.MutateRequest{ClientId: "c",
				Type: add, States: []string{"A"}, StateIndexes: []uint32{1}})
			return err
		}, codes.InvalidArgument, "states"},
		{"missing type", func() error {
			_, err := rpc.Mutate(ctx, &bridgev1.MutateRequest{ClientId: "c",
				States: []string{"A"}})
			return err
		}, codes.InvalidArgument, "type"},
		{"unknown type", func() error {
			_, err := rpc.Mutate(ctx, &bridgev1.MutateRequest{ClientId: "c",
				Type: 99, States: []string{"A"}})
			return err
		}, codes.InvalidArgument, "type"},
		{"no states", func() error {
			_, err := rpc.Mutate(ctx, &bridgev1.MutateRequest{ClientId: "c",
				Type: add})
			return err
		}, codes.InvalidArgument, "states"},
		{"wrong type in args", func() error {
			_, err := rpc.Mutate(ctx, &bridgev1.MutateRequest{ClientId: "c",
				Type: add, States: []string{"A"}, Args: badErr})
			return err
		}, codes.InvalidArgument, "args.arpc.err"},
		{"schema hash", func() error {
			_, err := rpc.Mutate(ctx, &bridgev1.MutateRequest{ClientId: "c",
				Type: add, StateIndexes: []uint32{2}, SchemaHash: "stale"})
			return err
		}, codes.FailedPrecondition, "schema_hash"},
		{"can mutate unknown state", func() error {
			_, err := rpc.CanMutate(ctx, &bridgev1.CanMutateRequest{ClientId: "c",
				Type: add, States: []string{"Nope"}})
			return err
		}, codes.InvalidArgument, "states[0]"},
		{"handshake unknown state", func() error {
			_, err := rpc.Handshake(ctx, &bridgev1.HandshakeRequest{ClientId: "c",
				StateNames: []string{"A", "Gone"}})
			return err
		}, codes.FailedPrecondition, "state_names[1]"},
		{"handshake version", func() error {
			_, err := rpc.Handshake(ctx, &bridgev1.HandshakeRequest{ClientId: "c",
				ProtocolVersion: 7})
			return err
		}, codes.FailedPrecondition, "protocol_version"},
		{"handshake without id", func() error {
			_, err := rpc.Handshake(ctx, &bridgev1.HandshakeRequest{})
			return err
		}, codes.InvalidArgument, "client_id"},
		{"sync time length", func() error {
			_, err := rpc.Sync(ctx, &bridgev1.SyncRequest{ClientId: "c",
				KnownSeq: 1, KnownTime: []uint64{1, 2}})
			return err
		}, codes.FailedPrecondition, "known_time"},
		{"sync time without seq", func() error {
			_, err := rpc.Sync(ctx, &bridgev1.SyncRequest{ClientId: "c",
				KnownTime: make([]uint64, len(testNames))})
			return err
		}, codes.InvalidArgument, "known_seq"},
		{"get unknown", func() error {
			_, err := rpc.Get(ctx, &bridgev1.GetRequest{ClientId: "c", Name: "x"})
			return err
		}, codes.NotFound, "name"},
		{"denied mutate", func() error {
			_, err := rpc.Mutate(ctx, &bridgev1.MutateRequest{ClientId: "banned",
				Type: add, States: []string{"A"}})
			return err
		}, codes.PermissionDenied, "client_id"},
		{"denied watch", func() error {
			st, err := rpc.WatchClock(ctx, &bridgev1.WatchClockRequest{
				ClientId: "banned"})
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		}, codes.PermissionDenied, "client_id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			require.Error(t, err)
			assert.Equal(t, c.code, status.Code(err), err)
			assert.Equal(t, c.field, violation(err), err)
		})
	}

	// the server is unaffected
	resp, err := rpc.Mutate(ctx, &bridgev1.MutateRequest{ClientId: "c",
		Type: add, States: []string{"A"}})
	require.NoError(t, err)
	assert.Equal(t, bridgev1.MutationResult_MUTATION_RESULT_EXECUTED, resp.Result)
	v, err := rpc.Get(ctx, &bridgev1.GetRequest{ClientId: "c", Name: "value"})
	require.NoError(t, err)
	assert.Equal(t, 42.0, v.Value.GetNumberValue())
	assert.True(t, w.Is1("A"))
}

// TestClientErrors: the Go client turns status codes back into the arpc
// sentinels, as the aRPC client reports them.
func TestClientErrors(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, &bridge.ServerOpts{Service: bridge.ServiceOpts{
		AllowId: arpc.GetClientId("ok")}})
	addr := s.Addr().String()

	_, err := bridge.Dial(context.Background(), addr, "other", testSchema,
		testNames, nil)
	assert.ErrorIs(t, err, arpc.ErrNoAccess)

	other := am.SchemaMerge(testSchema, am.Schema{"Extra": {}})
	_, err = bridge.Dial(context.Background(), addr, "ok", other,
		am.SAdd(testNames, am.S{"Extra"}), nil)
	assert.ErrorIs(t, err, arpc.ErrSchemaMismatch)

	c := dial(t, addr, "ok", nil)
	_, err = c.Worker.Mutate(context.Background(), am.MutationAdd,
		am.S{"Nope"}, nil)
	assert.ErrorIs(t, err, arpc.ErrInvalidParams)
	_, err = c.Get(context.Background(), "nothing")
	assert.ErrorIs(t, err, bridge.ErrNotFound)
	assert.Equal(t, am.Canceled, c.Worker.Add1("A", am.A{"ch": make(chan int)}))
	assert.ErrorIs(t, c.Worker.LastErr(), arpc.ErrInvalidParams)
}

// TestOversizedMessage: a request over MaxRecvMsgSize is RESOURCE_EXHAUSTED
// and the connection keeps working.
func TestOversizedMessage(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, &bridge.ServerOpts{MaxRecvMsgSize: 4 << 10})
	rpc := rawClient(t, s.Addr().String())
	ctx := tctx(t)
	big, err := structpb.NewStruct(map[string]any{"blob": strings.Repeat("x",
		16<<10)})
	require.NoError(t, err)
	_, err = rpc.Mutate(ctx, &bridgev1.MutateRequest{ClientId: "c",
		Type: bridgev1.MutationType_MUTATION_TYPE_ADD, States: []string{"A"},
		Args: big})
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), err)
	assert.False(t, w.Is1("A"))

	_, err = rpc.Mutate(ctx, &bridgev1.MutateRequest{ClientId: "c",
		Type: bridgev1.MutationType_MUTATION_TYPE_ADD, States: []string{"A"}})
	require.NoError(t, err)
	assert.True(t, w.Is1("A"))
}

// rawCodec sends bytes as they are, to craft malformed requests.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// TestMalformedRequest: a request that does not decode (args claim 16 bytes
// and carry 2) is refused by gRPC's decoder with INTERNAL, and nothing
// changes. (A field of the wrong wire type is not an error in proto3: the
// decoder keeps it as an unknown field.)
func TestMalformedRequest(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	cc, err := grpc.NewClient(s.Addr().String(),
		grpc.WithTransportCredentials(insecureCreds()))
	require.NoError(t, err)
	defer cc.Close()
	// field 1 (type) = 1, field 2 (states) = "A", field 4 (args) truncated
	req := []byte{0x08, 0x01, 0x12, 0x01, 'A', 0x22, 0x10, 0x0a, 0x00}
	var resp []byte
	err = cc.Invoke(tctx(t), "/arpc.bridge.v1.BridgeService/Mutate", &req,
		&resp, grpc.ForceCodecV2(rawCodec{}))
	require.Error(t, err)
	assert.Equal(t, codes.Internal, status.Code(err), err)
	assert.False(t, w.Is1("A"))
}

// TestWorkerGone: once the worker is disposed, calls and streams are
// UNAVAILABLE with the WORKER_GONE reason, and the client sees
// arpc.ErrWorkerGone.
func TestWorkerGone(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	rpc := rawClient(t, s.Addr().String())
	ctx := tctx(t)
	st, err := rpc.WatchClock(ctx, &bridgev1.WatchClockRequest{ClientId: "c"})
	require.NoError(t, err)
	for {
		msg, err := st.Recv()
		require.NoError(t, err)
		if msg.GetInitialSyncDone() != nil {
			break
		}
	}
	w.Dispose()
	for {
		_, err = st.Recv()
		if err != nil {
			break
		}
	}
	assert.Equal(t, codes.Unavailable, status.Code(err), err)
	_, err = rpc.Mutate(ctx, &bridgev1.MutateRequest{ClientId: "c",
		Type: bridgev1.MutationType_MUTATION_TYPE_ADD, States: []string{"A"}})
	assert.Equal(t, codes.Unavailable, status.Code(err), err)

	_, err = bridge.Dial(context.Background(), s.Addr().String(), "late",
		testSchema, testNames, &bridge.ClientOpts{ConnTimeout: 2 * time.Second})
	assert.True(t, errors.Is(err, arpc.ErrWorkerGone), err)
}
