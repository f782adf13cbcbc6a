package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/clock"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
	"github.com/arpcbridge/arpcbridge/internal/backoff"
	"github.com/arpcbridge/arpcbridge/internal/chunk"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// Client defaults, besides the arpc.Default* ones it shares with the aRPC
// client.
const (
	// DefaultReconnectDelay is the first delay before reopening a broken
	// WatchClock stream; it doubles up to arpc.DefaultConnRetryBackoff.
	DefaultReconnectDelay = 50 * time.Millisecond
	// DefaultWindowSize is the static HTTP/2 flow-control window (per
	// stream and per connection) of a dialed connection. A static window
	// turns off gRPC's bandwidth-delay probing, which otherwise answers
	// about every other small message (clock updates, Mutate replies) with
	// a PING round trip: 17 bytes each way and a wakeup on both ends. Large
	// payloads are the only traffic that a bigger, adaptive window would
	// speed up, and only on links slower than DefaultWindowSize per
	// round trip.
	DefaultWindowSize = 1 << 20
)

// ClientOpts are optional settings of Dial. The zero value means defaults.
type ClientOpts struct {
	// Conn, when set, is used instead of dialing addr (for example a bufconn
	// or a connection with TLS). Close does not close it.
	Conn grpc.ClientConnInterface
	// DialOptions are passed to grpc.NewClient when dialing addr, after the
	// defaults: insecure (plaintext) credentials, static flow-control
	// windows of DefaultWindowSize and the door's protobuf codec (pooled,
	// unzeroed buffers for large messages; docs/grpc.md, chunked payloads).
	// Later options win, so these can change the credentials and the
	// window sizes; for gRPC's adaptive windows,
	// pass a connection of your own as Conn.
	DialOptions []grpc.DialOption
	// NoTracing leaves out the OpenTelemetry instrumentation (otelgrpc) of
	// the connection Dial dials: no client spans and no W3C trace context
	// in the calls' metadata, and about 2 KiB and 30 allocations less per
	// call. Default: traced with the global TracerProvider (a no-op until
	// one is set).
	NoTracing bool
	// ConnTimeout bounds Dial: the handshake and the initial sync. Default
	// arpc.DefaultConnTimeout.
	ConnTimeout time.Duration
	// CallTimeout bounds each am.Api method of the Worker. Default
	// arpc.DefaultCallTimeout.
	CallTimeout time.Duration
	// CallRetries is how many times a mutation that failed with UNAVAILABLE
	// (the connection broke) is retried, exactly-once thanks to its
	// mutation_id. Default arpc.DefaultCallRetries; negative means none.
	CallRetries int
	// ConnRetryTimeout bounds how long a broken WatchClock stream is
	// retried before the client gives up (see Client.Done). Default
	// arpc.DefaultConnRetryTimeout.
	ConnRetryTimeout time.Duration
	// HeartbeatInterval is asked of the server for the WatchClock stream.
	// Default DefaultHeartbeat.
	HeartbeatInterval time.Duration
	// Consumer receives the worker's payloads as WorkerPayload mutations
	// (states.ConsumerSchema), with an arpc.ArgsPayload whose Data is the
	// payload's bytes ([]byte), or a string for text payloads.
	Consumer *am.Machine
	// Logger receives the client's diagnostics. Default: discarded.
	Logger *slog.Logger
	// TLSConfig, when set, dials with TLS (ALPN h2); set Certificates for
	// mTLS. A server certificate that does not verify, or a server that
	// refuses the client's, fails Dial at once with arpc.ErrUnauthenticated.
	// Ignored with Conn. Default: plaintext.
	TLSConfig *tls.Config
	// Token is sent as "authorization: Bearer TOKEN" metadata with every
	// call (ignored with Conn). Default: none.
	Token string
	// MaxPayload is the largest chunked payload the client accepts, checked
	// on its first chunk before anything is allocated (see
	// client_chunks.go). Payloads over the server's chunk size come in
	// chunks, so the gRPC message limit does not bound them. Default
	// arpc.DefaultMaxPayload (256 MiB).
	MaxPayload int64
	// Compression asks for compressed messages in both directions:
	// arpc.CompressionGzip or arpc.CompressionZstd (the standard
	// grpc-encoding negotiation; see Compressions); arpc.CompressionS2, the
	// aRPC door's, is refused with arpc.ErrInvalidParams. A
	// bridge server answers in kind. Ignored with Conn (set a
	// grpc.UseCompressor call option on it instead). Default: none.
	Compression arpc.Compression
	// PushAllTicks asks the server for every accepted worker transition
	// (WatchClockRequest.push_all_ticks): the Worker then applies them one
	// by one (one TransitionEnd per worker transition for its tracers,
	// waits see every step) and accepts final handlers (HandlersBind), as
	// with arpc.ClientOpts.PushAllTicks. Default: off (merged diffs).
	PushAllTicks bool
}

