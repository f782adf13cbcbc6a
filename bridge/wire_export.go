package bridge

import (
	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/arpcbridge/arpcbridge/arpc/engine"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

// This file exports the gRPC door's wire conversions for other transports of
// the same messages (package natsbus), so that every transport carrying
// arpc.bridge.v1 messages encodes them in one place.

// ToProtoUpdate converts an engine update to its arpc.bridge.v1 form.
func ToProtoUpdate(u *engine.Update) *bridgev1.ClockUpdate { return toProtoUpdate(u) }

// FromProtoUpdate converts a wire update back, checking its shape against n
// states (errors wrap arpc.ErrInvalidResp).
func FromProtoUpdate(pu *bridgev1.ClockUpdate, n int) (*engine.Update, error) {
	return fromProtoUpdate(pu, n)
}

// ToStruct converts mutation args to a Struct (errors wrap
// arpc.ErrInvalidParams).
func ToStruct(args am.A) (*structpb.Struct, error) { return toStruct(args) }

// FromStruct converts Struct args back to am.A, as the gRPC door does.
func FromStruct(s *structpb.Struct) am.A { return fromStruct(s) }

// ResultToProto converts a mutation result to its wire form.
func ResultToProto(r am.Result) (bridgev1.MutationResult, uint64) {
	return resultToProto(r)
}

// ResultFromProto converts a wire mutation result back.
func ResultFromProto(r bridgev1.MutationResult, queueTick uint64) (am.Result,
	error,
) {
	return resultFromProto(r, queueTick)
}

// PayloadData encodes payload data as the gRPC door does: []byte as is,
// strings as UTF-8 text, anything else as JSON.
func PayloadData(data any) ([]byte, string, error) { return payloadData(data) }

// ErrArg takes the reserved AddErrState message (args[ErrName]) out of the
// args of a mutation of type typ on states, as the gRPC door does: isErr
// when the mutation is an AddErrState; an error wrapping
// arpc.ErrInvalidParams when the arg is not a string or the mutation is not
// an ADD of one state.
func ErrArg(typ bridgev1.MutationType, states am.S, args am.A) (
	msg string, isErr bool, err error,
) {
	return errArg(typ, states, args)
}

// MutationKey maps a wire mutation ID to the worker's dedup key, as the gRPC
// door does, so a retry through any door deduplicates.
func MutationKey(id string) uint64 { return mutationKey(id) }

// MutationId formats a Worker's mutation ID (its ID scope and the id) for
// the wire; "" for 0 (no de-duplication).
func MutationId(scope, id uint64) string { return mutationId(scope, id) }

// ToProtoSchema converts a schema to its wire form, in names order.
func ToProtoSchema(schema am.Schema, names am.S) *bridgev1.Schema {
	return toProtoSchema(schema, names)
}

// FromProtoSchema converts a wire schema back (nil for nil).
func FromProtoSchema(ps *bridgev1.Schema) am.Schema { return fromProtoSchema(ps) }
