package bridge_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
	"github.com/arpcbridge/arpcbridge/internal/chunk"
)

func randPayload(t testing.TB, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func sendPayload(t testing.TB, w am.Api, name string, data any) {
	t.Helper()
	require.Equal(t, am.Executed, w.Add1(ss.WorkerStates.SendPayload,
		arpc.Pass(&arpc.A{Payload: &arpc.ArgsPayload{Name: name, Data: data}})))
}

// A client with grpc-go's default limits (4 MiB per received message)
// receives a 64 MiB payload in chunks and reassembles it; a clock change
// made while the payload streams reaches the client before the payload
// ends.
func TestChunkedPayloadDefaultLimits(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	rpc := rawClient(t, s.Addr().String()) // default MaxCallRecvMsgSize
	var r replica
	// 64 MiB under -race, with other packages' tests: more than tctx's 10 s
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := rpc.WatchClock(ctx, &bridgev1.WatchClockRequest{
		ClientId: "big", ChunkedPayloads: true})
	require.NoError(t, err)
	for {
		msg, err := st.Recv()
		require.NoError(t, err)
		if msg.GetInitialSyncDone() != nil {
			break
		}
		if u := msg.GetUpdate(); u != nil {
			r.apply(t, u)
		}
	}
	data := randPayload(t, 64<<20)
	sendPayload(t, w, "big", data)
	eIdx := slices.Index(testNames, "E")
	var a chunk.Assembler
	var want uint64 // E's tick after the change; 0 until made
	seenBeforeEnd := false
	chunks := 0
	for {
		msg, err := st.Recv()
		require.NoError(t, err)
		if u := msg.GetUpdate(); u != nil {
			r.apply(t, u)
			if want > 0 && r.time[eIdx] == want {
				seenBeforeEnd = true
			}
		}
		require.Nil(t, msg.GetPayload(), "a 64 MiB payload in one message")
		pc := msg.GetPayloadChunk()
		if pc == nil {
			continue
		}
		chunks++
		if pc.Offset == 0 {
			require.NotNil(t, pc.Header)
			assert.Equal(t, "big", pc.Header.Name)
			assert.Empty(t, pc.Header.Data)
		}
		assert.LessOrEqual(t, len(pc.Data), chunk.DefaultSize)
		whole, done, err := a.Add(chunk.Chunk{Offset: pc.Offset,
			Total: pc.Total, Data: pc.Data, Digest: pc.Sha256})
		require.NoError(t, err)
		if want == 0 {
			// the first chunk is here: change the clock while the rest
			// streams
			require.Equal(t, am.Executed, w.Add1("E", nil))
			want = w.Tick("E")
		}
		if done {
			assert.True(t, bytes.Equal(data, whole), "reassembled payload differs")
			break
		}
	}
	assert.Equal(t, 64<<20/chunk.DefaultSize, chunks)
	assert.True(t, seenBeforeEnd, "the change waited for the payload's end")
}

// A client that did not ask for chunks (older ones) gets a payload in one
// message, as before.
func TestUnchunkedClientGetsWholePayload(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, nil)
	rpc := rawClient(t, s.Addr().String())
	var r replica
	st := openWatch(t, rpc, &bridgev1.WatchClockRequest{ClientId: "old"}, &r)
	data := randPayload(t, 1<<20)
	sendPayload(t, w, "mid", data)
	for {
		msg, err := st.Recv()
		require.NoError(t, err)
		require.Nil(t, msg.GetPayloadChunk())
		if p := msg.GetPayload(); p != nil {
			assert.Equal(t, data, p.Data)
			return
		}
	}
}

// consumer returns a consumer machine whose WorkerPayload activations are
// sent to the returned channel.
func consumer(t testing.TB) (*am.Machine, <-chan *arpc.ArgsPayload) {
	t.Helper()
	got := make(chan *arpc.ArgsPayload, 16)
	m := am.New(context.Background(), ss.ConsumerSchema, nil)
	_, err := m.BindHandlers(&consumerHandlers{got: got})
	require.NoError(t, err)
	t.Cleanup(m.Dispose)
	return m, got
}

type consumerHandlers struct{ got chan *arpc.ArgsPayload }

func (h *consumerHandlers) WorkerPayloadState(e *am.Event) {
	h.got <- arpc.ParseArgs(e.Args).Payload
}

