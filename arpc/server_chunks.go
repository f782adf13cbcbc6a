package arpc

import (
	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/engine"
	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
	"github.com/arpcbridge/arpcbridge/internal/chunk"
)

// pusher is an engine.ChunkSender: the push loop has it encode each payload
// once (a standalone gob stream, wire.EncodePayload) and writes those over
// Server.ChunkSize as MPayloadChunk notifications between clock pushes.
var _ engine.ChunkSender = pusher{}

// PreparePayload encodes a payload for the session's client: false when it
// is addressed to another client or cannot be encoded (logged, dropped).
func (p pusher) PreparePayload(args am.A) (engine.Prepared, bool) {
	ses := p.ses
	a := ParseArgs(args)
	if a.Payload == nil || !ses.payloadFor(a.Id) {
		return engine.Prepared{}, false
	}
	pl := *a.Payload
	if pl.Source == "" {
		pl.Source = ses.s.worker.Id()
	}
	if pl.Token == "" {
		pl.Token = randToken()
	}
	data, err := wire.EncodePayload(&pl)
	if err != nil {
		ses.s.log.Error("payload dropped", "name", pl.Name, "err", err)
		return engine.Prepared{}, false
	}
	return engine.Prepared{Data: data, Meta: &pl}, true
}

// SendWhole sends a payload up to the chunk size as one MPayload
// notification, as before chunks existed.
func (p pusher) SendWhole(pr engine.Prepared) error {
	return p.ses.rc.Notify(wire.MPayload, pr.Meta.(*ArgsPayload))
}

// SendChunk sends one MPayloadChunk notification.
func (p pusher) SendChunk(_ engine.Prepared, c chunk.Chunk) error {
	return p.ses.rc.Notify(wire.MPayloadChunk, &wire.PayloadChunk{
		Offset: c.Offset, Total: c.Total, Data: c.Data, Digest: c.Digest})
}

// ChunkSize is Server.ChunkSize (see chunk.Size for the defaults).
func (p pusher) ChunkSize() int { return chunk.Size(p.ses.s.ChunkSize) }
