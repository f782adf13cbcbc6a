package states

import am "github.com/pancsta/asyncmachine-go/pkg/machine"

// ConsumerStatesDef names the states of a payload consumer: a local machine
// given to a client via ClientOpts.Consumer.
type ConsumerStatesDef struct {
	*am.StatesBase

	// WorkerPayload is added by the client, with an arpc.ArgsPayload in its
	// args, for every payload the worker sends.
	WorkerPayload string
}

// ConsumerSchema holds the relations of the consumer states.
var ConsumerSchema = am.Schema{
	am.StateException:            {Multi: true},
	ConsumerStates.WorkerPayload: {Multi: true},
}

// ConsumerStates are the names of the consumer states, in schema order.
var ConsumerStates = am.NewStates(ConsumerStatesDef{})
