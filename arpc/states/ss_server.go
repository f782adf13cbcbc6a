package states

import am "github.com/pancsta/asyncmachine-go/pkg/machine"

// ServerStatesDef names the states of an aRPC Server's machine
// (arpc.Server.Mach).
type ServerStatesDef struct {
	*am.StatesBase

	// RpcStarting is active while the server sets up its listener.
	RpcStarting string
	// RpcReady is active while the server accepts a client.
	RpcReady string
	// ClientConnected is active while a client's connection is open.
	ClientConnected string

	*SharedStatesDef
}

// ServerSchema holds the relations of the server states.
var ServerSchema = am.SchemaMerge(sharedSchema, am.Schema{
	ServerStates.RpcStarting: {
		Require: am.S{SharedStates.Start},
		Remove:  am.S{ServerStates.RpcReady},
	},
	ServerStates.RpcReady: {
		Require: am.S{SharedStates.Start},
		Remove:  am.S{ServerStates.RpcStarting},
	},
	ServerStates.ClientConnected: {
		Require: am.S{ServerStates.RpcReady},
	},
	SharedStates.Handshaking: {
		Require: am.S{ServerStates.ClientConnected},
		Remove:  am.S{SharedStates.HandshakeDone},
	},
	SharedStates.HandshakeDone: {
		Require: am.S{ServerStates.ClientConnected},
		Remove:  am.S{SharedStates.Handshaking},
	},
})

// ServerStates are the names of the server states, in schema order.
var ServerStates = am.NewStates(ServerStatesDef{})
