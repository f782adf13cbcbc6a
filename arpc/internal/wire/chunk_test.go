package wire

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPayloadChunkRoundTrip(t *testing.T) {
	for _, c := range []*PayloadChunk{
		{Offset: 0, Total: 3, Data: []byte{1, 2, 3}, Digest: bytes.Repeat([]byte{9}, 32)},
		{Offset: 1 << 40, Total: 1<<40 + 10, Data: []byte{1}},
		{Total: 10, Data: []byte{1}, Header: &PayloadHeader{Name: "n",
			Source: "s", Token: "t", Kind: DataGob}},
	} {
		var got PayloadChunk
		require.NoError(t, decodeRawBytes(c.appendRaw(nil, zipper{}), &got))
		assert.Equal(t, *c, got)
	}
}

// With a compressing connection, chunk data is compressed when it is worth
// it, and decompressed within the message limit.
func TestPayloadChunkCompressed(t *testing.T) {
	data := bytes.Repeat([]byte("compressible "), 5000)
	for _, z := range []Compression{CompressS2, CompressZstd} {
		c := &PayloadChunk{Total: uint64(len(data)), Data: data}
		b := c.appendRaw(nil, zipper{codec: z, threshold: 1024})
		assert.Less(t, len(b), len(data)/10, "compressed")
		var got PayloadChunk
		require.NoError(t, decodeRawBytes(b, &got))
		assert.Equal(t, data, got.Data)
		r := reader{b: b, max: 1000}
		got.decodeRaw(&r)
		assert.ErrorIs(t, r.end(), ErrFrameTooLarge, "over the limit")
	}
}

// A whole frame through the Encoder and Decoder, as the connection sends it.
func TestPayloadChunkFrame(t *testing.T) {
	var e Encoder
	c := &PayloadChunk{Offset: 64 << 10, Total: 1 << 20,
		Data: bytes.Repeat([]byte{7}, 64<<10)}
	frame, err := e.Encode(MPayloadChunk, 0, "", c)
	require.NoError(t, err)
	d := NewDecoder(bytes.NewReader(bytes.Clone(frame)), 0, nil, nil)
	e.Release()
	h, err := d.ReadHeader()
	require.NoError(t, err)
	assert.Equal(t, MPayloadChunk, h.Method)
	var got PayloadChunk
	require.NoError(t, d.ReadBody(&got))
	assert.Equal(t, *c, got)
}

func TestValueEncoding(t *testing.T) {
	for _, enc := range []Encoding{EncodeGob, EncodeMsgpack} {
		for _, v := range []any{[]byte{1, 2}, int64(7), "s", 2.5} {
			b, kind, err := EncodeValue(enc, v)
			require.NoError(t, err)
			got, err := DecodeValue(kind, b)
			require.NoError(t, err)
			assert.Equal(t, v, got)
			_, err = DecodeValue(kind, append(b, 0))
			assert.ErrorIs(t, err, ErrRpc)
		}
		_, err := DecodeValue(DataGob+byte(enc), []byte("nope"))
		assert.ErrorIs(t, err, ErrRpc)
		_, _, err = EncodeValue(enc, make(chan int))
		assert.ErrorIs(t, err, ErrInvalidParams)
	}
}

// FuzzPayloadChunk: any bytes decode to a chunk or an error, never a panic,
// and what decodes encodes back to the same bytes.
func FuzzPayloadChunk(f *testing.F) {
	f.Add((&PayloadChunk{Total: 3, Data: []byte{1, 2, 3},
		Digest: make([]byte, 32)}).appendRaw(nil, zipper{}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		var c PayloadChunk
		if decodeRawBytes(b, &c) != nil {
			return
		}
		var again PayloadChunk
		require.NoError(t, decodeRawBytes(c.appendRaw(nil, zipper{}), &again))
		assert.Equal(t, c, again)
	})
}
