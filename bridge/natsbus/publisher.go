package natsbus

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"google.golang.org/protobuf/proto"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/clock"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
	"github.com/arpcbridge/arpcbridge/bridge"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
	"github.com/arpcbridge/arpcbridge/internal/backoff"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// Publisher defaults.
const (
	// DefaultMaxMsgs is the clock stream's retention by count: a client
	// offline for longer than this many updates loads a new snapshot.
	DefaultMaxMsgs = 100_000
	// DefaultMaxAge is the clock stream's retention by age.
	DefaultMaxAge = 24 * time.Hour
	// DefaultDuplicates is the stream's duplicate window, within which a
	// retried publish of the same update is stored once.
	DefaultDuplicates = 2 * time.Minute
)

// PublisherOpts are optional settings of NewPublisher; the zero value means
// defaults.
type PublisherOpts struct {
	// PushInterval paces the stream as on the other doors (see
	// engine.NewPace): 0 latency-first without a rate cap, positive a rate
	// cap.
	PushInterval time.Duration
	// MaxMsgs and MaxAge bound the clock stream (defaults DefaultMaxMsgs,
	// DefaultMaxAge).
	MaxMsgs int64
	MaxAge  time.Duration
	// Replicas of the stream and the KV bucket in a cluster (default 1).
	Replicas int
	// Memory stores the stream and bucket in memory instead of files.
	Memory bool
	// Bucket is the KV bucket of snapshots (default DefaultBucket).
	Bucket string
	// SetupTimeout bounds NewPublisher's first write (default
	// arpc.DefaultConnTimeout); later writes are retried until Close.
	SetupTimeout time.Duration
	// Logger receives diagnostics (default: discarded).
	Logger *slog.Logger
}

// Publisher publishes one worker on NATS (see the package doc). Safe for
// concurrent use.
type Publisher struct {
	id     string
	worker am.Api
	eng    *engine.Engine
	sub    *engine.Sub
	mut    *door.Mutator
	names  am.S
	hash   string
	schema *bridgev1.Schema
	epoch  string
	nc     *nats.Conn
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	svc    micro.Service
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}
	err    atomic.Pointer[error]
	once   sync.Once

	// cur is the time the stream's chain has reached (SendUpdate only)
	cur am.Time

	updates, bytes, kvBytes, payloads, mutations atomic.Uint64
}

