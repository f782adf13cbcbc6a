package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// fakeResults builds Results from medians: samples[scenario][transport] is
// one round's sample, keys with their variant suffix.
func fakeResults(t *testing.T, samples map[string]map[string]Sample) *Results {
	t.Helper()
	r := &Results{
		Config:    RunConfig{Baseline: rowUpstream, Fallback: rowGRPC, Rounds: 1},
		Scenarios: scenarios(FullSizes()),
		cells:     map[string]map[string]map[int]*cell{},
	}
	seen := map[string]bool{}
	for _, sc := range r.Scenarios {
		for tr, s := range samples[sc.name] {
			if !seen[tr] {
				seen[tr] = true
				r.Transports = append(r.Transports, TransportByName(tr))
			}
			for v := range sc.variants {
				for _, m := range sc.metrics {
					key := sc.key(m, v)
					val, ok := s[key]
					if !ok {
						continue
					}
					byT := r.cells[sc.name]
					if byT == nil {
						byT = map[string]map[int]*cell{}
						r.cells[sc.name] = byT
					}
					if byT[tr] == nil {
						byT[tr] = map[int]*cell{}
					}
					c := byT[tr][v]
					if c == nil {
						c = &cell{samples: map[string][]float64{}}
						byT[tr][v] = c
					}
					c.samples[key] = append(c.samples[key], val)
				}
			}
		}
	}

	return r
}

func TestFloorValue(t *testing.T) {
	r := fakeResults(t, map[string]map[string]Sample{
		"rt": {rowInproc: {mP50: 10e3}, rowTCP: {mP50: 30e3}, rowOurs: {mP50: 52e3}},
		"throughput": {
			rowInproc: {mTputRate + "100": 60_000},
			rowTCP:    {mTputRate + "100": 20_000},
		},
		"sgp": {rowInproc: {mNsOp: 1}},
	})
	tests := []struct {
		scenario, variant, key string
		want                   float64
	}{
		{"rt", "", mP50, 40e3},                         // times add
		{"throughput", "100", mTputRate, 15_000},       // times per mutation add
		{"throughput", "10", mTputRate, math.NaN()},    // neither row has it
		{"sgp", "", mNsOp, math.NaN()},                 // tcp lacks it
		{"rt", "", mP99, math.NaN()},                   // not measured at all
		{"burst", "", mSync, math.NaN()},               // scenario without results
		{"fanout-spaced", "1000", mFanP99, math.NaN()}, // nor this one
	}
	for _, tt := range tests {
		t.Run(tt.scenario+tt.variant+tt.key, func(t *testing.T) {
			got := r.floorAt(tt.scenario, tt.variant, tt.key)
			if math.Abs(got-tt.want) > 1e-9 && !(math.IsNaN(got) && math.IsNaN(tt.want)) {
				t.Errorf("floor = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestIssue12Targets(t *testing.T) {
	r := fakeResults(t, map[string]map[string]Sample{
		"rt": {
			rowInproc: {mP50: 10e3}, rowTCP: {mP50: 30e3},
			rowOurs: {mP50: 52e3}, rowFacade: {mP50: 60e3}, rowGRPC: {mP50: 50e3},
		},
		"fanout": {
			rowOurs: {mFanP99 + "1000": 10e6, mFanP99 + "100": 1e6},
			rowGRPC: {mFanP99 + "1000": 20e6, mFanP99 + "100": 4e6},
		},
		"burst": {rowOurs: {mSync: 1.5e6, mBytes: 3000}},
		"throughput": {
			rowOurs:     {mTputRate + "100": 15_000},
			rowUpstream: {mTputRate + "100": 10_000},
			rowFacade:   {mTputRate + "100": 9_500},
			rowGRPC:     {mTputRate + "100": 10_000},
		},
	})
	var b bytes.Buffer
	writeGoals(&b, r, "Issue 12's targets", issue12Goals)
	out := b.String()
	for _, want := range []string{
		"| fan-out p99 @1000 clients: our aRPC ÷ plain gRPC | ≤ 0.4× | 0.50× | **missed** |",
		"| fan-out p99 @100 clients: our aRPC ÷ plain gRPC | ≤ 0.5× | 0.25× | met |",
		"| fan-out p99 @1000 clients: our gRPC facade ÷ plain gRPC | ≤ 0.4× | — | not measured |",
		"| burst: our aRPC synced after the loop | ≤ 2.00 ms | 1.50 ms | met |",
		"| burst: our aRPC wire bytes | ≤ 2.0 KiB | 2.9 KiB | **missed** |",
		"| rt p50: our aRPC ÷ floor (inproc + tcp) | ≤ 1.3× | 1.30× | met |",
		"| rt p50: our gRPC facade ÷ plain gRPC (unary) | ≤ 1.1× | 1.20× | **missed** |",
		// at least: exactly at the limit is met, under it missed
		"| throughput @100 clients: our aRPC ÷ upstream aRPC (mutations/s) | ≥ 1.5× | 1.50× | met |",
		"| throughput @100 clients: our gRPC facade ÷ plain gRPC (mutations/s) | ≥ 0.9× | 0.95× | met |",
		"| memory per idle aRPC client (server side) | ≤ 10.0 KiB | — | measured separately: `" +
			idleClientMemoryCmd + "` |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("targets lack %q:\n%s", want, out)
		}
	}

	// a run that measured none of them prints nothing
	b.Reset()
	writeGoals(&b, fakeResults(t, nil), "Issue 12's targets", issue12Goals)
	if b.Len() != 0 {
		t.Errorf("empty run printed targets:\n%s", b.String())
	}
}

func TestGoalVerdict(t *testing.T) {
	tests := []struct {
		name string
		g    goal
		v    float64
		want string
	}{
		{"at most, under", goal{limit: 1}, 0.5, "met"},
		{"at most, equal", goal{limit: 1}, 1, "met"},
		{"at most, over", goal{limit: 1}, 1.01, "**missed**"},
		{"at least, over", goal{limit: 1, atLeast: true}, 2, "met"},
		{"at least, under", goal{limit: 1, atLeast: true}, 0.99, "**missed**"},
		{"no value", goal{limit: 1}, math.NaN(), "not measured"},
		{"division by zero", goal{limit: 1}, math.Inf(1), "not measured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.g.verdict(tt.v); got != tt.want {
				t.Errorf("verdict(%v) = %q, want %q", tt.v, got, tt.want)
			}
		})
	}
}
