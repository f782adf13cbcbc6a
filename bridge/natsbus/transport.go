package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"google.golang.org/protobuf/proto"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/bridge"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
	"github.com/arpcbridge/arpcbridge/internal/backoff"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// transport implements door.Transport over NATS requests and the KV
// snapshot, so that arpc.Worker works over NATS unchanged.
type transport struct{ c *Client }

var _ door.Transport = transport{}

// Timeout implements door.Transport.
func (t transport) Timeout() time.Duration { return t.c.callTimeout() }

func mutationType(typ uint8) (bridgev1.MutationType, error) {
	switch typ {
	case door.MutAdd, door.MutAddErr:
		return bridgev1.MutationType_MUTATION_TYPE_ADD, nil
	case door.MutRemove:
		return bridgev1.MutationType_MUTATION_TYPE_REMOVE, nil
	case door.MutSet:
		return bridgev1.MutationType_MUTATION_TYPE_SET, nil
	}
	return 0, fmt.Errorf("%w: mutation type %d", arpc.ErrInvalidParams, typ)
}

func indexes(m *door.Mut) []uint32 {
	out := make([]uint32, len(m.States))
	for i, s := range m.States {
		out[i] = uint32(s)
	}
	return out
}

// request sends one request and maps micro error replies; no responders
// and timeouts wrap arpc.ErrNetwork.
func (t transport) request(ctx context.Context, subj string, data []byte) (
	*nats.Msg, error,
) {
	t.c.calls.Add(1)
	msg, err := t.c.nc.RequestWithContext(ctx, subj, data)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: %s: %w", arpc.ErrNetworkTimeout, subj, err)
		}
		return nil, fmt.Errorf("%w: %s: %w", arpc.ErrNetwork, subj, err)
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		return nil, codeErr(code, msg.Header.Get(micro.ErrorHeader))
	}
	return msg, nil
}

// Mutate implements door.Transport: a request to the mutate endpoint,
// retried with the same mutation ID (exactly-once) while no reply comes;
// then, unless noSync, a wait until the stream brought the change.
func (t transport) Mutate(ctx context.Context, m *door.Mut, noSync bool) (
	am.Result, error,
) {
	c := t.c
	typ, err := mutationType(m.Type)
	if err != nil {
		return am.Canceled, err
	}
	args := m.Args
	if m.Type == door.MutAddErr {
		args = make(am.A, len(m.Args)+1)
		for k, v := range m.Args {
			args[k] = v
		}
		args[bridge.ErrName] = m.ErrMsg
	}
	st, err := bridge.ToStruct(args)
	if err != nil {
		return am.Canceled, err
	}
	data, err := proto.Marshal(&bridgev1.MutateRequest{Type: typ,
		StateIndexes: indexes(m), Args: st, NoSync: noSync,
		MutationId: bridge.MutationId(c.Worker.IdScope(), m.Id),
		ClientId:   c.Id, SchemaHash: c.hash})
	if err != nil {
		return am.Canceled, err
	}
	retries := c.opts.CallRetries
	switch {
	case retries == 0:
		retries = arpc.DefaultCallRetries
	case retries < 0:
		retries = 0
	}
	delay := backoff.New(arpc.DefaultCallRetryDelay,
		arpc.DefaultCallRetryBackoff)
	for attempt := 0; ; attempt++ {
		msg, err := t.request(ctx, MutateSubject(c.id), data)
		if err == nil {
			var resp bridgev1.MutateResponse
			if err := proto.Unmarshal(msg.Data, &resp); err != nil {
				return am.Canceled, fmt.Errorf("%w: MutateResponse: %w",
					arpc.ErrInvalidResp, err)
			}
			if !noSync {
				seq, _ := strconv.ParseUint(msg.Header.Get(HeaderSeq), 10, 64)
				c.waitSeq(ctx, msg.Header.Get(HeaderEpoch), seq)
			}
			return bridge.ResultFromProto(resp.Result, resp.QueueTick)
		}
		if !errors.Is(err, arpc.ErrNetwork) && !errors.Is(err,
			arpc.ErrNetworkTimeout) || attempt >= retries || ctx.Err() != nil {
			return am.Canceled, err
		}
		if !delay.Wait(ctx) {
			return am.Canceled, err
		}
	}
}

// Sync implements door.Transport: the snapshot from KV. It may be older
// than the replica (KV is written after the stream); the stream's next
// message then reloads it.
func (t transport) Sync(context.Context, bool) error {
	c := t.c
	c.applyMx.Lock()
	defer c.applyMx.Unlock()
	before := c.resnapshots.Load()
	c.resnapshot()
	c.resnapshots.Store(before)
	return nil
}

// Can implements door.Transport.
func (t transport) Can(ctx context.Context, m *door.Mut) (am.Result,
	error,
) {
	c := t.c
	typ, err := mutationType(m.Type)
	if err != nil {
		return am.Canceled, err
	}
	st, err := bridge.ToStruct(m.Args)
	if err != nil {
		return am.Canceled, err
	}
	data, err := proto.Marshal(&bridgev1.CanMutateRequest{Type: typ,
		StateIndexes: indexes(m), Args: st, ClientId: c.Id, SchemaHash: c.hash})
	if err != nil {
		return am.Canceled, err
	}
	msg, err := t.request(ctx, CanSubject(c.id), data)
	if err != nil {
		return am.Canceled, err
	}
	var resp bridgev1.CanMutateResponse
	if err := proto.Unmarshal(msg.Data, &resp); err != nil {
		return am.Canceled, fmt.Errorf("%w: CanMutateResponse: %w",
			arpc.ErrInvalidResp, err)
	}
	return bridge.ResultFromProto(resp.Result, 0)
}

// Err implements door.Transport.
func (t transport) Err(ctx context.Context) (string, error) {
	msg, err := t.request(ctx, ErrSubject(t.c.id), nil)
	if err != nil {
		return "", err
	}
	return string(msg.Data), nil
}

// WhenArgs implements door.Transport: not available over NATS.
func (t transport) WhenArgs(context.Context, int, am.A) (<-chan struct{},
	error,
) {
	return nil, fmt.Errorf("%w: WhenArgs over NATS", arpc.ErrUnsupported)
}
