package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge/metrics"
)

// arpcDoor serves the aRPC connections cmux hands over with an arpc.Mux:
// one arpc.Server per connection, all on the worker's shared engine and
// exactly-once memory, like the gRPC service.
type arpcDoor struct {
	mux *arpc.Mux
}

func newARPCDoor(ctx context.Context, name string, worker am.Api,
	l net.Listener, opts *ServerOpts, met *metrics.Metrics, log *slog.Logger,
) (*arpcDoor, error) {
	so := opts.Service
	configure := opts.ConfigureARPC
	newServer := func(num int, _ net.Conn) (*arpc.Server, error) {
		s, err := arpc.NewServer(ctx, "", fmt.Sprintf("%s-%d", name, num),
			worker, &arpc.ServerOpts{Logger: log})
		if err != nil {
			return nil, err
		}
		// the defaults shared with the gRPC service, then the user's hook
		s.AllowId, s.AllowFn, s.Getter = so.AllowId, so.AllowFn, so.Getter
		// the connection is TLS already when the port is (ServerOpts.TLSConfig)
		s.Tokens, s.Policy = so.Tokens, so.Policy
		s.PushInterval = so.PushInterval
		s.ChunkSize, s.PayloadBytes = so.ChunkSize, so.PayloadBytes
		if met != nil {
			met.ConfigureARPC(s)
		}
		s.MaxPendingTransitions = so.MaxPendingTransitions
		if configure != nil {
			configure(s)
		}
		return s, nil
	}
	m, err := arpc.NewMux(ctx, name, newServer, &arpc.MuxOpts{Logger: log})
	if err != nil {
		return nil, err
	}
	m.Listener = l
	return &arpcDoor{mux: m}, nil
}

// start starts accepting aRPC connections.
func (d *arpcDoor) start() error {
	d.mux.Start()
	if d.mux.Mach.Not1(ss.MuxStates.Ready) {
		return fmt.Errorf("%w: aRPC mux did not start: %v", arpc.ErrNetwork,
			d.mux.Mach.Err())
	}
	return nil
}

// stop says goodbye to every aRPC client and waits for their servers.
func (d *arpcDoor) stop() {
	d.mux.Stop(true)
}
