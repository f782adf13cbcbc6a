package wire

import (
	"fmt"
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
		size := max
		if h.HasFCS {
			if h.FrameContentSize > uint64(max) {
				return nil, fmt.Errorf("%w: zstd body decompresses to %d bytes "+
					"(limit %d)", ErrFrameTooLarge, h.FrameContentSize, max)
			}
			size = int(h.FrameContentSize)
		} else if size > 64<<10 {
			// no declared size: start small, DecodeAll grows up to the cap
			size = 64 << 10
		}
		_, dec := zstdCodec()
		out, err := decodeZstd(dec, src, size, max, h.HasFCS)
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: compression codec %d", ErrRpc, c)
}

// decodeZstd decodes src into a buffer of capacity size, and, for a frame
// without a declared size, of up to max bytes (WithDecodeAllCapLimit makes
// DecodeAll stop at the buffer's capacity).
func decodeZstd(dec *zstd.Decoder, src []byte, size, max int, declared bool,
) ([]byte, error) {
	for {
		out, err := dec.DecodeAll(src, make([]byte, 0, size))
		switch {
		case err == nil:
			return out, nil
		case declared || !isCapErr(err):
			return nil, fmt.Errorf("%w: zstd body: %w", ErrRpc, err)
		case size >= max:
			return nil, fmt.Errorf("%w: zstd body decompresses to more than %d "+
				"bytes (limit %d)", ErrFrameTooLarge, max, max)
		}
		size = min(size*4, max)
	}
}

func isCapErr(err error) bool {
	return err == zstd.ErrDecoderSizeExceeded
}
