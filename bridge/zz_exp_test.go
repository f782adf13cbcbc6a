package bridge_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"

	benchmarkv1 "github.com/arpcbridge/arpcbridge/gen/arpc/benchmark/v1"
)

func BenchmarkZZBDP(b *testing.B) {
	w := newWorker(b)
	mk := func(sopts []grpc.ServerOption, copts ...grpc.DialOption) benchmarkv1.BenchmarkServiceClient {
		pl := listen(b)
		ps := grpc.NewServer(sopts...)
		benchmarkv1.RegisterBenchmarkServiceServer(ps, peerServer{w: w, names: w.StateNames()})
		go func() { _ = ps.Serve(pl) }()
		b.Cleanup(ps.Stop)
		cc, err := grpc.NewClient(pl.Addr().String(), append([]grpc.DialOption{grpc.WithTransportCredentials(insecureCreds())}, copts...)...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cc.Close() })
		return benchmarkv1.NewBenchmarkServiceClient(cc)
	}
	def := mk(nil)
	static := mk([]grpc.ServerOption{grpc.NumStreamWorkers(4)})
	cstatic := mk([]grpc.ServerOption{grpc.NumStreamWorkers(8)})
	ctx := context.Background()
	req := &benchmarkv1.CallOpRequest{Op: int32(w.Index1("E"))}
	rows := []*benchRow{
		{name: "default", fn: func() error { _, err := def.CallOp(ctx, req); return err }},
		{name: "workers 4", fn: func() error { _, err := static.CallOp(ctx, req); return err }},
		{name: "workers 8", fn: func() error { _, err := cstatic.CallOp(ctx, req); return err }},
	}
	for range b.N {
		interleave(b, 31, 300, rows)
	}
	for _, r := range rows {
		b.Logf("%-15s p50 %v p99 %v  /default %.3f", r.name, r.p50(), r.p99(), ratio(r, rows[0]))
	}
}
