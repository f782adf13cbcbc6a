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
	return r.medAt(scName, "", t, key)
}

// medAt is the median of metric key (without its variant suffix) in the
// variant labelled variant ("" for a single-variant scenario) for
// transport t, NaN when missing.
func (r *Results) medAt(scName, variant, t, key string) float64 {
	sc := r.scenarioByName(scName)
	if sc == nil {
		return math.NaN()
	}
	for v, lbl := range sc.variants {
		if lbl == variant {
			m, _ := r.Median(sc, t, v, key+variant)
			return m
		}
	}
	return math.NaN()
}

// floorAt is the floor of metric key (without its variant suffix) in the
// variant labelled variant, NaN when there is none.
func (r *Results) floorAt(scName, variant, key string) float64 {
	sc := r.scenarioByName(scName)
	if sc == nil {
		return math.NaN()
	}
	for v, lbl := range sc.variants {
		if lbl != variant {
			continue
		}
		for _, m := range sc.metrics {
			if m.key == key {
				fl, _ := r.floorValue(sc, v, m)
				return fl
			}
		}
	}
	return math.NaN()
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

// WriteStanding writes the "where we stand" section: the sgp overhead table,
// the remote rows against the floor, and issues 6 and 12's targets, met or
// missed, computed from this run.
func (r *Results) WriteStanding(w io.Writer) {
	if len(r.Scenarios) == 0 {
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
	r.writeFloor(w)
	writeGoals(w, r, "Issue 6's targets", issue6Goals)
	writeGoals(w, r, "Issue 12's targets", issue12Goals)
}

// ratioText prints a ratio with two decimals, "—" when there is none.
func ratioText(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", v)
}
