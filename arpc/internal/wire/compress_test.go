package wire

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// zstdStream compresses src as a stream, whose frame does not declare its
// content size.
func zstdStream(t testing.TB, src []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
	require.NoError(t, err)
	_, err = w.Write(src)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func TestDecompressRoundTrip(t *testing.T) {
	src := bytes.Repeat([]byte("abc"), 100_000)
	for _, c := range []Compression{CompressS2, CompressZstd} {
		z := compress(c, nil, src)
		assert.Less(t, len(z), len(src)/10)
		out, err := decompress(c, z, len(src))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(src, out))
	}
	out, err := decompress(CompressZstd, zstdStream(t, src), len(src))
	var h zstd.Header
	require.NoError(t, h.Decode(zstdStream(t, src)))
	require.False(t, h.HasFCS)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(src, out), "a frame without a declared size")
}

// A body that decompresses past the limit is refused with
// ErrFrameTooLarge before the output is allocated (declared sizes) or once
// the bounded output is full (undeclared ones); garbage is ErrRpc.
func TestDecompressBombs(t *testing.T) {
	src := make([]byte, 4<<20) // 4 MiB of zeros: a few hundred bytes zipped
	const limit = 64 << 10
	var h zstd.Header
	require.NoError(t, h.Decode(zstdStream(t, src)))
	require.False(t, h.HasFCS, "a stream frame without a declared size")
	for name, tt := range map[string]struct {
		c Compression
		b []byte
	}{
		"s2":              {CompressS2, compress(CompressS2, nil, src)},
		"zstd declared":   {CompressZstd, compress(CompressZstd, nil, src)},
		"zstd undeclared": {CompressZstd, zstdStream(t, src)},
		"zstd two frames": {CompressZstd, append(compress(CompressZstd, nil,
			src[:100]), compress(CompressZstd, nil, src)...)},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Less(t, len(tt.b), limit/4, "a bomb is small")
			_, err := decompress(tt.c, tt.b, limit)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrRpc)
			if name != "zstd two frames" {
				assert.ErrorIs(t, err, ErrFrameTooLarge)
			}
		})
	}
	for _, c := range []Compression{CompressS2, CompressZstd, 7} {
		_, err := decompress(c, []byte("not compressed at all"), limit)
		assert.ErrorIs(t, err, ErrRpc)
	}
}

// FuzzDecompress feeds both decompressors arbitrary bodies: they never
// panic nor return more than the limit.
func FuzzDecompress(f *testing.F) {
	src := bytes.Repeat([]byte("fuzz"), 1000)
	f.Add(byte(CompressS2), compress(CompressS2, nil, src))
	f.Add(byte(CompressZstd), compress(CompressZstd, nil, src))
	f.Add(byte(CompressZstd), zstdStream(f, src))
	f.Fuzz(func(t *testing.T, c byte, b []byte) {
		const limit = 1 << 16
		out, err := decompress(Compression(c%3), b, limit)
		if err != nil {
			assert.ErrorIs(t, err, ErrRpc)
			return
		}
		assert.LessOrEqual(t, len(out), limit)
	})
}
