package arpc

import (
	"fmt"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// argsKey is the key of aRPC's typed args inside am.A.
const argsKey = "arpc"

// A represents typed arguments of the RPC package, passed inside am.A with
// [Pass] and read back with [ParseArgs].
type A struct {
	// Id is a client ID. On SendPayload it limits delivery to that client;
	// empty means every connected client.
	Id string `log:"id"`
	// Name is a payload name or a getter name.
	Name string `log:"name"`
	// MachTime is a machine time, where relevant.
	MachTime am.Time
	// Payload is the payload of SendPayload (worker) and WorkerPayload
	// (consumer).
	Payload *ArgsPayload
	// Addr is a network address.
	Addr string `log:"addr"`
	// Err is an error, where relevant.
	Err error
	// Method is an RPC method name.
	Method string `log:"method"`
	// StartedAt is when an operation started.
	StartedAt time.Time
	// Dispose asks Stop to dispose the machine too.
	Dispose bool
}

// ArgsPayload is data a worker sends to its client's Consumer.
type ArgsPayload struct {
	// Name identifies the payload kind.
	Name string
	// Source is the ID of the machine that sent the payload. Filled by the
	// server when empty.
	Source string
	// Data is the payload itself. The Consumer has to know its type: with
	// EncodingGob a non-builtin type must be registered with gob.Register on
	// both sides; with EncodingMsgpack it arrives by its shape (see
	// Encoding).
	Data any
	// Token is a unique random ID of the payload. Filled by the server.
	Token string
}

// Pass prepares am.A from A, to pass to mutations.
func Pass(args *A) am.A {
	return am.A{argsKey: args}
}

// ParseArgs extracts A from am.A (e.g. am.Event.Args). It never returns nil.
func ParseArgs(args am.A) *A {
	if a, ok := args[argsKey].(*A); ok && a != nil {
		return a
	}
	return &A{}
}

// LogArgs is an args logger for A, usable as an am.Opts.LogArgs mapper.
func LogArgs(args am.A) map[string]string {
	a, ok := args[argsKey].(*A)
	if !ok || a == nil {
		return nil
	}
	out := map[string]string{}
	if a.Id != "" {
		out["id"] = a.Id
	}
	if a.Name != "" {
		out["name"] = a.Name
	}
	if a.Addr != "" {
		out["addr"] = a.Addr
	}
	if a.Method != "" {
		out["method"] = a.Method
	}
	if a.Err != nil {
		out["err"] = a.Err.Error()
	}
	if a.Payload != nil {
		out["payload"] = fmt.Sprintf("%s/%s", a.Payload.Name, a.Payload.Token)
	}
	return out
}
