package arpc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/rpc2"
	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/internal/backoff"

	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// callRaw makes one call on rc, bounded by ctx.
func callRaw(ctx context.Context, rc *rpc2.Client, method string, args,
	reply any,
) error {
	call := rc.Go(method, args, reply, make(chan *rpc2.Call, 1))
	select {
	case <-call.Done:
		return wrapCallErr(method, call.Error)
	case <-ctx.Done():
		return ctxErr(ctx, method)
	}
}

func ctxErr(ctx context.Context, method string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s", ErrNetworkTimeout, method)
	}
	return fmt.Errorf("%w: %s: %w", ErrNoConn, method, ctx.Err())
}

func wrapCallErr(method string, err error) error {
	if err == nil {
		return nil
	}
	var se rpc2.ServerError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("%w: %s: %s", ErrRpc, method, string(se))
	case errors.Is(err, ErrInvalidParams):
		return err
	default:
		return fmt.Errorf("%w: %s: %w", ErrNetwork, method, err)
	}
}

// call makes one call on the current connection, bounded by CallTimeout
// and ctx. When the call times out, the connection is checked for life (see
// PingTimeout): a dead one is closed, so that the client reconnects, and the
// error then also wraps ErrNetwork (retryable). When the call ends
// early, a reply that still arrives has its clock applied (late), so the
// replica's chain never breaks.
func (c *Client) call(ctx context.Context, method string, args any,
	reply any,
) error {
	cc := c.current()
	if cc == nil {
		return fmt.Errorf("%w: %s", ErrNoConn, method)
	}
	c.calls.Add(1)
	call := cc.rc.Go(method, args, reply, make(chan *rpc2.Call, 1))
	// a plain timer rather than a context per call: cheaper on the hot path
	timeout := time.NewTimer(orDefault(c.CallTimeout, DefaultCallTimeout))
	defer timeout.Stop()
	timedOut := false
	select {
	case <-call.Done:
		return wrapCallErr(method, call.Error)
	case <-ctx.Done():
	case <-timeout.C:
		timedOut = true
	}
	c.goTracked(func() {
		select {
		case <-call.Done:
			if call.Error == nil {
				c.applyReply(reply)
			}
		case <-cc.done:
		}
	})
	// the caller's deadline counts as a timeout too (the am.Api methods
	// bound the call with one): both get the liveness verdict
	if !timedOut && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ctxErr(ctx, method)
	}
	if c.ctx.Err() == nil {
		// the call's own timeout: is the connection alive?
		if err := c.ping(cc); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrNetworkTimeout, method, err)
		}
	}
	return fmt.Errorf("%w: %s", ErrNetworkTimeout, method)
}

// ping decides, at once, whether cc is alive after a call timed out: the
// server heartbeats every PingTimeout/2 when it has nothing else to send,
// even while the worker is busy with the call, so a message received within
// the last PingTimeout means a slow worker, and silence a dead link
// (blackholed, half-open). The call thus returns at its deadline either way.
// A dead connection is closed; the error then wraps ErrNetwork.
func (c *Client) ping(cc *clientConn) error {
	c.pings.Add(1)
	silent := time.Since(time.Unix(0, cc.cod.lastRead.Load()))
	// the server never heartbeats faster than minHeartbeat: a silence below
	// twice that proves nothing
	limit := max(c.pingTimeout(), 2*minHeartbeat)
	if silent < limit {
		return nil
	}
	if cc.dead.CompareAndSwap(false, true) {
		c.deadConns.Add(1)
		c.log.Warn("connection silent after a call timeout, closing",
			"silent", silent)
	}
	_ = cc.net.Close()
	return fmt.Errorf("%w: nothing received for %s, connection closed",
		ErrNetwork, silent.Round(time.Millisecond))
}

// pingTimeout is PingTimeout (default DefaultPingTimeout) capped at
// CallTimeout.
func (c *Client) pingTimeout() time.Duration {
	return min(orDefault(c.PingTimeout, DefaultPingTimeout),
		orDefault(c.CallTimeout, DefaultCallTimeout))
}

// Ping checks the connection with one round trip, bounded by ctx. It does
// not close the connection on failure.
func (c *Client) Ping(ctx context.Context) error {
	cc := c.current()
	if cc == nil {
		return fmt.Errorf("%w: %s", ErrNoConn, wire.MPing)
	}
	c.calls.Add(1)
	return callRaw(ctx, cc.rc, wire.MPing, &wire.Empty{}, &wire.Empty{})
}

// applyReply applies the clock carried by a reply.
func (c *Client) applyReply(reply any) {
	switch r := reply.(type) {
	case *wire.RespMut:
		c.applyWire(r.Clock)
	case *wire.RespSync:
		c.applyWire(r.Clock)
	}
}

// retryable reports failures a retry on a new connection can fix: the
// connection broke, or there was none.
func retryable(err error) bool {
	return errors.Is(err, ErrNoConn) || errors.Is(err, ErrNetwork)
}

// ///// Transport

// transport adapts a Client to the Transport a Worker needs.
type transport struct{ c *Client }

var _ door.Transport = transport{}

// checkArgs implements argsChecker: args are checked for the encoding of
// the current connection (the client's own before it has one).
func (t transport) checkArgs(args am.A) error {
	enc, err := encodingCode(t.c.Encoding)
	if err != nil {
		return err
	}
	if cc := t.c.current(); cc != nil && cc.encoding != "" {
		enc, _ = encodingCode(cc.encoding)
	}
	return checkArgs(enc, args)
}

