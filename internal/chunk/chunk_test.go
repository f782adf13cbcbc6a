package chunk_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/arpcbridge/arpcbridge/internal/chunk"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func randBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// assemble feeds chunks to a fresh assembler and returns what it delivered
// and its first error.
func assemble(a *chunk.Assembler, cs []chunk.Chunk) ([][]byte, error) {
	var out [][]byte
	for _, c := range cs {
		whole, done, err := a.Add(c)
		if err != nil {
			return out, err
		}
		if done {
			out = append(out, whole)
		}
	}
	return out, nil
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name       string
		n, size    int
		wantChunks int
	}{
		{"empty", 0, 0, 1},
		{"one byte", 1, 0, 1},
		{"exactly one chunk", chunk.DefaultSize, 0, 1},
		{"one past", chunk.DefaultSize + 1, 0, 2},
		{"1 MiB default", 1 << 20, 0, 16},
		{"small chunks raised to MinSize", 10 << 10, 1, 10},
		{"uneven", 100_000, 4096, 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randBytes(t, tc.n)
			cs := chunk.Split(data, tc.size)
			require.Len(t, cs, tc.wantChunks)
			for i, c := range cs {
				assert.Equal(t, uint64(tc.n), c.Total)
				assert.Equal(t, i == len(cs)-1, c.Last())
				assert.LessOrEqual(t, len(c.Data), chunk.Size(tc.size))
			}
			sum := sha256.Sum256(data)
			assert.Equal(t, sum[:], cs[len(cs)-1].Digest)
			var a chunk.Assembler
			got, err := assemble(&a, cs)
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.True(t, bytes.Equal(data, got[0]))
			assert.False(t, a.Active())
			// the assembler takes the next payload
			got, err = assemble(&a, cs)
			require.NoError(t, err)
			require.Len(t, got, 1)
		})
	}
}

func TestNeeded(t *testing.T) {
	assert.False(t, chunk.Needed(chunk.DefaultSize, 0))
	assert.True(t, chunk.Needed(chunk.DefaultSize+1, 0))
	assert.True(t, chunk.Needed(2000, 1500))
}

