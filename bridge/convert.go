package bridge

import (
	"encoding/json"
	"fmt"
	"slices"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/clock"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

// ProtocolVersion is the version of the arpc.bridge.v1 service this package
// speaks, for HandshakeRequest.protocol_version (bridge.Dial sends it; a
// program calling the stubs itself, Client.RPC, sends it too). It is not
// aRPC's arpc.ProtocolVersion: each door versions its own wire.
const ProtocolVersion = 1

// ErrName is the one reserved name of the worker's error, "arpc.err", in
// two places of arpc.bridge.v1:
//
//   - Mutate args: a Mutate of type ADD naming exactly one state, whose args
//     hold this key with a string, runs AddErrState(state, error(message))
//     on the worker; the key is removed from the args the handlers see.
//   - Get: the name answered by the service itself, the worker's last error
//     message (a string), or null when it has none.
const ErrName = "arpc.err"

// smallDiff is how many changed states a ClockUpdate holds without
// allocating its lists separately: most transitions change one to three.
const smallDiff = 4

// protoUpdate is a ClockUpdate allocated together with room for a small
// diff, so that a typical update (a Mutate reply, a stream push) costs one
// allocation instead of three.
type protoUpdate struct {
	pu  bridgev1.ClockUpdate
	idx [smallDiff]uint32
	del [smallDiff]uint64
}

// toProtoUpdate converts an engine update to its wire form.
func toProtoUpdate(u *engine.Update) *bridgev1.ClockUpdate {
	p := &protoUpdate{}
	pu := &p.pu
	pu.ToSeq, pu.Sum, pu.QueueTick = u.ToSeq, u.Sum, u.QueueTick
	pu.Full, pu.Coalesced = u.Full, u.Coalesced
	if !u.Full {
		pu.FromSeq = u.FromSeq
	}
	if len(u.Ticks) > 0 || u.Gap > 0 {
		toProtoTicks(pu, u)
	}
	n := len(u.Diff)
	switch {
	case n == 0:
		return pu
	case n <= smallDiff:
		pu.Indexes, pu.Deltas = p.idx[:n:n], p.del[:n:n]
	default:
		pu.Indexes, pu.Deltas = make([]uint32, n), make([]uint64, n)
	}
	for i, d := range u.Diff {
		pu.Indexes[i], pu.Deltas[i] = uint32(d[0]), d[1]
	}
	return pu
}

// fromProtoUpdate converts a wire update to an engine update, checking its
// shape against n states.
func fromProtoUpdate(pu *bridgev1.ClockUpdate, n int) (*engine.Update, error) {
	if pu == nil {
		return nil, fmt.Errorf("%w: missing clock update", arpc.ErrInvalidResp)
	}
	if len(pu.Indexes) != len(pu.Deltas) {
		return nil, fmt.Errorf("%w: %d indexes, %d deltas", arpc.ErrInvalidResp,
			len(pu.Indexes), len(pu.Deltas))
	}
	d := make(clock.Diff, len(pu.Indexes))
	for i, idx := range pu.Indexes {
		if int(idx) >= n {
			return nil, fmt.Errorf("%w: state index %d of %d", arpc.ErrInvalidResp,
				idx, n)
		}
		d[i] = clock.Pair{uint64(idx), pu.Deltas[i]}
	}
	u := &engine.Update{FromSeq: pu.FromSeq, ToSeq: pu.ToSeq, Diff: d,
		Sum: pu.Sum, QueueTick: pu.QueueTick, Full: pu.Full,
		Coalesced: pu.Coalesced}
	if err := fromProtoTicks(u, pu, n); err != nil {
		return nil, err
	}
	return u, nil
}

// fullFromTime is the full update of a time at seq (a handshake's).
func fullFromTime(t am.Time, seq, queueTick uint64) *engine.Update {
	return &engine.Update{ToSeq: seq, Diff: clock.Compute(nil, t),
		Sum: clock.Sum(t), QueueTick: queueTick, Full: true}
}

// toProtoSchema converts a schema to its wire form, in names order.
func toProtoSchema(schema am.Schema, names am.S) *bridgev1.Schema {
	out := &bridgev1.Schema{States: make([]*bridgev1.StateSchema, len(names))}
	for i, n := range names {
		st := schema[n]
		out.States[i] = &bridgev1.StateSchema{
			Name: n, Auto: st.Auto, Multi: st.Multi,
			Require: slices.Clone(st.Require), Add: slices.Clone(st.Add),
			Remove: slices.Clone(st.Remove), After: slices.Clone(st.After),
			Tags: slices.Clone(st.Tags),
		}
	}
	return out
}

// fromProtoSchema converts a wire schema back.
func fromProtoSchema(ps *bridgev1.Schema) am.Schema {
	if ps == nil {
		return nil
	}
	out := make(am.Schema, len(ps.States))
	for _, st := range ps.States {
		out[st.Name] = am.State{Auto: st.Auto, Multi: st.Multi,
			Require: st.Require, Add: st.Add, Remove: st.Remove, After: st.After,
			Tags: st.Tags}
	}
	return out
}

// toStruct converts mutation args to a Struct. Values that structpb does not
// take directly go through JSON; what JSON cannot encode is an error
// wrapping arpc.ErrInvalidParams.
func toStruct(args am.A) (*structpb.Struct, error) {
	if len(args) == 0 {
		return nil, nil
	}
	fields := make(map[string]*structpb.Value, len(args))
	for k, v := range args {
		pv, err := toValue(v)
		if err != nil {
			return nil, fmt.Errorf("%w: arg %q: %w", arpc.ErrInvalidParams, k, err)
		}
		fields[k] = pv
	}
	return &structpb.Struct{Fields: fields}, nil
}

// toValue converts a Go value to a protobuf Value, through JSON when
// structpb does not know its type.
func toValue(v any) (*structpb.Value, error) {
	if pv, err := structpb.NewValue(v); err == nil {
		return pv, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return nil, err
	}
	return structpb.NewValue(generic)
}

// fromStruct converts Struct args to am.A, each value by fromValue. nil for
// none.
func fromStruct(s *structpb.Struct) am.A {
	if s == nil || len(s.Fields) == 0 {
		return nil
	}
	out := make(am.A, len(s.Fields))
	for k, v := range s.Fields {
		out[k] = fromValue(v)
	}
	return out
}

// fromValue converts a protobuf Value to Go as structpb's AsInterface does
// (null and an unset kind nil, numbers float64, lists []any, structs
// map[string]any), except that NaN and ±Inf stay float64: AsInterface turns
// them into the strings "NaN", "Infinity" and "-Infinity" (their JSON
// form), so a handler expecting a number would get a string that aRPC never
// delivers.
func fromValue(v *structpb.Value) any {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		if k != nil {
			return k.NumberValue
		}
	case *structpb.Value_ListValue:
		if k != nil {
			vs := k.ListValue.GetValues()
			out := make([]any, len(vs))
			for i, e := range vs {
				out[i] = fromValue(e)
			}
			return out
		}
	case *structpb.Value_StructValue:
		if k != nil {
			fs := k.StructValue.GetFields()
			out := make(map[string]any, len(fs))
			for name, e := range fs {
				out[name] = fromValue(e)
			}
			return out
		}
	}
	return v.AsInterface()
}

