package chunk

import (
	"crypto/sha256"
	"errors"
	"fmt"
)

// DefaultSize is the chunk size of every door when none is set (64 KiB): a
// payload larger than this travels as chunks, and a clock update waits at
// most one chunk behind a payload.
const DefaultSize = 64 << 10

// DefaultMax is the largest chunked payload an Assembler accepts when its
// Max is 0 (256 MiB).
const DefaultMax = 256 << 20

// MinSize is the smallest chunk size a door accepts (smaller settings are
// raised to it): below it, per-chunk overhead dominates.
const MinSize = 1 << 10

// DigestSize is the length of a chunk digest (SHA-256).
const DigestSize = sha256.Size

// ErrChunk is wrapped by every error of the assembler.
var ErrChunk = errors.New("chunked payload")

// Sentinels of the assembler; each also matches ErrChunk.
var (
	// ErrPastTotal: a chunk ends past its payload's total size.
	ErrPastTotal = fmt.Errorf("%w: chunk past the total size", ErrChunk)
	// ErrOverlap: a chunk repeats bytes already received.
	ErrOverlap = fmt.Errorf("%w: overlapping chunk", ErrChunk)
	// ErrOutOfOrder: a chunk is not the next one (it skips bytes, or
	// continues a payload that never started).
	ErrOutOfOrder = fmt.Errorf("%w: chunk out of order", ErrChunk)
	// ErrGap: the last chunk (the one with the digest) came before all the
	// bytes did, or a chunk reached the total size without the digest.
	ErrGap = fmt.Errorf("%w: gap in payload", ErrChunk)
	// ErrTooLarge: the total size is over the receiver's limit (checked
	// before anything is allocated).
	ErrTooLarge = fmt.Errorf("%w: payload over the limit", ErrChunk)
	// ErrDigest: the SHA-256 of the received bytes differs from the one
	// sent, or the digest is malformed.
	ErrDigest = fmt.Errorf("%w: digest mismatch", ErrChunk)
	// ErrInterrupted: a new payload started before the previous one ended.
	ErrInterrupted = fmt.Errorf("%w: payload interrupted", ErrChunk)
	// ErrTotalChanged: a chunk's total differs from its payload's first
	// chunk's.
	ErrTotalChanged = fmt.Errorf("%w: total size changed", ErrChunk)
	// ErrEmpty: a chunk without data.
	ErrEmpty = fmt.Errorf("%w: empty chunk", ErrChunk)
)

// Chunk is one piece of a payload.
type Chunk struct {
	// Offset of Data in the payload.
	Offset uint64
	// Total is the payload's size in bytes, the same on every chunk.
	Total uint64
	// Data is the chunk's bytes (never empty).
	Data []byte
	// Digest is the SHA-256 of the whole payload, on the last chunk only.
	Digest []byte
}

// Last reports whether c is the last chunk of its payload.
func (c Chunk) Last() bool { return c.Digest != nil }

// Size returns size, or DefaultSize when it is not positive, raised to
// MinSize: the chunk size a door uses for a configured value.
func Size(size int) int {
	if size <= 0 {
		return DefaultSize
	}
	return max(size, MinSize)
}

// Needed reports whether a payload of n bytes travels as chunks of size.
func Needed(n, size int) bool { return n > Size(size) }
