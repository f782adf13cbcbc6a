package arpc

import (
	"encoding/json"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc/engine"
	"github.com/arpcbridge/arpcbridge/internal/chunk"
)

// Chunked payloads: a payload larger than a door's chunk size travels as
// chunks (offset, total size, SHA-256 of the whole with the last one),
// interleaved with clock updates, and is reassembled and verified by the
// client before its Consumer gets it (see docs/protocol.md and
// docs/grpc.md). The errors of a payload whose chunks lie all wrap
// ErrChunk.
const (
	// DefaultChunkSize is the chunk size of both doors when none is set
	// (64 KiB): a clock update waits at most one chunk behind a payload.
	DefaultChunkSize = chunk.DefaultSize
	// DefaultMaxPayload is the largest chunked payload a client accepts when
	// none is set (256 MiB), checked on the first chunk, before allocating.
	DefaultMaxPayload = chunk.DefaultMax
	// DefaultPayloadBytes caps the payload bytes a server holds pending for
	// one client (256 MiB; the payload being sent is not counted): past it,
	// payloads are dropped and counted (Stats.PayloadsDropped), as those
	// past the 256 pending are.
	DefaultPayloadBytes = engine.DefaultPayloadBytes
)

// Errors of chunked payloads, as a client reports them (the same values on
// both doors). Each wraps ErrChunk.
var (
	// ErrChunk is wrapped by every error of a chunked payload.
	ErrChunk = chunk.ErrChunk
	// ErrChunkPastTotal: a chunk ends past its payload's total size.
	ErrChunkPastTotal = chunk.ErrPastTotal
	// ErrChunkOverlap: a chunk repeats bytes already received.
	ErrChunkOverlap = chunk.ErrOverlap
	// ErrChunkOrder: a chunk skips bytes, or continues a payload that never
	// started.
	ErrChunkOrder = chunk.ErrOutOfOrder
	// ErrChunkGap: the last chunk came before all the bytes did, or the
	// bytes came without a digest.
	ErrChunkGap = chunk.ErrGap
	// ErrChunkTooLarge: the payload's total size is over the client's limit.
	ErrChunkTooLarge = chunk.ErrTooLarge
	// ErrChunkDigest: the SHA-256 of the bytes received differs from the one
	// sent.
	ErrChunkDigest = chunk.ErrDigest
	// ErrChunkInterrupted: a payload started before the previous one ended.
	ErrChunkInterrupted = chunk.ErrInterrupted
	// ErrChunkTotal: a chunk's total size differs from its payload's.
	ErrChunkTotal = chunk.ErrTotalChanged
	// ErrChunkEmpty: a chunk without data.
	ErrChunkEmpty = chunk.ErrEmpty
)

// PayloadSize is the size the servers count a payload's bytes by against
// their cap on pending payload bytes (DefaultPayloadBytes): the length of
// []byte, json.RawMessage and string data, 0 for other types (bounded by the
// count of pending payloads alone). args are a payload-state mutation's.
func PayloadSize(args am.A) int64 {
	a := ParseArgs(args)
	if a.Payload == nil {
		return 0
	}
	switch d := a.Payload.Data.(type) {
	case []byte:
		return int64(len(d))
	case json.RawMessage:
		return int64(len(d))
	case string:
		return int64(len(d))
	}
	return 0
}
