package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/spf13/cobra"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge"
	"github.com/arpcbridge/arpcbridge/bridge/store"
	"github.com/arpcbridge/arpcbridge/bridge/web"
	"github.com/arpcbridge/arpcbridge/internal/demo"
)

// DefaultShutdownTimeout bounds the graceful part of serve's shutdown.
const DefaultShutdownTimeout = 5 * time.Second

type serveOpts struct {
	*globalOpts
	addr            string
	schema          string
	pushInterval    time.Duration
	allowId         string
	shutdownTimeout time.Duration
	demoInterval    time.Duration
	state           string
	sync            string
	syncDelay       time.Duration
	stateReset      bool
	sec             serveSecurity
	nats            natsServeOpts
}

func newServeCmd(g *globalOpts) *cobra.Command {
	o := &serveOpts{globalOpts: g}
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Serve a state machine over aRPC, gRPC and HTTP on one port",
		Long: `serve runs one state machine and serves it on one port to three kinds of
clients, told apart by their first bytes:

  aRPC   native asyncmachine RPC (bridge watch, arpc.NewClient)
  gRPC   arpc.bridge.v1.BridgeService, grpc.health.v1, server reflection
         (grpcurl, bridge --grpc, bridge.Dial, any language)
  HTTP   GET / (the web inspector: states, relations, live changes),
         GET /healthz (200 ok, 503 while shutting down),
         GET /metrics (Prometheus text format),
         Connect and gRPC-Web calls of BridgeService (browsers, curl):
         POST /arpc.bridge.v1.BridgeService/Mutate with application/json

Without --schema it serves the embedded demo: a job worker (states Running,
Idle, JobQueued, Working, Done, Failed, Retrying) that queues, runs, fails
and retries jobs on its own. With --schema FILE it serves a machine with the
states and relations of a JSON or YAML file (docs/schema-file.md), which
only clients change. Every machine also has the worker states Exception and
SendPayload, first in the index order.

Once listening, serve prints one line to stdout:
  bridge: serving demo machine "demo" on 127.0.0.1:7420 (aRPC, gRPC, HTTP)

SIGINT or SIGTERM stops it gracefully: /healthz turns 503, aRPC clients are
told goodbye, gRPC streams end with UNAVAILABLE, calls in flight finish;
after --shutdown-timeout the remaining connections are closed.

With --state FILE the machine is durable: every accepted transition is
written to FILE (its time, the clock's epoch and sequence, and the
exactly-once window of recent mutation IDs), and a restarted serve continues
from it, so reconnecting clients resume with a diff and a mutation retried
across the restart is applied once. --sync always (the default) writes
(fsync) before a mutation's reply is sent; --sync batch writes at most
--sync-delay after a change, so a crash may lose that much. A FILE written
for another schema is refused (exit 2) unless --state-reset. While FILE
cannot be written, mutations are refused (gRPC UNAVAILABLE, reason
NOT_DURABLE) and reads go on; see docs/durability.md.

Security (docs/security.md): --tls-cert/--tls-key make the whole port TLS
(aRPC, gRPC and HTTP); --tls-client-ca requires client certificates (mTLS),
whose first URI SAN, else first DNS SAN, else subject CN is the client's
identity; --auth-tokens maps bearer tokens to identities; --auth-policy
allows identities to mutate and observe states by name globs. The files are
reloaded when they change, and on SIGHUP, without dropping connections.

Getter names (bridge get): id, source, active, uptime, names, arpc.err.`,
		Example: `  bridge serve
  bridge serve --addr 127.0.0.1:0 --push-interval 50ms
  bridge serve --schema jobs.yaml --allow-id rc-ops
  bridge serve --schema jobs.yaml --state jobs.state --sync always
  bridge serve --addr :7420 --tls-cert srv.crt --tls-key srv.key \
    --tls-client-ca ca.crt --auth-policy policy.yaml
  bridge serve --nats-embedded 127.0.0.1:4222   # also publish on NATS (docs/nats.md)
  BRIDGE_ADDR=:7000 BRIDGE_LOG_FORMAT=json bridge serve`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", DefaultAddr, "address to listen on (host:port; port 0 picks one)")
	f.StringVar(&o.schema, "schema", "", "serve the machine of this JSON or YAML schema file instead of the demo")
	f.DurationVar(&o.pushInterval, "push-interval", arpc.DefaultPushInterval,
		"minimum spacing of clock pushes to one client, a rate cap (0: none; pushes are latency-first either way); negative: no pushes")
	f.StringVar(&o.allowId, "allow-id", "", "admit only this client ID on both doors (a client named N has the ID rc-N)")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", DefaultShutdownTimeout,
		"how long a graceful shutdown may take before connections are closed")
	f.DurationVar(&o.demoInterval, "demo-interval", demo.DefaultInterval, "time between two moves of the demo machine")
	f.StringVar(&o.state, "state", "", "keep the machine durable in this state file (created if missing)")
	f.StringVar(&o.sync, "sync", "always", "with --state: always (fsync before each mutation's reply) or batch (within --sync-delay)")
	f.DurationVar(&o.syncDelay, "sync-delay", store.DefaultBatchDelay,
		"with --sync batch: the longest a change waits to be written (what a crash may lose)")
	f.BoolVar(&o.stateReset, "state-reset", false, "with --state: discard what the state file holds and start over")
	o.sec.addFlags(cmd)
	addServeNATSFlags(f, &o.nats)
	return cmd
}

