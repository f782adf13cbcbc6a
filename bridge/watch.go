package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

// watcher is one open WatchClock stream, so that the client's Mutate
// replies can continue the stream's chain (see Service.replyUpdate).
type watcher struct {
	// end ends the stream with a cause
	end context.CancelCauseFunc
	sub *engine.Sub
	// conn is the stream's connection (caller.conn)
	conn string
}

// watching returns the engine subscription of the client's open stream on
// connection conn that match accepts, the newest first, nil when it has
// none. A client ID may have several streams (several processes of one
// name, or a reconnected client whose old stream is not closed yet): they
// coexist, as aRPC connections of one client ID do, and a reply continues
// only the stream on the caller's own connection.
func (s *Service) watching(clientId, conn string, match func(*engine.Sub) bool,
) *engine.Sub {
	s.mx.RLock()
	defer s.mx.RUnlock()
	ws := s.watchers[clientId]
	for i := len(ws) - 1; i >= 0; i-- {
		if ws[i].conn == conn && match(ws[i].sub) {
			return ws[i].sub
		}
	}
	return nil
}

// register adds w to the client's open streams.
func (s *Service) register(clientId string, w *watcher) {
	if clientId == "" {
		return
	}
	s.mx.Lock()
	defer s.mx.Unlock()
	s.watchers[clientId] = append(s.watchers[clientId], w)
}

func (s *Service) unregister(clientId string, w *watcher) {
	s.mx.Lock()
	defer s.mx.Unlock()
	ws := slices.DeleteFunc(s.watchers[clientId],
		func(x *watcher) bool { return x == w })
	if len(ws) == 0 {
		delete(s.watchers, clientId)
		return
	}
	s.watchers[clientId] = ws
}

// WatchClock implements BridgeServiceServer. Each stream owns one engine
// subscription, so its memory is bounded whatever the client's pace: while
// Send blocks (gRPC flow control), the engine keeps only its latest
// snapshot, and the next update merges every change since the last one sent.
func (s *Service) WatchClock(req *bridgev1.WatchClockRequest,
	stream grpc.ServerStreamingServer[bridgev1.WatchClockResponse],
) error {
	cl, err := s.admit(stream.Context(), req.ClientId)
	if err != nil {
		return toStatus(err)
	}
	if err := s.checkHash(req.SchemaHash); err != nil {
		return toStatus(err)
	}
	if err := s.checkKnown(req.KnownSeq, req.KnownTime); err != nil {
		return toStatus(err)
	}
	heartbeat := DefaultHeartbeat
	if hb := req.HeartbeatInterval; hb != nil && hb.AsDuration() > 0 {
		heartbeat = min(max(hb.AsDuration(), MinHeartbeat), MaxHeartbeat)
	}
	// the stream's life: the client's and the service's
	ctx, end := context.WithCancelCause(stream.Context())
	defer end(nil)
	defer context.AfterFunc(s.life, func() { end(context.Cause(s.life)) })()
	sub := s.eng.Subscribe()
	defer sub.Close()
	sub.SetMask(cl.mask)
	sub.LimitPayloads(s.opts.PayloadBytes, arpc.PayloadSize)
	if req.PushAllTicks {
		sub.PushAllTicks(s.opts.MaxPendingTransitions)
	}
	w := &watcher{end: end, sub: sub, conn: cl.conn}
	s.register(cl.key, w)
	defer s.unregister(cl.key, w)

	// initial catch-up: a resume diff, or a full snapshot; either way the
	// subscription continues from the snapshot the client then has
	var first engine.Update
	known, knownSeq := req.KnownTime, req.KnownSeq
	if len(known) == 0 && knownSeq > 0 {
		if snap := s.eng.SnapshotAt(knownSeq); snap != nil {
			known = snap.Time
		}
	}
	switch {
	case knownSeq > s.eng.Snapshot().Seq:
		// a sequence this engine never reached: the client knew another
		// one (a restarted server), so its chain cannot continue here
		first = sub.Full(false)
	case len(known) > 0:
		// Resume itself falls back to a full snapshot (counted) for a time
		// of another worker
		first = sub.Resume(known, knownSeq)
	default:
		first = sub.Full(true)
	}
	ws := &watchStream{s: s, stream: stream, clientId: req.ClientId, cl: cl}
	if err := ws.sendUpdate(&first); err != nil {
		return err
	}
	if err := ws.send(&bridgev1.WatchClockResponse{Event: &bridgev1.
		WatchClockResponse_InitialSyncDone{InitialSyncDone: &bridgev1.
		InitialSyncDone{Seq: first.ToSeq}}}); err != nil {
		return err
	}
	err = sub.Run(ctx, engine.NewPace(s.opts.PushInterval, heartbeat),
		&watchSender{ws: ws, sub: sub, chunked: req.ChunkedPayloads})
	switch {
	case errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case err == nil || status.Code(err) != codes.Unknown:
		return err
	default:
		return toStatus(err)
	}
}

