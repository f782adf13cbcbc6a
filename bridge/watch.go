package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

// watcher is one open WatchClock stream, so that a newer stream of the same
// client ID can end it, and that the client's Mutate replies can continue
// the stream's chain (see Service.replyUpdate).
type watcher struct {
	replaced chan struct{}
	sub      *engine.Sub
}

// watching returns the engine subscription of the client's open stream, nil
// when it has none.
func (s *Service) watching(clientId string) *engine.Sub {
	s.mx.RLock()
	defer s.mx.RUnlock()
	if w := s.watchers[clientId]; w != nil {
		return w.sub
	}
	return nil
}

// register makes w the client's current stream, ending an older one.
func (s *Service) register(clientId string, w *watcher) {
	if clientId == "" {
		return
	}
	s.mx.Lock()
	defer s.mx.Unlock()
	if old := s.watchers[clientId]; old != nil {
		close(old.replaced)
	}
	s.watchers[clientId] = w
}

func (s *Service) unregister(clientId string, w *watcher) {
	s.mx.Lock()
	defer s.mx.Unlock()
	if s.watchers[clientId] == w {
		delete(s.watchers, clientId)
	}
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
	sub := s.eng.Subscribe()
	defer sub.Close()
	sub.SetMask(cl.mask)
	w := &watcher{replaced: make(chan struct{}), sub: sub}
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
	if len(known) > 0 {
		// Resume itself falls back to a full snapshot (counted) for a time
		// of another worker
		first = sub.Resume(known, knownSeq)
	} else {
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
	return ws.loop(sub, w, heartbeat)
}

// watchStream is the sending side of one WatchClock stream.
type watchStream struct {
	s        *Service
	stream   grpc.ServerStreamingServer[bridgev1.WatchClockResponse]
	clientId string
	// cl is the authenticated caller (service_auth.go)
	cl caller
	// hb fires after heartbeat without a send; nil before the loop
	hb        *time.Timer
	heartbeat time.Duration
}

func (ws *watchStream) send(msg *bridgev1.WatchClockResponse) error {
	if err := ws.stream.Send(msg); err != nil {
		return err
	}
	if ws.hb != nil {
		ws.hb.Reset(ws.heartbeat)
	}
	return nil
}

func (ws *watchStream) sendUpdate(u *engine.Update) error {
	return ws.send(&bridgev1.WatchClockResponse{Event: &bridgev1.
		WatchClockResponse_Update{Update: toProtoUpdate(u)}})
}

// loop sends live updates, payloads and heartbeats until the client leaves
// or the service, the engine or the stream ends.
func (ws *watchStream) loop(sub *engine.Sub, w *watcher,
	heartbeat time.Duration,
) error {
	s := ws.s
	ctx := ws.stream.Context()
	interval := s.opts.PushInterval
	if interval == 0 {
		interval = arpc.DefaultPushInterval
	}
	ws.hb, ws.heartbeat = time.NewTimer(heartbeat), heartbeat
	defer ws.hb.Stop()
	throttle := time.NewTimer(time.Hour)
	throttle.Stop()
	defer throttle.Stop()
	var lastUpdate time.Time
	// changed is nil while a throttled update waits for its turn
	changed := sub.Changed()
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.closed:
			return toStatus(fmt.Errorf("%w: server shutting down", ErrClosed))
		case <-s.eng.Done():
			return toStatus(s.eng.Err())
		case <-w.replaced:
			return status.Error(codes.Aborted,
				"replaced by a newer WatchClock stream of the same client_id")
		case <-ws.hb.C:
			// the chain's head: what the stream sent and what the client's
			// Mutate replies took over from it
			if err := ws.send(&bridgev1.WatchClockResponse{Event: &bridgev1.
				WatchClockResponse_Heartbeat{Heartbeat: &bridgev1.Heartbeat{
				ServerTime: timestamppb.Now(), Seq: sub.KnownSeq(),
				PayloadsDropped: sub.PayloadsDropped()}}}); err != nil {
				return err
			}
		case <-sub.PayloadsReady():
			for _, args := range sub.TakePayloads() {
				if msg := ws.payload(args); msg != nil {
					if err := ws.send(msg); err != nil {
						return err
					}
				}
			}
		case <-changed:
			if wait := time.Until(lastUpdate.Add(interval)); interval > 0 &&
				wait > 0 {
				throttle.Reset(wait)
				changed = nil
				continue
			}
			if err := ws.next(sub, &lastUpdate); err != nil {
				return err
			}
			changed = sub.Changed()
		case <-throttle.C:
			if err := ws.next(sub, &lastUpdate); err != nil {
				return err
			}
			changed = sub.Changed()
		}
	}
}

// next sends the merged update since the last one, if any. A wake counts
// against the push interval even when the client's own Mutate reply already
// took the update: under a stream of the client's mutations the watcher then
// wakes once per interval, not once per mutation.
func (ws *watchStream) next(sub *engine.Sub, last *time.Time) error {
	*last = time.Now()
	u, ok := sub.Next()
	if !ok {
		return nil
	}
	return ws.sendUpdate(&u)
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