func TestAssemblerRefuses(t *testing.T) {
	data := randBytes(t, 10_000)
	cs := chunk.Split(data, 1024) // 10 chunks
	require.Len(t, cs, 10)
	mod := func(f func(cs []chunk.Chunk) []chunk.Chunk) []chunk.Chunk {
		c := make([]chunk.Chunk, len(cs))
		copy(c, cs)
		return f(c)
	}
	for _, tc := range []struct {
		name string
		max  uint64
		cs   []chunk.Chunk
		want error
	}{
		{"offset past total", 0, mod(func(c []chunk.Chunk) []chunk.Chunk {
			c[9].Offset, c[9].Data = 9216, make([]byte, 1000)
			return c
		}), chunk.ErrPastTotal},
		{"overlapping", 0, mod(func(c []chunk.Chunk) []chunk.Chunk {
			return append(c[:3:3], c[2:]...)
		}), chunk.ErrOverlap},
		{"overlapping partly", 0, mod(func(c []chunk.Chunk) []chunk.Chunk {
			c[1].Offset--
			return c
		}), chunk.ErrOverlap},
		{"out of order", 0, mod(func(c []chunk.Chunk) []chunk.Chunk {
			c[1], c[2] = c[2], c[1]
			return c
		}), chunk.ErrOutOfOrder},
		{"missing middle chunk", 0, mod(func(c []chunk.Chunk) []chunk.Chunk {
			return append(c[:4:4], c[5:]...)
		}), chunk.ErrOutOfOrder},
		{"no first chunk", 0, cs[1:], chunk.ErrOutOfOrder},
		{"last chunk early", 0, mod(func(c []chunk.Chunk) []chunk.Chunk {
			c[8].Digest = c[9].Digest
			return c[:9]
		}), chunk.ErrGap},
		{"no digest", 0, mod(func(c []chunk.Chunk) []chunk.Chunk {
			c[9].Digest = nil
			return c
		}), chunk.ErrGap},
		{"total over the limit", 9_999, cs, chunk.ErrTooLarge},
		{"total over the default limit", 0, []chunk.Chunk{{Total: 1 << 62,
			Data: []byte{1}}}, chunk.ErrTooLarge},
		{"wrong digest", 0, mod(func(c []chunk.Chunk) []chunk.Chunk {
			d := bytes.Clone(c[9].Digest)
			d[0] ^= 1
			c[9].Digest = d
			return c
		}), chunk.ErrDigest},
		{"corrupted chunk", 0, mod(func(c []chunk.Chunk) []chunk.Chunk {
			d := bytes.Clone(c[3].Data)
			d[7] ^= 0x80
			c[3].Data = d
			return c
		}), chunk.ErrDigest},
		{"short digest", 0, mod(func(c []chunk.Chunk) []chunk.Chunk {
			c[9].Digest = c[9].Digest[:16]
			return c
		}), chunk.ErrDigest},
		{"new payload before the last ended", 0, append(cs[:5:5], cs...),
			chunk.ErrInterrupted},
		{"total changed", 0, mod(func(c []chunk.Chunk) []chunk.Chunk {
			c[4].Total++
			return c
		}), chunk.ErrTotalChanged},
		{"empty chunk", 0, mod(func(c []chunk.Chunk) []chunk.Chunk {
			c[4].Data = nil
			return c
		}), chunk.ErrEmpty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := chunk.Assembler{Max: tc.max}
			got, err := assemble(&a, tc.cs)
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.want)
			assert.ErrorIs(t, err, chunk.ErrChunk)
			assert.Empty(t, got, "nothing delivered")
			assert.False(t, a.Active(), "reset after a refusal")
			// and the next good payload goes through
			a.Max = 0
			got, err = assemble(&a, cs)
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, data, got[0])
		})
	}
}

// FuzzAssembler feeds arbitrary chunk sequences: the assembler never panics,
// never allocates past its limit, and delivers only payloads whose digest it
// verified.
func FuzzAssembler(f *testing.F) {
	f.Add([]byte("hello, chunked world"), uint16(4), uint8(0), uint16(0))
	f.Add(make([]byte, 5000), uint16(1024), uint8(1), uint16(3))
	f.Add(make([]byte, 3000), uint16(1024), uint8(2), uint16(1))
	f.Add(make([]byte, 3000), uint16(1024), uint8(3), uint16(2))
	f.Fuzz(func(t *testing.T, data []byte, size uint16, op uint8, arg uint16) {
		const limit = 1 << 16
		cs := chunk.Split(data, int(size))
		// lie in one chunk, chosen by op
		if len(cs) > 0 {
			i := int(arg) % len(cs)
			c := &cs[i]
			switch op % 8 {
			case 1:
				c.Offset += uint64(arg)
			case 2:
				c.Total += uint64(arg)
			case 3:
				cs = append(cs[:i:i], cs[i+1:]...)
			case 4:
				if len(c.Data) > 0 {
					d := bytes.Clone(c.Data)
					d[int(arg)%len(d)]++
					c.Data = d
				}
			case 5:
				c.Digest = nil
			case 6:
				cs = append(cs, cs...)
			case 7:
				c.Total = uint64(arg) << 20
			}
		}
		a := chunk.Assembler{Max: limit}
		for _, c := range cs {
			whole, done, err := a.Add(c)
			if err != nil {
				if !errors.Is(err, chunk.ErrChunk) {
					t.Fatalf("error %v does not wrap ErrChunk", err)
				}
				continue
			}
			if done {
				if len(whole) > limit {
					t.Fatalf("delivered %d bytes over the limit", len(whole))
				}
				if d := sha256.Sum256(whole); !bytes.Equal(d[:], c.Digest) {
					t.Fatal("delivered a payload whose digest differs")
				}
			}
		}
	})
}
