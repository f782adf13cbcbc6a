package main

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// headline is one metric picked for the summary table and the chart.
type headline struct {
	scenario string
	variant  string // preferred variant; the last one when absent
	key      string
	title    string
}

var headlines = []headline{
	{"sgp", "", mNsOp, "sgp time/op"},
	{"rt", "", mP50, "round trip p50"},
	{"rt", "", mP99, "round trip p99"},
	{"burst", "", mSync, "burst: sync after loop"},
	{"fanout", "100", mFanP99, "fan-out p99"},
	{"fanout", "1000", mFanP99, "fan-out p99"},
	{"fanout-spaced", "1000", mFanP99, "fan-out spaced p99"},
	{"throughput", "100", mTputRate, "throughput"},
	{"payload", "1MiB", mPayRate, "payload"},
	{"payload", "16MiB", mPayRate, "payload"},
}

// resolvedHeadline is a headline bound to a scenario in the results.
type resolvedHeadline struct {
	sc    *scenario
	v     int
	m     metricDef
	title string
}

func (r *Results) headlines() []resolvedHeadline {
	var out []resolvedHeadline
	seen := map[string]bool{}
	for _, h := range headlines {
		for _, sc := range r.Scenarios {
			if sc.name != h.scenario {
				continue
			}
			v := len(sc.variants) - 1
			for i, lbl := range sc.variants {
				if lbl == h.variant {
					v = i
				}
			}
			for _, m := range sc.metrics {
				if m.key != h.key {
					continue
				}
				title := h.title
				if sc.variants[v] != "" {
					title += " @" + variantTitle(sc, v)
				}
				if seen[title] {
					continue
				}
				seen[title] = true
				out = append(out, resolvedHeadline{sc, v, m, title})
			}
		}
	}

	return out
}

// variantTitle is a variant label for humans: "100 clients", "16MiB".
func variantTitle(sc *scenario, v int) string {
	return sc.variants[v] + sc.variantSuffix
}

// reference returns the transport one column's ratios refer to, and its
// median there: the baseline, or the fallback when the baseline has no
// result in the column (it failed or does not take part); "" and NaN when
// neither has one.
func (r *Results) reference(sc *scenario, v int, key string) (string, float64) {
	for _, t := range []string{r.Config.Baseline, r.Config.Fallback} {
		if t == "" {
			continue
		}
		if m, ok := r.Median(sc, t, v, key); ok {
			return t, m
		}
	}

	return "", math.NaN()
}

// usesFallback reports whether any column's ratios refer to the fallback.
func (r *Results) usesFallback() bool {
	for _, sc := range r.Scenarios {
		for v := range sc.variants {
			for _, m := range sc.metrics {
				if m.noRatio {
					continue
				}
				if ref, _ := r.reference(sc, v, sc.key(m, v)); ref != "" && ref != r.Config.Baseline {
					return true
				}
			}
		}
	}

	return false
}

// ratioLabel formats val's ratio to the column's reference, naming the
// reference when it is the fallback: "0.42×", "8.3× grpc"; "" when t is the
// reference itself or there is no ratio.
func (r *Results) ratioLabel(sc *scenario, t string, v int, key string, val float64) string {
	ref, base := r.reference(sc, v, key)
	if ref == "" || t == ref {
		return ""
	}
	ratio := formatRatio(val, base)
	if ratio != "" && ref != r.Config.Baseline {
		ratio += " " + ref
	}

	return ratio
}

// cellText formats one table cell: value and ratio, "—" when the transport
// does not take part, "fail[n]" with a footnote when it failed.
func (r *Results) cellText(
	sc *scenario, t string, v int, m metricDef, notes *[]string,
) string {
	c := r.cell(sc.name, t, v)
	if c == nil {
		return "—"
	}
	key := sc.key(m, v)
	if c.err != nil && len(c.samples[key]) == 0 {
		return fmt.Sprintf("fail[^%d]", noteIndex(notes,
			fmt.Sprintf("%s, %s: %v", t, variantOrAll(sc, v), c.err)))
	}
	val, ok := r.Median(sc, t, v, key)
	if !ok {
		return "—"
	}
	s := formatValue(val, m.unit)
	if !m.noRatio {
		if ratio := r.ratioLabel(sc, t, v, key, val); ratio != "" {
			s += " (" + ratio + ")"
		}
	}

	return s
}

