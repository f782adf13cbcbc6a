package bridge_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/clock"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge"
	benchmarkv1 "github.com/arpcbridge/arpcbridge/gen/arpc/benchmark/v1"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

// countingListener counts the bytes the server writes, for wire sizes.
type countingListener struct {
	net.Listener
	out atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, out: &l.out}, nil
}

type countingConn struct {
	net.Conn
	out *atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.out.Add(int64(n))
	return n, err
}

// peerServer is the plain, hand-written unary gRPC baseline: Ping is the
// transport floor, and CallOp does the same job as the bridge's Mutate of
// one state — it runs worker.Add1 of the state at index op and returns
// whether it executed.
type peerServer struct {
	benchmarkv1.UnimplementedBenchmarkServiceServer
	w     *am.Machine
	names am.S
}

func (peerServer) Ping(_ context.Context, req *benchmarkv1.PingRequest) (
	*benchmarkv1.PingResponse, error,
) {
	return &benchmarkv1.PingResponse{Payload: req.Payload}, nil
}

func (p peerServer) CallOp(_ context.Context, req *benchmarkv1.CallOpRequest) (
	*benchmarkv1.CallOpResponse, error,
) {
	if req.Op < 0 || int(req.Op) >= len(p.names) {
		return &benchmarkv1.CallOpResponse{}, nil
	}
	return &benchmarkv1.CallOpResponse{
		Ok: p.w.Add1(p.names[req.Op], nil) == am.Executed}, nil
}

// benchRow is one measured call of an interleaved run.
type benchRow struct {
	name string
	fn   func() error
	// p50 of each round, and every sample (for p99)
	p50s []time.Duration
	all  []time.Duration
}

// doorsRound is the most calls one row makes in a round of BenchmarkDoors.
const doorsRound = 120

// interleave measures calls calls of every row, in rounds of at most
// doorsRound calls per row (sizes differing by at most one): every round
// runs each row in an order rotated per round, so that the machine's
// background load (2 cores, other jobs) hits every row alike. Each round of
// a row starts with a tenth of its size in unmeasured warm-up calls.
// Compare rows by the median over rounds of their per-round ratios (see
// ratio), not by absolute numbers.
func interleave(b *testing.B, calls int, rows []*benchRow) {
	b.Helper()
	rounds := max(1, (calls+doorsRound-1)/doorsRound)
	buf := make([]time.Duration, 0, doorsRound)
	for r := range rounds {
		n := calls / rounds
		if r < calls%rounds {
			n++
		}
		if n == 0 {
			continue
		}
		for k := range rows {
			row := rows[(k+r)%len(rows)]
			for range n / 10 {
				require.NoError(b, row.fn(), row.name)
			}
			buf = buf[:n]
			for i := range buf {
				start := time.Now()
				err := row.fn()
				buf[i] = time.Since(start)
				require.NoError(b, err, row.name)
			}
			row.all = append(row.all, buf...)
			slices.Sort(buf)
			row.p50s = append(row.p50s, buf[n/2])
		}
	}
}

// median of the per-round p50 ratios a/b.
func ratio(a, b *benchRow) float64 {
	r := make([]float64, len(a.p50s))
	for i := range r {
		r[i] = float64(a.p50s[i]) / float64(b.p50s[i])
	}
	slices.Sort(r)
	return r[len(r)/2]
}

func (r *benchRow) p50() time.Duration {
	s := slices.Clone(r.p50s)
	slices.Sort(s)
	return s[len(s)/2]
}

func (r *benchRow) p99() time.Duration {
	s := slices.Clone(r.all)
	slices.Sort(s)
	return s[len(s)*99/100]
}