// NewPublisher attaches to worker's engine, creates (or updates) the
// machine's stream and KV bucket, starts the micro service and publishes
// until ctx ends or Close. The worker's ID must be usable on NATS (letters,
// digits, '-', '_').
func NewPublisher(ctx context.Context, nc *nats.Conn, worker am.Api,
	opts *PublisherOpts,
) (*Publisher, error) {
	if nc == nil || worker == nil {
		return nil, fmt.Errorf("%w: nil connection or worker",
			arpc.ErrInvalidParams)
	}
	if opts == nil {
		opts = &PublisherOpts{}
	}
	id := worker.Id()
	if err := checkId(id); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("%w: jetstream: %w", arpc.ErrNetwork, err)
	}
	storage := jetstream.FileStorage
	if opts.Memory {
		storage = jetstream.MemoryStorage
	}
	replicas := max(opts.Replicas, 1)
	maxMsgs := opts.MaxMsgs
	if maxMsgs == 0 {
		maxMsgs = DefaultMaxMsgs
	}
	maxAge := opts.MaxAge
	if maxAge == 0 {
		maxAge = DefaultMaxAge
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: StreamName(id), Subjects: []string{ClockSubject(id)},
		Storage: storage, Replicas: replicas, MaxMsgs: maxMsgs, MaxAge: maxAge,
		Duplicates: DefaultDuplicates, Discard: jetstream.DiscardOld,
		Description: "aRPC Bridge clock of " + id,
	}); err != nil {
		return nil, fmt.Errorf("%w: stream %s: %w", arpc.ErrNetwork,
			StreamName(id), err)
	}
	bucket := opts.Bucket
	if bucket == "" {
		bucket = DefaultBucket
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucket, History: 1, Storage: storage, Replicas: replicas,
		Description: "aRPC Bridge clock snapshots",
	})
	if err != nil {
		return nil, fmt.Errorf("%w: KV bucket %s: %w", arpc.ErrNetwork, bucket,
			err)
	}
	eng, err := engine.Attach(worker)
	if err != nil {
		return nil, err
	}
	names := eng.Names()
	pctx, cancel := context.WithCancel(ctx)
	p := &Publisher{
		id: id, worker: worker, eng: eng, sub: eng.Subscribe(),
		mut: door.MutatorFor(worker), names: names,
		hash: arpc.SchemaHash(arpc.NormalizeSchema(worker.Schema()), names),
		schema: bridge.ToProtoSchema(arpc.NormalizeSchema(worker.Schema()),
			names),
		epoch: strconv.FormatUint(eng.Epoch, 16), nc: nc, js: js, kv: kv,
		log: log.With("machine", id), ctx: pctx, cancel: cancel,
		done: make(chan struct{}),
	}
	sb, err := proto.Marshal(p.schema)
	if err == nil {
		_, err = kv.Put(ctx, SchemaKey(id), sb)
	}
	if err != nil {
		p.release()
		return nil, fmt.Errorf("%w: KV schema: %w", arpc.ErrNetwork, err)
	}
	// the first update: the full time, so that a restarted bridge's clients
	// take the new chain
	first := p.sub.Full(true)
	setup, cancelSetup := context.WithTimeout(pctx, orDefault(opts.SetupTimeout,
		arpc.DefaultConnTimeout))
	defer cancelSetup()
	if err := p.send(setup, &first); err != nil {
		p.release()
		return nil, err
	}
	if err := p.serve(); err != nil {
		p.release()
		return nil, err
	}
	p.wg.Add(1)
	go p.run(opts.PushInterval)
	return p, nil
}

func (p *Publisher) release() {
	p.cancel()
	p.sub.Close()
	p.eng.Release()
	close(p.done)
}

// run is the publisher's push loop: the engine's, with p as the sender.
func (p *Publisher) run(pushInterval time.Duration) {
	defer p.wg.Done()
	err := p.sub.Run(p.ctx, engine.NewPace(pushInterval, 0), p)
	if p.ctx.Err() == nil && err != nil {
		p.log.Error("publisher stopped", "err", err)
		p.err.Store(&err)
	}
	p.cancel()
}

// SendUpdate implements engine.Sender: the update goes to the stream (with
// retries, deduplicated by the stream), then the new full time to KV.
func (p *Publisher) SendUpdate(u *engine.Update) error {
	return p.send(p.ctx, u)
}

// send publishes u and the snapshot after it, retrying within ctx.
func (p *Publisher) send(ctx context.Context, u *engine.Update) error {
	pu := bridge.ToProtoUpdate(u)
	data, err := proto.Marshal(pu)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(ClockSubject(p.id))
	msg.Data = data
	msg.Header.Set(HeaderEpoch, p.epoch)
	msgId := p.epoch + "." + strconv.FormatUint(u.ToSeq, 36)
	var ack *jetstream.PubAck
	if err := p.retry(ctx, func(ctx context.Context) (err error) {
		ack, err = p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgId))
		return err
	}); err != nil {
		return err
	}
	if u.Full {
		p.cur = make(am.Time, len(p.names))
	}
	if err := clock.Apply(p.cur, u.Diff); err != nil {
		return fmt.Errorf("%w: %w", arpc.ErrInvalidResp, err)
	}
	snap := &Snapshot{Update: bridge.ToProtoUpdate(&engine.Update{
		ToSeq: u.ToSeq, Diff: clock.Compute(nil, p.cur), Sum: u.Sum,
		QueueTick: u.QueueTick, Full: true}), StreamSeq: ack.Sequence,
		Epoch: p.epoch, StateNames: p.names, SchemaHash: p.hash}
	val, err := snap.Marshal()
	if err != nil {
		return err
	}
	if err := p.retry(ctx, func(ctx context.Context) error {
		_, err := p.kv.Put(ctx, p.id, val)
		return err
	}); err != nil {
		return err
	}
	p.updates.Add(1)
	p.bytes.Add(uint64(len(data)))
	p.kvBytes.Add(uint64(len(val)))
	return nil
}

