package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"google.golang.org/protobuf/proto"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// ClientOpts are optional settings of Dial; the zero value means defaults.
type ClientOpts struct {
	// Name is the client's name; its ID (arpc.GetClientId) scopes mutation
	// IDs and addresses payloads. Default: a random name.
	Name string
	// ConnTimeout bounds Dial (default arpc.DefaultConnTimeout): a missing
	// snapshot is waited for that long.
	ConnTimeout time.Duration
	// CallTimeout bounds each am.Api method of the Worker, including the
	// wait for a mutation's change on the stream (default
	// arpc.DefaultCallTimeout).
	CallTimeout time.Duration
	// CallRetries is how many times a mutation without a reply (no
	// responders, timeout) is retried with the same mutation ID (default
	// arpc.DefaultCallRetries; negative: none).
	CallRetries int
	// Bucket is the publisher's KV bucket (default DefaultBucket).
	Bucket string
	// Consumer receives the worker's payloads for this client (or for
	// every client) as WorkerPayload mutations, as on the other doors.
	Consumer *am.Machine
	// Logger receives diagnostics (default: discarded).
	Logger *slog.Logger
}

// Client is a replica of a worker published on NATS. Its Worker is the same
// *arpc.Worker as the other doors give. Safe for concurrent use.
type Client struct {
	// Worker is the remote worker, in sync when Dial returns.
	Worker *arpc.Worker
	// Id is the client ID (see ClientOpts.Name).
	Id string

	id    string
	opts  ClientOpts
	names am.S
	hash  string
	nc    *nats.Conn
	js    jetstream.JetStream
	kv    jetstream.KeyValue
	log   *slog.Logger
	ctx   context.Context
	stop  context.CancelFunc
	cc    jetstream.ConsumeContext
	psub  *nats.Subscription
	once  sync.Once

	// applyMx orders the stream's messages and snapshots; epoch is the
	// chain's engine
	applyMx   sync.Mutex
	epoch     string
	streamSeq uint64
	// seqMx guards seqCh, closed and replaced on every applied change
	seqMx sync.Mutex
	seqCh chan struct{}

	reconnects0                             uint64
	updates, snapshots, resnapshots, badMsg atomic.Uint64
	payloads, calls                         atomic.Uint64
}

// Dial loads machineID's snapshot from KV, checks that schema and names (in
// order) match the worker's, and follows its clock stream. ctx bounds the
// client's life; Close ends it earlier. nc stays the caller's.
func Dial(ctx context.Context, nc *nats.Conn, machineID string,
	schema am.Schema, names am.S, opts *ClientOpts,
) (*Client, error) {
	if nc == nil {
		return nil, fmt.Errorf("%w: nil connection", arpc.ErrInvalidParams)
	}
	if err := checkId(machineID); err != nil {
		return nil, err
	}
	norm, err := arpc.ClientSchema(schema, names)
	if err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &ClientOpts{}
	}
	name := opts.Name
	if name == "" {
		name = "nats-" + strconv.FormatUint(uint64(time.Now().UnixNano()), 36)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("%w: jetstream: %w", arpc.ErrNetwork, err)
	}
	cctx, stop := context.WithCancel(ctx)
	c := &Client{
		Id: arpc.GetClientId(name), id: machineID, opts: *opts, names: names,
		hash: arpc.SchemaHash(norm, names), nc: nc, js: js,
		log: log.With("machine", machineID), ctx: cctx, stop: stop,
		seqCh: make(chan struct{}), reconnects0: nc.Stats().Reconnects,
	}
	if err := c.start(norm); err != nil {
		stop()
		c.close()
		return nil, err
	}
	return c, nil
}

// start loads the snapshot and opens the stream after it.
func (c *Client) start(schema am.Schema) error {
	ctx, cancel := context.WithTimeout(c.ctx, orDefault(c.opts.ConnTimeout,
		arpc.DefaultConnTimeout))
	defer cancel()
	snap, err := c.waitSnapshot(ctx)
	if err != nil {
		return err
	}
	ps, err := c.readSchema(ctx, snap)
	if err != nil {
		return err
	}
	if err := arpc.CompareSchemas(schema, c.names,
		bridge.FromProtoSchema(ps), snap.StateNames); err != nil {
		return err
	}
	c.Worker = door.NewWorker(c.ctx, c.id, schema, c.names, transport{c},
		c.log).(*arpc.Worker)
	c.applyMx.Lock()
	err = c.applySnapshot(snap)
	c.applyMx.Unlock()
	if err != nil {
		return err
	}
	if c.opts.Consumer != nil {
		c.psub, err = c.nc.Subscribe(PayloadSubject(c.id), c.onPayload)
		if err != nil {
			return fmt.Errorf("%w: payload subscription: %w", arpc.ErrNetwork, err)
		}
	}
	cons, err := c.js.OrderedConsumer(ctx, StreamName(c.id),
		jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{ClockSubject(c.id)},
			DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:    snap.StreamSeq + 1,
		})
	if err != nil {
		return fmt.Errorf("%w: clock stream: %w", arpc.ErrNetwork, err)
	}
	c.cc, err = cons.Consume(c.onMsg, jetstream.ConsumeErrHandler(
		func(_ jetstream.ConsumeContext, err error) {
			c.log.Debug("clock stream", "err", err)
		}))
	if err != nil {
		return fmt.Errorf("%w: clock stream: %w", arpc.ErrNetwork, err)
	}
	// the client's life ends with ctx too, not only with Close
	context.AfterFunc(c.ctx, c.cc.Stop)
	return nil
}