// BenchmarkDoors measures, in one run, the latency of one Add of one state
// through every door, interleaved in rounds, in two phases:
//
//   - phase 1, no replica of the worker: in-process Add1; a plain
//     hand-written unary gRPC Ping (the transport floor) and CallOp running
//     the same Add1 in its handler (the fair peer), on their own default
//     grpc.Server; the fair peer on a grpc.Server with the bridge's default
//     stream workers (ServerOpts.StreamWorkers), to show what of the
//     difference is that setting; the bridge's Mutate through the raw stub,
//     with and without the reply's clock update; and the Go client's
//     Worker.Add1 over gRPC, its replica watching, on a second identical
//     worker of its own (a gRPC client always watches).
//   - phase 2, a gRPC and an aRPC replica of the first worker watching
//     (every mutation is also pushed to them): the fair peer again, and
//     Worker.Add1 over gRPC and over aRPC (their own mutations come back in
//     the reply, not as a push).
//
// The clients of a phase are dialled before it and closed after it, so that
// no replica watches phase 1. b.N is the number of measured calls of every
// row (in rounds of at most 120, plus a tenth in warm-up calls); ns/op is
// thus about the time of one call of each row. -benchtime 1x is the smoke
// test, 6000x a measurement of about 5 s. Ratios are medians over
// rounds of per-round p50 ratios against the fair peer measured in the same
// phase. BenchmarkDoorsBytes covers the wire sizes.
//
//	go test -run '^$' -bench 'Doors$' -benchtime 6000x -count 7 ./bridge/
func BenchmarkDoors(b *testing.B) {
	opts := &bridge.ServerOpts{Service: bridge.ServiceOpts{PushInterval: time.Nanosecond}}
	w := newWorker(b)
	addr := startServer(b, w, opts).Addr().String()
	w2, err := am.NewCommon(context.Background(), "w2-"+b.Name(), testSchema,
		testNames, nil, nil, &am.Opts{DontLogStackTrace: true})
	require.NoError(b, err)
	b.Cleanup(w2.Dispose)
	addr2 := startServer(b, w2, opts).Addr().String()

	// the plain gRPC peer, on its own port and a default grpc.Server, and
	// the same peer with the bridge server's default stream workers
	peerOn := func(opts ...grpc.ServerOption) benchmarkv1.BenchmarkServiceClient {
		l := listen(b)
		gs := grpc.NewServer(opts...)
		benchmarkv1.RegisterBenchmarkServiceServer(gs, peerServer{w: w,
			names: w.StateNames()})
		go func() { _ = gs.Serve(l) }()
		b.Cleanup(gs.Stop)
		return benchmarkv1.NewBenchmarkServiceClient(newConn(b,
			l.Addr().String()))
	}
	peer := peerOn()
	peerW := peerOn(grpc.NumStreamWorkers(uint32(max(4,
		2*runtime.GOMAXPROCS(0)))))

	rpc := rawClient(b, addr)
	bctx := context.Background()
	eIdx := w.Index1("E")
	mreq := &bridgev1.MutateRequest{ClientId: "bench",
		Type:         bridgev1.MutationType_MUTATION_TYPE_ADD,
		StateIndexes: []uint32{uint32(eIdx)}}
	mreqNoSync := &bridgev1.MutateRequest{ClientId: "bench",
		Type:         bridgev1.MutationType_MUTATION_TYPE_ADD,
		StateIndexes: []uint32{uint32(eIdx)}, NoSync: true}
	opReq := &benchmarkv1.CallOpRequest{Op: int32(eIdx)}
	fairOn := func(c benchmarkv1.BenchmarkServiceClient) func() error {
		return func() error {
			resp, err := c.CallOp(bctx, opReq)
			if err == nil && !resp.Ok {
				err = fmt.Errorf("CallOp not executed")
			}
			return err
		}
	}
	add1 := func(api am.Api) func() error {
		return func() error {
			if r := api.Add1("E", nil); r != am.Executed {
				return fmt.Errorf("result %v: %w", r, lastErr(api))
			}
			return nil
		}
	}

	b.ResetTimer()
	b.StopTimer()
	// phase 1: no replica of w
	g2 := dial(b, addr2, "bench-alone", nil)
	inproc := &benchRow{name: "in-process Add1", fn: add1(w)}
	ping := &benchRow{name: "plain gRPC Ping", fn: func() error {
		_, err := peer.Ping(bctx, &benchmarkv1.PingRequest{})
		return err
	}}
	op := &benchRow{name: "plain gRPC Add1 (peer)", fn: fairOn(peer)}
	opW := &benchRow{name: "peer + stream workers", fn: fairOn(peerW)}
	mutate := &benchRow{name: "gRPC Mutate (stub)", fn: func() error {
		resp, err := rpc.Mutate(bctx, mreq)
		if err == nil {
			mreq.KnownSeq = resp.Update.ToSeq
		}
		return err
	}}
	mutateNS := &benchRow{name: "gRPC Mutate no_sync", fn: func() error {
		_, err := rpc.Mutate(bctx, mreqNoSync)
		return err
	}}
	gAlone := &benchRow{name: "gRPC Worker.Add1", fn: add1(g2.Worker)}
	phase1 := []*benchRow{inproc, ping, op, opW, mutate, mutateNS, gAlone}
	b.StartTimer()
	interleave(b, b.N, phase1)
	b.StopTimer()
	require.NoError(b, g2.Close())

	// phase 2: a gRPC and an aRPC replica of w watching
	g := dial(b, addr, "bench-grpc", nil)
	a := newARPCClient(b, addr, "bench-arpc")
	op2 := &benchRow{name: "plain gRPC Add1 (peer)²", fn: fairOn(peer)}
	gAdd := &benchRow{name: "gRPC Worker.Add1²", fn: add1(g.Worker)}
	aAdd := &benchRow{name: "aRPC Worker.Add1²", fn: add1(a.Worker)}
	phase2 := []*benchRow{op2, gAdd, aAdd}
	b.StartTimer()
	interleave(b, b.N, phase2)
	b.StopTimer()
	require.NoError(b, g.Close())
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	a.Stop(sctx, true)
	scancel()

	// the table goes to stdout: testing cuts a benchmark's log at 10 lines;
	// the b.N=1 run that precedes a measurement (and is the smoke test)
	// prints none
	if b.N > 1 {
		fmt.Printf("\n%s: %d calls per row in %d rounds; ² = with a gRPC and "+
			"an aRPC replica watching\n", b.Name(), b.N, len(op.p50s))
		fmt.Printf("  %-26s %9s %9s %8s %8s\n", "call", "p50", "p99", "/peer",
			"/ping")
		for _, r := range append(phase1, phase2...) {
			peerRow := op
			if strings.HasSuffix(r.name, "²") {
				peerRow = op2
			}
			fmt.Printf("  %-26s %9v %9v %7.2fx %7.2fx\n", r.name,
				r.p50().Round(100*time.Nanosecond), r.p99().Round(time.Microsecond),
				ratio(r, peerRow), ratio(r, ping))
		}
	}
	b.ReportMetric(ratio(mutate, op), "mutate/peer")
	b.ReportMetric(ratio(mutate, opW), "mutate/peer+workers")
	b.ReportMetric(ratio(gAlone, op), "grpc-add1/peer")
	b.ReportMetric(ratio(op, ping), "peer/ping")
	b.ReportMetric(ratio(gAdd, op2), "grpc-add1/peer²")
	b.ReportMetric(ratio(aAdd, op2), "arpc-add1/peer²")
}