// Client is a gRPC connection to a BridgeService, exposing its worker as
// Worker: the same *arpc.Worker (an am.Api) an aRPC client gives, kept
// current by a WatchClock stream that reconnects and resumes by itself.
// Safe for concurrent use.
type Client struct {
	// Worker is the remote worker, ready when Dial returns.
	Worker *arpc.Worker
	// Id is the client ID the server sees: arpc.GetClientId(name), as for an
	// aRPC client, so that one AllowId serves both doors.
	Id string

	opts   ClientOpts
	names  am.S
	hash   string
	rpc    bridgev1.BridgeServiceClient
	closer func() error
	// tls are the dialed connection's TLS credentials; nil for plaintext
	tls    *watchedTLS
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	wg        sync.WaitGroup
	bgMx      sync.Mutex // orders background work's wg.Add before Close
	bgResync  atomic.Bool
	closeOnce sync.Once
	done      chan struct{}
	err       atomic.Pointer[error]

	applyMx sync.Mutex
	hist    [historySize]histEntry

	reconnects atomic.Uint64
	resyncs    atomic.Uint64
	rebased    atomic.Uint64
	heartbeats atomic.Uint64
	payloads   atomic.Uint64
	calls      atomic.Uint64
	// payloads the server dropped: on streams that ended, and on the current
	// one as its last heartbeat said
	droppedBefore, droppedNow atomic.Uint64
	// the current stream's chunked payload (client_chunks.go), touched by
	// the stream's reader only
	asm       chunk.Assembler
	asmHeader *bridgev1.Payload
	chunks    atomic.Uint64
	chunkErrs atomic.Uint64
}

// Dial connects to the BridgeService at addr as client name, checks that
// schema and names (in order) match the worker's, and returns once the
// Worker replica is in sync and watching. ctx bounds the client's life, like
// arpc.NewClient's; Close ends it earlier.
func Dial(ctx context.Context, addr string, name string, schema am.Schema,
	names am.S, opts *ClientOpts,
) (*Client, error) {
	norm, err := arpc.ClientSchema(schema, names)
	if err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &ClientOpts{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cctx, cancel := context.WithCancel(ctx)
	c := &Client{
		Id:     arpc.GetClientId(name),
		opts:   *opts,
		names:  names,
		hash:   arpc.SchemaHash(norm, names),
		log:    log.With("client", name),
		ctx:    cctx,
		cancel: cancel,
		done:   make(chan struct{}),
		closer: func() error { return nil },
	}
	conn := opts.Conn
	if conn == nil {
		var creds credentials.TransportCredentials = insecure.NewCredentials()
		if opts.TLSConfig != nil {
			c.tls = newWatchedTLS(opts.TLSConfig)
			creds = c.tls
		}
		dopts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
		if !opts.NoTracing {
			dopts = append(dopts, otelDialOption())
		}
		if opts.Token != "" {
			dopts = append(dopts, grpc.WithPerRPCCredentials(bearerCreds{opts.Token}))
		}
		dopts = append(append(dopts,
			grpc.WithInitialWindowSize(DefaultWindowSize),
			grpc.WithInitialConnWindowSize(DefaultWindowSize),
			// accept what the server may send (payloads up to its limit)
			grpc.WithDefaultCallOptions(
				grpc.MaxCallRecvMsgSize(DefaultMaxRecvMsgSize), codecCallOption())),
			opts.DialOptions...)
		enc, err := grpcEncoding(opts.Compression)
		if err != nil {
			cancel()
			return nil, err
		}
		if enc != "" {
			dopts = append(dopts, grpc.WithDefaultCallOptions(
				grpc.UseCompressor(enc)))
		}
		cc, err := grpc.NewClient(addr, dopts...)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("%w: %w", arpc.ErrNetwork, err)
		}
		conn, c.closer = cc, cc.Close
	}
	c.rpc = bridgev1.NewBridgeServiceClient(conn)
	if err := c.connect(norm); err != nil {
		cancel()
		_ = c.closer()
		close(c.done)
		return nil, err
	}
	return c, nil
}