// The Go client reassembles a 64 MiB payload, verified, for its Consumer,
// with gRPC's default-sized messages on the wire; a gzip or zstd client
// gets it too.
func TestClientChunkedPayload(t *testing.T) {
	for _, comp := range []arpc.Compression{"", arpc.CompressionZstd} {
		t.Run("compression="+string(comp), func(t *testing.T) {
			w := newWorker(t)
			s := startServer(t, w, nil)
			cons, got := consumer(t)
			c := dial(t, s.Addr().String(), "go", &bridge.ClientOpts{
				Consumer: cons, Compression: comp,
				DialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
					grpc.MaxCallRecvMsgSize(4 << 20))}})
			size := 64 << 20
			if comp != "" {
				size = 16 << 20
			}
			data := randPayload(t, size)
			sendPayload(t, w, "big", data)
			select {
			case p := <-got:
				assert.Equal(t, "big", p.Name)
				b, _ := p.Data.([]byte)
				assert.True(t, bytes.Equal(data, b), "payload differs")
			case <-time.After(60 * time.Second):
				t.Fatalf("no payload; stats %+v", c.Stats())
			}
			st := c.Stats()
			assert.EqualValues(t, size/chunk.DefaultSize, st.PayloadChunks)
			assert.Zero(t, st.PayloadErrors)
			assert.EqualValues(t, 1, st.Payloads)
		})
	}
}

// lyingService is the real service, except that its WatchClock streams send
// lies first: the chunks of the first stream are the test's; later streams
// (the client reconnects) send one good chunked payload.
type lyingService struct {
	*bridge.Service
	lies []*bridgev1.PayloadChunk
	good []byte

	mx      sync.Mutex
	streams int
}

func (l *lyingService) WatchClock(req *bridgev1.WatchClockRequest,
	st grpc.ServerStreamingServer[bridgev1.WatchClockResponse],
) error {
	l.mx.Lock()
	l.streams++
	n := l.streams
	l.mx.Unlock()
	// a true catch-up first: the full time, as the real service sends it
	full, err := l.Sync(st.Context(), &bridgev1.SyncRequest{
		ClientId: req.ClientId})
	if err != nil {
		return err
	}
	for _, ev := range []*bridgev1.WatchClockResponse{
		{Event: &bridgev1.WatchClockResponse_Update{Update: full.Update}},
		{Event: &bridgev1.WatchClockResponse_InitialSyncDone{
			InitialSyncDone: &bridgev1.InitialSyncDone{Seq: full.Update.ToSeq}}},
	} {
		if err := st.Send(ev); err != nil {
			return err
		}
	}
	lies := l.lies
	if n > 1 {
		lies = nil
		for _, c := range chunk.Split(l.good, chunk.MinSize) {
			pc := &bridgev1.PayloadChunk{Offset: c.Offset, Total: c.Total,
				Data: c.Data, Sha256: c.Digest}
			if c.Offset == 0 {
				pc.Header = &bridgev1.Payload{Name: "good"}
			}
			lies = append(lies, pc)
		}
	}
	for _, pc := range lies {
		if err := st.Send(&bridgev1.WatchClockResponse{Event: &bridgev1.
			WatchClockResponse_PayloadChunk{PayloadChunk: pc}}); err != nil {
			return err
		}
	}
	<-st.Context().Done()
	return nil
}