// retry runs f until it succeeds or the publisher ends: NATS may be
// reconnecting, and an update must not be lost from the chain.
func (p *Publisher) retry(life context.Context,
	f func(ctx context.Context) error,
) error {
	delay := &backoff.Backoff{Initial: 20 * time.Millisecond, Max: time.Second,
		Jitter: backoff.ReconnectJitter}
	for {
		ctx, cancel := context.WithTimeout(life, 5*time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if life.Err() != nil {
			return fmt.Errorf("%w: %w", arpc.ErrNetwork, err)
		}
		p.log.Warn("NATS write failed, retrying", "err", err)
		if !delay.Wait(life) {
			return fmt.Errorf("%w: %w", arpc.ErrNetwork, err)
		}
	}
}

// SendPayloads implements engine.Sender: each payload on the payload
// subject, addressed by HeaderClient.
func (p *Publisher) SendPayloads(payloads []am.A) error {
	for _, args := range payloads {
		a := arpc.ParseArgs(args)
		if a.Payload == nil {
			continue
		}
		data, ct, err := bridge.PayloadData(a.Payload.Data)
		if err != nil {
			p.log.Error("payload skipped: data not encodable", "name",
				a.Payload.Name, "err", err)
			continue
		}
		source := a.Payload.Source
		if source == "" {
			source = p.id
		}
		b, err := proto.Marshal(&bridgev1.Payload{Name: a.Payload.Name,
			Source: source, Token: a.Payload.Token, Data: data, ContentType: ct})
		if err != nil {
			return err
		}
		msg := nats.NewMsg(PayloadSubject(p.id))
		msg.Data = b
		if a.Id != "" {
			msg.Header.Set(HeaderClient, a.Id)
		}
		// core NATS: buffered while reconnecting, never blocks the clock
		if err := p.nc.PublishMsg(msg); err != nil {
			p.log.Warn("payload not published", "name", a.Payload.Name, "err", err)
			continue
		}
		p.payloads.Add(1)
	}
	return nil
}

// SendHeartbeat implements engine.Sender: NATS has its own.
func (p *Publisher) SendHeartbeat() error { return nil }

// Close stops publishing, the micro service and the engine subscription.
// The stream and the KV bucket stay. Idempotent.
func (p *Publisher) Close() error {
	var err error
	p.once.Do(func() {
		p.cancel()
		p.wg.Wait()
		if p.svc != nil {
			err = p.svc.Stop()
		}
		p.sub.Close()
		p.eng.Release()
		close(p.done)
	})
	return err
}

// Done is closed once Close has run.
func (p *Publisher) Done() <-chan struct{} { return p.done }

// Err returns why publishing stopped on its own (the worker went away),
// nil otherwise.
func (p *Publisher) Err() error {
	if e := p.err.Load(); e != nil {
		return *e
	}
	return nil
}

// PublisherStats are a publisher's counters.
type PublisherStats struct {
	// Updates counts clock messages published; Bytes their payload bytes
	// (the protobuf ClockUpdate); SnapshotBytes the KV values written.
	Updates, Bytes, SnapshotBytes uint64
	// Payloads counts payloads published; Mutations the requests served.
	Payloads, Mutations uint64
}

// Stats returns the publisher's counters.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{Updates: p.updates.Load(), Bytes: p.bytes.Load(),
		SnapshotBytes: p.kvBytes.Load(), Payloads: p.payloads.Load(),
		Mutations: p.mutations.Load()}
}