// connect handshakes, builds the Worker and opens the first stream.
func (c *Client) connect(schema am.Schema) error {
	tctx, cancel := context.WithTimeout(c.ctx,
		orDefault(c.opts.ConnTimeout, arpc.DefaultConnTimeout))
	defer cancel()
	ctx, refuse := context.WithCancelCause(tctx)
	defer refuse(nil)
	if c.tls != nil {
		fn := func(err error) { refuse(err) }
		c.tls.refused.Store(&fn)
		defer c.tls.refused.Store(nil)
	}
	c.calls.Add(1)
	hs, err := c.rpc.Handshake(ctx, &bridgev1.HandshakeRequest{
		ClientId: c.Id, SchemaHash: c.hash, StateNames: c.names,
		ProtocolVersion: ProtocolVersion,
	}, grpc.WaitForReady(true))
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && tctx.Err() == nil &&
			c.ctx.Err() == nil {
			return cause
		}
		if c.tls == nil && status.Code(err) == codes.DeadlineExceeded {
			return fmt.Errorf("%w (no answer: a TLS server? set "+
				"ClientOpts.TLSConfig)", fromStatus("Handshake", err))
		}
		return fromStatus("Handshake", err)
	}
	if err := arpc.CompareSchemas(schema, c.names, fromProtoSchema(hs.Schema),
		hs.StateNames); err != nil {
		return err
	}
	if len(hs.Time) != len(c.names) {
		return fmt.Errorf("%w: handshake time has %d ticks for %d states",
			arpc.ErrInvalidResp, len(hs.Time), len(c.names))
	}
	groups, order, err := fromProtoGroups(hs.Groups, len(c.names))
	if err != nil {
		return err
	}
	c.Worker = door.NewWorker(c.ctx, hs.MachineId, schema, c.names,
		transport{c}, c.log).(*arpc.Worker)
	c.Worker.SetGroups(groups, order)
	if c.opts.PushAllTicks {
		c.Worker.EnablePushAllTicks()
	}
	c.Worker.ApplyUpdate(fullFromTime(hs.Time, hs.Seq, hs.QueueTick))

	stream, scancel, err := c.openStream(ctx)
	if err != nil {
		return err
	}
	c.wg.Add(1)
	go c.watch(stream, scancel)
	return nil
}

// openStream opens a WatchClock stream resuming from the replica and reads
// it until InitialSyncDone. The stream lives until scancel or c.ctx ends.
func (c *Client) openStream(ctx context.Context) (
	grpc.ServerStreamingClient[bridgev1.WatchClockResponse], context.CancelFunc,
	error,
) {
	sctx, scancel := context.WithCancel(c.ctx)
	stop := context.AfterFunc(ctx, scancel)
	defer stop()
	// the server counts drops per stream; a payload's chunks too
	c.droppedBefore.Add(c.droppedNow.Swap(0))
	c.resetChunks()
	t, seq := c.Worker.KnownClock()
	c.calls.Add(1)
	stream, err := c.rpc.WatchClock(sctx, &bridgev1.WatchClockRequest{
		ClientId: c.Id, KnownSeq: seq, KnownTime: t, SchemaHash: c.hash,
		HeartbeatInterval: durationpb.New(orDefault(c.opts.HeartbeatInterval,
			DefaultHeartbeat)),
		ChunkedPayloads: true,
		PushAllTicks:    c.opts.PushAllTicks,
	})
	if err != nil {
		scancel()
		return nil, nil, fromStatus("WatchClock", err)
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			scancel()
			return nil, nil, fromStatus("WatchClock", err)
		}
		if _, ok := msg.Event.(*bridgev1.WatchClockResponse_InitialSyncDone); ok {
			return stream, scancel, nil
		}
		if err := c.handle(msg, true); err != nil {
			scancel()
			return nil, nil, err
		}
	}
}

// handle applies one stream message; an error (a chunked payload that lies,
// client_chunks.go) ends the stream.
func (c *Client) handle(msg *bridgev1.WatchClockResponse, initial bool) error {
	switch ev := msg.Event.(type) {
	case *bridgev1.WatchClockResponse_Update:
		c.applyUpdate(ev.Update, initial)
	case *bridgev1.WatchClockResponse_Heartbeat:
		c.heartbeats.Add(1)
		if d := ev.Heartbeat.PayloadsDropped; d > c.droppedNow.Load() {
			c.droppedNow.Store(d)
			c.log.Warn("server dropped payloads: the client read too slowly",
				"dropped", d)
		}
		// behind the stream's head: a Mutate reply that continued the
		// stream's chain was lost
		if ev.Heartbeat.Seq > c.Worker.Stats().Seq {
			c.resync(false)
		}
	case *bridgev1.WatchClockResponse_Payload:
		c.deliver(ev.Payload)
	case *bridgev1.WatchClockResponse_PayloadChunk:
		return c.payloadChunk(ev.PayloadChunk)
	}
	return nil
}

