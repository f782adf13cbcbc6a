package arpc

import (
	"fmt"

	"github.com/cenkalti/rpc2"

	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
	"github.com/arpcbridge/arpcbridge/internal/chunk"
)

// registerChunks handles the connection's MPayloadChunk notifications: one
// assembler per connection (notifications are handled in order, on the
// read loop) checks each chunk (the total against MaxPayload before
// allocating, order, overlap, the digest at the end), and the payload goes
// to the Consumer only whole and verified. A chunk that lies is an error
// wrapping ErrInvalidResp and one of the ErrChunk sentinels: nothing of the
// payload is delivered, the error is logged and counted
// (ClientStats.PayloadErrors), and the connection is closed, to be
// re-established and resumed like any lost one (a server that sent it
// cannot be trusted with the rest of the connection's payloads).
func (c *Client) registerChunks(cc *clientConn) {
	// the payload being received: its header (first chunk) and bytes
	var header *wire.PayloadHeader
	asm := &chunk.Assembler{Max: uint64(c.MaxPayload)}
	if c.MaxPayload <= 0 {
		asm.Max = DefaultMaxPayload
	}
	cc.rc.Handle(wire.MPayloadChunk, func(_ *rpc2.Client, pc *wire.PayloadChunk,
		_ *wire.Empty,
	) error {
		if cc.dead.Load() {
			return nil
		}
		c.chunksIn.Add(1)
		var err error
		switch {
		case pc.Offset == 0 && pc.Header == nil:
			err = fmt.Errorf("%w: first chunk without a header", ErrChunkOrder)
		case pc.Offset == 0:
			header = pc.Header
		}
		var whole []byte
		var done bool
		if err == nil {
			whole, done, err = asm.Add(chunk.Chunk{Offset: pc.Offset,
				Total: pc.Total, Data: pc.Data, Digest: pc.Digest})
		}
		var p *ArgsPayload
		if err == nil && done {
			p, err = payloadOf(header, whole)
		}
		if err != nil {
			header = nil
			c.chunkErrs.Add(1)
			err = fmt.Errorf("%w: payload chunk: %w", ErrInvalidResp, err)
			c.log.Error("chunked payload refused, closing the connection",
				"err", err)
			_ = cc.net.Close()
			return nil
		}
		if done {
			header = nil
			c.payloadIn(p)
		}
		return nil
	})
}

// payloadOf is the payload of a verified chunked payload's header and data.
func payloadOf(h *wire.PayloadHeader, data []byte) (*ArgsPayload, error) {
	p := &ArgsPayload{Name: h.Name, Source: h.Source, Token: h.Token}
	switch h.Kind {
	case wire.DataBytes:
		p.Data = data
	case wire.DataString:
		p.Data = string(data)
	default:
		v, err := wire.DecodeValue(h.Kind, data)
		if err != nil {
			return nil, err
		}
		p.Data = v
	}
	return p, nil
}
