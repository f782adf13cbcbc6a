package bridge

import (
	"math"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/engine"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
	"github.com/arpcbridge/arpcbridge/internal/chunk"
)

// watchSender is an engine.ChunkSender: the push loop has it encode each
// payload once and writes those over the chunk size as PayloadChunk
// messages between clock updates.
var _ engine.ChunkSender = (*watchSender)(nil)

// PreparePayload encodes a payload for the stream's client; Meta is the
// Payload message.
func (w *watchSender) PreparePayload(args am.A) (engine.Prepared, bool) {
	msg := w.ws.payload(args)
	if msg == nil {
		return engine.Prepared{}, false
	}
	p := msg.GetPayload()
	return engine.Prepared{Data: p.Data, Meta: p}, true
}

// SendWhole sends the payload as one Payload message.
func (w *watchSender) SendWhole(p engine.Prepared) error {
	return w.ws.send(&bridgev1.WatchClockResponse{Event: &bridgev1.
		WatchClockResponse_Payload{Payload: p.Meta.(*bridgev1.Payload)}})
}

// SendChunk sends one PayloadChunk; the first carries the payload's header.
func (w *watchSender) SendChunk(p engine.Prepared, c chunk.Chunk) error {
	pc := &bridgev1.PayloadChunk{Offset: c.Offset, Total: c.Total,
		Data: c.Data, Sha256: c.Digest}
	if c.Offset == 0 {
		h := p.Meta.(*bridgev1.Payload)
		pc.Header = &bridgev1.Payload{Name: h.Name, Source: h.Source,
			Token: h.Token, ContentType: h.ContentType}
	}
	return w.ws.send(&bridgev1.WatchClockResponse{Event: &bridgev1.
		WatchClockResponse_PayloadChunk{PayloadChunk: pc}})
}

// ChunkSize is the service's chunk size for a client that takes chunks;
// for others no payload is chunked.
func (w *watchSender) ChunkSize() int {
	if !w.chunked {
		return math.MaxInt
	}
	return chunk.Size(w.ws.s.opts.ChunkSize)
}
