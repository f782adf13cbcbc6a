package main

import (
	"context"
	"fmt"
	"time"
)

// unit says how a metric is printed.
type unit int

const (
	unitDur    unit = iota // nanoseconds
	unitBytes              // bytes
	unitCount              // plain number
	unitRate               // MB/s
	unitPerSec             // events per second
	unitRatio              // a ratio, "1.23×" (targets only)
)

// metricDef is one column of a scenario's table.
type metricDef struct {
	key   string
	title string
	unit  unit
	// higherBetter marks metrics where more is better (throughput).
	higherBetter bool
	// noRatio leaves the ratio out (error counts).
	noRatio bool
}

// scenario is one group of columns. Each variant (a client count, a payload
// size, or the single "" variant) is measured on its own, so one failing
// variant does not hide the others.
type scenario struct {
	name  string
	title string
	desc  string
	// variants label the measured sizes; {""} for a single one.
	variants []string
	// variantSuffix follows a variant label in titles: " clients".
	variantSuffix string
	metrics       []metricDef
	// maxRounds caps the rounds of slow scenarios (0 = no cap).
	maxRounds int
	// run measures t on variant v; ok is false when t does not take part.
	run func(ctx context.Context, t Transport, sz Sizes, v int) (s Sample, ok bool, err error)
}

// key is the sample key of metric m in variant v.
func (sc *scenario) key(m metricDef, v int) string {
	if sc.variants[v] == "" {
		return m.key
	}

	return m.key + sc.variants[v]
}

// scenarios returns the scenario table for sz.
func scenarios(sz Sizes) []*scenario {
	pay := make([]string, len(sz.PayloadSizes))
	for i, n := range sz.PayloadSizes {
		pay[i] = sizeLabel(n)
	}

	return []*scenario{
		{
			name:  "sgp",
			title: "subscribe-get-process",
			desc: fmt.Sprintf("%d iterations of: wait for the worker's event, read its value, "+
				"call the op matching the value; \"ran, answered Canceled\" counts our rows' "+
				"CallOps that the worker answered Canceled and that ran all the same (their "+
				"Event followed; see the throughput scenario)", sz.SGPOps),
			variants: []string{""},
			metrics: []metricDef{
				{key: mNsOp, title: "time/op", unit: unitDur},
				{key: mBytesOp, title: "wire B/op", unit: unitBytes},
				{key: mCallsOp, title: "calls/op", unit: unitCount},
				{key: mErrors, title: "op errors", unit: unitCount, noRatio: true},
				{key: mCanceled, title: "ran, answered Canceled", unit: unitCount, noRatio: true},
			},
			run: func(ctx context.Context, t Transport, sz Sizes, _ int) (Sample, bool, error) {
				st, ok := t.(SGPTransport)
				if !ok {
					return nil, false, nil
				}
				s, err := MeasureSGP(ctx, st, sz.SGPOps, sz)
				return s, true, err
			},
		},
		{
			name:     "rt",
			title:    "sync mutation round trip",
			desc:     fmt.Sprintf("%d single remote mutations (gRPC: unary Ping; TCP: 9-byte ping)", sz.RoundTrips),
			variants: []string{""},
			metrics: []metricDef{
				{key: mP50, title: "p50", unit: unitDur},
				{key: mP99, title: "p99", unit: unitDur},
				{key: mBytesOp, title: "wire B/op", unit: unitBytes},
				{key: mCallsOp, title: "calls/op", unit: unitCount},
			},
			run: func(ctx context.Context, t Transport, sz Sizes, _ int) (Sample, bool, error) {
				rt, ok := t.(RoundTripTransport)
				if !ok {
					return nil, false, nil
				}
				s, err := MeasureRoundTrip(ctx, rt, sz.RoundTrips, sz)
				return s, true, err
			},
		},
		{
			name:  "burst",
			title: "worker burst",
			desc: fmt.Sprintf("%d worker-side mutations; time from the loop's end until the "+
				"client's clock equals the worker's, and what it cost on the wire", sz.BurstMutations),
			variants: []string{""},
			metrics: []metricDef{
				{key: mSync, title: "sync after loop", unit: unitDur},
				{key: mLoop, title: "worker loop", unit: unitDur},
				{key: mBytes, title: "wire bytes", unit: unitBytes},
				{key: mCalls, title: "calls", unit: unitCount},
			},
			run: func(ctx context.Context, t Transport, sz Sizes, _ int) (Sample, bool, error) {
				bt, ok := t.(BurstTransport)
				if !ok {
					return nil, false, nil
				}
				s, err := MeasureBurst(ctx, bt, sz.BurstMutations)
				return s, true, err
			},
		},
		fanOutScenario(sz, "fanout", "fan-out, back to back", fmt.Sprintf(
			"N clients on one worker; p99 over %d changes of the time for one worker "+
				"change to reach every client, each change made as soon as the previous "+
				"one reached every client", sz.FanOutChanges), 0),
		fanOutScenario(sz, "fanout-spaced", "fan-out, changes spaced", fmt.Sprintf(
			"as fanout, with %v of quiet between one change reaching every client "+
				"and the next change", sz.FanOutGap), sz.FanOutGap),
		throughputScenario(sz),
		ticksScenario(sz),
		{
			name:  "payload",
			title: "payloads worker → client",
			desc: fmt.Sprintf("about %s per size (at least %d payloads); throughput, and the "+
				"peak live heap above the start (client and server share the process)",
				sizeLabel(sz.PayloadBytes), sz.PayloadMinReps),
			variants: pay,
			metrics: []metricDef{
				{key: mPayRate, title: "MB/s @", unit: unitRate, higherBetter: true},
				{key: mPayPeak, title: "peak heap @", unit: unitBytes},
			},
			run: func(ctx context.Context, t Transport, sz Sizes, v int) (Sample, bool, error) {
				pt, ok := t.(PayloadTransport)
				if !ok {
					return nil, false, nil
				}
				size := sz.PayloadSizes[v]
				s, err := MeasurePayload(ctx, pt, size, sz.payloadReps(size))
				if err != nil {
					return nil, true, err
				}
				return Sample{
					mPayRate + pay[v]: s[mPayRate],
					mPayPeak + pay[v]: s[mPayPeak],
				}, true, nil
			},
		},
	}
}

// fanOutScenario is a fan-out column group, one variant per client count,
// with gap between changes (0: back to back).
func fanOutScenario(sz Sizes, name, title, desc string, gap time.Duration) *scenario {
	fan := make([]string, len(sz.FanOutClients))
	for i, n := range sz.FanOutClients {
		fan[i] = fmt.Sprint(n)
	}

	return &scenario{
		name: name, title: title, desc: desc,
		variants:      fan,
		variantSuffix: " clients",
		maxRounds:     3,
		metrics: []metricDef{
			{key: mFanP99, title: "p99 @", unit: unitDur},
		},
		run: func(ctx context.Context, t Transport, sz Sizes, v int) (Sample, bool, error) {
			ft, ok := t.(FanOutTransport)
			if !ok {
				return nil, false, nil
			}
			n := sz.FanOutClients[v]
			s, err := MeasureFanOutSpaced(ctx, ft, n, sz.FanOutChanges, sz.FanOutWait, gap)
			if err != nil {
				return nil, true, err
			}
			return Sample{mFanP99 + fan[v]: s[mP99]}, true, nil
		},
	}
}