// watchStream is the sending side of one WatchClock stream.
type watchStream struct {
	s        *Service
	stream   grpc.ServerStreamingServer[bridgev1.WatchClockResponse]
	clientId string
	// cl is the authenticated caller (service_auth.go)
	cl caller
}

func (ws *watchStream) send(msg *bridgev1.WatchClockResponse) error {
	return ws.stream.Send(msg)
}

func (ws *watchStream) sendUpdate(u *engine.Update) error {
	return ws.send(&bridgev1.WatchClockResponse{Event: &bridgev1.
		WatchClockResponse_Update{Update: toProtoUpdate(u)}})
}

// watchSender is the gRPC door's engine.Sender: it only encodes and sends.
type watchSender struct {
	ws  *watchStream
	sub *engine.Sub
	// chunked: the client takes PayloadChunk messages (watch_chunks.go)
	chunked bool
}

func (w *watchSender) SendUpdate(u *engine.Update) error {
	return w.ws.sendUpdate(u)
}

func (w *watchSender) SendPayloads(payloads []am.A) error {
	for _, args := range payloads {
		if msg := w.ws.payload(args); msg != nil {
			if err := w.ws.send(msg); err != nil {
				return err
			}
		}
	}
	return nil
}

// SendHeartbeat sends the chain's head: what the stream sent and what the
// client's Mutate replies took over from it.
func (w *watchSender) SendHeartbeat() error {
	return w.ws.send(&bridgev1.WatchClockResponse{Event: &bridgev1.
		WatchClockResponse_Heartbeat{Heartbeat: &bridgev1.Heartbeat{
		ServerTime: timestamppb.Now(), Seq: w.sub.KnownSeq(),
		PayloadsDropped: w.sub.PayloadsDropped()}}})
}

// payload converts the args of a worker's SendPayload into a stream message,
// or nil when it is for another client or cannot be encoded (logged).
func (ws *watchStream) payload(args map[string]any) *bridgev1.
	WatchClockResponse {
	a := arpc.ParseArgs(args)
	if a.Payload == nil || !ws.cl.payloadFor(a.Id, ws.clientId) {
		return nil
	}
	p := a.Payload
	data, ct, err := payloadData(p.Data)
	if err != nil {
		ws.s.log.Error("payload skipped: data not encodable", "name", p.Name,
			"type", fmt.Sprintf("%T", p.Data), "client", ws.clientId, "err", err)
		return nil
	}
	source, token := p.Source, p.Token
	if source == "" {
		source = ws.s.worker.Id()
	}
	if token == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		token = hex.EncodeToString(b[:])
	}
	return &bridgev1.WatchClockResponse{Event: &bridgev1.
		WatchClockResponse_Payload{Payload: &bridgev1.Payload{Name: p.Name,
		Source: source, Token: token, Data: data, ContentType: ct}}}
}
