package bridge_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
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
	badErr, _ := structpb.NewStruct(map[string]any{bridge.ErrName: 5.0})

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

// typedHandlers are the handlers of argsWorker, each reading args["v"]:
// RecordEnter takes any value and records it, FloatEnter accepts only a
// float64 (a checked type assertion) and FloatMustEnter asserts float64
// unchecked, so that any other type panics in the handler.
type typedHandlers struct {
	mx  sync.Mutex
	got any
}

func (h *typedHandlers) RecordEnter(e *am.Event) bool {
	h.mx.Lock()
	defer h.mx.Unlock()
	h.got = e.Args["v"]
	return true
}

func (h *typedHandlers) FloatEnter(e *am.Event) bool {
	_, ok := e.Args["v"].(float64)
	return ok
}

func (h *typedHandlers) FloatMustEnter(e *am.Event) bool {
	_ = e.Args["v"].(float64) // panics unless a float64
	return true
}

func (h *typedHandlers) recorded() any {
	h.mx.Lock()
	defer h.mx.Unlock()
	return h.got
}

// argsSchema and argsNames are the schema of argsWorker.
var (
	argsSchema = am.SchemaMerge(ss.WorkerSchema, am.Schema{
		"Record": {Multi: true}, "Float": {Multi: true},
		"FloatMust": {Multi: true}})
	argsNames = am.SAdd(ss.WorkerStates.Names(), am.S{"Record", "Float",
		"FloatMust"})
)

// argsWorker is a worker whose handlers type-assert their args.
func argsWorker(t *testing.T) (*am.Machine, *typedHandlers) {
	t.Helper()
	w, err := am.NewCommon(context.Background(), "w-"+t.Name(), argsSchema,
		argsNames, nil, nil, &am.Opts{DontLogStackTrace: true})
	require.NoError(t, err)
	t.Cleanup(w.Dispose)
	h := &typedHandlers{}
	_, err = w.BindHandlers(h)
	require.NoError(t, err)
	return w, h
}

