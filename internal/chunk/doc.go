// Package chunk splits a large payload into chunks and puts it back together,
// verified, for every door of the bridge (aRPC frames, gRPC WatchClock
// messages): one splitter, one assembler, one set of errors.
//
// A payload of Total bytes travels as chunks in order, each with its Offset
// and the Total; the last one also carries the SHA-256 of the whole payload.
// The receiver's [Assembler] accepts exactly that sequence: it checks Total
// against its limit before allocating, refuses chunks that overlap, skip
// bytes, run past Total, or start a new payload before the previous one
// ended, and verifies the digest before it hands the payload over. Every
// refusal wraps [ErrChunk] and one of the specific sentinels, and resets the
// assembler, so nothing of a bad payload is ever delivered.
package chunk