// lastErr is the error a remote worker recorded for its last failed call,
// or a local machine's error.
func lastErr(api am.Api) error {
	if le, ok := api.(interface{ LastErr() error }); ok {
		return le.LastErr()
	}
	return api.Err()
}

// BenchmarkDoorsBytes measures the wire bytes per pushed clock update (one
// state changed per transition, framing included) through both doors, for
// the test worker and wider workers whose ticks were aged to realistic
// sizes, against sending the full time: a message with the time vector,
// seq and queue tick (HandshakeResponse's encoding of them) in the same
// framing, and the bridge's own full ClockUpdate. b.N is the number of
// pushes measured per door (-benchtime 1x is the smoke test).
//
//	go test -run '^$' -bench DoorsBytes -benchtime 2000x -v ./bridge/
func BenchmarkDoorsBytes(b *testing.B) {
	for _, size := range []int{0, 32, 64} {
		name := "test-worker"
		if size > 0 {
			name = fmt.Sprintf("%d-states", size)
		}
		b.Run(name, func(b *testing.B) {
			measureBytes(b, size, b.N)
		})
	}
}

// wideSchema is a worker with states in total (worker states included):
// S0 is multi, the others plain.
func wideSchema(states int) (am.Schema, am.S) {
	names := slices.Clone(ss.WorkerStates.Names())
	extra := am.Schema{}
	for i := 0; len(names) < states; i++ {
		n := fmt.Sprintf("S%d", i)
		extra[n] = am.State{Multi: i == 0}
		names = append(names, n)
	}
	return am.SchemaMerge(ss.WorkerSchema, extra), names
}

