package bridge

import (
	"fmt"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
	"github.com/arpcbridge/arpcbridge/internal/chunk"
)

// payloadChunk takes one PayloadChunk of the stream: the assembler checks
// it (the total against ClientOpts.MaxPayload before allocating, order,
// overlap, the digest at the end) and the payload goes to the Consumer only
// whole and verified. A chunk that lies is an error wrapping
// arpc.ErrInvalidResp and one of the arpc.ErrChunk sentinels: the partial
// payload is dropped, the error logged and counted, and the stream ends (to
// be reopened: a server that sent it cannot be trusted with the rest of the
// stream's payloads, while the clock resumes where it was).
func (c *Client) payloadChunk(pc *bridgev1.PayloadChunk) error {
	c.chunks.Add(1)
	if pc.Offset == 0 && pc.Header == nil {
		return c.chunkErr(fmt.Errorf("%w: first chunk without a header",
			arpc.ErrChunkOrder))
	}
	whole, done, err := c.asm.Add(chunk.Chunk{Offset: pc.Offset,
		Total: pc.Total, Data: pc.Data, Digest: pc.Sha256})
	if err != nil {
		return c.chunkErr(err)
	}
	if pc.Offset == 0 {
		c.asmHeader = pc.Header
	}
	if !done {
		return nil
	}
	h := c.asmHeader
	c.asmHeader = nil
	c.deliver(&bridgev1.Payload{Name: h.Name, Source: h.Source,
		Token: h.Token, ContentType: h.ContentType, Data: whole})
	return nil
}

func (c *Client) chunkErr(err error) error {
	c.resetChunks()
	c.chunkErrs.Add(1)
	err = fmt.Errorf("%w: payload chunk: %w", arpc.ErrInvalidResp, err)
	c.log.Error("chunked payload refused", "err", err)
	return err
}

// resetChunks forgets a partly received payload (a new stream).
func (c *Client) resetChunks() {
	c.asm.Reset()
	c.asm.Max = uint64(c.opts.MaxPayload)
	if c.opts.MaxPayload <= 0 {
		c.asm.Max = arpc.DefaultMaxPayload
	}
	c.asmHeader = nil
}

// deliver hands a payload to the Consumer.
func (c *Client) deliver(p *bridgev1.Payload) {
	c.payloads.Add(1)
	if c.opts.Consumer == nil {
		return
	}
	var data any = p.Data
	if len(p.ContentType) >= 10 && p.ContentType[:10] == "text/plain" {
		data = string(p.Data)
	}
	c.opts.Consumer.Add1(ss.ConsumerStates.WorkerPayload,
		arpc.Pass(&arpc.A{Name: p.Name, Payload: &arpc.ArgsPayload{
			Name: p.Name, Source: p.Source, Data: data, Token: p.Token}}))
}
