package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	ssrpc "github.com/pancsta/asyncmachine-go/pkg/rpc/states"

	benchmarkv1 "github.com/arpcbridge/arpcbridge/gen/arpc/benchmark/v1"
)

// Each transport's side of the throughput scenario: clients separate
// clients of one worker, each with its own connection through the counting
// proxy (inproc: goroutines on the worker itself).

// our aRPC: one arpc.Mux, a Client per connection, Add1(Ping) on its Worker

func (t arpcTransport) SetupThroughput(
	ctx context.Context, env *Env, clients int,
) (ThroughputSession, error) {
	return newArpcSession(ctx, t.tls, env, clients, false)
}

func (s *arpcSession) MutateFrom(_ context.Context, i int) error {
	return pingRemote(s.clients[i].Worker)
}

// our gRPC facade: bridge.Dial clients, Add1(Ping) on their Worker (unary
// Mutate)

func (t grpcFacadeTransport) SetupThroughput(
	ctx context.Context, env *Env, clients int,
) (ThroughputSession, error) {
	return newFacadeSession(ctx, t.tls, env, clients, false)
}

func (s *facadeSession) MutateFrom(_ context.Context, i int) error {
	return pingRemote(s.clients[i].Worker)
}

// upstream: a server+client pair per client, Add1(Ping) on its NetMach

func (t upstreamTransport) SetupThroughput(
	ctx context.Context, env *Env, clients int,
) (ThroughputSession, error) {
	s, err := t.newSession(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.setup(ctx, env, clients, nil); err != nil {
		_ = s.Close()
		return nil, err
	}

	return s, nil
}

// MutateFrom: a Canceled reply while the client is still Ready is the
// worker's answer (ErrCanceled); otherwise the connection failed.
func (s *upstreamSession) MutateFrom(_ context.Context, i int) error {
	cli := s.conns[i].cli
	if cli.NetMach.Add1(ws.Ping, nil) != am.Canceled {
		return nil
	}
	if !cli.Mach.Is1(ssrpc.ClientStates.Ready) {
		return fmt.Errorf("upstream: Ping: client not ready: %w", cli.Mach.Err())
	}

	return fmt.Errorf("upstream Ping: %w", ErrCanceled)
}

// plain gRPC: a ClientConn per client, unary Ping

func (grpcTransport) SetupThroughput(
	ctx context.Context, env *Env, clients int,
) (ThroughputSession, error) {
	return grpcSetup(ctx, env, clients)
}

func (s *grpcSession) MutateFrom(ctx context.Context, i int) error {
	_, err := s.cls[i].api.Ping(ctx, &benchmarkv1.PingRequest{})
	return err
}

// in-process: every client is a goroutine calling the worker

func (inprocTransport) SetupThroughput(
	ctx context.Context, _ *Env, _ int,
) (ThroughputSession, error) {
	return newInprocSession(ctx)
}

// MutateFrom adds Ping and, when another goroutine's mutation is running
// (the result is Queued), waits until the worker's queue has run it: a
// client of the worker waits for its reply, so neither may an in-process
// one (returning at Queued would only fill the worker's queue).
func (s *inprocSession) MutateFrom(ctx context.Context, _ int) error {
	m := s.w.Mach
	res := m.Add1(ws.Ping, nil)
	switch {
	case res == am.Canceled && m.Err() == nil:
		return fmt.Errorf("inproc Ping: %w", ErrCanceled)
	case res == am.Canceled:
		return fmt.Errorf("inproc Ping: %w", m.Err())
	case res >= am.Queued:
		select {
		case <-m.WhenQueue(res):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}

	return nil
}

// raw TCP: a connection per client, 9-byte ping, 1-byte reply

// tcpClient is one more ping-pong connection to a tcpSession's server.
type tcpClient struct {
	conn  net.Conn
	req   [9]byte
	reply [1]byte
}

// tcpClients is a tcpSession (server and its own connection, unused here)
// with one more connection per client.
type tcpClients struct {
	*tcpSession
	cls   []*tcpClient
	calls atomic.Int64
}

func (tcpTransport) SetupThroughput(
	ctx context.Context, env *Env, clients int,
) (ThroughputSession, error) {
	s, err := newTCPSession(ctx, env)
	if err != nil {
		return nil, err
	}
	ts := &tcpClients{tcpSession: s}
	addr, err := env.Expose(s.ln.Addr().String())
	if err != nil {
		_ = ts.Close()
		return nil, err
	}
	var d net.Dialer
	for range clients {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			_ = ts.Close()
			return nil, err
		}
		ts.cls = append(ts.cls, &tcpClient{conn: c})
	}

	return ts, nil
}

func (s *tcpClients) MutateFrom(ctx context.Context, i int) error {
	c := s.cls[i]
	s.calls.Add(1)
	if d, ok := ctx.Deadline(); ok {
		_ = c.conn.SetDeadline(d)
	}
	c.req[0] = tcpPing
	binary.BigEndian.PutUint64(c.req[1:], 0)
	if _, err := c.conn.Write(c.req[:]); err != nil {
		return fmt.Errorf("tcp: %w", err)
	}
	if _, err := io.ReadFull(c.conn, c.reply[:]); err != nil {
		return fmt.Errorf("tcp: %w", err)
	}

	return nil
}

// Calls counts the pings of every client.
func (s *tcpClients) Calls() int64 { return s.calls.Load() }

// Close closes the client connections, then the server.
func (s *tcpClients) Close() error {
	var errs []error
	for _, c := range s.cls {
		if err := c.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	s.cls = nil

	return errors.Join(append(errs, s.tcpSession.Close())...)
}
