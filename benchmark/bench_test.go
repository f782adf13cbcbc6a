package main

import (
	"fmt"
	"testing"
	"time"
)

// benchTimeout bounds one benchmark function, setup and teardown included.
const benchTimeout = 60 * time.Second

// Bounds on one fan-out change in a benchmark. They are liveness bounds,
// not timing assertions: past one, the change counts as never arriving.
const (
	// benchFanOutWait: our rows deliver a change within milliseconds (at
	// most the 25 ms a change in a busy period may be held back), so 10 s
	// is room for CI's 2 cores shared with the other packages' benchmarks
	// (go test runs packages in parallel) and a machine still busy after
	// the -race suite.
	benchFanOutWait = 10 * time.Second
	// defectFanOutWait is the bound for transports with known defects,
	// whose misses skip instead of failing: a longer bound would only make
	// every expected skip cost more. 2 s is four times upstream's worst
	// legitimate delay (two 250 ms push intervals).
	defectFanOutWait = 2 * time.Second
)

// benchSizes are the sizes a benchmark run uses around b.N: tiny warm-up, so
// -benchtime=1x stays a smoke test.
func benchSizes() Sizes {
	sz := QuickSizes()
	sz.Warmup = 1
	sz.FanOutWait = benchFanOutWait

	return sz
}

// defectReporter is a transport that knows its own defects (upstream's lost
// pushes and handshakes).
type defectReporter interface{ knownDefect(error) bool }

// benchFanOutBound is the bound on one fan-out change for t.
func benchFanOutBound(t Transport) time.Duration {
	if _, ok := t.(defectReporter); ok {
		return defectFanOutWait
	}

	return benchSizes().FanOutWait
}

// check fails b on err, or skips it when the transport says err is a known
// defect of its own: the runner reports those, a smoke test must not flake
// on them.
func check(b *testing.B, t Transport, err error) {
	b.Helper()
	if err == nil {
		return
	}
	if kd, ok := t.(defectReporter); ok && kd.knownDefect(err) {
		b.Skipf("known %s defect: %v", t.Name(), err)
	}
	b.Fatal(err)
}

// report writes a sample's metrics as benchmark metrics; ns/op (when
// present) replaces the framework's own, which would include setup.
func report(b *testing.B, s Sample) {
	for k, v := range s {
		if v < 0 {
			continue
		}
		b.ReportMetric(v, k)
	}
}

