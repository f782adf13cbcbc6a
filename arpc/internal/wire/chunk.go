package wire

import (
	"encoding/binary"
)

// MPayloadChunk (server → client notification) carries one chunk of a
// payload whose encoded form is larger than the server's chunk size; see
// PayloadChunk and docs/protocol.md ("Chunked payloads").
const MPayloadChunk = "PC"

// PayloadChunk is one piece of a chunked payload: the bytes of the payload
// (an ArgsPayload in the encoding of EncodePayload) from Offset, the
// payload's Total size, and on the last chunk only the SHA-256 of all
// Total bytes. A raw body: offset, total (uvarints), data and digest
// (length-prefixed; an empty digest means "not the last").
type PayloadChunk struct {
	Offset uint64
	Total  uint64
	Data   []byte
	Digest []byte
}

func (c *PayloadChunk) appendRaw(b []byte) []byte {
	b = binary.AppendUvarint(b, c.Offset)
	b = binary.AppendUvarint(b, c.Total)
	b = binary.AppendUvarint(b, uint64(len(c.Data)))
	b = append(b, c.Data...)
	b = binary.AppendUvarint(b, uint64(len(c.Digest)))
	return append(b, c.Digest...)
}

func (c *PayloadChunk) decodeRaw(r *reader) {
	*c = PayloadChunk{}
	c.Offset = r.uvarint()
	c.Total = r.uvarint()
	c.Data = r.bytes()
	c.Digest = r.bytes()
}