func (o *serveOpts) run(ctx context.Context) error {
	log, err := o.logger()
	if err != nil {
		return err
	}
	if o.shutdownTimeout <= 0 {
		return badInput("--shutdown-timeout must be positive")
	}
	if o.demoInterval <= 0 {
		return badInput("--demo-interval must be positive")
	}
	if err := checkListenAddr(o.addr); err != nil {
		return badInput("--addr: %w", err)
	}
	syncMode, err := o.checkState()
	if err != nil {
		return err
	}
	if err := o.sec.load(); err != nil {
		return err
	}
	if o.sec.tls == nil && !isLoopback(o.addr) {
		log.Warn("serving plaintext on a non-loopback address: anyone on the "+
			"network can read and change the machine (see --tls-cert)", "addr", o.addr)
	}
	def := demoDef()
	if o.schema != "" {
		if def, err = fileDef(o.schema); err != nil {
			return err
		}
	}

	// the machine outlives the signal: it is disposed after the server stops
	machCtx, stopMach := context.WithCancel(context.WithoutCancel(ctx))
	defer stopMach()
	mach, err := def.newMachine(machCtx)
	if err != nil {
		return err
	}
	defer mach.Dispose()
	var st *store.Store
	if o.state != "" {
		if st, err = o.openState(mach, syncMode, log); err != nil {
			return err
		}
		defer func() {
			if err := st.Close(); err != nil {
				log.Error("state file", "err", err)
			}
		}()
	}

	l, err := net.Listen("tcp", o.addr)
	if err != nil {
		return &codeError{exitError, fmt.Errorf("listen on %s: %w", o.addr, err)}
	}
	started := time.Now()
	mux := http.NewServeMux()
	mux.Handle("GET /", web.Handler())
	srv, err := bridge.NewServer(machCtx, l, def.id, mach, &bridge.ServerOpts{
		Service: bridge.ServiceOpts{
			AllowId:      o.allowId,
			Getter:       getter(def, mach, started),
			PushInterval: o.pushInterval,
			Logger:       log,
		},
		HTTP:      mux,
		TLSConfig: o.sec.tlsConfig(),
		Tokens:    o.sec.tokens,
		Policy:    o.sec.policy,
		Logger:    log,
		Store:     st,
	})
	if err != nil {
		_ = l.Close()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		o.sec.watch(watchCtx, log)
	}()
	defer func() { stopWatch(); <-watched }()

	// demoDone stays nil (never ready) without the demo
	var demoDone chan error
	demoCtx, stopDemo := context.WithCancel(machCtx)
	defer stopDemo()
	if def.kind == "demo" {
		demoDone = make(chan error, 1)
		go func() {
			demoDone <- demo.Run(demoCtx, mach, demo.Options{
				Interval: o.demoInterval, Seed: uint64(started.UnixNano()),
			})
		}()
	}

	fmt.Fprintf(o.stdout, "bridge: serving %s machine %q on %s (aRPC, gRPC, HTTP%s)\n",
		def.kind, def.id, srv.Addr(), o.sec.mode())
	natsPub, err := o.nats.start(machCtx, mach, log, func(f string, a ...any) {
		fmt.Fprintf(o.stdout, f, a...)
	})
	if err != nil {
		stopDemo()
		if demoDone != nil {
			<-demoDone
		}
		_ = srv.Shutdown(context.WithoutCancel(ctx))
		<-served
		return err
	}
	defer natsPub.stop()
	log.Info("listening", "addr", srv.Addr().String(), "machine", def.id,
		"inspector", o.sec.scheme()+"://"+srv.Addr().String()+"/",
		"states", len(def.names), "push_interval", o.pushInterval)

	var serveErr error
	signaled := false
	select {
	case <-ctx.Done():
		signaled = true
		log.Info("shutting down", "timeout", o.shutdownTimeout)
	case serveErr = <-served:
		served <- serveErr
		log.Error("server failed", "err", serveErr)
	case err := <-demoDone:
		// the demo stops only with its machine
		serveErr = fmt.Errorf("demo stopped: %w", err)
		demoDone = nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx),
		o.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("graceful shutdown timed out, connections closed", "err", err)
	}
	// Serve returns nil after Shutdown, except when a signal right after
	// listening made Shutdown race with Serve's start: Serve then fails
	// ("Serve called twice or after Shutdown", "aRPC mux did not start")
	// having served nothing, and the stop the signal asked for is clean.
	if err := <-served; err != nil && serveErr == nil {
		if signaled {
			log.Warn("server start raced with the shutdown", "err", err)
		} else {
			serveErr = err
		}
	}
	stopDemo()
	if demoDone != nil {
		<-demoDone
	}
	log.Info("stopped", "uptime", time.Since(started).Round(time.Millisecond))
	return serveErr
}

// getterNames are the names bridge get answers for serve: its getter's,
// and the machine's last error (ErrName, answered by both doors
// themselves).
var getterNames = []string{"id", "source", "active", "uptime", "names",
	bridge.ErrName}

// getter answers bridge get (Client.Get) for both doors, with values both
// gob and JSON can carry.
func getter(def *machineDef, mach *am.Machine, started time.Time,
) func(string) any {
	return func(name string) any {
		switch name {
		case "id":
			return mach.Id()
		case "source":
			if def.source == "" {
				return "demo"
			}
			return def.source
		case "active":
			// schema order, as inspect and watch list them
			active := []string{}
			for _, n := range def.names {
				if n != ss.WorkerStates.SendPayload && mach.Is1(n) {
					active = append(active, n)
				}
			}
			return active
		case "uptime":
			return time.Since(started).Round(time.Second).String()
		case "names":
			return getterNames

		}
		return nil
	}
}
