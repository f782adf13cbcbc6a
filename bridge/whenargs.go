package bridge

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/arpcbridge/arpcbridge/arpc"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
	"github.com/arpcbridge/arpcbridge/internal/backoff"
)

// MaxWhenArgs bounds the open WhenArgs waits of one client (as on the aRPC
// door); further ones are INVALID_ARGUMENT.
const MaxWhenArgs = 1024

// argsWaitCounts counts the open WhenArgs waits per client key.
type argsWaitCounts struct {
	mx sync.Mutex
	n  map[string]int
}

func (a *argsWaitCounts) add(key string) bool {
	a.mx.Lock()
	defer a.mx.Unlock()
	if a.n == nil {
		a.n = map[string]int{}
	}
	if a.n[key] >= MaxWhenArgs {
		return false
	}
	a.n[key]++
	return true
}

func (a *argsWaitCounts) done(key string) {
	a.mx.Lock()
	defer a.mx.Unlock()
	if a.n[key]--; a.n[key] <= 0 {
		delete(a.n, key)
	}
}

// WhenArgs implements BridgeServiceServer: the wait is matched on the
// server, each call for itself (engine.WhenArgsMatch), as the aRPC door
// does; a relayed worker passes it upstream. Args are compared as JSON
// values (numbers by value), since protobuf carries every number as a
// double.
func (s *Service) WhenArgs(req *bridgev1.WhenArgsRequest,
	stream grpc.ServerStreamingServer[bridgev1.WhenArgsResponse],
) error {
	cl, err := s.admit(stream.Context(), req.ClientId)
	if err != nil {
		return toStatus(err)
	}
	if err := s.checkHash(req.SchemaHash); err != nil {
		return toStatus(err)
	}
	idx, ok := s.index[req.State]
	if !ok {
		return toStatus(onField("state", arpc.ErrInvalidParams,
			"state %q not in worker %s", req.State, s.worker.Id()))
	}
	if err := s.checkObserve(cl, am.S{req.State}); err != nil {
		return toStatus(err)
	}
	if !s.argsWaits.add(cl.key) {
		return toStatus(fmt.Errorf("%w: too many WhenArgs waits",
			arpc.ErrInvalidParams))
	}
	defer s.argsWaits.done(cl.key)
	ctx, end := context.WithCancelCause(stream.Context())
	defer end(nil)
	defer context.AfterFunc(s.life, func() { end(context.Cause(s.life)) })()

	want := fromStruct(req.Args)
	var ch <-chan struct{}
	if s.worker.IsLocal() {
		ch = s.eng.WhenArgsMatch(idx, func(have am.A) bool {
			return jsonArgsInclude(have, want)
		}, ctx)
	} else {
		ch = s.worker.WhenArgs(req.State, want, ctx)
	}
	if err := stream.Send(&bridgev1.WhenArgsResponse{}); err != nil {
		return err
	}
	select {
	case <-ch:
		if ctx.Err() == nil {
			return stream.Send(&bridgev1.WhenArgsResponse{Matched: true})
		}
	case <-ctx.Done():
	}
	if errors.Is(context.Cause(ctx), ErrClosed) {
		return toStatus(context.Cause(ctx))
	}
	return status.FromContextError(ctx.Err()).Err()
}

// jsonArgsInclude reports whether have holds every key of want with a value
// equal to want's once both are JSON values (as fromStruct gives them).
func jsonArgsInclude(have, want am.A) bool {
	for k, w := range want {
		got, ok := have[k]
		if !ok {
			return false
		}
		pv, err := toValue(got)
		if err != nil || !reflect.DeepEqual(fromValue(pv), w) {
			return false
		}
	}
	return true
}

// WhenArgs implements door.Transport over the WhenArgs stream: it returns
// once the server registered the wait (or refused it), then waits in the
// background. A broken stream is reopened with backoff; an activation while
// it was broken is not seen. The channel closes on a match or when ctx (or
// the client) ends, never because the connection broke.
func (t transport) WhenArgs(ctx context.Context, state int, args am.A) (
	<-chan struct{}, error,
) {
	c := t.c
	st, err := toStruct(args)
	if err != nil {
		return nil, err
	}
	if state < 0 || state >= len(c.names) {
		return nil, fmt.Errorf("%w: state index %d", arpc.ErrInvalidParams, state)
	}
	req := &bridgev1.WhenArgsRequest{ClientId: c.Id, State: c.names[state],
		Args: st, SchemaHash: c.hash}
	// the wait's life: ctx's and the client's
	wctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	stream, err := c.openWhenArgs(wctx, req)
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	c.bgMx.Lock()
	defer c.bgMx.Unlock()
	if c.ctx.Err() != nil {
		stop()
		cancel()
		return nil, fmt.Errorf("%w: client closed", arpc.ErrNoConn)
	}
	ch := make(chan struct{})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(ch)
		defer cancel()
		defer stop()
		c.waitArgs(wctx, req, stream)
	}()
	return ch, nil
}

// openWhenArgs opens a WhenArgs stream and reads its first message (the
// registration) within the call timeout. The stream lives until ctx ends.
func (c *Client) openWhenArgs(ctx context.Context, req *bridgev1.WhenArgsRequest,
) (grpc.ServerStreamingClient[bridgev1.WhenArgsResponse], error) {
	sctx, scancel := context.WithCancelCause(ctx)
	errSlow := fmt.Errorf("%w: WhenArgs not registered", arpc.ErrNetworkTimeout)
	timer := time.AfterFunc(c.callTimeout(), func() { scancel(errSlow) })
	c.calls.Add(1)
	stream, err := c.rpc.WhenArgs(sctx, req)
	if err == nil {
		_, err = stream.Recv()
	}
	if !timer.Stop() {
		scancel(errSlow)
		return nil, errSlow
	}
	if err != nil {
		scancel(nil)
		return nil, fromStatus("WhenArgs", err)
	}
	// sctx ends with ctx: nothing else holds scancel
	_ = scancel
	return stream, nil
}

// waitArgs reads the stream until a match or the end of ctx, reopening it
// when it breaks.
func (c *Client) waitArgs(ctx context.Context, req *bridgev1.WhenArgsRequest,
	stream grpc.ServerStreamingClient[bridgev1.WhenArgsResponse],
) {
	delay := &backoff.Backoff{Initial: DefaultReconnectDelay,
		Max: arpc.DefaultConnRetryBackoff, Jitter: backoff.ReconnectJitter}
	for {
		msg, err := stream.Recv()
		switch {
		case err == nil && msg.Matched:
			return
		case err == nil:
			continue
		case ctx.Err() != nil:
			return
		}
		perm := permanentErr(fromStatus("WhenArgs", err)) ||
			status.Code(err) == codes.PermissionDenied
		if perm {
			c.log.Warn("WhenArgs wait refused", "state", req.State, "err", err)
			<-ctx.Done()
			return
		}
		for {
			if !delay.Wait(ctx) {
				return
			}
			if stream, err = c.openWhenArgs(ctx, req); err == nil {
				delay.Reset()
				break
			}
		}
	}
}