// TestArgsValueKinds sends args["v"] of every google.protobuf.Value kind,
// the edge numbers included, to handlers that type-assert it. The value
// arrives as Struct.AsMap makes it (numbers float64, lists []any, structs
// map[string]any, null nil), except that NaN and ±Inf stay float64 (AsMap
// makes them strings); a handler that refuses the type cancels the
// mutation (CANCELED, no error); one that panics on the type cancels it too,
// and the panic becomes the worker's error, readable as Get "arpc.err". The
// server keeps serving throughout.
func TestArgsValueKinds(t *testing.T) {
	w, h := argsWorker(t)
	s := startServer(t, w, nil)
	rpc := rawClient(t, s.Addr().String())
	ctx := tctx(t)
	num := structpb.NewNumberValue
	list := func(vs ...*structpb.Value) *structpb.Value {
		return structpb.NewListValue(&structpb.ListValue{Values: vs})
	}
	obj := func(kv ...any) *structpb.Value {
		st := &structpb.Struct{Fields: map[string]*structpb.Value{}}
		for i := 0; i < len(kv); i += 2 {
			st.Fields[kv[i].(string)] = kv[i+1].(*structpb.Value)
		}
		return structpb.NewStructValue(st)
	}
	deep := num(1)
	for range 50 {
		deep = list(obj("x", deep))
	}

	cases := []struct {
		name string
		// v is args["v"]; nil leaves args empty
		v *structpb.Value
		// want is what the handler gets; wantType is the Go type a panicking
		// assertion names ("" for a float64, which passes)
		want     any
		wantType string
	}{
		{"absent", nil, nil, "nil"},
		{"kind unset", &structpb.Value{}, nil, "nil"},
		{"null", structpb.NewNullValue(), nil, "nil"},
		{"bool", structpb.NewBoolValue(true), true, "bool"},
		{"zero", num(0), 0.0, ""},
		{"negative fraction", num(-1.5), -1.5, ""},
		{"beyond int64", num(1 << 63), float64(1 << 63), ""},
		{"max float64", num(math.MaxFloat64), math.MaxFloat64, ""},
		{"smallest float64", num(math.SmallestNonzeroFloat64),
			math.SmallestNonzeroFloat64, ""},
		{"+inf", num(math.Inf(1)), math.Inf(1), ""},
		{"-inf", num(math.Inf(-1)), math.Inf(-1), ""},
		{"NaN", num(math.NaN()), math.NaN(), ""},
		{"string", structpb.NewStringValue("4"), "4", "string"},
		{"empty string", structpb.NewStringValue(""), "", "string"},
		{"list", list(num(1), structpb.NewStringValue("a"), list(num(2))),
			[]any{1.0, "a", []any{2.0}}, "[]interface {}"},
		{"empty list", list(), []any{}, "[]interface {}"},
		{"struct", obj("n", num(1), "in", obj("ok", structpb.NewBoolValue(false),
			"l", list(structpb.NewNullValue()))),
			map[string]any{"n": 1.0, "in": map[string]any{"ok": false,
				"l": []any{nil}}}, "map[string]interface {}"},
		{"empty struct", obj(), map[string]any{}, "map[string]interface {}"},
		{"nested 50 deep", deep, deep.AsInterface(), "[]interface {}"},
	}
	add := bridgev1.MutationType_MUTATION_TYPE_ADD
	mutate := func(typ bridgev1.MutationType, state string, v *structpb.Value,
	) (bridgev1.MutationResult, error) {
		req := &bridgev1.MutateRequest{ClientId: "c", States: []string{state},
			Type: typ, NoSync: true}
		if v != nil {
			req.Args = &structpb.Struct{Fields: map[string]*structpb.Value{"v": v}}
		}
		resp, err := rpc.Mutate(ctx, req)
		return resp.GetResult(), err
	}
	executed := bridgev1.MutationResult_MUTATION_RESULT_EXECUTED
	canceled := bridgev1.MutationResult_MUTATION_RESULT_CANCELED
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// any kind is delivered, converted as documented
			res, err := mutate(add, "Record", c.v)
			require.NoError(t, err)
			require.Equal(t, executed, res)
			if f, ok := c.want.(float64); ok && math.IsNaN(f) {
				got, ok := h.recorded().(float64)
				assert.True(t, ok && math.IsNaN(got), "got %v", h.recorded())
			} else {
				assert.Equal(t, c.want, h.recorded())
			}

			// a checked assertion: float64 or a canceled mutation
			want := executed
			if c.wantType != "" {
				want = canceled
			}
			res, err = mutate(add, "Float", c.v)
			require.NoError(t, err)
			assert.Equal(t, want, res)
			assert.False(t, w.Is1(am.StateException))

			// an unchecked assertion: the panic cancels the mutation and is
			// the worker's error, which the client can read
			errBefore := w.Err()
			res, err = mutate(add, "FloatMust", c.v)
			require.NoError(t, err)
			assert.Equal(t, want, res)
			if c.wantType == "" {
				assert.Equal(t, errBefore, w.Err())
				assert.False(t, w.Is1(am.StateException))
				return
			}
			require.True(t, errBefore != w.Err(), "a new error")
			msg, err := rpc.Get(ctx, &bridgev1.GetRequest{ClientId: "c",
				Name: bridge.ErrName})
			require.NoError(t, err)
			assert.Contains(t, msg.Value.GetStringValue(),
				"interface conversion: interface {} is "+c.wantType+
					", not float64")
			// clear the exception for the next case
			waitCh(t, w.When1(am.StateException, nil), "Exception")
			res, err = mutate(bridgev1.MutationType_MUTATION_TYPE_REMOVE,
				am.StateException, nil)
			require.NoError(t, err)
			require.Equal(t, executed, res)
		})
	}

	// the server is unaffected: mutations, reads and health work
	res, err := mutate(add, "Float", num(7))
	require.NoError(t, err)
	assert.Equal(t, executed, res)
	_, err = rpc.Handshake(ctx, &bridgev1.HandshakeRequest{ClientId: "c"})
	require.NoError(t, err)
	cc, err := grpc.NewClient(s.Addr().String(),
		grpc.WithTransportCredentials(insecureCreds()))
	require.NoError(t, err)
	defer cc.Close()
	hr, err := healthpb.NewHealthClient(cc).Check(ctx,
		&healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, hr.Status)
}

// TestNonFiniteNumbers: NaN and ±Inf, which a binary protobuf Value can
// carry, reach the worker's handlers and the Go client's Get as float64, as
// over aRPC (not as the strings of their JSON form).
func TestNonFiniteNumbers(t *testing.T) {
	w, h := argsWorker(t)
	s := startServer(t, w, &bridge.ServerOpts{Service: bridge.ServiceOpts{
		Getter: func(name string) any {
			if name == "inf" {
				return math.Inf(1)
			}
			return nil
		},
	}})
	c, err := bridge.Dial(context.Background(), s.Addr().String(), "nf",
		argsSchema, argsNames, nil)
	require.NoError(t, err)
	defer c.Close()

	require.Equal(t, am.Executed, c.Worker.Add1("Float", am.A{
		"v": math.Inf(-1)}), "%v", c.Worker.LastErr())
	require.Equal(t, am.Executed, c.Worker.Add1("Record", am.A{
		"v": math.NaN()}), "%v", c.Worker.LastErr())
	f, ok := h.recorded().(float64)
	assert.True(t, ok && math.IsNaN(f), "%#v", h.recorded())

	v, err := c.Get(context.Background(), "inf")
	require.NoError(t, err)
	assert.Equal(t, math.Inf(1), v)
}
