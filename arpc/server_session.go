package arpc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/rpc2"
	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/engine"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"

	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// session is one client connection of a Server.
type session struct {
	s      *Server
	conn   net.Conn
	rc     *rpc2.Client
	ctx    context.Context
	cancel context.CancelFunc
	cod    *codec
	// heartbeat is the interval the client asked for, 0 for none
	heartbeat time.Duration
	// closed is closed once close has released the session.
	closed chan struct{}

	mx       sync.Mutex
	clientId string
	// identity is the authenticated identity, "" for none (server_auth.go)
	identity string
	// dedupKey scopes the client's mutation IDs in the worker's dedup store
	dedupKey string
	sub      *engine.Sub
	ready    bool
	bye      bool
	whenArgs map[uint64]context.CancelFunc
	wg       sync.WaitGroup

	calls atomic.Uint64
}

// serveConn runs one connection until it closes.
func (s *Server) serveConn(conn net.Conn) {
	if !s.trackConn(conn, true) {
		_ = conn.Close()
		return
	}
	defer s.trackConn(conn, false)
	defer conn.Close()
	conn = s.secureConn(conn)

	// the preface comes first, within the handshake timeout
	_ = conn.SetReadDeadline(time.Now().Add(s.handshakeTimeout()))
	var pre [len(wire.Preface)]byte
	if _, err := io.ReadFull(conn, pre[:]); err != nil || string(pre[:]) != wire.Preface {
		s.log.Warn("dropping non-aRPC connection", "remote", conn.RemoteAddr(),
			"err", err)
		return
	}

	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	sess := &session{s: s, conn: conn, ctx: ctx, cancel: cancel,
		whenArgs: map[uint64]context.CancelFunc{}, closed: make(chan struct{})}

	cod := newCodec(conn, s.MaxMsgSize, s.writeTimeout(), &s.traffic)
	sess.cod = cod
	sess.rc = rpc2.NewClientWithCodec(cod)
	// a client's requests are handled in arrival order, in the read loop:
	// no goroutine (and no stack to grow) per call, and no-sync mutations
	// apply in order and before a later call. Liveness does not need the read
	// loop: the push loop heartbeats (the Hello's Heartbeat).
	sess.rc.SetBlocking(true)
	sess.register()

	// no goroutine per idle connection for this: closing the conn ends Run
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	sess.rc.Run()
	cancel()
	sess.wg.Wait()
	sess.mx.Lock()
	bye, id := sess.bye, sess.clientId
	sess.mx.Unlock()
	if err := cod.protocolErr(); err != nil {
		// a malformed message (a frame over MaxMsgSize, a decompression
		// bomb, garbage) closed the connection
		s.log.Warn("client connection closed on a protocol error",
			"client", id, "err", err)
	} else if bye {
		s.log.Debug("client disconnected", "door", "arpc", "client", id,
			"reason", "goodbye")
	} else if id != "" {
		s.log.Info("client connection lost", "client", id)
	}
	sess.close()
}

func (ses *session) id() string {
	ses.mx.Lock()
	defer ses.mx.Unlock()
	return ses.clientId
}

// close releases the session's subscription and server slot.
func (ses *session) close() {
	defer close(ses.closed)
	ses.mx.Lock()
	sub := ses.sub
	ses.sub = nil
	for _, c := range ses.whenArgs {
		c()
	}
	ses.mx.Unlock()
	if sub != nil {
		sub.Close()
	}
	s := ses.s
	s.mx.Lock()
	held := s.sess == ses
	if held {
		s.sess = nil
	}
	s.mx.Unlock()
	if held && !s.Mach.IsDisposed() {
		s.Mach.Remove(am.S{ss.ServerStates.ClientConnected,
			ss.SharedStates.Handshaking, ss.SharedStates.HandshakeDone}, nil)
	}
}

// claim takes the server's one client slot for this session, at Hello: a
// connection holds no slot before it identified itself, so silent or
// refused peers never block real clients. A Hello from the client ID that
// holds the slot takes its place (the client reconnected before the server
// noticed the old connection die).
func (ses *session) claim(clientId string) error {
	s := ses.s
	s.mx.Lock()
	old := s.sess
	switch {
	case s.stopped:
		s.mx.Unlock()
		return fmt.Errorf("%w: server stopping", ErrNoConn)
	case old == nil || old == ses:
		s.sess = ses
		s.mx.Unlock()
		s.Mach.Add1(ss.ServerStates.ClientConnected, nil)
		return nil
	}
	s.mx.Unlock()
	if clientId != "" && old.id() == clientId {
		return ses.takeOver(old)
	}
	return fmt.Errorf("%w: %s already serves client %s", ErrBusy, s.name,
		old.id())
}

