package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

// DefaultTimeout bounds connecting and each call of the client commands.
const DefaultTimeout = 5 * time.Second

// DefaultClientName prefixes the default name of the client commands'
// connections: bridge-cli-PID-RANDOM, unique per process, so that two
// commands never share a client ID (the server sees arpc.GetClientId(name),
// "rc-bridge-cli-..."). Servers with --allow-id need --name.
const DefaultClientName = "bridge-cli"

// defaultClientName is this process's default --name.
var defaultClientName = sync.OnceValue(func() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", DefaultClientName, os.Getpid(),
		hex.EncodeToString(b[:]))
})

const clientHelp = `
How the client learns the schema: an aRPC client must know the worker's
states and relations before its handshake. Unless --schema FILE is given,
the command first calls BridgeService/Handshake over gRPC on the same port,
which returns the schema, then connects over aRPC (or, with --grpc, stays
on gRPC). --schema FILE (the file the server was started with) skips that
call, for servers with the aRPC door only.`

// clientOpts are the flags of the commands that connect to a server.
type clientOpts struct {
	*globalOpts
	grpc    bool
	schema  string
	name    string
	timeout time.Duration
	json    bool
	// nats is --nats: ADDR is then a machine ID published on this NATS
	nats string
	// logSet is whether --log-level was given, to pass the logger to the
	// client libraries (otherwise their retries and warnings stay quiet).
	logSet bool
	// reconnect keeps a long-lived aRPC connection alive: a lost one (a
	// server restart) is re-established within --timeout, as the gRPC door's
	// client does. One-shot commands fail at once instead.
	reconnect bool
	sec       clientSecurity
	// grpcCompression is --grpc-compression (gzip, zstd)
	grpcCompression string
}

func addClientFlags(cmd *cobra.Command, g *globalOpts) *clientOpts {
	o := &clientOpts{globalOpts: g}
	f := cmd.Flags()
	f.BoolVar(&o.grpc, "grpc", false, "connect over gRPC instead of aRPC")
	f.StringVar(&o.grpcCompression, "grpc-compression", "", "with --grpc: ask for compressed messages, gzip or zstd (grpc-encoding)")
	f.StringVar(&o.schema, "schema", "", "the machine's schema file, instead of asking the server (gRPC Handshake)")
	f.StringVar(&o.name, "name", "", "client name; the server sees the client ID rc-NAME (default bridge-cli-PID-RANDOM, unique per process)")
	f.DurationVar(&o.timeout, "timeout", DefaultTimeout, "bound on connecting and on each call")
	f.BoolVar(&o.json, "json", false, "print JSON (one object per line) instead of text")
	o.sec.addFlags(cmd)
	f.StringVar(&o.nats, "nats", "", "connect over NATS JetStream at this URL; ADDR is then the MACHINE ID (docs/nats.md)")
	cmd.Long += "\n" + clientHelp
	return o
}

// remote is a connected client of either door.
type remote struct {
	addr   string
	door   string
	worker *arpc.Worker
	names  am.S
	schema am.Schema
	// get reads a getter value
	get func(ctx context.Context, name string) (any, error)
	// lost is closed when the connection is gone for good; lostErr says why
	lost    <-chan struct{}
	lostErr func() error
	close   func()
}

// connect connects to the server at addr: learns the schema, then connects
// over aRPC or gRPC and returns once the worker replica is in sync. With
// reconnect (watch), an unreachable server is retried until --timeout, as a
// lost connection is: watch may start before the server.
func (o *clientOpts) connect(ctx context.Context, cmd *cobra.Command,
	addr string,
) (*remote, error) {
	deadline := time.Now().Add(o.timeout)
	for {
		r, err := o.connectOnce(ctx, cmd, addr)
		if err == nil {
			return r, nil
		}
		if o.sec.cfg == nil && o.nats == "" &&
			exitCode(err) == exitUnreachable && probeHTTP1(ctx, addr) {
			return nil, notBridgeHTTP1(addr)
		}
		if errors.Is(err, arpc.ErrNoAccess) {
			var ce *codeError
			if !errors.As(err, &ce) {
				err = &codeError{exitDenied, fmt.Errorf(
					"%s refused the client: %w (try --name)", addr, err)}
			}
		}
		left := time.Until(deadline)
		if !o.reconnect || exitCode(err) != exitUnreachable || left <= 0 {
			return nil, err
		}
		if log, lerr := o.clientLogger(cmd); lerr == nil {
			log.Debug("server not reachable yet, retrying", "addr", addr,
				"left", left.Round(time.Millisecond), "err", err)
		}
		t := time.NewTimer(min(left, connectRetryDelay))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, err
		}
	}
}

