package chunk

import (
	"crypto/sha256"
	"hash"
)

// Splitter cuts one payload into chunks, in order. It does not copy: each
// chunk's Data is a slice of the payload, which must not change until the
// last chunk is written. Not safe for concurrent use.
type Splitter struct {
	data []byte
	size int
	off  int
	h    hash.Hash
}

// NewSplitter returns a splitter of data into chunks of at most size bytes
// (see Size for the defaults). An empty payload is one chunk without data.
func NewSplitter(data []byte, size int) *Splitter {
	return &Splitter{data: data, size: Size(size), h: sha256.New()}
}

// Total returns the payload's size.
func (s *Splitter) Total() int { return len(s.data) }

// Sent returns how many bytes the chunks so far carried.
func (s *Splitter) Sent() int { return s.off }

// Next returns the next chunk; ok is false after the last one.
func (s *Splitter) Next() (c Chunk, ok bool) {
	if s.off > len(s.data) || (s.off == len(s.data) && s.h == nil) {
		return Chunk{}, false
	}
	end := min(s.off+s.size, len(s.data))
	c = Chunk{Offset: uint64(s.off), Total: uint64(len(s.data)),
		Data: s.data[s.off:end]}
	s.h.Write(c.Data)
	s.off = end
	if end == len(s.data) {
		c.Digest = s.h.Sum(nil)
		s.h = nil
	}
	return c, true
}

// Split returns every chunk of data, for tests and small payloads.
func Split(data []byte, size int) []Chunk {
	s := NewSplitter(data, size)
	var out []Chunk
	for c, ok := s.Next(); ok; c, ok = s.Next() {
		out = append(out, c)
	}
	return out
}