// sayBye tells the client the server is going away, so it does not treat
// the disconnection as a failure.
func (ses *session) sayBye() {
	if ses.rc != nil {
		_ = ses.rc.Notify(wire.MServerBye, &wire.Empty{})
	}
}

func (ses *session) register() {
	h := ses.rc.Handle
	h(wire.MHello, ses.hello)
	h(wire.MReady, ses.handleReady)
	h(wire.MMutate, ses.mutate)
	h(wire.MMutateNS, ses.mutateNS)
	h(wire.MSync, loggedCall(ses, "Sync", ses.sync))
	h(wire.MGet, loggedCall(ses, "Get", ses.get))
	h(wire.MCan, loggedCall(ses, "Can", ses.can))
	h(wire.MErr, loggedCall(ses, "Err", ses.err))
	h(wire.MWhenArgs, loggedCall(ses, "WhenArgs", ses.whenArgsAdd))
	h(wire.MWhenArgsX, loggedCall(ses, "WhenArgsCancel", ses.whenArgsCancel))
	h(wire.MBye, ses.handleBye)
	h(wire.MPing, ses.ping)
}

// ping answers a liveness check; it needs no handshake and touches nothing.
func (ses *session) ping(_ *rpc2.Client, _ *wire.Empty, _ *wire.Empty) error {
	return nil
}

// takeOver moves the server's slot from old, a session of the same client
// that the server still holds, to ses: the old connection is closed and its
// release awaited (within the handshake timeout).
func (ses *session) takeOver(old *session) error {
	s := ses.s
	old.cancel()
	t := time.NewTimer(s.handshakeTimeout())
	defer t.Stop()
	select {
	case <-old.closed:
	case <-t.C:
		return fmt.Errorf("%w: %s: previous connection of the client did not "+
			"close", ErrBusy, s.name)
	case <-ses.ctx.Done():
		return fmt.Errorf("%w: connection closed", ErrNoConn)
	}
	s.mx.Lock()
	defer s.mx.Unlock()
	switch {
	case s.stopped:
		return fmt.Errorf("%w: server stopping", ErrNoConn)
	case s.sess != nil:
		return fmt.Errorf("%w: %s already serves client %s", ErrBusy, s.name,
			s.sess.id())
	}
	s.sess = ses
	s.Mach.Add1(ss.ServerStates.ClientConnected, nil)
	return nil
}

