package engine

import (
	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/internal/chunk"
)

// DefaultPayloadBytes is the default cap on the payload bytes pending for
// one subscriber (256 MiB), see [Sub.LimitPayloads]: past it, further
// payloads are dropped and counted like those over PayloadQueue. The payload
// being sent is not pending: a subscriber holds at most the cap plus the
// payload in flight.
const DefaultPayloadBytes = 256 << 20

// Prepared is one payload encoded by a door for its peer (see
// [ChunkSender]).
type Prepared struct {
	// Data is the payload's bytes as the peer reassembles them.
	Data []byte
	// Meta is the door's own: whatever SendWhole and SendChunk need besides
	// Data (for example the payload's name).
	Meta any
}

// ChunkSender is an optional interface of a [Sender] whose door sends large
// payloads in chunks. [Sub.Run] then takes payloads one at a time, has the
// door encode each once (PreparePayload), and writes a payload over
// ChunkSize as chunks ([chunk.Splitter], SHA-256 of the whole on the last),
// one chunk per turn of its loop, so a clock update that becomes due is
// written before the next chunk: it waits at most one chunk behind a
// payload. SendPayloads is not called.
type ChunkSender interface {
	Sender
	// PreparePayload encodes a payload taken from the subscription; false
	// when it is not for the peer or cannot be encoded (the door logs).
	PreparePayload(args am.A) (Prepared, bool)
	// SendWhole writes a payload of at most ChunkSize bytes in one message.
	SendWhole(p Prepared) error
	// SendChunk writes one chunk of p, in order.
	SendChunk(p Prepared, c chunk.Chunk) error
	// ChunkSize is the door's chunk size (see chunk.Size for 0).
	ChunkSize() int
}

// chunker is Run's payload in hand: taken from the subscription and not yet
// fully written.
type chunker struct {
	send ChunkSender
	// more is set when the subscription may have payloads pending
	more  bool
	cur   Prepared
	split *chunk.Splitter
}

// busy reports whether the chunker has something to write.
func (c *chunker) busy() bool { return c != nil && (c.split != nil || c.more) }

// step writes the next piece: the next chunk of the payload in hand, or the
// next pending payload (whole, or its first chunk).
func (c *chunker) step(s *Sub) error {
	if c.split == nil {
		args, more := s.takePayload()
		c.more = more
		if args == nil {
			return nil
		}
		p, ok := c.send.PreparePayload(args)
		if !ok {
			return nil
		}
		if !chunk.Needed(len(p.Data), c.send.ChunkSize()) {
			return c.send.SendWhole(p)
		}
		c.cur, c.split = p, chunk.NewSplitter(p.Data, c.send.ChunkSize())
	}
	ch, ok := c.split.Next()
	if !ok {
		c.cur, c.split = Prepared{}, nil
		return nil
	}
	if ch.Last() {
		defer func() { c.cur, c.split = Prepared{}, nil }()
	}
	return c.send.SendChunk(c.cur, ch)
}

// LimitPayloads caps the payload bytes pending for this subscriber at max
// (0: DefaultPayloadBytes; negative: no cap), each payload's bytes told by
// size (nil: not counted). A payload that would pass the cap is dropped
// and counted (PayloadsDropped), as one over PayloadQueue is; the payload
// being sent no longer counts. Doors call it once, after subscribing.
func (s *Sub) LimitPayloads(max int64, size func(am.A) int64) {
	if max == 0 {
		max = DefaultPayloadBytes
	}
	s.pmx.Lock()
	defer s.pmx.Unlock()
	s.pmax, s.psize = max, size
}

// takePayload returns the oldest pending payload (nil: none) and whether
// more are pending.
func (s *Sub) takePayload() (am.A, bool) {
	s.pmx.Lock()
	defer s.pmx.Unlock()
	if len(s.payloads) == 0 {
		return nil, false
	}
	p := s.payloads[0]
	s.payloads[0] = nil
	s.payloads = s.payloads[1:]
	if len(s.payloads) == 0 {
		s.payloads = nil
	}
	if s.psize != nil {
		s.pbytes -= s.psize(p)
	}
	return p, len(s.payloads) > 0
}

// admits reports, under pmx, whether a payload fits the byte cap, and
// counts it when it does.
func (s *Sub) admits(args am.A) bool {
	if s.psize == nil || s.pmax < 0 {
		return true
	}
	n := s.psize(args)
	if s.pbytes+n > s.pmax {
		return false
	}
	s.pbytes += n
	return true
}