// Done is closed when the client stops following the stream: after Close,
// or when Dial's ctx ended.
func (c *Client) Done() <-chan struct{} { return c.ctx.Done() }

// Discover returns the schema and state names of a machine published on
// NATS, from its snapshot, for clients that do not know them. bucket ""
// is DefaultBucket.
func Discover(ctx context.Context, nc *nats.Conn, machineID, bucket string) (
	am.Schema, am.S, error,
) {
	if err := checkId(machineID); err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: jetstream: %w", arpc.ErrNetwork, err)
	}
	c := &Client{id: machineID, js: js, opts: ClientOpts{Bucket: bucket}}
	snap, err := c.waitSnapshot(ctx)
	if err != nil {
		return nil, nil, err
	}
	ps, err := c.readSchema(ctx, snap)
	if err != nil {
		return nil, nil, err
	}
	schema := bridge.FromProtoSchema(ps)
	if schema == nil {
		schema = am.Schema{}
		for _, n := range snap.StateNames {
			schema[n] = am.State{}
		}
	}
	return schema, snap.StateNames, nil
}

// waitSnapshot reads the machine's snapshot, waiting for a publisher
// within ctx.
func (c *Client) waitSnapshot(ctx context.Context) (*Snapshot, error) {
	bucket := c.opts.Bucket
	if bucket == "" {
		bucket = DefaultBucket
	}
	for {
		snap, err := c.readSnapshot(ctx, bucket)
		if err == nil || !errors.Is(err, ErrNoPublisher) {
			return snap, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// readSchema returns the machine's schema: the snapshot's, or from
// SchemaKey; nil when neither has one (names are compared then).
func (c *Client) readSchema(ctx context.Context, snap *Snapshot) (
	*bridgev1.Schema, error,
) {
	if snap.Schema != nil {
		return snap.Schema, nil
	}
	e, err := c.kv.Get(ctx, SchemaKey(c.id))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("%w: KV: %w", arpc.ErrNetwork, err)
	}
	ps := &bridgev1.Schema{}
	if err := proto.Unmarshal(e.Value(), ps); err != nil {
		return nil, fmt.Errorf("%w: schema: %w", arpc.ErrInvalidResp, err)
	}
	return ps, nil
}

func (c *Client) readSnapshot(ctx context.Context, bucket string) (
	*Snapshot, error,
) {
	c.calls.Add(1)
	if c.kv == nil {
		kv, err := c.js.KeyValue(ctx, bucket)
		switch {
		case errors.Is(err, jetstream.ErrBucketNotFound):
			return nil, fmt.Errorf("%w: bucket %s", ErrNoPublisher, bucket)
		case err != nil:
			return nil, fmt.Errorf("%w: KV: %w", arpc.ErrNetwork, err)
		}
		c.kv = kv
	}
	e, err := c.kv.Get(ctx, c.id)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, fmt.Errorf("%w: %s", ErrNoPublisher, c.id)
	case err != nil:
		return nil, fmt.Errorf("%w: KV: %w", arpc.ErrNetwork, err)
	}
	return UnmarshalSnapshot(e.Value())
}

// applySnapshot replaces the replica's time. Call with applyMx held.
func (c *Client) applySnapshot(snap *Snapshot) error {
	if snap.SchemaHash != "" && snap.SchemaHash != c.hash {
		return fmt.Errorf("%w: schema hash %s, worker has %s",
			arpc.ErrSchemaMismatch, c.hash, snap.SchemaHash)
	}
	u, err := bridge.FromProtoUpdate(snap.Update, len(c.names))
	if err != nil {
		return err
	}
	c.Worker.ApplyUpdate(u)
	c.epoch, c.streamSeq = snap.Epoch, snap.StreamSeq
	c.snapshots.Add(1)
	c.changed()
	return nil
}

// resnapshot reloads the snapshot after a gap. Call with applyMx held.
func (c *Client) resnapshot() {
	c.resnapshots.Add(1)
	ctx, cancel := context.WithTimeout(c.ctx, c.callTimeout())
	defer cancel()
	bucket := c.opts.Bucket
	if bucket == "" {
		bucket = DefaultBucket
	}
	snap, err := c.readSnapshot(ctx, bucket)
	if err == nil {
		err = c.applySnapshot(snap)
	}
	if err != nil {
		c.log.Warn("snapshot reload failed", "err", err)
	}
}

// onMsg applies one clock message. A message that does not continue the
// replica's chain (retention dropped the ones before it, or a new engine
// without its full first update) reloads the snapshot, which the publisher
// writes before the next message, so it covers the gap.
func (c *Client) onMsg(msg jetstream.Msg) {
	c.applyMx.Lock()
	defer c.applyMx.Unlock()
	if meta, err := msg.Metadata(); err == nil {
		if meta.Sequence.Stream <= c.streamSeq {
			return
		}
		c.streamSeq = meta.Sequence.Stream
	}
	var pu bridgev1.ClockUpdate
	if err := proto.Unmarshal(msg.Data(), &pu); err != nil {
		c.badMsg.Add(1)
		c.log.Warn("bad clock message", "err", err)
		return
	}
	u, err := bridge.FromProtoUpdate(&pu, len(c.names))
	if err != nil {
		c.badMsg.Add(1)
		c.log.Warn("bad clock message", "err", err)
		return
	}
	c.updates.Add(1)
	epoch := msg.Headers().Get(HeaderEpoch)
	switch {
	case u.Full:
		c.epoch = epoch
	case epoch != c.epoch || u.FromSeq > c.Worker.Stats().Seq:
		c.resnapshot()
		if epoch != c.epoch {
			return
		}
	}
	c.Worker.ApplyUpdate(u)
	c.changed()
}

// changed wakes mutations waiting for the replica.
func (c *Client) changed() {
	c.seqMx.Lock()
	close(c.seqCh)
	c.seqCh = make(chan struct{})
	c.seqMx.Unlock()
}

// waitSeq waits until the replica reaches seq of epoch, or ctx ends.
func (c *Client) waitSeq(ctx context.Context, epoch string, seq uint64) {
	for {
		c.seqMx.Lock()
		ch := c.seqCh
		c.seqMx.Unlock()
		c.applyMx.Lock()
		same := c.epoch == epoch
		c.applyMx.Unlock()
		if !same || c.Worker.Stats().Seq >= seq {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

func (c *Client) onPayload(msg *nats.Msg) {
	if to := msg.Header.Get(HeaderClient); to != "" && to != c.Id {
		return
	}
	var p bridgev1.Payload
	if err := proto.Unmarshal(msg.Data, &p); err != nil {
		c.log.Warn("bad payload message", "err", err)
		return
	}
	c.payloads.Add(1)
	var data any = p.Data
	if len(p.ContentType) >= 10 && p.ContentType[:10] == "text/plain" {
		data = string(p.Data)
	}
	c.opts.Consumer.Add1(ss.ConsumerStates.WorkerPayload,
		arpc.Pass(&arpc.A{Name: p.Name, Payload: &arpc.ArgsPayload{
			Name: p.Name, Source: p.Source, Data: data, Token: p.Token}}))
}

func (c *Client) close() {
	if c.cc != nil {
		c.cc.Stop()
		<-c.cc.Closed()
	}
	if c.psub != nil {
		_ = c.psub.Unsubscribe()
	}
	if c.Worker != nil {
		c.Worker.Dispose()
	}
}

// Close stops following the stream and disposes the Worker. The NATS
// connection stays open. Idempotent.
func (c *Client) Close() error {
	c.once.Do(func() {
		c.stop()
		c.close()
	})
	return nil
}

// ClientStats are a client's counters.
type ClientStats struct {
	// Updates counts clock messages received.
	Updates uint64
	// Snapshots counts snapshots loaded from KV (the first one included);
	// Resnapshots those loaded because the stream had a gap (retention
	// dropped messages the client had not read, or a new engine).
	Snapshots, Resnapshots uint64
	// Reconnects counts NATS reconnects of the connection since Dial.
	Reconnects uint64
	// Payloads counts payloads delivered; Calls the NATS requests made.
	Payloads, Calls uint64
	// StreamSeq is the last stream sequence applied.
	StreamSeq uint64
}

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats {
	c.applyMx.Lock()
	seq := c.streamSeq
	c.applyMx.Unlock()
	return ClientStats{Updates: c.updates.Load(), Snapshots: c.snapshots.Load(),
		Resnapshots: c.resnapshots.Load(),
		Reconnects:  c.nc.Stats().Reconnects - c.reconnects0,
		Payloads:    c.payloads.Load(), Calls: c.calls.Load(), StreamSeq: seq}
}

func (c *Client) callTimeout() time.Duration {
	return orDefault(c.opts.CallTimeout, arpc.DefaultCallTimeout)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
