package arpc

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/cenkalti/rpc2"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
)

// BenchmarkRpc2Floor measures a no-op call through rpc2 and this package's
// codec over loopback: the transport's own floor, below which a remote
// mutation cannot go (the worker's transition comes on top).
func BenchmarkRpc2Floor(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := l.Accept()
		if err != nil {
			return
		}
		rc := rpc2.NewClientWithCodec(newCodec(conn, 0, time.Second, nil))
		rc.Handle("noop", func(_ *rpc2.Client, a *wire.ArgsMut, r *wire.RespMut) error {
			r.Result = 0
			return nil
		})
		rc.Run()
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	require.NoError(b, err)
	rc := rpc2.NewClientWithCodec(newCodec(conn, 0, time.Second, nil))
	go rc.Run()
	samples := make([]time.Duration, 0, b.N)
	args := &wire.ArgsMut{States: []int{3}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		var resp wire.RespMut
		require.NoError(b, rc.Call("noop", args, &resp))
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds()), "p99-ns")
	_ = rc.Close()
	<-done
}