// Chunk headers that lie, sent over a real socket by a server: the Go
// client delivers nothing of that payload, reports a clear error (logged,
// PayloadErrors), reopens the stream and takes the next payload.
func TestClientRefusesLyingChunks(t *testing.T) {
	good := randPayload(t, 5000)
	cs := chunk.Split(good, chunk.MinSize) // 5 chunks
	pcs := func(mod func([]*bridgev1.PayloadChunk) []*bridgev1.PayloadChunk,
	) []*bridgev1.PayloadChunk {
		var out []*bridgev1.PayloadChunk
		for _, c := range cs {
			pc := &bridgev1.PayloadChunk{Offset: c.Offset, Total: c.Total,
				Data: bytes.Clone(c.Data), Sha256: c.Digest}
			if c.Offset == 0 {
				pc.Header = &bridgev1.Payload{Name: "lie"}
			}
			out = append(out, pc)
		}
		return mod(out)
	}
	for _, tc := range []struct {
		name string
		lies []*bridgev1.PayloadChunk
		max  int64
		want error
	}{
		{"corrupted chunk", pcs(func(p []*bridgev1.PayloadChunk) []*bridgev1.PayloadChunk {
			p[2].Data[10] ^= 1
			return p
		}), 0, arpc.ErrChunkDigest},
		{"wrong digest", pcs(func(p []*bridgev1.PayloadChunk) []*bridgev1.PayloadChunk {
			d := sha256.Sum256([]byte("other"))
			p[4].Sha256 = d[:]
			return p
		}), 0, arpc.ErrChunkDigest},
		{"offset past total", pcs(func(p []*bridgev1.PayloadChunk) []*bridgev1.PayloadChunk {
			p[4].Offset, p[4].Data = 4500, make([]byte, 1000)
			return p
		}), 0, arpc.ErrChunkOrder},
		{"past total", pcs(func(p []*bridgev1.PayloadChunk) []*bridgev1.PayloadChunk {
			p[4].Data = make([]byte, 2000)
			return p
		}), 0, arpc.ErrChunkPastTotal},
		{"overlapping", pcs(func(p []*bridgev1.PayloadChunk) []*bridgev1.PayloadChunk {
			return append(p[:2:2], p[1:]...)
		}), 0, arpc.ErrChunkOverlap},
		{"out of order", pcs(func(p []*bridgev1.PayloadChunk) []*bridgev1.PayloadChunk {
			p[1], p[2] = p[2], p[1]
			return p
		}), 0, arpc.ErrChunkOrder},
		{"total over the limit", pcs(func(p []*bridgev1.PayloadChunk) []*bridgev1.PayloadChunk {
			for _, c := range p {
				c.Total = 1 << 40
			}
			return p
		}), 8192, arpc.ErrChunkTooLarge},
		{"new payload before the last ended", pcs(func(p []*bridgev1.PayloadChunk) []*bridgev1.PayloadChunk {
			return append(p[:2:2], p...)
		}), 0, arpc.ErrChunkInterrupted},
		{"first chunk without header", pcs(func(p []*bridgev1.PayloadChunk) []*bridgev1.PayloadChunk {
			p[0].Header = nil
			return p
		}), 0, arpc.ErrChunkOrder},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorker(t)
			svc, err := bridge.NewService(w, nil)
			require.NoError(t, err)
			t.Cleanup(svc.Close)
			gs := grpc.NewServer()
			bridgev1.RegisterBridgeServiceServer(gs, &lyingService{Service: svc,
				lies: tc.lies, good: good})
			l := listen(t)
			go func() { _ = gs.Serve(l) }()
			t.Cleanup(gs.Stop)

			logs := &logBuf{}
			cons, got := consumer(t)
			c := dial(t, l.Addr().String(), "victim", &bridge.ClientOpts{
				Consumer: cons, MaxPayload: tc.max, Logger: logs.logger()})
			select {
			case p := <-got:
				// the first payload the consumer gets is the good one
				assert.Equal(t, "good", p.Name)
				assert.Equal(t, good, p.Data)
			case <-time.After(10 * time.Second):
				t.Fatalf("no payload after the lie; stats %+v", c.Stats())
			}
			st := c.Stats()
			assert.EqualValues(t, 1, st.PayloadErrors)
			assert.EqualValues(t, 1, st.Payloads)
			assert.GreaterOrEqual(t, st.Reconnects, uint64(1))
			errs := logs.errs()
			require.NotEmpty(t, errs)
			assert.ErrorIs(t, errs[0], tc.want)
			assert.ErrorIs(t, errs[0], arpc.ErrChunk)
			assert.ErrorIs(t, errs[0], arpc.ErrInvalidResp)
		})
	}
}

// logBuf keeps the error values of the client's error records.
type logBuf struct {
	mx   sync.Mutex
	list []error
}

func (l *logBuf) logger() *slog.Logger { return slog.New(l) }

func (l *logBuf) errs() []error {
	l.mx.Lock()
	defer l.mx.Unlock()
	return slices.Clone(l.list)
}

func (l *logBuf) Enabled(context.Context, slog.Level) bool { return true }

func (l *logBuf) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelError {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Key == "err" {
			l.mx.Lock()
			l.list = append(l.list, err)
			l.mx.Unlock()
		}
		return true
	})
	return nil
}

func (l *logBuf) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logBuf) WithGroup(string) slog.Handler      { return l }

// A client that reads slowly while large payloads stream: the server holds
// the payload in flight plus pending ones up to ServiceOpts.PayloadBytes,
// drops and counts the rest, and the client, once it reads again, gets the
// kept ones whole and learns the count.
func TestSlowClientChunkedPayloads(t *testing.T) {
	w := newWorker(t)
	s := startServer(t, w, &bridge.ServerOpts{Service: bridge.ServiceOpts{
		PayloadBytes: 3 << 20}})
	var gate atomic.Pointer[chan struct{}]
	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		return gatedConn{Conn: c, gate: &gate}, err
	}
	cons, got := consumer(t)
	c := dial(t, s.Addr().String(), "slow", &bridge.ClientOpts{
		Consumer: cons, HeartbeatInterval: 100 * time.Millisecond,
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(dialer)}})
	held := make(chan struct{})
	gate.Store(&held)
	release := sync.OnceFunc(func() {
		gate.Store(nil)
		close(held)
	})
	defer release()
	const sent = 10
	blob := randPayload(t, 1<<20)
	for range sent {
		sendPayload(t, w, "blob", blob)
	}
	require.Equal(t, am.Executed, w.Add1("E", nil))
	release()

	received := 0
	deadline := time.After(30 * time.Second)
	for {
		st := c.Stats()
		if received > 0 && uint64(received)+st.PayloadsDropped == sent {
			break
		}
		select {
		case p := <-got:
			assert.Equal(t, blob, p.Data)
			received++
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("received %d, stats %+v", received, c.Stats())
		}
	}
	st := c.Stats()
	assert.Positive(t, st.PayloadsDropped)
	assert.LessOrEqual(t, received, 5, "in flight plus 3 MiB pending at most")
	assert.Zero(t, st.PayloadErrors)
	assert.Eventually(t, func() bool { return c.Worker.Tick("E") == w.Tick("E") },
		10*time.Second, 10*time.Millisecond, "the clock went on")
}
