package bridge

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// The gRPC door's protobuf codec, on both ends (Server and Dial): the wire
// format of grpc-go's own ("proto"), but large messages
// are marshaled into and reassembled in buffers of largeBufs. grpc-go's
// codec takes them from its default pool, whose tier above 32 KiB is 1 MiB
// and which zeroes a buffer's whole capacity on every Get: for each 64 KiB
// payload chunk that is 1 MiB cleared when marshaling and again when
// unmarshaling, about a tenth of a chunked transfer's CPU. largeBufs has
// power-of-two tiers (a chunk message takes 128 KiB) and does not zero: a
// buffer is read only up to the length it was written to.

// errCodec is a message the codec cannot handle (not a protobuf message).
var errCodec = errors.New("bridge: codec")

// protoCodec is the door's encoding.CodecV2.
type protoCodec struct{}

var _ encoding.CodecV2 = protoCodec{}

// codecServerOption and codecCallOption install protoCodec.
func codecServerOption() grpc.ServerOption {
	return grpc.ForceServerCodecV2(protoCodec{})
}

func codecCallOption() grpc.CallOption { return grpc.ForceCodecV2(protoCodec{}) }

// Name is grpc-go's: the server answers in the request's content type; the
// Go client's requests say application/grpc+proto (the explicit form of
// application/grpc).
func (protoCodec) Name() string { return "proto" }

func messageOf(v any) (proto.Message, error) {
	switch m := v.(type) {
	case proto.Message:
		return m, nil
	case protoadapt.MessageV1:
		return protoadapt.MessageV2Of(m), nil
	}
	return nil, fmt.Errorf("%w: %T is not a protobuf message", errCodec, v)
}

func (protoCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, err := messageOf(v)
	if err != nil {
		return nil, err
	}
	size := proto.Size(m)
	// the size was just computed and messages are not mutated while sent
	opts := proto.MarshalOptions{UseCachedSize: true}
	if mem.IsBelowBufferPoolingThreshold(size) {
		b, err := opts.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	pool := poolFor(size)
	buf := pool.Get(size)
	if _, err := opts.MarshalAppend((*buf)[:0], m); err != nil {
		pool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

func (protoCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, err := messageOf(v)
	if err != nil {
		return err
	}
	if len(data) == 1 {
		// proto.Unmarshal copies what it keeps
		return proto.Unmarshal(data[0].ReadOnlyData(), m)
	}
	buf := data.MaterializeToBuffer(poolFor(data.Len()))
	defer buf.Free()
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}

// Tiers of largeBufs: 64 KiB to 4 MiB; larger messages get a buffer of
// their own.
const (
	minLargeShift = 16
	maxLargeShift = 22
)

// poolFor is largeBufs above grpc-go's largest small tier (32 KiB), its
// default pool below.
func poolFor(size int) mem.BufferPool {
	if size <= 1<<(minLargeShift-1) {
		return mem.DefaultBufferPool()
	}
	return largeBufs
}

// largeBufs is a mem.BufferPool of power-of-two buffers that are not
// zeroed (sync.Pool: the GC frees what stays unused).
var largeBufs = &tieredPool{}

type tieredPool struct {
	tiers [maxLargeShift - minLargeShift + 1]sync.Pool
}

// tier is the index of the smallest tier of at least size bytes (or -1).
func tier(size int) int {
	if size <= 1<<minLargeShift {
		return 0
	}
	shift := bits.Len(uint(size - 1))
	if shift > maxLargeShift {
		return -1
	}
	return shift - minLargeShift
}

func (p *tieredPool) Get(size int) *[]byte {
	t := tier(size)
	if t < 0 {
		b := make([]byte, size)
		return &b
	}
	if b, ok := p.tiers[t].Get().(*[]byte); ok {
		*b = (*b)[:size]
		return b
	}
	b := make([]byte, size, 1<<(t+minLargeShift))
	return &b
}

func (p *tieredPool) Put(b *[]byte) {
	c := cap(*b)
	t := tier(c)
	if t < 0 || c != 1<<(t+minLargeShift) {
		return // not one of ours
	}
	*b = (*b)[:0]
	p.tiers[t].Put(b)
}

// serverWriteBuffer is how many bytes the server's HTTP/2 transport
// gathers before a write (grpc-go's default: 32 KiB): a 64 KiB payload
// chunk goes out in one write instead of two or three. With
// grpc.SharedWriteBuffer the buffer is taken from a pool only while a
// connection writes and returned when it is flushed, so idle connections
// hold none.
const serverWriteBuffer = 128 << 10