func (ses *session) hello(_ *rpc2.Client, args *wire.ArgsHello, resp *wire.RespHello) error {
	s := ses.s
	resp.ServerId = s.Mach.Id()
	switch {
	case args.Version != ProtocolVersion:
		resp.Err = toWireErr(fmt.Errorf("%w: client speaks protocol %d, server %d",
			ErrProtocolVersion, args.Version, ProtocolVersion))
		return nil
	}
	comp, err := negotiateCompression(args.Compression, s.Compression)
	if err != nil {
		resp.Err = toWireErr(fmt.Errorf("server: %w", err))
		return nil
	}
	identity, err := ses.admit(args)
	if err != nil {
		resp.Err = toWireErr(err)
		return nil
	}
	if err := ses.claim(args.ClientId); err != nil {
		resp.Err = toWireErr(err)
		return nil
	}
	s.mx.Lock()
	e := s.engine
	s.mx.Unlock()
	if e == nil {
		resp.Err = toWireErr(fmt.Errorf("%w: server stopping", ErrNoConn))
		return nil
	}

	ses.mx.Lock()
	defer ses.mx.Unlock()
	if ses.sub != nil {
		resp.Err = toWireErr(fmt.Errorf("%w: repeated Hello", ErrRpc))
		return nil
	}
	s.Mach.Add1(ss.SharedStates.Handshaking, nil)
	ses.clientId = args.ClientId
	ses.identity = identity
	ses.dedupKey = door.DedupKey(args.ClientId, args.IdScope)
	if args.Heartbeat > 0 {
		ses.heartbeat = max(time.Duration(args.Heartbeat), minHeartbeat)
	}
	// both directions send with the client's encoding and the negotiated
	// compression from the reply on (its snapshot included)
	resp.Negotiated, resp.Encoding, resp.Compression = true, args.Encoding, comp
	ses.cod.negotiated(args.Encoding, comp, s.CompressThreshold)
	sub, err := e.SubscribePayloads(s.payloadState)
	if err != nil {
		// the worker lacks SendPayload: no payloads, the clock still flows
		sub = e.Subscribe()
	}
	sub.SetMask(s.observeMask(e, identity))
	sub.LimitPayloads(s.PayloadBytes, PayloadSize)
	if args.PushAllTicks {
		sub.PushAllTicks(s.MaxPendingTransitions)
	}
	ses.sub = sub

	resp.WorkerId = s.worker.Id()
	resp.Groups, resp.GroupsOrder = s.worker.Groups()
	resp.Epoch = e.Epoch
	resp.MachineTick = s.worker.MachineTick()
	// names and relations travel only when the client's hash differs: an
	// equal hash means equal names, order and relations
	if args.SchemaHash != s.schemaHash(e) {
		resp.Names = e.Names()
		resp.Schema = s.worker.Schema()
	}
	var u engine.Update
	if args.KnownTime != nil && len(args.KnownTime) == len(e.Names()) {
		u = ses.sub.Resume(args.KnownTime, args.KnownSeq)
		resp.Resumed = !u.Full
	} else {
		u = ses.sub.Full(true)
	}
	resp.Clock = wire.FromEngine(&u)
	if h := s.Hooks.Handshake; h != nil {
		h(args.ClientId, resp.Resumed)
	}
	s.log.Debug("client connected", "door", "arpc", "client", args.ClientId,
		"identity", identity, "resumed", resp.Resumed,
		"remote", ses.conn.RemoteAddr().String())
	return nil
}

func (ses *session) handleReady(_ *rpc2.Client, _ *wire.Empty, _ *wire.Empty) error {
	ses.mx.Lock()
	if ses.sub == nil || ses.ready {
		ses.mx.Unlock()
		return fmt.Errorf("%w: Ready out of order", ErrRpc)
	}
	ses.ready = true
	sub := ses.sub
	ses.mx.Unlock()

	// the client is synced and listening: from now on the connection may idle
	_ = ses.conn.SetReadDeadline(time.Time{})
	ses.s.Mach.Add1(ss.SharedStates.HandshakeDone, nil)
	ses.wg.Add(1)
	go ses.pushLoop(sub)
	return nil
}

// readySub returns the subscription of a session past its handshake.
func (ses *session) readySub() (*engine.Sub, error) {
	ses.mx.Lock()
	defer ses.mx.Unlock()
	if !ses.ready || ses.sub == nil {
		return nil, fmt.Errorf("%w: handshake not done", ErrRpc)
	}
	return ses.sub, nil
}

func (ses *session) mutate(_ *rpc2.Client, args *wire.ArgsMut, resp *wire.RespMut) error {
	ses.calls.Add(1)
	sub, err := ses.readySub()
	if err != nil {
		resp.Err = toWireErr(err)
		return nil
	}
	res, err := ses.apply(args)
	if err != nil {
		resp.Err = toWireErr(err)
		resp.Result = am.Canceled
	} else {
		resp.Result = res
	}
	// the push loop may have taken the diff already: Seq tells the client
	// which sequence to wait for, so the mutation is visible when it returns
	resp.Clock, resp.Seq = replyClock(sub)
	return nil
}

// replyClock returns the clock update for a reply, and the sequence the
// client must wait for when that update stops short of it (0 when it does
// not).
func replyClock(sub *engine.Sub) (*wire.Update, uint64) {
	seq := sub.Engine().Snapshot().Seq
	var wu *wire.Update
	if u, ok := sub.Next(); ok {
		wu = wire.FromEngine(&u)
		if u.ToSeq >= seq {
			return wu, 0
		}
	}
	return wu, seq
}

func (ses *session) mutateNS(_ *rpc2.Client, args *wire.ArgsMut, _ *wire.Empty) error {
	ses.calls.Add(1)
	if _, err := ses.readySub(); err != nil {
		return err
	}
	_, err := ses.apply(args)
	return err
}

