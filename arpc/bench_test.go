package arpc_test

import (
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// reportLatency reports p50 and p99 of samples as custom metrics.
func reportLatency(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	p := func(q float64) float64 {
		return float64(samples[int(q*float64(len(samples)-1))].Nanoseconds())
	}
	b.ReportMetric(p(0.50), "p50-ns")
	b.ReportMetric(p(0.99), "p99-ns")
}

// BenchmarkRoundTrip compares one synchronous remote Add1 with the physical
// floor, a 16-byte TCP ping-pong over loopback, in the same run.
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("raw-tcp-pingpong", func(b *testing.B) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(b, err)
		defer l.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			buf := make([]byte, 16)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}()
		c, err := net.Dial("tcp", l.Addr().String())
		require.NoError(b, err)
		buf := make([]byte, 16)
		samples := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			_, _ = c.Write(buf)
			_, _ = io.ReadFull(c, buf)
			samples = append(samples, time.Since(start))
		}
		b.StopTimer()
		reportLatency(b, samples)
		c.Close()
		<-done
	})
	b.Run("arpc-add1", func(b *testing.B) {
		p := newPair(b, pairOpts{})
		samples := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			p.rw.Add1("E", nil)
			samples = append(samples, time.Since(start))
		}
		b.StopTimer()
		reportLatency(b, samples)
		require.Equal(b, p.worker.Time(nil), p.rw.Time(nil))
	})
}

// BenchmarkPushBytes measures the wire bytes of one pushed single-state
// change (worker-side Add1 of a multi state, awaited on the replica).
func BenchmarkPushBytes(b *testing.B) {
	p := newPair(b, pairOpts{pushInterval: time.Microsecond})
	before := p.client.Stats().BytesIn
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		want := p.rw.Tick("E") + 1
		p.worker.Add1("E", nil)
		select {
		case <-p.rw.WhenTime1("E", want, nil):
		case <-time.After(5 * time.Second):
			b.Fatal("push not received")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(p.client.Stats().BytesIn-before)/float64(b.N),
		"B/push")
}
