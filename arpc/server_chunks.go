package arpc

import (
	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/engine"
	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
	"github.com/arpcbridge/arpcbridge/internal/chunk"
)

// pusher is an engine.ChunkSender: the push loop has it prepare each
// payload once and writes those over Server.ChunkSize as MPayloadChunk
// notifications between clock pushes. []byte data is chunked as is (no
// copy), a string as its bytes, other data encoded alone with the
// connection's encoding (wire.EncodeValue: gob or msgpack).
var _ engine.ChunkSender = pusher{}

// prepared is what Prepared.Meta holds for the aRPC door.
type prepared struct {
	p    *ArgsPayload
	kind byte
}

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
	meta := &prepared{p: &pl}
	var data []byte
	switch d := pl.Data.(type) {
	case []byte:
		data, meta.kind = d, wire.DataBytes
	case string:
		data, meta.kind = []byte(d), wire.DataString
	default:
		var err error
		data, meta.kind, err = wire.EncodeValue(ses.cod.bodyEncoding(), d)
		if err != nil {
			ses.s.log.Error("payload dropped", "name", pl.Name, "err", err)
			return engine.Prepared{}, false
		}
	}
	return engine.Prepared{Data: data, Meta: meta}, true
}

// SendWhole sends a payload up to the chunk size as one MPayload
// notification, as before chunks existed.
func (p pusher) SendWhole(pr engine.Prepared) error {
	return p.ses.rc.Notify(wire.MPayload, pr.Meta.(*prepared).p)
}

// SendChunk sends one MPayloadChunk notification; the first carries the
// payload's header.
func (p pusher) SendChunk(pr engine.Prepared, c chunk.Chunk) error {
	pc := &wire.PayloadChunk{Offset: c.Offset, Total: c.Total, Data: c.Data,
		Digest: c.Digest}
	if c.Offset == 0 {
		m := pr.Meta.(*prepared)
		pc.Header = &wire.PayloadHeader{Name: m.p.Name, Source: m.p.Source,
			Token: m.p.Token, Kind: m.kind}
	}
	return p.ses.rc.Notify(wire.MPayloadChunk, pc)
}

// ChunkSize is Server.ChunkSize (see chunk.Size for the defaults).
func (p pusher) ChunkSize() int { return chunk.Size(p.ses.s.ChunkSize) }