// connectRetryDelay spaces watch's attempts to reach a server not up yet.
const connectRetryDelay = 200 * time.Millisecond

func (o *clientOpts) connectOnce(ctx context.Context, cmd *cobra.Command,
	addr string,
) (*remote, error) {
	if o.timeout <= 0 {
		return nil, badInput("--timeout must be positive")
	}
	if c := o.grpcCompression; c != "" {
		if !o.grpc {
			return nil, badInput("--grpc-compression needs --grpc")
		}
		if !slices.Contains(bridge.Compressions, arpc.Compression(c)) {
			names := make([]string, len(bridge.Compressions))
			for i, name := range bridge.Compressions {
				names[i] = string(name)
			}
			return nil, badInput("--grpc-compression %q: one of %s", c,
				strings.Join(names, ", "))
		}
	}
	if o.name == "" {
		o.name = defaultClientName()
	}
	if err := o.checkAddr(addr); err != nil {
		return nil, err
	}
	if err := o.sec.load(); err != nil {
		return nil, err
	}
	log, err := o.clientLogger(cmd)
	if err != nil {
		return nil, err
	}
	var schema am.Schema
	var names am.S
	if o.schema != "" {
		def, err := fileDef(o.schema)
		if err != nil {
			return nil, err
		}
		schema, names = def.schema, def.names
	} else if o.nats == "" {
		var err error
		if schema, names, err = o.discover(ctx, addr); err != nil {
			return nil, err
		}
	}
	if o.nats != "" {
		return o.connectNATS(ctx, addr, schema, names, log)
	}
	if o.grpc {
		return o.connectGRPC(ctx, addr, schema, names, log)
	}
	return o.connectARPC(ctx, addr, schema, names, log)
}

// clientLogger is the logger of the client libraries: the --log-level one
// when it was given, else none (their retries and warnings stay quiet).
func (o *clientOpts) clientLogger(cmd *cobra.Command) (*slog.Logger, error) {
	if cmd.Flags().Changed("log-level") || envSet("log-level") {
		return o.logger()
	}
	return slog.New(slog.DiscardHandler), nil
}

func envSet(flag string) bool {
	_, ok := os.LookupEnv(envName(flag))
	return ok
}

// discover fetches the worker's schema with a gRPC Handshake.
func (o *clientOpts) discover(ctx context.Context, addr string) (
	am.Schema, am.S, error,
) {
	cc, err := grpc.NewClient(addr, o.sec.grpcDialOpts()...)
	if err != nil {
		return nil, nil, badInput("address %q: %w", addr, err)
	}
	defer cc.Close()
	cctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	hs, err := bridgev1.NewBridgeServiceClient(cc).Handshake(cctx,
		&bridgev1.HandshakeRequest{
			ClientId:        arpc.GetClientId(o.name),
			ProtocolVersion: bridge.ProtocolVersion,
		})
	if err != nil {
		if st, _ := status.FromError(err); st.Code() == codes.Unavailable {
			if rerr := o.sec.tlsRefusal(ctx, addr); rerr != nil {
				return nil, nil, rerr
			}
		}
		return nil, nil, handshakeErr(addr, err)
	}
	if hs.Schema == nil || len(hs.StateNames) == 0 {
		return nil, nil, fmt.Errorf("%w: %s: handshake without a schema",
			arpc.ErrInvalidResp, addr)
	}
	schema := make(am.Schema, len(hs.Schema.States))
	for _, st := range hs.Schema.States {
		schema[st.Name] = am.State{Auto: st.Auto, Multi: st.Multi,
			Require: st.Require, Add: st.Add, Remove: st.Remove, After: st.After,
			Tags: st.Tags}
	}
	return schema, hs.StateNames, nil
}

// handshakeErr explains a failed schema discovery.
func handshakeErr(addr string, err error) error {
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded:
		return &codeError{exitUnreachable, fmt.Errorf(
			"cannot reach %s: %s (is \"bridge serve\" running there? one "+
				"with --tls-cert needs --tls-ca; a server with the aRPC door only "+
				"needs --schema FILE)", addr, st.Message())}
	case codes.Unimplemented:
		return notBridge(addr)
	case codes.PermissionDenied:
		return &codeError{exitDenied, fmt.Errorf("%s refused the client: %s "+
			"(try --name)", addr, st.Message())}
	case codes.Unauthenticated:
		return &codeError{exitDenied, fmt.Errorf("%s refused the client: %s "+
			"(see --tls-ca, --tls-cert, --token)", addr, st.Message())}
	}
	return fmt.Errorf("handshake with %s: %w", addr, err)
}

