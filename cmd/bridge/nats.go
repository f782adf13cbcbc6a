package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/spf13/pflag"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/bridge/natsbus"
)

// This file is the CLI's NATS part (docs/nats.md): serve --nats,
// --nats-embedded, --nats-dir, and the client commands' --nats.

// natsServeOpts are serve's NATS flags.
type natsServeOpts struct {
	url      string
	embedded string
	dir      string
}

func addServeNATSFlags(f *pflag.FlagSet, o *natsServeOpts) {
	f.StringVar(&o.url, "nats", "", "also publish the machine on this NATS server or cluster (nats://host:port), with JetStream")
	f.StringVar(&o.embedded, "nats-embedded", "", "start an in-process NATS server with JetStream on this address (host:port) and publish the machine there")
	f.StringVar(&o.dir, "nats-dir", "", "JetStream data directory of --nats-embedded (default: a temporary directory, removed on exit)")
}

// natsPublishing is serve's running NATS part.
type natsPublishing struct {
	srv *natsserver.Server
	nc  *nats.Conn
	pub *natsbus.Publisher
	tmp string
	url string
}

// startNATS starts the embedded server (if asked) and the publisher; nil
// without NATS flags.
func (o *natsServeOpts) start(ctx context.Context, mach am.Api,
	log *slog.Logger, stdoutf func(format string, args ...any),
) (*natsPublishing, error) {
	if o.url == "" && o.embedded == "" {
		if o.dir != "" {
			return nil, badInput("--nats-dir needs --nats-embedded")
		}
		return nil, nil
	}
	if o.url != "" && o.embedded != "" {
		return nil, badInput("--nats and --nats-embedded: give one")
	}
	n := &natsPublishing{url: o.url}
	if o.embedded != "" {
		host, port, err := net.SplitHostPort(o.embedded)
		if err != nil {
			return nil, badInput("--nats-embedded %q: %w", o.embedded, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, badInput("--nats-embedded %q: bad port", o.embedded)
		}
		if p == 0 {
			p = -1
		}
		dir := o.dir
		if dir == "" {
			if dir, err = os.MkdirTemp("", "bridge-nats-"); err != nil {
				return nil, err
			}
			n.tmp = dir
		}
		n.srv, err = natsserver.NewServer(&natsserver.Options{Host: host, Port: p,
			JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true,
			ServerName: "bridge-embedded"})
		if err != nil {
			n.stop()
			return nil, badInput("--nats-embedded: %w", err)
		}
		n.srv.Start()
		if !n.srv.ReadyForConnections(10 * time.Second) {
			n.stop()
			return nil, &codeError{exitError, fmt.Errorf(
				"embedded NATS server on %s did not start", o.embedded)}
		}
		n.url = n.srv.ClientURL()
		stdoutf("bridge: embedded NATS server with JetStream on %s (data in %s)\n",
			n.url, dir)
	}
	nc, err := nats.Connect(n.url, nats.Name("bridge serve"),
		nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		n.stop()
		return nil, badInput("--nats %q: %w", n.url, err)
	}
	n.nc = nc
	n.pub, err = natsbus.NewPublisher(ctx, nc, mach, &natsbus.PublisherOpts{
		Logger: log, SetupTimeout: 10 * time.Second})
	if err != nil {
		n.stop()
		if errors.Is(err, natsbus.ErrMachineId) {
			return nil, badInput("--nats: %v (set the machine's id in the "+
				"schema file)", err)
		}
		return nil, &codeError{exitUnreachable, fmt.Errorf(
			"publish on NATS %s: %w", n.url, err)}
	}
	stdoutf("bridge: publishing machine %q on NATS %s (subject %s)\n",
		mach.Id(), n.url, natsbus.ClockSubject(mach.Id()))
	return n, nil
}

// stop closes the publisher, the connection and the embedded server.
func (n *natsPublishing) stop() {
	if n == nil {
		return
	}
	if n.pub != nil {
		_ = n.pub.Close()
	}
	if n.nc != nil {
		_ = n.nc.Drain()
		n.nc.Close()
	}
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
	}
	if n.tmp != "" {
		_ = os.RemoveAll(n.tmp)
	}
}

// connectNATS connects the client commands to machine over NATS: the
// schema from the machine's snapshot (unless --schema), then natsbus.Dial.
func (o *clientOpts) connectNATS(ctx context.Context, machine string,
	schema am.Schema, names am.S, log *slog.Logger,
) (*remote, error) {
	lost := make(chan struct{})
	nc, err := nats.Connect(o.nats, nats.Name("bridge "+o.name),
		nats.Timeout(o.timeout), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond),
		nats.ClosedHandler(func(*nats.Conn) { close(lost) }))
	if err != nil {
		return nil, &codeError{exitUnreachable, fmt.Errorf(
			"cannot reach NATS %s: %w", o.nats, err)}
	}
	cctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if schema == nil {
		schema, names, err = natsbus.Discover(cctx, nc, machine, "")
		if err != nil {
			nc.Close()
			return nil, natsErr(machine, o.nats, err)
		}
	}
	c, err := natsbus.Dial(ctx, nc, machine, schema, names, &natsbus.ClientOpts{
		Name: o.name, ConnTimeout: o.timeout, CallTimeout: o.timeout,
		Logger: log,
	})
	if err != nil {
		nc.Close()
		return nil, natsErr(machine, o.nats, err)
	}
	return &remote{
		addr: o.nats + " " + machine, door: "NATS", worker: c.Worker,
		names: names, schema: schema,
		get: func(context.Context, string) (any, error) {
			return nil, fmt.Errorf("%w: get over NATS", arpc.ErrUnsupported)
		},
		lost:    lost,
		lostErr: func() error { return fmt.Errorf("%w: NATS closed", arpc.ErrNoConn) },
		close: func() {
			_ = c.Close()
			nc.Close()
		},
	}, nil
}

// natsErr explains a failed NATS connect.
func natsErr(machine, url string, err error) error {
	switch {
	case errors.Is(err, natsbus.ErrMachineId):
		return badInput("%v", err)
	case errors.Is(err, natsbus.ErrNoPublisher),
		errors.Is(err, context.DeadlineExceeded):
		return &codeError{exitUnreachable, fmt.Errorf(
			"machine %q is not published on NATS %s (is \"bridge serve --nats\" "+
				"running?): %w", machine, url, err)}
	}
	return err
}

// checkAddr checks ADDR, a machine ID with --nats.
func (o *clientOpts) checkAddr(addr string) error {
	if o.nats == "" {
		return checkAddr(addr)
	}
	if o.grpc {
		return badInput("--nats and --grpc: give one")
	}
	return nil
}