// applyUpdate applies a clock update from the stream or a reply; a
// malformed one asks for a resync. A reply starts from the seq the replica
// had when it asked, which need not be the stream's (the server continues
// the stream's chain with a reply only when both are at that seq), so an
// update may start from a seq the replica has already passed while still
// bringing it further: the client then rebuilds the target time from its
// own recent history, or, past that history, asks for a diff with Sync. An
// update from a seq the replica has not reached waits in the Worker for the
// one before it (a reply still in flight).
//
// force applies even an update that seems older than the replica: the first
// one of a new stream, which may come from a restarted engine whose seqs
// started again.
func (c *Client) applyUpdate(pu *bridgev1.ClockUpdate, force bool) {
	// the common stale case (the stream's copy of a Mutate reply, or the
	// other way round) costs no conversion
	if pu != nil && !force && pu.ToSeq <= c.Worker.Stats().Seq {
		return
	}
	u, err := fromProtoUpdate(pu, len(c.names))
	if err != nil {
		c.log.Warn("bad clock update, resyncing", "err", err)
		c.resync(true)
		return
	}
	c.applyMx.Lock()
	seq := c.Worker.Stats().Seq
	if u.ToSeq <= seq && !force {
		// already known (a full one would move the replica back)
		c.applyMx.Unlock()
		return
	}
	if t, ok := u.TrimTicks(seq); ok {
		// every transition: apply the ones the replica lacks
		u = &t
	} else if !u.Full && u.FromSeq < seq && u.ToSeq > seq {
		base := c.history(u.FromSeq)
		if base == nil {
			c.applyMx.Unlock()
			c.resync(false)
			return
		}
		sum := u.Sum
		u = fullFromTime(clock.Applied(base, u.Diff), u.ToSeq, u.QueueTick)
		u.Sum = sum
		c.rebased.Add(1)
	}
	c.Worker.ApplyUpdate(u)
	if force || c.Worker.Stats().Seq != seq {
		t, now := c.Worker.KnownClock()
		c.hist[now%historySize] = histEntry{seq: now, time: t}
	}
	c.applyMx.Unlock()
}

// historySize is how many recent replica times a client keeps for rebasing
// updates.
const historySize = 64

type histEntry struct {
	seq  uint64
	time am.Time
}

// history returns the replica's time at seq, nil when forgotten. Call with
// applyMx held.
func (c *Client) history(seq uint64) am.Time {
	if e := c.hist[seq%historySize]; e.time != nil && e.seq == seq {
		return e.time
	}
	return nil
}

// resync brings the replica up to date with Sync (a diff from its time, or
// full).
func (c *Client) resync(full bool) {
	c.resyncs.Add(1)
	ctx, cancel := context.WithTimeout(c.ctx, c.callTimeout())
	defer cancel()
	if err := (transport{c}).Sync(ctx, full); err != nil {
		c.log.Warn("resync failed", "err", err)
	}
}

// resyncLater runs one resync(false) in the background, unless one is
// already running or the client is closing.
func (c *Client) resyncLater() {
	c.bgMx.Lock()
	defer c.bgMx.Unlock()
	if c.ctx.Err() != nil || !c.bgResync.CompareAndSwap(false, true) {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.bgResync.Store(false)
		c.resync(false)
	}()
}

// watch reads the stream, and reopens it (resuming) when it breaks, until
// the client closes or gives up.
func (c *Client) watch(stream grpc.ServerStreamingClient[bridgev1.
	WatchClockResponse], scancel context.CancelFunc,
) {
	defer c.wg.Done()
	defer close(c.done)
	for {
		err := c.read(stream)
		scancel()
		if c.ctx.Err() != nil {
			return
		}
		c.log.Warn("clock stream broken, reconnecting", "err", err)
		stream, scancel, err = c.reopen(err)
		if err != nil {
			if c.ctx.Err() == nil {
				c.log.Error("clock stream lost", "err", err)
				c.err.Store(&err)
			}
			return
		}
		c.reconnects.Add(1)
	}
}

func (c *Client) read(stream grpc.ServerStreamingClient[bridgev1.
	WatchClockResponse],
) error {
	for {
		msg, err := stream.Recv()
		if err != nil {
			return fromStatus("WatchClock", err)
		}
		if err := c.handle(msg, false); err != nil {
			return err
		}
	}
}

