package states

import am "github.com/pancsta/asyncmachine-go/pkg/machine"

// WorkerStatesDef names the states every machine exposed by an aRPC server
// (a worker) must have.
type WorkerStatesDef struct {
	*am.StatesBase

	// SendPayload is activated by the worker, with an arpc.ArgsPayload in its
	// args, to deliver data to the connected client's Consumer.
	SendPayload string
}

// WorkerSchema holds the relations of the worker states. Merge it into the
// schema of any machine you serve.
var WorkerSchema = am.Schema{
	am.StateException:        {Multi: true},
	WorkerStates.SendPayload: {Multi: true},
}

// WorkerStates are the names of the worker states, in schema order.
var WorkerStates = am.NewStates(WorkerStatesDef{})
