package bridge_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"

	"github.com/arpcbridge/arpcbridge/bridge"
	benchmarkv1 "github.com/arpcbridge/arpcbridge/gen/arpc/benchmark/v1"
)

func BenchmarkZZPush(b *testing.B) {
	mk := func(name string, opts *bridge.ClientOpts) *benchRow {
		w := newWorker(b)
		s := startServer(b, w, &bridge.ServerOpts{
			Service: bridge.ServiceOpts{PushInterval: -1}})
		pl := listen(b)
		ps := grpc.NewServer()
		benchmarkv1.RegisterBenchmarkServiceServer(ps, peerServer{w: w, names: w.StateNames()})
		go func() { _ = ps.Serve(pl) }()
		b.Cleanup(ps.Stop)
		dial(b, s.Addr().String(), "g", opts)
		peer := benchmarkv1.NewBenchmarkServiceClient(newConn(b, pl.Addr().String()))
		req := &benchmarkv1.CallOpRequest{Op: int32(w.Index1("E"))}
		return &benchRow{name: name, fn: func() error {
			_, err := peer.CallOp(context.Background(), req)
			return err
		}}
	}
	rows := []*benchRow{
		mk("default", nil),
		mk("static", &bridge.ClientOpts{DialOptions: []grpc.DialOption{
			grpc.WithInitialWindowSize(1 << 20), grpc.WithInitialConnWindowSize(1 << 20)}}),
	}
	for range b.N {
		interleave(b, 15, 400, rows)
	}
	for _, r := range rows {
		b.Logf("%-15s p50 %v p99 %v  /default %.3f", r.name, r.p50(), r.p99(), ratio(r, rows[0]))
	}
}