// permanentErr reports errors a reconnect cannot fix.
func permanentErr(err error) bool {
	return errors.Is(err, arpc.ErrNoAccess) ||
		errors.Is(err, arpc.ErrSchemaMismatch) ||
		errors.Is(err, ErrProtocolVersion) ||
		errors.Is(err, arpc.ErrInvalidParams) ||
		errors.Is(err, arpc.ErrUnsupported) ||
		errors.Is(err, arpc.ErrRpc)
}

// reopen retries opening the stream with backoff, within ConnRetryTimeout.
func (c *Client) reopen(last error) (
	grpc.ServerStreamingClient[bridgev1.WatchClockResponse], context.CancelFunc,
	error,
) {
	deadline := time.Now().Add(orDefault(c.opts.ConnRetryTimeout,
		arpc.DefaultConnRetryTimeout))
	delay := &backoff.Backoff{Initial: DefaultReconnectDelay,
		Max: arpc.DefaultConnRetryBackoff, Jitter: backoff.ReconnectJitter}
	for {
		if permanentErr(last) {
			return nil, nil, last
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("gave up reconnecting: %w", last)
		}
		if !delay.Wait(c.ctx) {
			return nil, nil, c.ctx.Err()
		}
		ctx, cancel := context.WithTimeout(c.ctx,
			orDefault(c.opts.ConnTimeout, arpc.DefaultConnTimeout))
		stream, scancel, err := c.openStream(ctx)
		cancel()
		if err == nil {
			return stream, scancel, nil
		}
		last = err
	}
}

// Close ends the stream, disposes the Worker and closes the connection
// (unless it came from ClientOpts.Conn). Idempotent.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.bgMx.Lock()
		c.cancel()
		c.bgMx.Unlock()
		c.wg.Wait()
		if c.Worker != nil {
			c.Worker.Dispose()
		}
		err = c.closer()
	})
	return err
}

// Done is closed when the client stops watching the worker: after Close, or
// when a broken stream could not be reopened (see Err).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client stopped watching on its own, nil otherwise.
func (c *Client) Err() error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Get reads a value the worker's service exposes (ServiceOpts.Getter), as
// JSON-like data (nil, float64, string, bool, []any, map[string]any).
// Unknown names wrap ErrNotFound.
func (c *Client) Get(ctx context.Context, name string) (any, error) {
	c.calls.Add(1)
	resp, err := c.rpc.Get(ctx, &bridgev1.GetRequest{Name: name,
		ClientId: c.Id})
	if err != nil {
		return nil, fromStatus("Get", err)
	}
	return fromValue(resp.Value), nil
}

// RPC returns the generated stub, for calls the Worker does not cover.
func (c *Client) RPC() bridgev1.BridgeServiceClient { return c.rpc }

// ClientStats are a client's counters.
type ClientStats struct {
	// Reconnects counts reopened WatchClock streams.
	Reconnects uint64
	// Resyncs counts Sync calls made because an update could not be applied.
	Resyncs uint64
	// Rebased counts updates applied on a seq the replica had passed, from
	// the client's history.
	Rebased uint64
	// Heartbeats and Payloads count received stream messages.
	Heartbeats, Payloads uint64
	// PayloadsDropped counts the payloads the server dropped for this client
	// because it did not read its stream fast enough, as the heartbeats
	// report them (Heartbeat.payloads_dropped), summed over reopened
	// streams. It lags by up to a heartbeat interval.
	PayloadsDropped uint64
	// Calls counts the gRPC calls the client made (Handshake, Mutate
	// attempts, CanMutate, Sync, Get, and each WatchClock stream opened);
	// not the messages the server streams.
	Calls uint64
	// PayloadChunks counts the payload chunks received; PayloadErrors the
	// chunked payloads refused (a chunk that lied or a digest that differed:
	// the payload is not delivered and the stream is reopened).
	PayloadChunks, PayloadErrors uint64
}

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats {
	return ClientStats{
		Reconnects:      c.reconnects.Load(),
		Resyncs:         c.resyncs.Load(),
		Rebased:         c.rebased.Load(),
		Heartbeats:      c.heartbeats.Load(),
		Payloads:        c.payloads.Load(),
		PayloadsDropped: c.droppedBefore.Load() + c.droppedNow.Load(),
		Calls:           c.calls.Load(),
		PayloadChunks:   c.chunks.Load(),
		PayloadErrors:   c.chunkErrs.Load(),
	}
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

// mutationId formats a Worker's mutation ID for the wire.
// mutationId is the gRPC mutation ID of the worker's mutation id: the
// worker's ID scope and the id, so that IDs of a restarted client never
// collide with the ones the server still remembers.
func mutationId(scope, id uint64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatUint(scope, 36) + "." + strconv.FormatUint(id, 36)
}
