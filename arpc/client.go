package arpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/rpc2"
	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/clock"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/internal/backoff"

	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
)

// Client defaults, applied by NewClient to the matching fields.
const (
	DefaultConnTimeout      = 3 * time.Second
	DefaultConnRetries      = 15
	DefaultConnRetryTimeout = time.Minute
	DefaultConnRetryDelay   = 100 * time.Millisecond
	DefaultConnRetryBackoff = 3 * time.Second
	DefaultCallTimeout      = 3 * time.Second
	DefaultCallRetries      = 15
	DefaultCallRetryTimeout = time.Minute
	DefaultCallRetryDelay   = 100 * time.Millisecond
	DefaultCallRetryBackoff = 3 * time.Second
	DefaultPingTimeout      = time.Second
)

// ClientOpts are optional settings of NewClient. The zero value means
// defaults.
type ClientOpts struct {
	// Consumer receives the worker's payloads as WorkerPayload mutations
	// (states.ConsumerSchema).
	Consumer *am.Machine
	// Parent is a parent machine for the client's machine (am.Opts.Parent).
	Parent am.Api
	// Logger receives the client's diagnostics. Default: discarded.
	Logger *slog.Logger
	// TLSConfig, when set, makes the client speak TLS (Client.TLSConfig).
	TLSConfig *tls.Config
	// Token is a bearer token sent in the Hello (Client.Token).
	Token string
	// PushAllTicks asks the server for every accepted worker transition
	// (negotiated in the Hello, Client.PushAllTicks): the Worker then
	// applies them one by one, its tracers get one TransitionEnd per worker
	// transition, waits see every step, and it accepts final handlers
	// (Worker.HandlersBind). Default: off (merged diffs, cheaper).
	PushAllTicks bool
	// Encoding encodes values of the user's types on the connection
	// (Client.Encoding): EncodingGob (the default) or EncodingMsgpack.
	Encoding Encoding
	// Compression is the compression the client asks for
	// (Client.Compression): CompressionNone (the default), CompressionS2 or
	// CompressionZstd.
	Compression Compression
	// CompressThreshold is the smallest body the client compresses
	// (Client.CompressThreshold).
	CompressThreshold int
}

