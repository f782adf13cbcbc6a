package bridge

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

func TestCodecRoundTrip(t *testing.T) {
	for _, n := range []int{0, 100, 40 << 10, 64 << 10, 1 << 20, 5 << 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := make([]byte, n)
			_, err := rand.Read(data)
			require.NoError(t, err)
			msg := &bridgev1.WatchClockResponse{Event: &bridgev1.
				WatchClockResponse_PayloadChunk{PayloadChunk: &bridgev1.PayloadChunk{
				Offset: 7, Total: uint64(n) + 7, Data: data,
				Header: &bridgev1.Payload{Name: "p"}}}}
			c := protoCodec{}
			out, err := c.Marshal(msg)
			require.NoError(t, err)
			want, err := proto.Marshal(msg)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(want, out.Materialize()),
				"the same bytes as grpc-go's codec")
			// as received: split into HTTP/2-frame-sized buffers, some of them
			// reused dirty from the pool
			var in mem.BufferSlice
			for b := out.Materialize(); len(b) > 0; {
				k := min(len(b), 16<<10)
				in = append(in, mem.SliceBuffer(b[:k]))
				b = b[k:]
			}
			out.Free()
			for range 2 {
				var got bridgev1.WatchClockResponse
				require.NoError(t, c.Unmarshal(in, &got))
				require.True(t, proto.Equal(msg, &got))
			}
		})
	}
}

func TestCodecRefusesNonProto(t *testing.T) {
	_, err := protoCodec{}.Marshal(struct{}{})
	assert.ErrorIs(t, err, errCodec)
	assert.ErrorIs(t, protoCodec{}.Unmarshal(nil, new(int)), errCodec)
}

func TestTieredPool(t *testing.T) {
	for _, tc := range []struct {
		size, wantCap int
	}{
		{1, 64 << 10},
		{64 << 10, 64 << 10},
		{64<<10 + 1, 128 << 10},
		{4 << 20, 4 << 20},
		{4<<20 + 1, 4<<20 + 1}, // past the tiers: its own buffer
	} {
		p := &tieredPool{}
		b := p.Get(tc.size)
		assert.Len(t, *b, tc.size)
		assert.Equal(t, tc.wantCap, cap(*b), "size %d", tc.size)
		p.Put(b)
	}
	// a buffer of another pool is dropped, not mixed into a tier
	p := &tieredPool{}
	foreign := make([]byte, 100<<10)
	p.Put(&foreign)
	assert.Equal(t, 128<<10, cap(*p.Get(100 << 10)))
	// poolFor: grpc-go's default pool up to 32 KiB
	assert.Equal(t, mem.DefaultBufferPool(), poolFor(32<<10))
	assert.Equal(t, mem.BufferPool(largeBufs), poolFor(32<<10+1))
}
