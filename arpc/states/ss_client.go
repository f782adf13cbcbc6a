package states

import am "github.com/pancsta/asyncmachine-go/pkg/machine"

// ClientStatesDef names the states of an aRPC Client's machine
// (arpc.Client.Mach).
type ClientStatesDef struct {
	*am.StatesBase

	// Connecting is active while a TCP connection is being opened.
	Connecting string
	// Connected is active while the connection is open.
	Connected string
	// Disconnecting is active while the client says goodbye and closes.
	Disconnecting string
	// Disconnected is active once the connection is closed.
	Disconnected string
	// RetryingConn is active while the client waits to reconnect.
	RetryingConn string
	// RetryingCall is active while a call is being retried.
	RetryingCall string
	// CallRetryFailed is activated when a call ran out of retries.
	CallRetryFailed string
	// Ready is active while Client.Worker is usable: connected, handshake done
	// and the worker's clock replicated.
	Ready string

	// ErrNoAccess marks a handshake refused by the server (AllowId, busy).
	ErrNoAccess string
	// ErrSchema marks a handshake refused because the schemas differ.
	ErrSchema string

	*SharedStatesDef
}

var connGroup = am.S{
	ClientStates.Connecting, ClientStates.Connected,
	ClientStates.Disconnecting, ClientStates.Disconnected,
}

// ClientSchema holds the relations of the client states.
var ClientSchema = am.SchemaMerge(sharedSchema, am.Schema{
	ClientStates.Connecting: {
		Require: am.S{SharedStates.Start},
		Remove:  connGroup,
	},
	ClientStates.Connected: {
		Require: am.S{SharedStates.Start},
		Remove: am.S{ClientStates.Connecting, ClientStates.Disconnecting,
			ClientStates.Disconnected, ClientStates.RetryingConn},
	},
	ClientStates.Disconnecting: {Remove: connGroup},
	ClientStates.Disconnected:  {Remove: connGroup},
	ClientStates.RetryingConn: {
		Require: am.S{SharedStates.Start},
	},
	ClientStates.RetryingCall:    {Multi: true},
	ClientStates.CallRetryFailed: {Multi: true},
	ClientStates.Ready: {
		Require: am.S{SharedStates.HandshakeDone},
	},
	SharedStates.Handshaking: {
		Require: am.S{ClientStates.Connected},
		Remove:  am.S{SharedStates.HandshakeDone},
	},
	SharedStates.HandshakeDone: {
		Require: am.S{ClientStates.Connected},
		Remove:  am.S{SharedStates.Handshaking},
	},

	ClientStates.ErrNoAccess: {Require: am.S{am.StateException}},
	ClientStates.ErrSchema:   {Require: am.S{am.StateException}},
})

// ClientStates are the names of the client states, in schema order.
var ClientStates = am.NewStates(ClientStatesDef{})