func BenchmarkSGP(b *testing.B) {
	for _, t := range Transports() {
		st, ok := t.(SGPTransport)
		if !ok {
			continue
		}
		b.Run(t.Name(), func(b *testing.B) {
			s, err := MeasureSGP(testCtx(b, benchTimeout), st, b.N, benchSizes())
			check(b, t, err)
			if s[mErrors] != 0 {
				b.Fatalf("worker saw %v mismatched ops", s[mErrors])
			}
			report(b, s)
		})
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	for _, t := range Transports() {
		rt, ok := t.(RoundTripTransport)
		if !ok {
			continue
		}
		b.Run(t.Name(), func(b *testing.B) {
			s, err := MeasureRoundTrip(testCtx(b, benchTimeout), rt, b.N, benchSizes())
			check(b, t, err)
			s[mNsOp] = s[mP50]
			report(b, s)
		})
	}
}

func BenchmarkBurst(b *testing.B) {
	for _, t := range Transports() {
		bt, ok := t.(BurstTransport)
		if !ok {
			continue
		}
		b.Run(t.Name(), func(b *testing.B) {
			s, err := MeasureBurst(testCtx(b, benchTimeout), bt, b.N)
			check(b, t, err)
			s[mNsOp] = (s[mLoop] + s[mSync]) / float64(b.N)
			s["sync-ns"] = s[mSync]
			delete(s, mSync)
			delete(s, mLoop)
			report(b, s)
		})
	}
}

// fanOutClients are the client counts a benchmark run tries: 1,000 clients
// are left to the runner, so the -benchtime=1x smoke test stays fast.
func fanOutClients() []int {
	if testing.Short() {
		return []int{1, 10}
	}

	return []int{1, 10, 100}
}

func BenchmarkFanOut(b *testing.B) { benchFanOut(b, 0) }

// BenchmarkFanOutSpaced is BenchmarkFanOut with the runner's quiet time
// between changes.
func BenchmarkFanOutSpaced(b *testing.B) { benchFanOut(b, FullSizes().FanOutGap) }

func benchFanOut(b *testing.B, gap time.Duration) {
	for _, t := range Transports() {
		ft, ok := t.(FanOutTransport)
		if !ok {
			continue
		}
		for _, n := range fanOutClients() {
			b.Run(fmt.Sprintf("%s/clients=%d", t.Name(), n), func(b *testing.B) {
				s, err := MeasureFanOutSpaced(testCtx(b, benchTimeout), ft, n, b.N,
					benchFanOutBound(t), gap)
				check(b, t, err)
				s[mNsOp] = s[mP50]
				report(b, s)
			})
		}
	}
}

// throughputClients are the concurrent client counts a benchmark run tries.
func throughputClients() []int {
	if testing.Short() {
		return []int{1, 10}
	}

	return FullSizes().ThroughputClients
}

// BenchmarkThroughput has N clients make b.N synchronous mutations between
// them, all at once: ns/op is the wall time per mutation of them all (the
// inverse of mutations/s), p99 one mutation's latency.
func BenchmarkThroughput(b *testing.B) {
	for _, t := range Transports() {
		tt, ok := t.(ThroughputTransport)
		if !ok {
			continue
		}
		for _, n := range throughputClients() {
			b.Run(fmt.Sprintf("%s/clients=%d", t.Name(), n), func(b *testing.B) {
				s, err := MeasureThroughput(testCtx(b, benchTimeout), tt, n, 0, b.N,
					benchSizes().Warmup)
				check(b, t, err)
				s[mNsOp] = 1e9 / s[mTputRate]
				s["mutations/s"] = s[mTputRate]
				delete(s, mTputRate)
				report(b, s)
			})
		}
	}
}

func BenchmarkPayload(b *testing.B) {
	for _, t := range Transports() {
		pt, ok := t.(PayloadTransport)
		if !ok {
			continue
		}
		for _, size := range FullSizes().PayloadSizes {
			b.Run(fmt.Sprintf("%s/size=%s", t.Name(), sizeLabel(size)), func(b *testing.B) {
				s, err := MeasurePayload(testCtx(b, benchTimeout), pt, size, b.N)
				check(b, t, err)
				s[mNsOp] = float64(size) / (s[mPayRate] * 1e6) * 1e9
				s["MB/s"] = s[mPayRate]
				s["peak-B"] = s[mPayPeak]
				s["alloc/B"] = s[mPayAllocs]
				delete(s, mPayPeak)
				delete(s, mPayRate)
				delete(s, mPayAllocs)
				report(b, s)
			})
		}
	}
}

// BenchmarkTicks delivers b.N worker transitions one by one to a client
// that asked for every transition (ours: PushAllTicks; upstream:
// SyncMutations). The runner measures 100 clients; one keeps the
// -benchtime=1x smoke run cheap.
func BenchmarkTicks(b *testing.B) {
	for _, t := range Transports() {
		tt, ok := t.(TicksTransport)
		if !ok {
			continue
		}
		for _, n := range []int{1} {
			b.Run(fmt.Sprintf("%s/clients=%d", t.Name(), n), func(b *testing.B) {
				s, err := MeasureTicks(testCtx(b, benchTimeout), tt, n, b.N)
				check(b, t, err)
				if s[mTicksShare] < 100 {
					b.Fatalf("delivered %.1f%% of the transitions", s[mTicksShare])
				}
				report(b, s)
			})
		}
	}
}
