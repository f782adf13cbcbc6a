package arpc_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

// readNotifier is a connection that closes reached once more than after
// bytes were read through it.
type readNotifier struct {
	net.Conn
	read    *atomic.Int64
	after   int64
	reached chan struct{}
	once    *sync.Once
}

func (c readNotifier) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if c.read.Add(int64(n)) > c.after {
		c.once.Do(func() { close(c.reached) })
	}
	return n, err
}

// A 64 MiB payload travels in chunks (each far below the message limit)
// and reaches the Consumer whole; a clock change made while it streams
// reaches the client's replica before the payload ends.
func TestChunkedPayloadInterleaved(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := newWorker(t, ctx)
	s := startServer(t, ctx, w, nil)
	m := am.New(context.Background(), ss.ConsumerSchema,
		&am.Opts{Id: "consumer-" + t.Name()})
	t.Cleanup(m.Dispose)
	type delivery struct {
		p     *arpc.ArgsPayload
		eTick uint64
	}
	got := make(chan delivery, 1)
	var c *arpc.Client
	_, err := m.HandlersBindMaps(nil, map[string]am.HandlerFinal{
		ss.ConsumerStates.WorkerPayload + am.SuffixState: func(e *am.Event) {
			// the replica as it was when the payload was complete
			got <- delivery{arpc.ParseArgs(e.Args).Payload, c.Worker.Tick("E")}
		},
	})
	require.NoError(t, err)
	reached := make(chan struct{})
	var read atomic.Int64
	c = newClient(t, ctx, s.Addr, "c", &arpc.ClientOpts{Consumer: m})
	c.MaxMsgSize = 1 << 20 // chunks need no big messages
	c.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		read.Store(0)
		return readNotifier{Conn: conn, read: &read, after: 1 << 20,
			reached: reached, once: &sync.Once{}}, nil
	}
	startClient(t, c)

	data := make([]byte, 64<<20)
	_, err = rand.Read(data)
	require.NoError(t, err)
	require.NoError(t, s.SendPayload(ctx, &arpc.ArgsPayload{Name: "big",
		Data: data}))
	waitCh(t, reached, "the payload's first MiB")
	require.Equal(t, am.Executed, w.Add1("E", nil))
	want := w.Tick("E")
	select {
	case d := <-got:
		assert.Equal(t, "big", d.p.Name)
		b, _ := d.p.Data.([]byte)
		assert.True(t, bytes.Equal(data, b), "payload differs")
		assert.Equal(t, want, d.eTick,
			"the change made during the payload arrived before its end")
	case <-time.After(60 * time.Second):
		t.Fatalf("no payload; stats %+v", c.Stats())
	}
	st := c.Stats()
	assert.Greater(t, st.PayloadChunks, uint64(1000))
	assert.Zero(t, st.PayloadErrors)
}

// Payloads up to the chunk size go whole, larger ones in chunks, with every
// encoding and compression; the server's ChunkSize is honoured.
func TestChunkSizeOption(t *testing.T) {
	for _, enc := range []arpc.Encoding{arpc.EncodingGob, arpc.EncodingMsgpack} {
		for _, comp := range []arpc.Compression{arpc.CompressionNone,
			arpc.CompressionS2, arpc.CompressionZstd} {
			t.Run(fmt.Sprintf("%s/%s", enc, comp), func(t *testing.T) {
				testChunkSize(t, enc, comp)
			})
		}
	}
}

func testChunkSize(t *testing.T, enc arpc.Encoding, comp arpc.Compression) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := newWorker(t, ctx)
	s := startServer(t, ctx, w, func(s *arpc.Server) { s.ChunkSize = 4 << 10 })
	consumer, got := newPayloadConsumer(t)
	c := newClient(t, ctx, s.Addr, "c", &arpc.ClientOpts{Consumer: consumer,
		Encoding: enc, Compression: comp})
	startClient(t, c)
	ints := make([]int64, 3000)
	for i := range ints {
		ints[i] = int64(i) * 1000
	}
	var list any = ints
	if enc == arpc.EncodingMsgpack {
		// msgpack gives slices back by their shape
		l := make([]any, len(ints))
		for i, v := range ints {
			l[i] = v
		}
		list = l
	}
	for _, tc := range []struct{ sent, want any }{
		{bytes.Repeat([]byte{1}, 100), nil},     // whole
		{bytes.Repeat([]byte{2}, 4<<10), nil},   // whole
		{bytes.Repeat([]byte{3}, 100<<10), nil}, // 25 chunks
		{strings.Repeat("s", 10<<10), nil},      // 3 chunks
		{ints, list},                            // encoded: 3 chunks or more
	} {
		require.NoError(t, s.SendPayload(ctx, &arpc.ArgsPayload{Name: "p",
			Data: tc.sent}))
		pl := nextPayload(t, got)
		want := tc.want
		if want == nil {
			want = tc.sent
		}
		assert.Equal(t, want, pl.Data)
	}
	assert.GreaterOrEqual(t, c.Stats().PayloadChunks, uint64(25+3+3))
	assert.Zero(t, c.Stats().PayloadErrors)
}
