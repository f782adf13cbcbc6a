package states

import (
	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// WorkerStatesDef names the states of the benchmark worker.
type WorkerStatesDef struct {
	*am.StatesBase

	// Value1, Value2 and Value3 hold the worker's value; exactly one is active
	// once the worker has started.
	Value1 string
	Value2 string
	Value3 string

	// Event is emitted (multi) each time the worker sets a new value.
	Event string
	// CallOp asks the worker to process an op. Takes [ArgOp]: an int 1..3 that
	// should match the active value.
	CallOp string
	// Ping is a multi state without handlers: the cheapest possible mutation,
	// used for round trips, bursts and fan-out.
	Ping string
}

// WorkerGroupsDef groups the worker's states.
type WorkerGroupsDef struct {
	// Values holds the mutually exclusive value states, in value order.
	Values am.S
}

// ArgOp is the key of the op argument of [WorkerStatesDef.CallOp].
const ArgOp = "Op"

var (
	// WorkerStates are the worker's state names.
	WorkerStates = am.NewStates(WorkerStatesDef{})

	ws = WorkerStates

	// WorkerGroups are the worker's state groups.
	WorkerGroups = am.NewStateGroups(WorkerGroupsDef{
		Values: am.S{ws.Value1, ws.Value2, ws.Value3},
	})
)

// WorkerSchema is the worker's schema: three mutually removing values, a
// multi Event, a multi CallOp and a multi Ping.
var WorkerSchema = am.Schema{
	ws.Exception: {Multi: true},

	ws.Value1: {Remove: WorkerGroups.Values},
	ws.Value2: {Remove: WorkerGroups.Values},
	ws.Value3: {Remove: WorkerGroups.Values},

	ws.Event:  {Multi: true},
	ws.CallOp: {Multi: true},
	ws.Ping:   {Multi: true},
}

// ValueState returns the state holding value v (1..3), or "" when v is out of
// range.
func ValueState(v int) string {
	if v < 1 || v > len(WorkerGroups.Values) {
		return ""
	}
	return WorkerGroups.Values[v-1]
}

// StateValue is the inverse of [ValueState]: 1..3 for a value state, 0
// otherwise.
func StateValue(state string) int {
	for i, s := range WorkerGroups.Values {
		if s == state {
			return i + 1
		}
	}
	return 0
}

// SinkStatesDef names the states of a payload sink: the client-side machine
// that receives payloads. Its names match upstream pkg/rpc's consumer
// contract, so one sink serves every machine transport.
type SinkStatesDef struct {
	*am.StatesBase

	// ServerPayload is added (multi) once per received payload.
	ServerPayload string
}

var (
	// SinkStates are the sink's state names.
	SinkStates = am.NewStates(SinkStatesDef{})

	// SinkSchema is the sink's schema.
	SinkSchema = am.Schema{
		SinkStates.Exception:     {Multi: true},
		SinkStates.ServerPayload: {Multi: true},
	}
)
