package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Compression is a body compression codec, as its code on the wire.
type Compression uint8

// Compression codecs. A receiver decodes all of them whatever was
// negotiated: every compressed body names its codec.
const (
	CompressNone Compression = iota
	CompressS2
	CompressZstd
	numCompress
)

// DefaultCompressThreshold is the smallest body an Encoder compresses by
// default: below it, compression saves too little to pay for itself.
const DefaultCompressThreshold = 1 << 10

// zstd's encoder and decoder are safe for concurrent EncodeAll and
// DecodeAll and are made once: they are expensive to make, and every body
// is compressed whole.
var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdDec  *zstd.Decoder
)

func zstdCodec() (*zstd.Encoder, *zstd.Decoder) {
	zstdOnce.Do(func() {
		// neither starts a goroutine: only the block-wise EncodeAll and
		// DecodeAll are used. The decoder's own memory bound is the largest
		// limit a connection can have; each body is checked against its
		// connection's limit below.
		zstdEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
		zstdDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(maxBody), zstd.WithDecodeAllCapLimit(true))
	})
	return zstdEnc, zstdDec
}

// maxBody bounds any body a Decoder accepts, whatever its limit (a frame
// length is a uvarint of at most maxLenPrefix bytes).
const maxBody = 1<<(7*maxLenPrefix) - 1

// compress appends src compressed with c to dst.
func compress(c Compression, dst, src []byte) []byte {
	switch c {
	case CompressS2:
		n := s2.MaxEncodedLen(len(src))
		start := len(dst)
		dst = grow(dst, n)
		out := s2.Encode(dst[start:start+n], src)
		return dst[:start+len(out)]
	case CompressZstd:
		enc, _ := zstdCodec()
		return enc.EncodeAll(src, dst)
	}
	return append(dst, src...)
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	out := make([]byte, len(b)+n)
	copy(out, b)
	return out
}

// decompress returns src decompressed with c. The size it decompresses to
// is checked against max before it is allocated: S2 and zstd frames
// declare it; a zstd frame that does not is decoded into at most max
// bytes. A body over max wraps ErrFrameTooLarge (a decompression bomb),
// one that does not decode wraps ErrRpc.
func decompress(c Compression, src []byte, max int) ([]byte, error) {
	switch c {
	case CompressS2:
		n, err := s2.DecodedLen(src)
		if err != nil {
			return nil, fmt.Errorf("%w: s2 body: %w", ErrRpc, err)
		}
		if n > max {
			return nil, fmt.Errorf("%w: s2 body decompresses to %d bytes "+
				"(limit %d)", ErrFrameTooLarge, n, max)
		}
		out, err := s2.Decode(make([]byte, n), src)
		if err != nil {
			return nil, fmt.Errorf("%w: s2 body: %w", ErrRpc, err)
		}
		return out, nil
	case CompressZstd:
		var h zstd.Header
		if err := h.Decode(src); err != nil {
			return nil, fmt.Errorf("%w: zstd body: %w", ErrRpc, err)
		}
		if !h.HasFCS {
			return decodeZstdStream(src, max)
		}
		if h.FrameContentSize > uint64(max) {
			return nil, fmt.Errorf("%w: zstd body decompresses to %d bytes "+
				"(limit %d)", ErrFrameTooLarge, h.FrameContentSize, max)
		}
		// DecodeAll stops at the buffer's capacity (WithDecodeAllCapLimit):
		// frames that follow the first cannot exceed its declared size
		_, dec := zstdCodec()
		out, err := dec.DecodeAll(src, make([]byte, 0, int(h.FrameContentSize)))
		if err != nil {
			return nil, fmt.Errorf("%w: zstd body: %w", ErrRpc, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: compression codec %d", ErrRpc, c)
}

// decodeZstdStream decodes a zstd body whose frame does not declare its
// size (our peers always declare it) as a stream, reading at most max+1
// bytes of output.
func decodeZstdStream(src []byte, max int) ([]byte, error) {
	// the output is bounded by the limited read below; the window (history
	// kept while decoding) grows with the output, and is capped too
	dec, err := zstd.NewReader(bytes.NewReader(src),
		zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: zstd body: %w", ErrRpc, err)
	}
	defer dec.Close()
	out, err := io.ReadAll(io.LimitReader(dec, int64(max)+1))
	switch {
	case len(out) > max || errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return nil, fmt.Errorf("%w: zstd body decompresses to more than %d "+
			"bytes (limit %d)", ErrFrameTooLarge, max, max)
	case err != nil:
		return nil, fmt.Errorf("%w: zstd body: %w", ErrRpc, err)
	}
	return out, nil
}
