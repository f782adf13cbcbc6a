package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/arpcbridge/arpcbridge/arpc"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
	"github.com/arpcbridge/arpcbridge/internal/backoff"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// transport implements door.Transport over the BridgeService stubs, so that
// arpc.Worker works over gRPC unchanged.
type transport struct{ c *Client }

var _ door.Transport = transport{}

// Timeout implements door.Transport.
func (t transport) Timeout() time.Duration { return t.c.callTimeout() }

func mutationType(m *door.Mut) (bridgev1.MutationType, error) {
	switch m.Type {
	case door.MutAdd, door.MutAddErr:
		return bridgev1.MutationType_MUTATION_TYPE_ADD, nil
	case door.MutRemove:
		return bridgev1.MutationType_MUTATION_TYPE_REMOVE, nil
	case door.MutSet:
		return bridgev1.MutationType_MUTATION_TYPE_SET, nil
	}
	return 0, fmt.Errorf("%w: mutation type %d", arpc.ErrInvalidParams, m.Type)
}

func indexes(m *door.Mut) []uint32 {
	out := make([]uint32, len(m.States))
	for i, s := range m.States {
		out[i] = uint32(s)
	}
	return out
}

// Mutate implements door.Transport: one Mutate call, retried on UNAVAILABLE
// with the same mutation_id (exactly-once), within ctx and CallRetries.
func (t transport) Mutate(ctx context.Context, m *door.Mut, noSync bool) (
	am.Result, error,
) {
	c := t.c
	typ, err := mutationType(m)
	if err != nil {
		return am.Canceled, err
	}
	args := m.Args
	if m.Type == door.MutAddErr {
		args = make(am.A, len(m.Args)+1)
		for k, v := range m.Args {
			args[k] = v
		}
		args[ErrName] = m.ErrMsg
	}
	st, err := toStruct(args)
	if err != nil {
		return am.Canceled, err
	}
	req := &bridgev1.MutateRequest{
		Type: typ, StateIndexes: indexes(m), Args: st, NoSync: noSync,
		MutationId: mutationId(c.Worker.IdScope(), m.Id), ClientId: c.Id, SchemaHash: c.hash,
	}
	retries := c.opts.CallRetries
	switch {
	case retries == 0:
		retries = arpc.DefaultCallRetries
	case retries < 0:
		retries = 0
	}
	delay := backoff.New(arpc.DefaultCallRetryDelay, arpc.DefaultCallRetryBackoff)
	for attempt := 0; ; attempt++ {
		req.KnownSeq = c.Worker.Stats().Seq
		c.calls.Add(1)
		resp, rawErr := c.rpc.Mutate(ctx, req)
		if rawErr == nil {
			if resp.Update != nil {
				c.applyUpdate(resp.Update, false)
				if c.opts.PushAllTicks {
					// the reply may only name the snapshot the stream
					// brings (with the transitions before it)
					<-c.Worker.WhenSeq(resp.Update.ToSeq, ctx)
				}
			}
			return resultFromProto(resp.Result, resp.QueueTick)
		}
		err = fromStatus("Mutate", rawErr)
		if !errors.Is(err, arpc.ErrNetwork) || attempt >= retries ||
			ctx.Err() != nil {
			return t.failed(rawErr, err, noSync)
		}
		if !delay.Wait(ctx) {
			return t.failed(rawErr, err, noSync)
		}
	}
}

// failed ends a Mutate that got no reply. When the worker may have run it
// anyway, the server may also have handed its update to the lost reply
// instead of the stream, so the replica resyncs in the background.
func (t transport) failed(rawErr, err error, noSync bool) (am.Result, error) {
	if !noSync && lostReply(rawErr) {
		t.c.resyncLater()
	}
	return am.Canceled, err
}

// lostReply reports whether a failed Mutate may have run on the worker
// with its reply lost: anything but the service's refusals, which come
// before the worker is touched.
func lostReply(err error) bool {
	switch status.Code(err) {
	case codes.OK, codes.InvalidArgument, codes.FailedPrecondition,
		codes.PermissionDenied, codes.NotFound, codes.Unimplemented,
		codes.ResourceExhausted:
		return false
	}
	return true
}

// Sync implements door.Transport: a diff from the replica's time, or a full
// snapshot.
func (t transport) Sync(ctx context.Context, full bool) error {
	c := t.c
	req := &bridgev1.SyncRequest{ClientId: c.Id}
	if !full {
		req.KnownTime, req.KnownSeq = c.Worker.KnownClock()
	}
	c.calls.Add(1)
	resp, err := c.rpc.Sync(ctx, req)
	if err != nil {
		return fromStatus("Sync", err)
	}
	c.applyUpdate(resp.Update, full)
	return nil
}

// Can implements door.Transport.
func (t transport) Can(ctx context.Context, m *door.Mut) (am.Result,
	error,
) {
	c := t.c
	typ, err := mutationType(m)
	if err != nil {
		return am.Canceled, err
	}
	st, err := toStruct(m.Args)
	if err != nil {
		return am.Canceled, err
	}
	c.calls.Add(1)
	resp, err := c.rpc.CanMutate(ctx, &bridgev1.CanMutateRequest{Type: typ,
		StateIndexes: indexes(m), Args: st, ClientId: c.Id, SchemaHash: c.hash})
	if err != nil {
		return am.Canceled, fromStatus("CanMutate", err)
	}
	return resultFromProto(resp.Result, 0)
}

// Err implements door.Transport with the reserved Get name ErrName.
func (t transport) Err(ctx context.Context) (string, error) {
	v, err := t.c.Get(ctx, ErrName)
	if err != nil {
		return "", err
	}
	msg, _ := v.(string)
	return msg, nil
}