// apply runs a mutation through the worker's mutation path (Mutator),
// once per mutation ID; a retry waiting for the first attempt gives up when
// the connection closes.
func (ses *session) apply(args *wire.ArgsMut) (am.Result, error) {
	m := ses.s.mutator
	names, err := m.Names(args.States)
	if err != nil {
		return am.Canceled, err
	}
	ses.mx.Lock()
	key, identity, id := ses.dedupKey, ses.identity, ses.clientId
	ses.mx.Unlock()
	// the client's span (the mutation's W3C trace context) continues here
	ctx := extractTrace(ses.ctx, args.Headers)
	res, _, err := m.Run(ctx, &door.Mutation{Client: key, Id: args.Id,
		Type: args.Type, States: names, Args: args.Args, ErrMsg: args.ErrMsg,
		Policy: ses.s.Policy, Identity: identity, Ran: ses.s.Hooks.Mutated,
		ClientId: id, Door: "arpc", Log: ses.s.log})
	return res, err
}

func (ses *session) sync(_ *rpc2.Client, args *wire.ArgsSync, resp *wire.RespSync) error {
	ses.calls.Add(1)
	sub, err := ses.readySub()
	if err != nil {
		resp.Err = toWireErr(err)
		return nil
	}
	if args.Full {
		u := sub.Full(false)
		resp.Clock = wire.FromEngine(&u)
	} else {
		resp.Clock, resp.Seq = replyClock(sub)
	}
	return nil
}

func (ses *session) get(_ *rpc2.Client, args *wire.ArgsGet, resp *wire.RespGet) error {
	ses.calls.Add(1)
	if _, err := ses.readySub(); err != nil {
		resp.Err = toWireErr(err)
		return nil
	}
	if ses.s.Getter == nil {
		resp.Err = toWireErr(fmt.Errorf("%w: server has no getter", ErrUnsupported))
		return nil
	}
	v := ses.s.Getter(args.Name)
	if err := checkValue(ses.cod.bodyEncoding(), v); err != nil {
		resp.Err = toWireErr(fmt.Errorf("getter %q: %w", args.Name, err))
		return nil
	}
	resp.Value = v
	return nil
}

func (ses *session) can(_ *rpc2.Client, args *wire.ArgsMut, resp *wire.RespMut) error {
	ses.calls.Add(1)
	if _, err := ses.readySub(); err != nil {
		resp.Err = toWireErr(err)
		return nil
	}
	m := ses.s.mutator
	names, err := m.Names(args.States)
	if err == nil {
		err = ses.checkObserve(names)
	}
	if err == nil {
		resp.Result, err = m.Can(&door.Mutation{Type: args.Type, States: names,
			Args: args.Args})
	}
	if err != nil {
		resp.Err = toWireErr(err)
	}
	return nil
}

func (ses *session) err(_ *rpc2.Client, _ *wire.Empty, resp *wire.RespErr) error {
	if _, err := ses.readySub(); err != nil {
		resp.Err = toWireErr(err)
		return nil
	}
	if e := ses.s.worker.Err(); e != nil && ses.errVisible() {
		resp.Msg = e.Error()
	}
	return nil
}

// maxWhenArgs bounds the open WhenArgs subscriptions of one client.
const maxWhenArgs = 1024

