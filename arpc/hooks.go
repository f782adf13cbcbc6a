package arpc

import (
	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/engine"
)

// ServerHooks are optional callbacks on a Server's events, meant for metrics.
// They run on the server's goroutines, so they must be quick and must not
// block; nil fields are skipped. The zero value means no hooks.
type ServerHooks struct {
	// Handshake is called once a client's Hello was accepted. resumed tells
	// a reconnecting client that resumed its replica from its own time.
	Handshake func(clientId string, resumed bool)
	// Mutated is called after a mutation from the client ran on the worker
	// (not for exactly-once replays, nor for requests rejected before
	// running), with its result; err is set when the worker panicked.
	Mutated func(res am.Result, err error)
	// Pushed is called after a clock update was pushed to the client (not
	// for updates carried by mutation or Sync replies).
	Pushed func(u *engine.Update)
}