// Timeout implements Transport: the budget of one am.Api method, retries
// included (CallRetryTimeout; CallTimeout when retries are off). Each
// attempt is bounded by CallTimeout.
func (t transport) Timeout() time.Duration {
	c := t.c
	callT := orDefault(c.CallTimeout, DefaultCallTimeout)
	if c.CallRetries < 0 {
		return callT
	}
	return max(callT, orDefault(c.CallRetryTimeout, DefaultCallRetryTimeout))
}

// Mutate implements Transport: one mutation, retried exactly-once when the
// connection breaks and the client gets Ready again within the retry
// limits.
func (t transport) Mutate(ctx context.Context, dm *door.Mut, noSync bool) (
	am.Result, error,
) {
	c := t.c
	m := (*wire.ArgsMut)(dm)
	if noSync {
		cc := c.current()
		if cc == nil {
			return am.Canceled, fmt.Errorf("%w: %s", ErrNoConn, wire.MMutateNS)
		}
		if err := cc.rc.Notify(wire.MMutateNS, m); err != nil {
			return am.Canceled, wrapCallErr(wire.MMutateNS, err)
		}
		return am.Executed, nil
	}
	// a fresh reply per attempt: a timed-out attempt's late reply may still
	// be decoded into its own
	resp := &wire.RespMut{}
	err := c.withRetries(ctx, func(ctx context.Context) error {
		r := &wire.RespMut{}
		err := c.call(ctx, wire.MMutate, m, r)
		if err == nil {
			resp = r
		}
		return err
	})
	if err != nil {
		return am.Canceled, err
	}
	c.applyWire(resp.Clock)
	c.awaitSeq(ctx, resp.Seq)
	if err := fromWireErr(resp.Err); err != nil {
		return am.Canceled, err
	}
	return resp.Result, nil
}

// awaitSeq waits (within ctx) until the replica reached seq: the change
// travels in a push or in another call's reply already on its way.
func (c *Client) awaitSeq(ctx context.Context, seq uint64) {
	w := c.Worker
	if w == nil || seq == 0 || w.Stats().Seq >= seq {
		return
	}
	if !w.awaitSeq(ctx, seq) {
		w.reportErr(fmt.Errorf("%w: replica did not reach seq %d",
			ErrNetworkTimeout, seq))
	}
}

// withRetries runs fn, retrying retryable failures (the connection broke,
// or a timed out call found it dead) on the next connection, within
// CallRetries and CallRetryTimeout (and ctx). A retry waits for both a new
// connection and the retry delay (CallRetryDelay doubling up to
// CallRetryBackoff); it gives up when the client stops reconnecting.
func (c *Client) withRetries(ctx context.Context,
	fn func(ctx context.Context) error,
) error {
	retries := orDefaultInt(c.CallRetries, DefaultCallRetries)
	delay := backoff.New(orDefault(c.CallRetryDelay, DefaultCallRetryDelay),
		orDefault(c.CallRetryBackoff, DefaultCallRetryBackoff))
	// the am.Api methods already pass a context bounded by this budget: no
	// second timer per call then
	rctx := ctx
	budget := orDefault(c.CallRetryTimeout, DefaultCallRetryTimeout)
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > budget {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, budget)
		defer cancel()
	}
	for attempt := 0; ; attempt++ {
		cc := c.current()
		err := fn(rctx)
		if err == nil || !retryable(err) || attempt >= retries ||
			rctx.Err() != nil {
			if err != nil && attempt > 0 {
				c.Mach.Add1(ss.ClientStates.CallRetryFailed, nil)
			}
			return err
		}
		c.Mach.Add1(ss.ClientStates.RetryingCall, nil)
		due := time.Now().Add(delay.Next())
		if c.waitConn(rctx, cc) == nil {
			c.Mach.Add1(ss.ClientStates.CallRetryFailed, nil)
			return err
		}
		if !backoff.Sleep(rctx, time.Until(due)) {
			c.Mach.Add1(ss.ClientStates.CallRetryFailed, nil)
			return err
		}
	}
}

// callRetried makes one read-only or idempotent call, retried like a
// mutation (withRetries) when the connection breaks; every attempt decodes
// into a fresh reply, since a timed-out attempt's late reply may still land
// in its own.
func callRetried[R any](ctx context.Context, c *Client, method string,
	args any,
) (*R, error) {
	var out *R
	err := c.withRetries(ctx, func(ctx context.Context) error {
		r := new(R)
		if err := c.call(ctx, method, args, r); err != nil {
			return err
		}
		out = r
		return nil
	})
	return out, err
}

// Sync implements Transport.
func (t transport) Sync(ctx context.Context, full bool) error {
	c := t.c
	resp, err := callRetried[wire.RespSync](ctx, c, wire.MSync, &wire.ArgsSync{Full: full})
	if err != nil {
		return err
	}
	if err := fromWireErr(resp.Err); err != nil {
		return err
	}
	if resp.Clock != nil {
		c.applyWire(resp.Clock)
	}
	c.awaitSeq(ctx, resp.Seq)
	return nil
}

// Can implements Transport.
func (t transport) Can(ctx context.Context, m *door.Mut) (am.Result, error) {
	resp, err := callRetried[wire.RespMut](ctx, t.c, wire.MCan,
		(*wire.ArgsMut)(m))
	if err != nil {
		return am.Canceled, err
	}
	if err := fromWireErr(resp.Err); err != nil {
		return am.Canceled, err
	}
	return resp.Result, nil
}

// Err implements Transport.
func (t transport) Err(ctx context.Context) (string, error) {
	resp, err := callRetried[wire.RespErr](ctx, t.c, wire.MErr, &wire.Empty{})
	if err != nil {
		return "", err
	}
	return resp.Msg, fromWireErr(resp.Err)
}
