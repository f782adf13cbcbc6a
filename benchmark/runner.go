package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// RunConfig configures [Run]. Zero fields take defaults: full sizes, 5
// rounds, every registered transport and scenario, upstream-arpc as the
// baseline and grpc as the fallback baseline, 90 s per measurement.
type RunConfig struct {
	Sizes    Sizes
	Rounds   int
	Baseline string
	// Fallback is the transport a column's ratios refer to when Baseline
	// has no result in that column (it failed, or does not take part). A
	// name that is not in the run disables the fallback.
	Fallback   string
	Transports []Transport
	// Scenarios limits the scenarios by name.
	Scenarios []string
	// Timeout bounds one measurement, setup and teardown included.
	Timeout time.Duration
	// Progress, when set, receives one line per measurement.
	Progress func(format string, args ...any)
}

func (c *RunConfig) defaults() {
	if c.Sizes.SGPOps == 0 {
		c.Sizes = FullSizes()
	}
	if c.Rounds <= 0 {
		c.Rounds = 5
	}
	if c.Baseline == "" {
		c.Baseline = "upstream-arpc"
	}
	if c.Fallback == "" {
		c.Fallback = "grpc"
	}
	if c.Transports == nil {
		c.Transports = Transports()
	}
	if c.Timeout <= 0 {
		c.Timeout = 90 * time.Second
	}
	if c.Progress == nil {
		c.Progress = func(string, ...any) {}
	}
}

// cell holds one (scenario, transport, variant) measurement series.
type cell struct {
	samples map[string][]float64
	err     error
}

// Results are the samples of a run.
type Results struct {
	Config     RunConfig
	Scenarios  []*scenario
	Transports []Transport
	Elapsed    time.Duration
	Machine    SysInfo

	// cells[scenario][transport][variant]; missing = did not take part
	cells map[string]map[string]map[int]*cell
}

func (r *Results) cell(sc, tr string, v int) *cell {
	return r.cells[sc][tr][v]
}

// Median returns the median of metric key over the rounds, and whether there
// is one.
func (r *Results) Median(sc *scenario, tr string, v int, key string) (float64, bool) {
	c := r.cell(sc.name, tr, v)
	if c == nil || len(c.samples[key]) == 0 {
		return math.NaN(), false
	}
	m := median(c.samples[key])

	return m, !math.IsNaN(m)
}

// Run measures every scenario against every transport, in rounds; within a
// round each scenario runs every transport in turn, starting from a
// different transport each round. A measurement that fails is not retried in
// later rounds.
func Run(ctx context.Context, cfg RunConfig) (*Results, error) {
	cfg.defaults()
	start := time.Now()
	all := scenarios(cfg.Sizes)
	if len(cfg.Scenarios) > 0 {
		all = slices.DeleteFunc(all, func(sc *scenario) bool {
			return !slices.Contains(cfg.Scenarios, sc.name)
		})
	}
	res := &Results{
		Config:     cfg,
		Scenarios:  all,
		Transports: cfg.Transports,
		Machine:    ReadSysInfo(),
		cells:      map[string]map[string]map[int]*cell{},
	}
	for round := range cfg.Rounds {
		for _, sc := range all {
			if sc.maxRounds > 0 && round >= sc.maxRounds {
				continue
			}
			n := len(cfg.Transports)
			for i := range n {
				t := cfg.Transports[(i+round)%n]
				for v := range sc.variants {
					if err := ctx.Err(); err != nil {
						return res, err
					}
					res.measure(ctx, sc, t, v, round)
				}
			}
		}
	}
	res.Elapsed = time.Since(start)

	return res, nil
}

func (r *Results) measure(ctx context.Context, sc *scenario, t Transport, v, round int) {
	byT := r.cells[sc.name]
	if byT == nil {
		byT = map[string]map[int]*cell{}
		r.cells[sc.name] = byT
	}
	byV := byT[t.Name()]
	if byV == nil {
		byV = map[int]*cell{}
		byT[t.Name()] = byV
	}
	c := byV[v]
	if c != nil && c.err != nil {
		return
	}
	mctx, cancel := context.WithTimeout(ctx, r.Config.Timeout)
	defer cancel()
	began := time.Now()
	s, ok, err := sc.run(mctx, t, r.Config.Sizes, v)
	if !ok {
		return
	}
	if c == nil {
		c = &cell{samples: map[string][]float64{}}
		byV[v] = c
	}
	label := sc.name
	if sc.variants[v] != "" {
		label += "@" + sc.variants[v]
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && mctx.Err() != nil {
			err = fmt.Errorf("timed out after %v: %w", r.Config.Timeout, err)
		}
		c.err = err
		r.Config.Progress("round %d  %-10s %-20s FAILED in %v: %v", round+1, label,
			t.Name(), time.Since(began).Round(time.Millisecond), err)
		return
	}
	for k, val := range s {
		c.samples[k] = append(c.samples[k], val)
	}
	r.Config.Progress("round %d  %-10s %-20s %v", round+1, label, t.Name(),
		time.Since(began).Round(time.Millisecond))
}