// Client connects to a Server and exposes its worker as Client.Worker. Set
// the exported fields after NewClient and before Start. Durations and counts
// left at zero mean their defaults; a negative retry count means no retries.
type Client struct {
	// payloads go to the Consumer in order, off the read loop
	payloads payloadQueue

	// Mach is the client's state machine: Start, Connecting, Connected,
	// Handshaking, HandshakeDone, Ready, Disconnecting, Disconnected,
	// RetryingConn, Exception...
	Mach *am.Machine
	// Name is the client's name; its machine ID (the client ID the server
	// sees) is GetClientId(Name).
	Name string
	// Addr is the server's address.
	Addr string
	// Worker is the remote worker, set before Ready first activates and kept
	// across reconnects.
	Worker *Worker
	// Consumer receives payloads (see ClientOpts.Consumer).
	Consumer *am.Machine

	// PushAllTicks asks for every worker transition (see
	// ClientOpts.PushAllTicks); set before Start.
	PushAllTicks bool

	// ReconnectOn makes the client reconnect after the server said goodbye
	// (a clean disconnect). Broken connections are always retried, within
	// ConnRetries and ConnRetryTimeout.
	ReconnectOn bool
	// ConnTimeout bounds one connection attempt, handshake included.
	// Default 3 s (DefaultConnTimeout).
	ConnTimeout time.Duration
	// ConnRetries is how many times a failed connection is retried. Default
	// 15 (DefaultConnRetries); negative: no retries.
	ConnRetries int
	// ConnRetryTimeout bounds all the retries of one connection. Default
	// 1 min (DefaultConnRetryTimeout).
	ConnRetryTimeout time.Duration
	// ConnRetryDelay is the first delay between retries; it doubles up to
	// ConnRetryBackoff. Default 100 ms (DefaultConnRetryDelay).
	ConnRetryDelay time.Duration
	// ConnRetryBackoff caps the delay between connection retries. Default
	// 3 s (DefaultConnRetryBackoff).
	ConnRetryBackoff time.Duration

	// CallTimeout bounds one call: past it the call returns ErrNetworkTimeout
	// (a late reply's clock is still applied when it arrives). Default 3 s
	// (DefaultCallTimeout).
	CallTimeout time.Duration
	// CallRetries is how many times a call that failed because the
	// connection broke (mutations, Sync, Can, Err, Get) is retried once the
	// client is Ready again. Mutation retries are exactly-once: the server
	// answers a retry with the original result. Default 15
	// (DefaultCallRetries); negative: no retries.
	CallRetries int
	// CallRetryTimeout bounds a call with all its retries. Default 1 min
	// (DefaultCallRetryTimeout).
	CallRetryTimeout time.Duration
	// CallRetryDelay is the first delay between call retries; it doubles up
	// to CallRetryBackoff. Default 100 ms (DefaultCallRetryDelay).
	CallRetryDelay time.Duration
	// CallRetryBackoff caps the delay between call retries. Default 3 s
	// (DefaultCallRetryBackoff).
	CallRetryBackoff time.Duration
	// PingTimeout is the silence that marks a connection dead when a call
	// times out. The server heartbeats every PingTimeout/2 when it has nothing
	// else to send (even while the worker is busy); at the call's deadline, a
	// connection that was silent for PingTimeout is closed, the client
	// reconnects and the call is retried (exactly-once). One that spoke is
	// alive but slow, and the call returns ErrNetworkTimeout. Either way the
	// call returns at its deadline. Default DefaultPingTimeout (1 s), capped
	// at CallTimeout.
	PingTimeout time.Duration

	// MaxMsgSize limits one incoming message. Default DefaultMaxMsgSize.
	MaxMsgSize int
	// MaxPayload is the largest chunked payload accepted, checked on its
	// first chunk before anything is allocated (client_chunks.go). Default
	// DefaultMaxPayload (256 MiB).
	MaxPayload int64
	// Dial opens the connection. Default: a TCP dialer.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// TLSConfig, when set, makes every connection TLS, handshaken within
	// ConnTimeout. Its ServerName defaults to the host of Addr; its
	// NextProtos to ALPN "arpc/1" (auth.ALPNARPC). Set Certificates for mTLS.
	// Default: plaintext (ClientOpts.TLSConfig).
	TLSConfig *tls.Config
	// Token is a bearer token sent in the Hello, for servers that map tokens
	// to identities (Server.Tokens). It is never logged. Default: none
	// (ClientOpts.Token).
	Token string
	// Encoding encodes values of the user's types (args other than
	// scalars, payloads, Get values, WhenArgs args) on every connection:
	// EncodingGob (the default, also "") or EncodingMsgpack; the server
	// answers in the same one. See Encoding for what each carries.
	Encoding Encoding
	// Compression asks the server to compress large bodies (payloads, Get
	// values, full snapshots) in both directions: CompressionNone (the
	// default, also ""), CompressionS2 or CompressionZstd. The server may
	// refuse it or pick the other codec (Server.Compression);
	// Stats().Compression says what was negotiated.
	Compression Compression
	// CompressThreshold is the smallest body the client compresses once
	// compression is negotiated. Default DefaultCompressThreshold (1 KiB).
	CompressThreshold int

	schema am.Schema
	names  am.S
	hash   string
	// idScope is the scope of the replica's mutation IDs, fixed for the
	// client's life so that retries across reconnects deduplicate
	idScope uint64
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc

	mx       sync.Mutex
	started  bool
	stopping bool
	conn     *clientConn
	// connCh is closed and replaced whenever conn changes
	connCh  chan struct{}
	wg      sync.WaitGroup
	runDone chan struct{}

	whenArgsId atomic.Uint64
	// whenArgs are the WhenArgs waits still open, by ID; they outlive
	// connections and are registered again on each new one
	whenArgsMx sync.Mutex
	whenArgs   map[uint64]*whenArgsWait
	traffic    trafficCounters
	reconnects atomic.Uint64
	fullSyncs  atomic.Uint64
	pings      atomic.Uint64
	deadConns  atomic.Uint64
	calls      atomic.Uint64
	// chunked payloads received and refused (client_chunks.go)
	chunksIn, chunkErrs atomic.Uint64
}

// clientConn is one live connection.
type clientConn struct {
	net net.Conn
	cod *codec
	// encoding and compression were negotiated in the handshake
	encoding    Encoding
	compression Compression
	rc          *rpc2.Client
	bye         atomic.Bool
	// dead is set once the connection was dropped (or found dead by a
	// ping): late pushes from it are ignored, as the replica resumes on
	// another connection
	dead atomic.Bool
	done chan struct{}
}

