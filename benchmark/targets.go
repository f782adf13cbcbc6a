package main

import (
	"fmt"
	"io"
	"math"
)

// goal is one target of an issue: a value from this run's medians that must
// stay at or under limit (at or above it when atLeast).
type goal struct {
	what    string
	limit   float64
	atLeast bool
	// unit of value and limit; unitRatio for ratios
	unit  unit
	value func(r *Results) float64 // NaN when the run lacks a row
	// elsewhere, when set, is how the target is measured outside this run
	elsewhere string
}

// ratioGoal is a goal on a ratio that must stay at or under limit.
func ratioGoal(what string, limit float64, value func(r *Results) float64) goal {
	return goal{what: what, limit: limit, unit: unitRatio, value: value}
}

// issue6Goals are issue 6's targets, in its order.
var issue6Goals = []goal{
	ratioGoal("sgp: our aRPC overhead over inproc ÷ upstream aRPC's overhead", 0.35,
		func(r *Results) float64 {
			return r.overhead("sgp", rowOurs) / r.overhead("sgp", rowUpstream)
		}),
	ratioGoal("sgp: our aRPC total ÷ upstream aRPC", 0.6,
		func(r *Results) float64 { return r.ratioOf("sgp", mNsOp, rowOurs, rowUpstream) }),
	ratioGoal("sgp: our aRPC total ÷ plain gRPC", 0.6,
		func(r *Results) float64 { return r.ratioOf("sgp", mNsOp, rowOurs, rowGRPC) }),
	ratioGoal("sgp: our aRPC wire bytes ÷ upstream aRPC", 0.7,
		func(r *Results) float64 { return r.ratioOf("sgp", mBytesOp, rowOurs, rowUpstream) }),
	ratioGoal("sgp: our gRPC facade total ÷ plain gRPC", 0.75,
		func(r *Results) float64 { return r.ratioOf("sgp", mNsOp, rowFacade, rowGRPC) }),
	ratioGoal("rt: our aRPC p50 ÷ raw TCP p50", 2,
		func(r *Results) float64 { return r.ratioOf("rt", mP50, rowOurs, rowTCP) }),
}

// door names one of our two doors in a target.
var doors = []struct{ row, name string }{
	{rowOurs, "our aRPC"},
	{rowFacade, "our gRPC facade"},
}

// idleClientMemoryCmd measures issue 12's memory target (not part of a run).
const idleClientMemoryCmd = "go test -run '^$' -bench MuxServerSideMemory ./arpc"

// issue12Goals are issue 12's targets, in its order.
var issue12Goals = func() []goal {
	var gs []goal
	for _, fan := range []struct {
		sc, label string
	}{{"fanout", ""}, {"fanout-spaced", ", changes spaced"}} {
		for _, c := range []struct {
			clients string
			limit   float64
		}{{"1000", 0.4}, {"100", 0.5}} {
			for _, d := range doors {
				gs = append(gs, ratioGoal(fmt.Sprintf("fan-out p99 @%s clients%s: %s ÷ plain gRPC",
					c.clients, fan.label, d.name), c.limit, func(r *Results) float64 {
					return r.medAt(fan.sc, c.clients, d.row, mFanP99) /
						r.medAt(fan.sc, c.clients, rowGRPC, mFanP99)
				}))
			}
		}
	}
	for _, d := range doors {
		gs = append(gs, goal{what: "burst: " + d.name + " synced after the loop",
			limit: 2e6, unit: unitDur,
			value: func(r *Results) float64 { return r.med("burst", d.row, mSync) }})
	}
	for _, d := range doors {
		gs = append(gs, goal{what: "burst: " + d.name + " wire bytes",
			limit: 2 << 10, unit: unitBytes,
			value: func(r *Results) float64 { return r.med("burst", d.row, mBytes) }})
	}
	gs = append(gs,
		ratioGoal("sgp: our gRPC facade ÷ plain gRPC", 0.75,
			func(r *Results) float64 { return r.ratioOf("sgp", mNsOp, rowFacade, rowGRPC) }),
		ratioGoal("rt p50: our gRPC facade ÷ plain gRPC (unary)", 1.1,
			func(r *Results) float64 { return r.ratioOf("rt", mP50, rowFacade, rowGRPC) }),
		ratioGoal("sgp: our aRPC ÷ floor (inproc + tcp)", 1.3,
			func(r *Results) float64 { return r.med("sgp", rowOurs, mNsOp) / r.floorAt("sgp", "", mNsOp) }),
		ratioGoal("rt p50: our aRPC ÷ floor (inproc + tcp)", 1.3,
			func(r *Results) float64 { return r.med("rt", rowOurs, mP50) / r.floorAt("rt", "", mP50) }),
		goal{what: "throughput @100 clients: our aRPC ÷ upstream aRPC (mutations/s)",
			limit: 1.5, atLeast: true, unit: unitRatio,
			value: func(r *Results) float64 {
				return r.medAt("throughput", "100", rowOurs, mTputRate) /
					r.medAt("throughput", "100", rowUpstream, mTputRate)
			}},
		goal{what: "throughput @100 clients: our gRPC facade ÷ plain gRPC (mutations/s)",
			limit: 0.9, atLeast: true, unit: unitRatio,
			value: func(r *Results) float64 {
				return r.medAt("throughput", "100", rowFacade, mTputRate) /
					r.medAt("throughput", "100", rowGRPC, mTputRate)
			}},
		goal{what: "memory per idle aRPC client (server side)", limit: 10 << 10,
			unit: unitBytes, elsewhere: idleClientMemoryCmd},
	)

	return gs
}()

// verdict is "met", "**missed**" or "not measured" for value v of g.
func (g goal) verdict(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "not measured"
	case g.atLeast && v < g.limit, !g.atLeast && v > g.limit:
		return "**missed**"
	}
	return "met"
}

// writeGoals writes one issue's targets as a table, met or missed from this
// run's medians; nothing when the run measured none of them.
func writeGoals(w io.Writer, r *Results, title string, goals []goal) {
	vals := make([]float64, len(goals))
	measured := false
	for i, g := range goals {
		vals[i] = math.NaN()
		if g.value != nil {
			vals[i] = g.value(r)
		}
		if !math.IsNaN(vals[i]) && !math.IsInf(vals[i], 0) {
			measured = true
		}
	}
	if !measured {
		return
	}
	fmt.Fprintf(w, "%s, from this run's medians:\n\n", title)
	fmt.Fprintln(w, "| target | limit | this run | |")
	fmt.Fprintln(w, "|---|---:|---:|---|")
	for i, g := range goals {
		op := "≤"
		if g.atLeast {
			op = "≥"
		}
		limit := fmt.Sprintf("%s %s", op, formatValue(g.limit, g.unit))
		if g.unit == unitRatio {
			limit = fmt.Sprintf("%s %g×", op, g.limit)
		}
		if g.elsewhere != "" {
			fmt.Fprintf(w, "| %s | %s | — | measured separately: `%s` |\n", g.what, limit, g.elsewhere)
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", g.what, limit,
			formatValue(vals[i], g.unit), g.verdict(vals[i]))
	}
	fmt.Fprintln(w)
}
