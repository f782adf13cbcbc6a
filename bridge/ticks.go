package bridge

import (
	"fmt"
	"slices"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/clock"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

// This file is the gRPC door's side of PushAllTicks (the engine records the
// transitions, arpc.Worker applies them) and of state groups.

// toProtoTicks adds u's transitions (and its gap) to pu. Each transition is
// encoded once and shared by every stream it goes to.
func toProtoTicks(pu *bridgev1.ClockUpdate, u *engine.Update) {
	if u.Gap > 0 {
		pu.Gap, pu.GapTransitions = true, u.Gap
	}
	if len(u.Ticks) == 0 {
		return
	}
	pu.Transitions = make([]*bridgev1.Transition, len(u.Ticks))
	for i, t := range u.Ticks {
		pu.Transitions[i] = t.Encoded(engine.TickSlotGRPC, func(t *engine.Tick,
		) any {
			return toProtoTick(t)
		}).(*bridgev1.Transition)
	}
}

// toProtoTick is the wire form of one transition. The args that protobuf
// can carry (JSON-like values, see toValue) travel; the others are named in
// args_omitted.
func toProtoTick(t *engine.Tick) *bridgev1.Transition {
	pt := &bridgev1.Transition{Seq: t.Seq, Type: toProtoMutationType(t.Type),
		Auto: t.Auto, Gap: t.Gap}
	if len(t.Called) > 0 {
		pt.Called = make([]uint32, len(t.Called))
		for i, c := range t.Called {
			pt.Called[i] = uint32(c)
		}
	}
	if n := len(t.Diff); n > 0 {
		pt.Indexes, pt.Deltas = make([]uint32, n), make([]uint64, n)
		for i, d := range t.Diff {
			pt.Indexes[i], pt.Deltas[i] = uint32(d[0]), d[1]
		}
	}
	if len(t.Args) > 0 {
		fields := make(map[string]*structpb.Value, len(t.Args))
		for k, v := range t.Args {
			pv, err := toValue(v)
			if err != nil {
				pt.ArgsOmitted = append(pt.ArgsOmitted, k)
				continue
			}
			fields[k] = pv
		}
		slices.Sort(pt.ArgsOmitted)
		if len(fields) > 0 {
			pt.Args = &structpb.Struct{Fields: fields}
		}
	}
	return pt
}

func toProtoMutationType(t am.MutationType) bridgev1.MutationType {
	switch t {
	case am.MutationAdd:
		return bridgev1.MutationType_MUTATION_TYPE_ADD
	case am.MutationRemove:
		return bridgev1.MutationType_MUTATION_TYPE_REMOVE
	case am.MutationSet:
		return bridgev1.MutationType_MUTATION_TYPE_SET
	}
	return bridgev1.MutationType_MUTATION_TYPE_UNSPECIFIED
}

// fromProtoTicks decodes pu's transitions into u, checking their shape
// against n states (the replica checks their sequence).
func fromProtoTicks(u *engine.Update, pu *bridgev1.ClockUpdate, n int) error {
	if pu.Gap {
		u.Gap = max(pu.GapTransitions, 1)
	}
	if len(pu.Transitions) == 0 {
		return nil
	}
	u.Ticks = make([]*engine.Tick, len(pu.Transitions))
	for i, pt := range pu.Transitions {
		if pt == nil {
			return fmt.Errorf("%w: transition %d missing", arpc.ErrInvalidResp, i)
		}
		if len(pt.Indexes) != len(pt.Deltas) {
			return fmt.Errorf("%w: transition %d: %d indexes, %d deltas",
				arpc.ErrInvalidResp, pt.Seq, len(pt.Indexes), len(pt.Deltas))
		}
		t := &engine.Tick{Seq: pt.Seq, Auto: pt.Auto, Args: fromStruct(pt.Args),
			Gap: pt.Gap}
		switch pt.Type {
		case bridgev1.MutationType_MUTATION_TYPE_ADD:
			t.Type = am.MutationAdd
		case bridgev1.MutationType_MUTATION_TYPE_REMOVE:
			t.Type = am.MutationRemove
		case bridgev1.MutationType_MUTATION_TYPE_SET:
			t.Type = am.MutationSet
		default:
			return fmt.Errorf("%w: transition %d: mutation type %v",
				arpc.ErrInvalidResp, pt.Seq, pt.Type)
		}
		for _, c := range pt.Called {
			if int(c) >= n {
				return fmt.Errorf("%w: transition %d: called state %d of %d",
					arpc.ErrInvalidResp, pt.Seq, c, n)
			}
			t.Called = append(t.Called, int(c))
		}
		if len(pt.Indexes) > 0 {
			t.Diff = make(clock.Diff, len(pt.Indexes))
			for j, idx := range pt.Indexes {
				if int(idx) >= n {
					return fmt.Errorf("%w: transition %d: state index %d of %d",
						arpc.ErrInvalidResp, pt.Seq, idx, n)
				}
				t.Diff[j] = clock.Pair{uint64(idx), pt.Deltas[j]}
			}
		}
		u.Ticks[i] = t
	}
	return nil
}

// toProtoGroups converts a worker's state groups (am.Api.Groups) to their
// wire form, in the worker's order.
func toProtoGroups(groups map[string][]int, order []string,
) []*bridgev1.StateGroup {
	out := make([]*bridgev1.StateGroup, 0, len(order))
	for _, name := range order {
		g := &bridgev1.StateGroup{Name: name}
		for _, idx := range groups[name] {
			g.Indexes = append(g.Indexes, uint32(idx))
		}
		out = append(out, g)
	}
	return out
}

// fromProtoGroups converts state groups from the wire, checking their
// indexes against n states.
func fromProtoGroups(in []*bridgev1.StateGroup, n int) (map[string][]int,
	[]string, error,
) {
	if len(in) == 0 {
		return nil, nil, nil
	}
	groups := make(map[string][]int, len(in))
	order := make([]string, 0, len(in))
	for _, g := range in {
		idxs := make([]int, 0, len(g.GetIndexes()))
		for _, idx := range g.GetIndexes() {
			if int(idx) >= n {
				return nil, nil, fmt.Errorf("%w: group %q: state index %d of %d",
					arpc.ErrInvalidResp, g.GetName(), idx, n)
			}
			idxs = append(idxs, int(idx))
		}
		if _, dup := groups[g.GetName()]; !dup {
			order = append(order, g.GetName())
		}
		groups[g.GetName()] = idxs
	}
	return groups, order, nil
}