// GetClientId returns the machine ID a client named name uses, which is
// the ID servers check AllowId against.
func GetClientId(name string) string { return "rc-" + name }

// NewClient creates a client of the worker at addr. schema and names must
// match the worker's (names in order); the handshake verifies it. ctx bounds
// the client's life.
func NewClient(
	ctx context.Context, addr string, name string, schema am.Schema,
	names am.S, opts *ClientOpts,
) (*Client, error) {
	norm, err := ClientSchema(schema, names)
	if err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &ClientOpts{}
	}
	if cons := opts.Consumer; cons != nil &&
		!cons.Has1(ss.ConsumerStates.WorkerPayload) {
		return nil, fmt.Errorf("%w: consumer %s has no %s state (merge "+
			"states.ConsumerSchema)", ErrInvalidParams, cons.Id(),
			ss.ConsumerStates.WorkerPayload)
	}
	// refused here rather than at every connect (Start checks the fields
	// again, which may change before it)
	if _, err := encodingCode(opts.Encoding); err != nil {
		return nil, err
	}
	if _, err := compressionCode(opts.Compression); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mach, err := am.NewCommon(ctx, GetClientId(name), ss.ClientSchema,
		ss.ClientStates.Names(), nil, opts.Parent, nil)
	if err != nil {
		return nil, err
	}
	logMachFromEnv(mach, EnvAmRpcLogClient, opts.Logger)
	// the client lives as long as its machine, and keeps ctx's values (the
	// worker's context carries them, e.g. a span for Add's traces); the
	// machine's own context has none
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	context.AfterFunc(mach.Context(), cancel)
	c := &Client{
		Mach:              mach,
		Name:              name,
		Addr:              addr,
		Consumer:          opts.Consumer,
		TLSConfig:         opts.TLSConfig,
		Token:             opts.Token,
		Encoding:          opts.Encoding,
		Compression:       opts.Compression,
		CompressThreshold: opts.CompressThreshold,
		PushAllTicks:      opts.PushAllTicks,
		idScope:           newIdScope(),
		ConnTimeout:       DefaultConnTimeout,
		ConnRetries:       DefaultConnRetries,
		ConnRetryTimeout:  DefaultConnRetryTimeout,
		ConnRetryDelay:    DefaultConnRetryDelay,
		ConnRetryBackoff:  DefaultConnRetryBackoff,
		CallTimeout:       DefaultCallTimeout,
		CallRetries:       DefaultCallRetries,
		CallRetryTimeout:  DefaultCallRetryTimeout,
		CallRetryDelay:    DefaultCallRetryDelay,
		CallRetryBackoff:  DefaultCallRetryBackoff,
		PingTimeout:       DefaultPingTimeout,
		connCh:            make(chan struct{}),
		schema:            norm,
		names:             names,
		hash:              SchemaHash(norm, names),
		log:               log.With("client", name),
		ctx:               cctx,
		cancel:            cancel,
		runDone:           make(chan struct{}),
		whenArgs:          map[uint64]*whenArgsWait{},
	}
	return c, nil
}

// Start connects to the server, handshakes and replicates the worker's
// clock, resulting in Ready (or Exception). Calling it again does nothing.
func (c *Client) Start() am.Result {
	c.mx.Lock()
	if c.started || c.stopping {
		c.mx.Unlock()
		return am.Canceled
	}
	c.started = true
	c.mx.Unlock()
	res := c.Mach.Add1(ss.SharedStates.Start, nil)
	go c.run()
	return res
}

// Stop says goodbye to the server, closes the connection and waits (within
// waitTillExit, when given) for the client's goroutines. dispose also
// disposes Mach and Worker. Idempotent.
func (c *Client) Stop(waitTillExit context.Context, dispose bool) am.Result {
	c.mx.Lock()
	first := !c.stopping
	c.stopping = true
	started := c.started
	cc := c.conn
	c.mx.Unlock()
	if first {
		if cc != nil {
			c.Mach.Add1(ss.ClientStates.Disconnecting, nil)
			_ = cc.rc.Notify(wire.MBye, &wire.Empty{})
		}
		// cancel before closing, so that run does not take the closed
		// connection for a lost one and reconnect
		c.cancel()
		if cc != nil {
			_ = cc.net.Close()
		}
	}
	if started && waitTillExit != nil {
		select {
		case <-c.runDone:
			done := make(chan struct{})
			go func() { c.wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-waitTillExit.Done():
			}
		case <-waitTillExit.Done():
		}
	}
	res := am.Executed
	if !c.Mach.IsDisposed() {
		c.Mach.Remove1(ss.SharedStates.Start, nil)
		res = c.Mach.Add1(ss.ClientStates.Disconnected, nil)
	}
	if dispose {
		if c.Worker != nil {
			c.Worker.Dispose()
		}
		c.Mach.Dispose()
	}
	return res
}