// payloadData encodes payload data for the wire: []byte as is, strings as
// UTF-8, anything else as JSON. ok is false when it cannot be encoded.
func payloadData(data any) (b []byte, contentType string, err error) {
	switch v := data.(type) {
	case nil:
		return nil, "", nil
	case []byte:
		return v, "application/octet-stream", nil
	case string:
		return []byte(v), "text/plain; charset=utf-8", nil
	}
	b, err = json.Marshal(data)
	if err != nil {
		return nil, "", err
	}
	return b, "application/json", nil
}

// resultToProto converts a mutation result.
func resultToProto(r am.Result) (bridgev1.MutationResult, uint64) {
	switch {
	case r == am.Executed:
		return bridgev1.MutationResult_MUTATION_RESULT_EXECUTED, 0
	case r == am.Canceled:
		return bridgev1.MutationResult_MUTATION_RESULT_CANCELED, 0
	default:
		return bridgev1.MutationResult_MUTATION_RESULT_QUEUED, uint64(r)
	}
}

// resultFromProto converts a mutation result back.
func resultFromProto(r bridgev1.MutationResult, queueTick uint64) (
	am.Result, error,
) {
	switch r {
	case bridgev1.MutationResult_MUTATION_RESULT_EXECUTED:
		return am.Executed, nil
	case bridgev1.MutationResult_MUTATION_RESULT_CANCELED:
		return am.Canceled, nil
	case bridgev1.MutationResult_MUTATION_RESULT_QUEUED:
		if queueTick < uint64(am.Queued) {
			return am.Queued, nil
		}
		return am.Result(queueTick), nil
	}
	return am.Canceled, fmt.Errorf("%w: mutation result %v", arpc.ErrInvalidResp,
		r)
}