// noteIndex returns the 1-based footnote number of note, adding it once.
func noteIndex(notes *[]string, note string) int {
	for i, n := range *notes {
		if n == note {
			return i + 1
		}
	}
	*notes = append(*notes, note)

	return len(*notes)
}

func variantOrAll(sc *scenario, v int) string {
	if sc.variants[v] == "" {
		return sc.name
	}
	return sc.name + " @" + variantTitle(sc, v)
}

// WriteMarkdown writes the summary table and one table per scenario.
func (r *Results) WriteMarkdown(w io.Writer) {
	var notes []string
	base := r.Config.Baseline
	rowName := func(t string) string {
		if t == base {
			return "**" + t + "** (baseline)"
		}
		return t
	}

	// summary
	hs := r.headlines()
	fmt.Fprintf(w, "Medians of %d rounds (fan-out and throughput: at most 3); ratios are to **%s** "+
		"(for MB/s and mutations/s higher is better, for everything else lower is)", r.Config.Rounds, base)
	if r.usesFallback() {
		fmt.Fprintf(w, "; in a column where %s has no result (it failed, or does not "+
			"take part), they are to **%s** instead, and say so (\"8.3× %s\")",
			base, r.Config.Fallback, r.Config.Fallback)
	}
	floorRow := false
	for _, h := range hs {
		if _, ok := r.floorValue(h.sc, h.v, h.m); ok {
			floorRow = true
		}
	}
	if floorRow {
		fmt.Fprintf(w, ". The last row, %s, is the sum of those two rows where both have "+
			"a result (for rates, of their times per event)", floorTitle)
	}
	fmt.Fprint(w, ".\n\n")
	fmt.Fprint(w, "| transport |")
	for _, h := range hs {
		fmt.Fprintf(w, " %s |", h.title)
	}
	fmt.Fprint(w, "\n|---|")
	fmt.Fprint(w, strings.Repeat("---:|", len(hs)))
	fmt.Fprintln(w)
	for _, t := range r.Transports {
		fmt.Fprintf(w, "| %s |", rowName(t.Name()))
		for _, h := range hs {
			fmt.Fprintf(w, " %s |", r.cellText(h.sc, t.Name(), h.v, h.m, &notes))
		}
		fmt.Fprintln(w)
	}
	if floorRow {
		fmt.Fprintf(w, "| %s |", floorTitle)
		for _, h := range hs {
			fmt.Fprintf(w, " %s |", r.floorCell(h.sc, h.v, h.m))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	r.WriteStanding(w)

	// per scenario
	for _, sc := range r.Scenarios {
		fmt.Fprintf(w, "#### %s — %s\n\n%s.\n\n| transport |", sc.name, sc.title, sc.desc)
		cols := 0
		for v := range sc.variants {
			for _, m := range sc.metrics {
				title := m.title
				if sc.variants[v] != "" {
					title += variantTitle(sc, v)
				}
				fmt.Fprintf(w, " %s |", title)
				cols++
			}
		}
		fmt.Fprint(w, "\n|---|")
		fmt.Fprint(w, strings.Repeat("---:|", cols))
		fmt.Fprintln(w)
		for _, t := range r.Transports {
			if r.cells[sc.name][t.Name()] == nil {
				continue
			}
			fmt.Fprintf(w, "| %s |", rowName(t.Name()))
			for v := range sc.variants {
				for _, m := range sc.metrics {
					fmt.Fprintf(w, " %s |", r.cellText(sc, t.Name(), v, m, &notes))
				}
			}
			fmt.Fprintln(w)
		}
		if r.hasFloor(sc) {
			fmt.Fprintf(w, "| %s |", floorTitle)
			for v := range sc.variants {
				for _, m := range sc.metrics {
					fmt.Fprintf(w, " %s |", r.floorCell(sc, v, m))
				}
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
	}

	for i, n := range notes {
		fmt.Fprintf(w, "[^%d]: %s\n", i+1, oneLine(n))
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
	}
}

// oneLine squashes an error onto one line for a footnote.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// WriteMachine writes the machine line.
func (r *Results) WriteMachine(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "Machine: %s; run on %s, took %v.\n", m, m.Date, r.Elapsed.Round(1e9))
}
