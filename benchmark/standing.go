package main

import (
	"fmt"
	"io"
	"math"
)

// Row names the standing section refers to, whatever the run's baseline.
const (
	rowOurs     = "arpc"
	rowFacade   = "grpc-facade"
	rowUpstream = "upstream-arpc"
	rowGRPC     = "grpc"
	rowInproc   = "inproc"
	rowTCP      = "tcp"
)

// plainWorkerTransport marks transports whose worker is plain Go, not the
// asyncmachine worker: their sgp time has no machine work to subtract.
type plainWorkerTransport interface{ plainWorker() }

func (grpcTransport) plainWorker() {}
func (tcpTransport) plainWorker()  {}

// goal is one target of issue 6: a ratio that must stay at or under limit.
type goal struct {
	what  string
	limit float64
	ratio func(r *Results) float64 // NaN when the run lacks a row
}

// goals are issue 6's targets, in its order.
var goals = []goal{
	{"sgp: our aRPC overhead over inproc ÷ upstream aRPC's overhead", 0.35,
		func(r *Results) float64 {
			return r.overhead("sgp", rowOurs) / r.overhead("sgp", rowUpstream)
		}},
	{"sgp: our aRPC total ÷ upstream aRPC", 0.6,
		func(r *Results) float64 { return r.ratioOf("sgp", mNsOp, rowOurs, rowUpstream) }},
	{"sgp: our aRPC total ÷ plain gRPC", 0.6,
		func(r *Results) float64 { return r.ratioOf("sgp", mNsOp, rowOurs, rowGRPC) }},
	{"sgp: our aRPC wire bytes ÷ upstream aRPC", 0.7,
		func(r *Results) float64 { return r.ratioOf("sgp", mBytesOp, rowOurs, rowUpstream) }},
	{"sgp: our gRPC facade total ÷ plain gRPC", 0.75,
		func(r *Results) float64 { return r.ratioOf("sgp", mNsOp, rowFacade, rowGRPC) }},
	{"rt: our aRPC p50 ÷ raw TCP p50", 2,
		func(r *Results) float64 { return r.ratioOf("rt", mP50, rowOurs, rowTCP) }},
}

// scenarioByName returns the run's scenario called name, or nil.
func (r *Results) scenarioByName(name string) *scenario {
	for _, sc := range r.Scenarios {
		if sc.name == name {
			return sc
		}
	}
	return nil
}

// med is the median of a single-variant scenario's metric for transport t,
// NaN when missing.
func (r *Results) med(scName, t, key string) float64 {
	sc := r.scenarioByName(scName)
	if sc == nil {
		return math.NaN()
	}
	m, _ := r.Median(sc, t, 0, key)
	return m
}

func (r *Results) ratioOf(scName, key, a, b string) float64 {
	return r.med(scName, a, key) / r.med(scName, b, key)
}

// overhead is t's sgp time/op over the in-process row's: what the transport
// adds to the same machine work. For a plain-worker transport it is its
// whole time (its worker costs nanoseconds).
func (r *Results) overhead(scName, t string) float64 {
	total := r.med(scName, t, mNsOp)
	if tr := TransportByName(t); tr != nil {
		if _, plain := tr.(plainWorkerTransport); plain {
			return total
		}
	}
	return total - r.med(scName, rowInproc, mNsOp)
}

// WriteStanding writes the "where we stand" section: the sgp overhead table
// and issue 6's targets, met or missed, computed from this run.
func (r *Results) WriteStanding(w io.Writer) {
	if r.scenarioByName("sgp") == nil && r.scenarioByName("rt") == nil {
		return
	}
	fmt.Fprintf(w, "### Where we stand\n\n")
	if r.scenarioByName("sgp") != nil {
		fmt.Fprintf(w, "Subscribe-get-process per transport: the total, the overhead over "+
			"the `inproc` row (the same worker and loop in-process; plain-Go-worker rows "+
			"have no machine work, so their overhead is their total), and ratios to "+
			"`%s` and to plain `%s`.\n\n", rowUpstream, rowGRPC)
		fmt.Fprintln(w, "| transport | time/op | overhead over inproc | overhead ÷ upstream-arpc's | "+
			"total ÷ upstream-arpc | total ÷ grpc | wire B/op ÷ upstream-arpc |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
		upOver := r.overhead("sgp", rowUpstream)
		for _, t := range r.Transports {
			name := t.Name()
			total := r.med("sgp", name, mNsOp)
			if math.IsNaN(total) || name == rowInproc {
				continue
			}
			over := r.overhead("sgp", name)
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", name,
				formatValue(total, unitDur), formatValue(over, unitDur),
				ratioText(over/upOver), ratioText(r.ratioOf("sgp", mNsOp, name, rowUpstream)),
				ratioText(r.ratioOf("sgp", mNsOp, name, rowGRPC)),
				ratioText(r.ratioOf("sgp", mBytesOp, name, rowUpstream)))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Issue 6's targets, from this run's medians:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | limit | this run | |")
	fmt.Fprintln(w, "|---|---:|---:|---|")
	for _, g := range goals {
		v := g.ratio(r)
		verdict := "met"
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			verdict = "not measured"
		case v > g.limit:
			verdict = "**missed**"
		}
		fmt.Fprintf(w, "| %s | ≤ %s× | %s | %s |\n", g.what, trimFloat(g.limit),
			ratioText(v), verdict)
	}
	fmt.Fprintln(w)
}

// ratioText prints a ratio with two decimals, "—" when there is none.
func ratioText(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", v)
}

func trimFloat(v float64) string { return fmt.Sprintf("%g", v) }
