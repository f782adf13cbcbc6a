package main

import (
	"fmt"
	"io"
	"math"
)

// rowFloor names the floor row: the inproc row plus the tcp row.
const rowFloor = "floor"

// floorTitle is the floor row's name in tables.
const floorTitle = "floor (inproc + tcp)"

// floorValue is the floor of metric m in variant v: the in-process row (the
// machine work) plus the raw TCP row (the wire), where both have a result.
// Times, bytes and counts add; for rates (higher is better) the times per
// event add, so the floor is 1/(1/inproc + 1/tcp).
func (r *Results) floorValue(sc *scenario, v int, m metricDef) (float64, bool) {
	if m.noRatio {
		return math.NaN(), false
	}
	key := sc.key(m, v)
	a, okA := r.Median(sc, rowInproc, v, key)
	b, okB := r.Median(sc, rowTCP, v, key)
	if !okA || !okB || a < 0 || b < 0 {
		return math.NaN(), false
	}
	if m.higherBetter {
		if a <= 0 || b <= 0 {
			return math.NaN(), false
		}
		return 1 / (1/a + 1/b), true
	}

	return a + b, true
}

// hasFloor reports whether any metric of sc has a floor.
func (r *Results) hasFloor(sc *scenario) bool {
	for v := range sc.variants {
		for _, m := range sc.metrics {
			if _, ok := r.floorValue(sc, v, m); ok {
				return true
			}
		}
	}

	return false
}

// floorCell formats the floor row's cell: value and ratio to the column's
// reference, "—" where there is no floor.
func (r *Results) floorCell(sc *scenario, v int, m metricDef) string {
	val, ok := r.floorValue(sc, v, m)
	if !ok {
		return "—"
	}
	s := formatValue(val, m.unit)
	if ratio := r.ratioLabel(sc, rowFloor, v, sc.key(m, v), val); ratio != "" {
		s += " (" + ratio + ")"
	}

	return s
}

// floorMetrics are the metrics the "against the floor" table compares.
var floorMetrics = []struct{ scenario, key string }{
	{"sgp", mNsOp},
	{"rt", mP50},
	{"rt", mP99},
	{"throughput", mTputRate},
	{"throughput", mTputP99},
}

// writeFloor writes every remote transport's sgp, round trip and
// throughput as ratios to the floor.
func (r *Results) writeFloor(w io.Writer) {
	var rows []Transport
	for _, t := range r.Transports {
		if n := t.Name(); n != rowInproc && n != rowTCP {
			rows = append(rows, t)
		}
	}
	type line struct {
		sc *scenario
		v  int
		m  metricDef
		fl float64
	}
	var lines []line
	for _, fm := range floorMetrics {
		sc := r.scenarioByName(fm.scenario)
		if sc == nil {
			continue
		}
		for v := range sc.variants {
			for _, m := range sc.metrics {
				if m.key != fm.key {
					continue
				}
				if fl, ok := r.floorValue(sc, v, m); ok {
					lines = append(lines, line{sc, v, m, fl})
				}
			}
		}
	}
	if len(lines) == 0 || len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "Against the floor: the `%s` row plus the `%s` row (the same machine "+
		"work in-process, plus a raw TCP round trip through the proxy; for mutations/s "+
		"the times per mutation add), and each remote row ÷ the floor (for mutations/s "+
		"higher is better, for everything else lower is).\n\n", rowInproc, rowTCP)
	fmt.Fprintf(w, "| metric | %s |", floorTitle)
	for _, t := range rows {
		fmt.Fprintf(w, " %s |", t.Name())
	}
	fmt.Fprint(w, "\n|---|---:|")
	for range rows {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, l := range lines {
		title := l.sc.name + " " + l.m.title
		if l.sc.variants[l.v] != "" {
			title += variantTitle(l.sc, l.v)
		}
		fmt.Fprintf(w, "| %s | %s |", title, formatValue(l.fl, l.m.unit))
		for _, t := range rows {
			val, ok := r.Median(l.sc, t.Name(), l.v, l.sc.key(l.m, l.v))
			cell := "—"
			if ok && val >= 0 {
				cell = fmt.Sprintf("%s (%s)", formatValue(val, l.m.unit), ratioText(val/l.fl))
			}
			fmt.Fprintf(w, " %s |", cell)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}