// run keeps the client connected until it stops or gives up.
func (c *Client) run() {
	defer close(c.runDone)
	for {
		err := c.connectWithRetries()
		if err != nil {
			c.fail(err)
			return
		}
		cc := c.current()
		select {
		case <-c.ctx.Done():
			c.dropConn(cc)
			return
		case <-cc.done:
		}
		c.dropConn(cc)
		c.mx.Lock()
		stopping := c.stopping
		c.mx.Unlock()
		// Stop sends Bye before it cancels, and the server closes the
		// connection on Bye: that close is no loss to recover from
		if stopping || c.ctx.Err() != nil {
			return
		}
		clean := cc.bye.Load()
		// the cause first: whoever wakes on Disconnected finds it in Err
		switch {
		case clean && !c.ReconnectOn:
			c.Mach.EvAddErrState(nil, ss.SharedStates.ErrNetwork,
				fmt.Errorf("%w: server said goodbye", ErrNoConn), nil)
		case !clean:
			c.Mach.EvAddErrState(nil, ss.SharedStates.ErrNetwork,
				fmt.Errorf("%w: connection lost", ErrNetwork), nil)
		}
		c.Mach.Remove(am.S{ss.ClientStates.Connected}, nil)
		c.Mach.Add1(ss.ClientStates.Disconnected, nil)
		if clean && !c.ReconnectOn {
			return
		}
		c.reconnects.Add(1)
	}
}

func (c *Client) fail(err error) {
	if c.ctx.Err() != nil {
		return
	}
	c.log.Error("client failed", "err", err)
	state := ss.SharedStates.ErrNetwork
	switch {
	case errors.Is(err, ErrNoAccess), errors.Is(err, ErrBusy),
		errors.Is(err, ErrUnauthenticated), errors.Is(err, ErrPermissionDenied):
		state = ss.ClientStates.ErrNoAccess
	case errors.Is(err, ErrSchemaMismatch):
		state = ss.ClientStates.ErrSchema
	case errors.Is(err, ErrRpc), errors.Is(err, ErrInvalidResp):
		state = ss.SharedStates.ErrRpc
	}
	// the cause first: whoever wakes on Disconnected finds it in Err
	c.Mach.EvAddErrState(nil, state, err, nil)
	c.Mach.Remove(am.S{ss.ClientStates.Connecting, ss.ClientStates.Connected,
		ss.ClientStates.RetryingConn}, nil)
	c.Mach.Add1(ss.ClientStates.Disconnected, nil)
}

// permanent reports errors that retrying cannot fix.
func permanent(err error) bool {
	return errors.Is(err, ErrNoAccess) || errors.Is(err, ErrBusy) ||
		errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrPermissionDenied) ||
		errors.Is(err, ErrSchemaMismatch) || errors.Is(err, ErrRpc) ||
		errors.Is(err, ErrInvalidResp) || errors.Is(err, ErrWorkerGone)
}

func (c *Client) connectWithRetries() error {
	start := time.Now()
	delay := &backoff.Backoff{
		Initial: orDefault(c.ConnRetryDelay, DefaultConnRetryDelay),
		Max:     orDefault(c.ConnRetryBackoff, DefaultConnRetryBackoff),
		Jitter:  backoff.ReconnectJitter,
	}
	retries := orDefaultInt(c.ConnRetries, DefaultConnRetries)
	for attempt := 0; ; attempt++ {
		c.Mach.Add1(ss.ClientStates.Connecting, nil)
		err := c.connectOnce()
		if err == nil {
			c.Mach.Remove1(ss.ClientStates.RetryingConn, nil)
			return nil
		}
		if c.ctx.Err() != nil {
			return c.ctx.Err()
		}
		c.log.Warn("connect failed", "attempt", attempt, "err", err)
		if permanent(err) || attempt >= retries ||
			time.Since(start) > orDefault(c.ConnRetryTimeout, DefaultConnRetryTimeout) {
			return err
		}
		c.Mach.Add1(ss.ClientStates.RetryingConn, nil)
		if !delay.Wait(c.ctx) {
			return c.ctx.Err()
		}
	}
}