// whenArgsAdd registers a WhenArgs wait; refusals travel in resp.Err, so
// their sentinels survive the wire.
func (ses *session) whenArgsAdd(_ *rpc2.Client, args *wire.ArgsWhenArgs,
	resp *wire.RespErr,
) error {
	if _, err := ses.readySub(); err != nil {
		resp.Err = toWireErr(err)
		return nil
	}
	names, err := ses.s.mutator.Names([]int{args.State})
	if err == nil {
		err = ses.checkObserve(names)
	}
	if err != nil {
		resp.Err = toWireErr(err)
		return nil
	}
	ses.mx.Lock()
	if len(ses.whenArgs) >= maxWhenArgs {
		ses.mx.Unlock()
		resp.Err = toWireErr(fmt.Errorf("%w: too many WhenArgs subscriptions",
			ErrInvalidParams))
		return nil
	}
	ctx, cancel := context.WithCancel(ses.ctx)
	ses.whenArgs[args.Id] = cancel
	ses.wg.Add(1)
	ses.mx.Unlock()

	// a local worker's own WhenArgs shares one channel among waits with
	// equal args, whatever their contexts, so one client's cancel would
	// read as another's match: the engine matches for each wait alone. A
	// remote worker (a relay) passes the wait on upstream.
	var ch <-chan struct{}
	if ses.s.worker.IsLocal() {
		ch = ses.s.engine.WhenArgs(args.State, args.Args, ctx)
	} else {
		ch = ses.s.worker.WhenArgs(names[0], args.Args, ctx)
	}
	go func() {
		defer ses.wg.Done()
		defer cancel()
		select {
		case <-ch:
			if ctx.Err() == nil {
				_ = ses.rc.Notify(wire.MWhenArgsDone, &wire.ArgsWhenArgsDone{Id: args.Id})
			}
		case <-ctx.Done():
		}
		ses.mx.Lock()
		delete(ses.whenArgs, args.Id)
		ses.mx.Unlock()
	}()
	return nil
}

func (ses *session) whenArgsCancel(_ *rpc2.Client, args *wire.ArgsWhenArgsDone,
	_ *wire.Empty,
) error {
	ses.mx.Lock()
	cancel := ses.whenArgs[args.Id]
	ses.mx.Unlock()
	if cancel != nil {
		cancel()
	}
	return nil
}

// handleBye ends the session at once: the client is leaving, so its slot
// and subscription are released without waiting for the connection to close.
func (ses *session) handleBye(_ *rpc2.Client, _ *wire.Empty, _ *wire.Empty) error {
	ses.mx.Lock()
	ses.bye = true
	ses.mx.Unlock()
	ses.cancel()
	return nil
}

// pushLoop runs the engine's push loop for this client: clock updates,
// payloads and heartbeats, paced by the server's PushInterval (see
// engine.NewPace). It ends the session when a write fails.
func (ses *session) pushLoop(sub *engine.Sub) {
	defer ses.wg.Done()
	pace := engine.NewPace(ses.s.PushInterval, ses.heartbeatInterval())
	if err := sub.Run(ses.ctx, pace, pusher{ses}); err != nil &&
		ses.ctx.Err() == nil {
		ses.cancel()
	}
}

// pusher is the aRPC door's engine.Sender: it only encodes and writes.
type pusher struct{ ses *session }

func (p pusher) SendUpdate(u *engine.Update) error {
	if err := p.ses.rc.Notify(wire.MClock, wire.FromEngine(u)); err != nil {
		return err
	}
	if h := p.ses.s.Hooks.Pushed; h != nil {
		h(u)
	}
	return nil
}

func (p pusher) SendPayloads(payloads []am.A) error {
	for _, args := range payloads {
		if !p.ses.sendPayload(args) {
			return ErrNoConn
		}
	}
	return nil
}

// SendHeartbeat writes a heartbeat unless the connection wrote something
// (e.g. a reply) within half the interval.
func (p pusher) SendHeartbeat() error {
	hb := p.ses.heartbeatInterval()
	idle := time.Since(time.Unix(0, p.ses.cod.lastWrite.Load()))
	if idle < hb/2 {
		return nil
	}
	return p.ses.rc.Notify(wire.MHeartbeat, &wire.Empty{})
}

// sendPayload forwards one of the worker's SendPayload args to the client;
// false means the connection failed.
func (ses *session) sendPayload(args am.A) bool {
	a := ParseArgs(args)
	if a.Payload == nil || !ses.payloadFor(a.Id) {
		return true
	}
	p := *a.Payload
	if p.Source == "" {
		p.Source = ses.s.worker.Id()
	}
	if p.Token == "" {
		p.Token = randToken()
	}
	if err := checkValue(ses.cod.bodyEncoding(), p.Data); err != nil {
		ses.s.log.Error("payload dropped", "name", p.Name, "err", err)
		return true
	}
	if err := ses.rc.Notify(wire.MPayload, &p); err != nil {
		ses.cancel()
		return false
	}
	return true
}

func randToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// minHeartbeat is the shortest heartbeat interval a client may ask for.
const minHeartbeat = 50 * time.Millisecond

func (ses *session) heartbeatInterval() time.Duration {
	ses.mx.Lock()
	defer ses.mx.Unlock()
	return ses.heartbeat
}