func (o *clientOpts) connectARPC(ctx context.Context, addr string,
	schema am.Schema, names am.S, log *slog.Logger,
) (*remote, error) {
	c, err := arpc.NewClient(ctx, addr, o.name, schema, names,
		&arpc.ClientOpts{Logger: log, TLSConfig: o.sec.cfg, Token: o.sec.token})
	if err != nil {
		return nil, err
	}
	c.ConnTimeout = o.timeout
	c.CallTimeout = o.timeout
	if o.reconnect {
		c.ConnRetryTimeout = o.timeout
		c.ReconnectOn = true
	} else {
		c.ConnRetries = -1
	}
	stop := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.timeout)
		defer cancel()
		c.Stop(sctx, true)
	}
	c.Start()
	t := time.NewTimer(o.timeout + time.Second)
	defer t.Stop()
	select {
	case <-c.Mach.When1(ss.ClientStates.Ready, ctx):
	case <-c.Mach.When1(ss.ClientStates.Disconnected, ctx):
		err := c.Mach.Err()
		stop()
		if err == nil {
			return nil, fmt.Errorf("%w: %s: disconnected", arpc.ErrNoConn, addr)
		}
		// the client's errors say what failed, not where
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	case <-t.C:
		stop()
		return nil, fmt.Errorf("%w: %s: not ready after %s", arpc.ErrNetworkTimeout,
			addr, o.timeout)
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	}
	return &remote{
		addr: addr, door: "aRPC", worker: c.Worker, names: names, schema: schema,
		get: func(ctx context.Context, name string) (any, error) {
			if name == bridge.ErrName {
				// as the gRPC door answers it: the message, or null
				if err := c.Worker.Err(); err != nil {
					return err.Error(), nil
				}
				return nil, nil
			}
			v, err := c.Get(ctx, name)
			if errors.Is(err, arpc.ErrUnsupported) {
				// a server without a getter exposes nothing, as the gRPC
				// door answers NOT_FOUND for it
				return nil, fmt.Errorf("%w: %q: the server has no getter",
					bridge.ErrNotFound, name)
			}
			if err != nil {
				return nil, err
			}
			if v == nil {
				return nil, fmt.Errorf("%w: %q is not exposed", bridge.ErrNotFound, name)
			}
			return v, nil
		},
		lost: c.Done(),
		lostErr: func() error {
			if err := c.Mach.Err(); err != nil {
				return err
			}
			return fmt.Errorf("%w: disconnected", arpc.ErrNoConn)
		},
		close: stop,
	}, nil
}

func (o *clientOpts) connectGRPC(ctx context.Context, addr string,
	schema am.Schema, names am.S, log *slog.Logger,
) (*remote, error) {
	c, err := bridge.Dial(ctx, addr, o.name, schema, names, &bridge.ClientOpts{
		ConnTimeout:      o.timeout,
		CallTimeout:      o.timeout,
		ConnRetryTimeout: o.timeout,
		Logger:           log,
		TLSConfig:        o.sec.cfg,
		Token:            o.sec.token,
		Compression:      arpc.Compression(o.grpcCompression),
	})
	// Dial's first calls (Handshake, WatchClock) answered UNIMPLEMENTED
	if errors.Is(err, arpc.ErrUnsupported) {
		return nil, notBridge(addr)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	return &remote{
		addr: addr, door: "gRPC", worker: c.Worker, names: names, schema: schema,
		get:  c.Get,
		lost: c.Done(),
		lostErr: func() error {
			if err := c.Err(); err != nil {
				return err
			}
			return bridge.ErrClosed
		},
		close: func() { _ = c.Close() },
	}, nil
}

// notBridge is the error for a gRPC server at addr that answers, but
// without the bridge's service (UNIMPLEMENTED): the wrong address, which is
// bad input rather than an unreachable server.
func notBridge(addr string) error {
	return &codeError{exitBadInput, fmt.Errorf(
		"%s is not an aRPC bridge (gRPC service %s not found)", addr,
		bridgev1.BridgeService_ServiceDesc.ServiceName)}
}

// checkStates returns bad input naming the first state the machine lacks.
func (r *remote) checkStates(states []string) error {
	for _, s := range states {
		if !slices.Contains(r.names, s) {
			return badInput("unknown state %q; the machine has: %s", s,
				joinNames(r.names))
		}
	}
	return nil
}

// errLost wraps why a connection ended.
func errLost(addr string, err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return &codeError{exitUnreachable, fmt.Errorf("connection to %s ended: %w",
		addr, err)}
}