// connectOnce dials, handshakes and brings the worker replica up to date.
func (c *Client) connectOnce() error {
	ctx, cancel := context.WithTimeout(c.ctx,
		orDefault(c.ConnTimeout, DefaultConnTimeout))
	defer cancel()
	dial := c.Dial
	if dial == nil {
		d := &net.Dialer{}
		dial = func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	conn, err := dial(ctx, c.Addr)
	if err != nil {
		return fmt.Errorf("%w: dial %s: %w", ErrNetwork, c.Addr, err)
	}
	if c.TLSConfig != nil {
		if conn, err = clientTLS(ctx, conn, c.Addr, c.TLSConfig); err != nil {
			return err
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetWriteDeadline(dl)
	}
	if _, err := conn.Write([]byte(wire.Preface)); err != nil {
		_ = conn.Close()
		return fmt.Errorf("%w: %w", ErrNetwork, err)
	}
	_ = conn.SetWriteDeadline(time.Time{})
	cc := &clientConn{net: conn,
		done: make(chan struct{})}
	cc.cod = newCodec(conn, c.MaxMsgSize, DefaultWriteTimeout, &c.traffic)
	cc.rc = rpc2.NewClientWithCodec(cc.cod)
	// server → client messages are all quick notifications: handle them in
	// the read loop, in order, without a goroutine each
	cc.rc.SetBlocking(true)
	c.register(cc)
	c.wg.Add(1) // in run, which Stop waits for before it Waits
	go func() {
		defer c.wg.Done()
		cc.rc.Run()
		close(cc.done)
	}()
	// a connection that fails the handshake is closed here
	ok := false
	defer func() {
		if !ok {
			_ = conn.Close()
		}
	}()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	c.Mach.Add(am.S{ss.ClientStates.Connected, ss.SharedStates.Handshaking}, nil)
	enc, err := encodingCode(c.Encoding)
	if err != nil {
		return err
	}
	comp, err := compressionCode(c.Compression)
	if err != nil {
		return err
	}
	hello := &wire.ArgsHello{Version: ProtocolVersion, ClientId: c.Mach.Id(),
		SchemaHash: c.hash, IdScope: c.idScope,
		Heartbeat: int64(c.pingTimeout() / 2), Token: c.Token, Encoding: enc,
		Compression: comp, PushAllTicks: c.PushAllTicks}
	if c.Worker != nil {
		hello.KnownTime, hello.KnownSeq = c.Worker.knownClock()
	}
	var resp wire.RespHello
	c.calls.Add(1)
	if err := callRaw(ctx, cc.rc, wire.MHello, hello, &resp); err != nil {
		if c.TLSConfig != nil {
			// with TLS 1.3, a server refuses a client certificate after the
			// handshake: its alert is what the read loop ends with
			t := time.NewTimer(250 * time.Millisecond)
			select {
			case <-cc.done:
			case <-t.C:
			}
			t.Stop()
			return refusedByTLS(conn, err)
		}
		if errors.Is(err, ErrNetwork) {
			// a TLS server closes at once on a plaintext Hello it could not
			// answer (one that can answers ErrUnauthenticated)
			return fmt.Errorf("%w (closed during the handshake: a TLS server? "+
				"set TLSConfig)", err)
		}
		return err
	}
	if err := fromWireErr(resp.Err); err != nil {
		if !resp.Negotiated && resp.Err.Code == uint8(codeRpc) {
			// a version 4 server refuses another version with
			// codeProtocolVersion: plain ErrRpc on a first Hello is an older
			// server refusing this one (its message names both versions)
			return fmt.Errorf("%w: the server speaks an older protocol than "+
				"%d: %w", ErrProtocolVersion, ProtocolVersion, err)
		}
		return err
	}
	if resp.Negotiated && resp.Encoding != enc {
		return fmt.Errorf("%w: asked for encoding %s, the server answered %s",
			ErrInvalidResp, encodingOf(enc), encodingOf(resp.Encoding))
	}
	cc.cod.negotiated(resp.Encoding, resp.Compression, c.CompressThreshold)
	cc.encoding, cc.compression = encodingOf(resp.Encoding),
		compressionOf(resp.Compression)
	// without names and schema the server found the client's hash equal
	if resp.Schema != nil || resp.Names != nil {
		if err := compareSchemas(c.schema, c.names, resp.Schema,
			resp.Names); err != nil {
			return err
		}
	}
	u, err := resp.Clock.Engine(len(c.names), ErrInvalidResp)
	if err != nil {
		return err
	}
	if c.Worker == nil {
		w := newWorker(c.ctx, resp.WorkerId, c.schema, c.names, transport{c},
			c.log)
		w.parentId = c.Mach.Id()
		w.idScope = c.idScope
		if c.PushAllTicks {
			w.EnablePushAllTicks()
		}
		c.Worker = w
	} else if !resp.Resumed {
		c.fullSyncs.Add(1)
	}
	if resp.Resumed {
		// The resume diff is relative to the time sent in Hello. Rebase it
		// onto that time, so that nothing applied meanwhile (a late push of
		// the old connection) can make it apply twice; only the merged diff
		// crossed the wire.
		u.Full = true
		u.Diff = clock.Compute(nil, clock.Applied(hello.KnownTime, u.Diff))
	}
	c.Worker.resetChain()
	c.Worker.mx.Lock()
	c.Worker.machineTick = resp.MachineTick
	c.Worker.groups, c.Worker.groupsOrder = resp.Groups, resp.GroupsOrder
	c.Worker.mx.Unlock()
	c.Worker.ApplyUpdate(u)

	c.calls.Add(1)
	if err := callRaw(ctx, cc.rc, wire.MReady, &wire.Empty{}, &wire.Empty{}); err != nil {
		return err
	}
	c.mx.Lock()
	if c.stopping {
		c.mx.Unlock()
		return context.Canceled
	}
	c.setConnLocked(cc)
	c.mx.Unlock()
	ok = true
	c.reregisterWhenArgs(cc)
	c.Mach.Add(am.S{ss.SharedStates.HandshakeDone, ss.ClientStates.Ready}, nil)
	return nil
}

func (c *Client) current() *clientConn {
	c.mx.Lock()
	defer c.mx.Unlock()
	return c.conn
}

// setConnLocked makes cc the current connection and wakes waitConn.
func (c *Client) setConnLocked(cc *clientConn) {
	c.conn = cc
	close(c.connCh)
	c.connCh = make(chan struct{})
}

// waitConn waits for a current connection other than old; nil when ctx
// ends first or the client stopped reconnecting.
func (c *Client) waitConn(ctx context.Context, old *clientConn) *clientConn {
	for {
		c.mx.Lock()
		cc, ch := c.conn, c.connCh
		c.mx.Unlock()
		if cc != nil && cc != old && !cc.dead.Load() {
			return cc
		}
		select {
		case <-ch:
		case <-c.runDone:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

func (c *Client) dropConn(cc *clientConn) {
	if cc != nil {
		cc.dead.Store(true)
	}
	c.mx.Lock()
	if c.conn == cc && cc != nil {
		c.setConnLocked(nil)
	}
	c.mx.Unlock()
	if cc == nil {
		return
	}
	// open WhenArgs waits stay open: they are registered on the next
	// connection
	_ = cc.net.Close()
}

func (c *Client) register(cc *clientConn) {
	cc.rc.Handle(wire.MClock, func(_ *rpc2.Client, u *wire.Update, _ *wire.Empty) error {
		if !cc.dead.Load() {
			c.applyWire(u)
		}
		return nil
	})
	cc.rc.Handle(wire.MPayload, func(_ *rpc2.Client, p *ArgsPayload, _ *wire.Empty) error {
		c.payloadIn(p)
		return nil
	})
	c.registerChunks(cc)
	cc.rc.Handle(wire.MWhenArgsDone, func(_ *rpc2.Client, a *wire.ArgsWhenArgsDone,
		_ *wire.Empty,
	) error {
		c.whenArgsEnd(a.Id)
		return nil
	})
	cc.rc.Handle(wire.MServerBye, func(_ *rpc2.Client, _ *wire.Empty, _ *wire.Empty) error {
		cc.bye.Store(true)
		return nil
	})
	// a heartbeat only proves the link alive (the codec notes the time)
	cc.rc.Handle(wire.MHeartbeat, func(_ *rpc2.Client, _ *wire.Empty, _ *wire.Empty) error {
		return nil
	})
}

// payloadIn hands a payload to the Consumer.
func (c *Client) payloadIn(p *ArgsPayload) {
	cons := c.Consumer
	switch {
	case cons == nil:
	case !cons.Has1(ss.ConsumerStates.WorkerPayload):
		// set after NewClient, without the state: a clear error, no panic
		c.log.Error("payload dropped: consumer has no WorkerPayload state",
			"consumer", cons.Id(), "payload", p.Name)
		c.Mach.EvAddErr(nil, fmt.Errorf("%w: consumer %s has no %s state",
			ErrInvalidParams, cons.Id(), ss.ConsumerStates.WorkerPayload), nil)
	default:
		c.deliverPayload(cons, p)
	}
}

// applyWire decodes and applies a clock update; a malformed one triggers a
// resync.
func (c *Client) applyWire(wu *wire.Update) {
	w := c.Worker
	if w == nil || wu == nil {
		return
	}
	u, err := wu.Engine(len(c.names), ErrInvalidResp)
	if err != nil {
		w.reportErr(err)
		w.resync()
		return
	}
	w.ApplyUpdate(u)
}

// ClientStats are a client's counters.
type ClientStats struct {
	// BytesIn and BytesOut count wire bytes over all connections.
	BytesIn, BytesOut int64
	// Reconnects counts connections re-established after a loss.
	Reconnects uint64
	// FullSyncs counts reconnects that could not resume and took a full
	// snapshot.
	FullSyncs uint64
	// Pings counts liveness checks made after call timeouts, and DeadConns
	// the connections they found dead and closed.
	Pings, DeadConns uint64
	// Calls counts the remote calls the client made (requests that expect a
	// reply: handshakes, mutations, Sync, Can, Err, WhenArgs, Get, Ping),
	// retries included; not notifications (no-sync mutations, goodbyes).
	Calls uint64
	// PayloadChunks counts the payload chunks received; PayloadErrors the
	// chunked payloads refused (a chunk that lied, a digest that differed:
	// nothing of the payload is delivered and the connection is closed and
	// re-established).
	PayloadChunks, PayloadErrors uint64
	// Encoding and Compression are what the current connection negotiated;
	// empty without one.
	Encoding    Encoding
	Compression Compression
}

// Done is closed once a started client is done connecting: it was stopped,
// the server said goodbye (without ReconnectOn), or reconnecting failed
// within ConnRetries and ConnRetryTimeout (Mach.Err says why). Until then
// a lost connection is being re-established.
func (c *Client) Done() <-chan struct{} { return c.runDone }

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats {
	st := ClientStats{BytesIn: c.traffic.in.Load(),
		BytesOut: c.traffic.out.Load(), Reconnects: c.reconnects.Load(),
		FullSyncs: c.fullSyncs.Load(), Pings: c.pings.Load(),
		DeadConns: c.deadConns.Load(), Calls: c.calls.Load(),
		PayloadChunks: c.chunksIn.Load(), PayloadErrors: c.chunkErrs.Load()}
	if cc := c.current(); cc != nil {
		st.Encoding, st.Compression = cc.encoding, cc.compression
	}
	return st
}

// Get asks the server's getter for the value named name. Each attempt is
// bounded by CallTimeout (and ctx); a broken connection is retried like a
// mutation (CallRetries, CallRetryTimeout).
//
// It returns the getter's value, nil when the getter has none by that name.
// With EncodingMsgpack, the value arrives by its shape (see Encoding).
func (c *Client) Get(ctx context.Context, name string) (any, error) {
	resp, err := callRetried[wire.RespGet](ctx, c, wire.MGet,
		&wire.ArgsGet{Name: name})
	if err != nil {
		return nil, err
	}
	if err := fromWireErr(resp.Err); err != nil {
		return nil, err
	}
	return resp.Value, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func orDefaultInt(n, def int) int {
	switch {
	case n < 0:
		return 0
	case n == 0:
		return def
	}
	return n
}

// goTracked runs fn on a goroutine Stop waits for; once Stop began, fn is
// not started (Add must not race with Wait).
func (c *Client) goTracked(fn func()) {
	c.mx.Lock()
	defer c.mx.Unlock()
	if c.stopping {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
}