// measureBytes measures pushes updates per door; only the pushes are
// timed.
func measureBytes(b *testing.B, size, pushes int) {
	b.StopTimer()
	schema, names, state := testSchema, testNames, "E"
	if size > 0 {
		schema, names = wideSchema(size)
		state = "S0"
	}
	w, err := am.NewCommon(context.Background(), "w-"+b.Name(), schema, names,
		nil, nil, &am.Opts{DontLogStackTrace: true})
	require.NoError(b, err)
	defer w.Dispose()
	// age the ticks: a worker that ran for a while has multi-byte ticks
	// and sequence numbers
	for i, n := range names {
		if n == am.StateException || n == ss.WorkerStates.SendPayload {
			continue
		}
		for range 20 + 7*i {
			w.Toggle1(n, nil)
		}
	}
	for range 3000 {
		w.Add1(state, nil)
	}

	cl := &countingListener{Listener: listen(b)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := bridge.NewServer(ctx, cl, "bytes", w, &bridge.ServerOpts{
		Service: bridge.ServiceOpts{PushInterval: time.Nanosecond}})
	require.NoError(b, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		require.NoError(b, s.Shutdown(sctx))
		<-served
	}()
	addr := s.Addr().String()

	// settled is the byte count once the server's writes in flight have
	// been counted: the client may see a push before the server's Write
	// returns
	settled := func() int64 {
		last := cl.out.Load()
		for range 100 {
			time.Sleep(2 * time.Millisecond)
			n := cl.out.Load()
			if n == last {
				break
			}
			last = n
		}
		return last
	}
	wireBytes := func(replica am.Api) float64 {
		before := settled()
		for range pushes {
			w.Add1(state, nil)
			select {
			case <-replica.WhenTime1(state, w.Tick(state), nil):
			case <-time.After(5 * time.Second):
				b.Fatal("push not seen")
			}
		}
		return float64(settled()-before) / float64(pushes)
	}
	// one door at a time
	g, err := bridge.Dial(ctx, addr, "bytes-grpc", schema, names, nil)
	require.NoError(b, err)
	b.StartTimer()
	grpcBytes := wireBytes(g.Worker)
	b.StopTimer()
	_, seq := g.Worker.KnownClock()
	require.NoError(b, g.Close())
	ac, err := arpc.NewClient(ctx, addr, "bytes-arpc", schema, names, nil)
	require.NoError(b, err)
	ac.Start()
	select {
	case <-ac.Mach.When1(ss.ClientStates.Ready, nil):
	case <-time.After(5 * time.Second):
		b.Fatalf("aRPC client not ready: %v", ac.Mach.Err())
	}
	b.StartTimer()
	arpcBytes := wireBytes(ac.Worker)
	b.StopTimer()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	ac.Stop(sctx, true)
	scancel()

	// the full time, in the same framing: gRPC's 5-byte message prefix, a
	// 9-byte HTTP/2 frame header and the 2-byte oneof wrapper of a stream
	// message
	const framing = 5 + 9 + 2
	t := w.Time(nil)
	vec := proto.Size(&bridgev1.HandshakeResponse{Time: t, Seq: seq,
		QueueTick: w.QueueTick()}) + framing
	fullUpd := proto.Size(&bridgev1.ClockUpdate{
		Indexes: seqIdx(len(t)), Deltas: t, Sum: clock.Sum(t), ToSeq: seq,
		QueueTick: w.QueueTick(), Full: true}) + framing
	b.Logf("%d states, %d pushes: per update gRPC %.1f B, aRPC %.1f B; full "+
		"time (vector+seq+queue tick) %d B = %.2fx the gRPC update, %.2fx "+
		"aRPC's; full ClockUpdate %d B", len(names), pushes, grpcBytes,
		arpcBytes, vec, float64(vec)/grpcBytes, float64(vec)/arpcBytes, fullUpd)
	b.ReportMetric(grpcBytes, "grpc-B/update")
	b.ReportMetric(arpcBytes, "arpc-B/update")
	b.ReportMetric(float64(vec), "full-B")
	b.ReportMetric(float64(vec)/grpcBytes, "full/grpc-update")
}

func seqIdx(n int) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = uint32(i)
	}
	return out
}

func newConn(b *testing.B, addr string) *grpc.ClientConn {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(
		insecureCreds()))
	require.NoError(b, err)
	b.Cleanup(func() { _ = cc.Close() })
	return cc
}

// BenchmarkMutatePath runs one Add of one state per op through the fair
// peer (a plain unary gRPC handler doing Add1), the bridge's Mutate stub
// and the Go client's Worker.Add1 over gRPC (its replica watching), for
// -benchmem and pprof of the Mutate paths:
//
//	go test -run '^$' -bench MutatePath -benchmem -cpuprofile cpu.out ./bridge/
func BenchmarkMutatePath(b *testing.B) {
	w := newWorker(b)
	s := startServer(b, w, &bridge.ServerOpts{
		Service: bridge.ServiceOpts{PushInterval: time.Nanosecond}})
	addr := s.Addr().String()
	pl := listen(b)
	ps := grpc.NewServer()
	benchmarkv1.RegisterBenchmarkServiceServer(ps, peerServer{w: w,
		names: w.StateNames()})
	go func() { _ = ps.Serve(pl) }()
	b.Cleanup(ps.Stop)
	ctx := context.Background()
	eIdx := w.Index1("E")

	b.Run("peer", func(b *testing.B) {
		peer := benchmarkv1.NewBenchmarkServiceClient(newConn(b,
			pl.Addr().String()))
		req := &benchmarkv1.CallOpRequest{Op: int32(eIdx)}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := peer.CallOp(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stub", func(b *testing.B) {
		rpc := rawClient(b, addr)
		req := &bridgev1.MutateRequest{ClientId: "bench",
			Type:         bridgev1.MutationType_MUTATION_TYPE_ADD,
			StateIndexes: []uint32{uint32(eIdx)}}
		b.ReportAllocs()
		for b.Loop() {
			resp, err := rpc.Mutate(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			req.KnownSeq = resp.Update.ToSeq
		}
	})
	b.Run("worker", func(b *testing.B) {
		g := dial(b, addr, "bench-path", nil)
		b.ReportAllocs()
		for b.Loop() {
			if r := g.Worker.Add1("E", nil); r != am.Executed {
				b.Fatal(r, g.Worker.LastErr())
			}
		}
	})
}
