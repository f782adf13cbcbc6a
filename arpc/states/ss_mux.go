package states

import am "github.com/pancsta/asyncmachine-go/pkg/machine"

// MuxStatesDef names the states of an aRPC Mux's machine (arpc.Mux.Mach).
type MuxStatesDef struct {
	*am.StatesBase

	// Start is active while the mux is meant to run.
	Start string
	// Ready is active while the mux accepts connections.
	Ready string
	// ClientConnected is added for every accepted connection.
	ClientConnected string
	// HasClients is active while at least one client is connected.
	HasClients string
	// NewServerErr is added when the server callback fails for a connection.
	NewServerErr string
	// ErrNetwork marks a listener failure.
	ErrNetwork string
}

// MuxSchema holds the relations of the mux states.
var MuxSchema = am.Schema{
	am.StateException:         {Multi: true},
	MuxStates.Start:           {},
	MuxStates.Ready:           {Require: am.S{MuxStates.Start}},
	MuxStates.ClientConnected: {Multi: true},
	MuxStates.HasClients:      {},
	MuxStates.NewServerErr:    {Multi: true, Require: am.S{am.StateException}},
	MuxStates.ErrNetwork:      {Require: am.S{am.StateException}},
}

// MuxStates are the names of the mux states, in schema order.
var MuxStates = am.NewStates(MuxStatesDef{})
