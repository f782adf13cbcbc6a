package states

import am "github.com/pancsta/asyncmachine-go/pkg/machine"

// SharedStatesDef names the states the Server and Client machines share.
type SharedStatesDef struct {
	*am.StatesBase

	// Start is active while the component is meant to run.
	Start string

	// ErrNetwork marks a broken connection.
	ErrNetwork string
	// ErrNetworkTimeout marks a call that outlived its timeout.
	ErrNetworkTimeout string
	// ErrRpc marks a protocol violation by the peer.
	ErrRpc string

	// Handshaking is active while the handshake runs.
	Handshaking string
	// HandshakeDone is active once the handshake completed and the clock is
	// in sync.
	HandshakeDone string
}

var sharedSchema = am.Schema{
	am.StateException:  {Multi: true},
	SharedStates.Start: {},

	SharedStates.ErrNetwork:        {Require: am.S{am.StateException}},
	SharedStates.ErrNetworkTimeout: {Require: am.S{am.StateException}},
	SharedStates.ErrRpc:            {Require: am.S{am.StateException}},

	SharedStates.Handshaking: {
		Require: am.S{SharedStates.Start},
		Remove:  am.S{SharedStates.HandshakeDone},
	},
	SharedStates.HandshakeDone: {
		Require: am.S{SharedStates.Start},
		Remove:  am.S{SharedStates.Handshaking},
	},
}

// SharedStates are the names of the shared states, in schema order.
var SharedStates = am.NewStates(SharedStatesDef{})
