package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

const (
	soakBegin = "<!-- soak:begin (written by `go run ./benchmark -soak D -write`) -->"
	soakEnd   = "<!-- soak:end -->"
)

// soakMetric is one sampled quantity of the server.
type soakMetric struct {
	name, unit string
	get        func(SoakSample) float64
}

var soakMetrics = []soakMetric{
	{"goroutines", "", func(s SoakSample) float64 { return s.Goroutines }},
	{"open fds", "", func(s SoakSample) float64 { return s.FDs }},
	{"heap in use", "MiB", func(s SoakSample) float64 { return s.HeapBytes / (1 << 20) }},
	{"RSS", "MiB", func(s SoakSample) float64 { return s.RSSBytes / (1 << 20) }},
}

// Flatness is a metric's trend after warm-up: the mean of the last quarter
// of the samples against the mean of the first quarter, and the range.
type Flatness struct {
	Name                  string
	Early, Late, Min, Max float64
	Drift                 float64
}

// Flat reports whether the metric's late mean is within 10% of its early
// mean (after warm-up).
func (f Flatness) Flat() bool { return f.Drift <= 0.10 && f.Drift >= -0.10 }

// Flatness returns every metric's trend after warm-up.
func (r *SoakResult) Flatness() []Flatness {
	var out []Flatness
	after := r.Samples[min(r.WarmUp, len(r.Samples)-1):]
	q := max(1, len(after)/4)
	mean := func(vs []float64) float64 {
		var s float64
		for _, v := range vs {
			s += v
		}
		return s / float64(len(vs))
	}
	for _, m := range soakMetrics {
		vals := make([]float64, len(after))
		for i, s := range after {
			vals[i] = m.get(s)
		}
		f := Flatness{Name: m.name, Early: mean(vals[:q]),
			Late: mean(vals[len(vals)-q:]), Min: slices.Min(vals),
			Max: slices.Max(vals)}
		if f.Early > 0 {
			f.Drift = (f.Late - f.Early) / f.Early
		}
		out = append(out, f)
	}
	return out
}

// WriteMarkdown writes the samples as a table and the flatness summary.
func (r *SoakResult) WriteMarkdown(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "Soak: %s, %d aRPC + %d gRPC clients on one `bridge serve "+
		"--state --sync %s` process, %.0f mutations/s, %.0f%% of the clients "+
		"replaced per minute; the server sampled every %s (%s).\n\n", c.Duration,
		c.ARPC, c.GRPC, c.Sync, c.Rate, c.Churn*100, c.Sample, r.Machine)
	fmt.Fprintln(w, "| t | goroutines | open fds | heap in use (MiB) | RSS (MiB) | clients | mutations | errors | replaced |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for i, s := range r.Samples {
		mark := ""
		if i == r.WarmUp {
			mark = " ←"
		}
		fmt.Fprintf(w, "| %s%s | %.0f | %.0f | %.1f | %.1f | %d | %d | %d | %d |\n",
			s.At, mark, s.Goroutines, s.FDs, s.HeapBytes/(1<<20), s.RSSBytes/(1<<20),
			s.Clients, s.Mutations, s.Errors, s.Replaced)
	}
	fmt.Fprintf(w, "\n← end of warm-up. After it, flat means the mean of the "+
		"last quarter of the samples is within 10%% of the mean of the first "+
		"quarter:\n\n")
	fmt.Fprintln(w, "| metric | first quarter | last quarter | drift | min | max | flat |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---|")
	for _, f := range r.Flatness() {
		flat := "yes"
		if !f.Flat() {
			flat = "**no**"
		}
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %+.1f%% | %.1f | %.1f | %s |\n",
			f.Name, f.Early, f.Late, f.Drift*100, f.Min, f.Max, flat)
	}
}

// WriteSVG draws one panel per metric over time.
func (r *SoakResult) WriteSVG(w io.Writer) error {
	const width, panelH, left, right, top = 820, 120, 70, 20, 50
	height := top + len(soakMetrics)*(panelH+30)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" `+
		`viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	b.WriteString(`<rect width="100%" height="100%" fill="#ffffff"/>` + "\n")
	c := r.Config
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="15" font-weight="bold">%s</text>`+"\n",
		esc(fmt.Sprintf("aRPC Bridge soak: %d aRPC + %d gRPC clients, %s, server process",
			c.ARPC, c.GRPC, c.Duration)))
	fmt.Fprintf(&b, `<text x="10" y="38" fill="#555">%s</text>`+"\n",
		esc("Each panel from 0 to its maximum; the dashed line ends the warm-up."))
	last := r.Samples[len(r.Samples)-1].At.Seconds()
	if last <= 0 {
		last = 1
	}
	plotW := float64(width - left - right)
	for pi, m := range soakMetrics {
		y0 := top + pi*(panelH+30)
		var vmax float64
		for _, s := range r.Samples {
			vmax = max(vmax, m.get(s))
		}
		if vmax <= 0 {
			vmax = 1
		}
		title := m.name
		if m.unit != "" {
			title += " (" + m.unit + ")"
		}
		fmt.Fprintf(&b, `<text x="10" y="%d" font-weight="bold">%s</text>`+"\n",
			y0+12, esc(title))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%d" fill="none" stroke="#ccc"/>`+"\n",
			left, y0+18, plotW, panelH-10)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="#555">%.0f</text>`+"\n",
			left-4, y0+28, vmax)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="#555">0</text>`+"\n",
			left-4, y0+panelH+8)
		var pts []string
		for _, s := range r.Samples {
			x := float64(left) + s.At.Seconds()/last*plotW
			y := float64(y0+panelH+8) - m.get(s)/vmax*float64(panelH-10)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n",
			chartColors[pi%len(chartColors)], strings.Join(pts, " "))
		if r.WarmUp < len(r.Samples) {
			x := float64(left) + r.Samples[r.WarmUp].At.Seconds()/last*plotW
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999" stroke-dasharray="4,3"/>`+"\n",
				x, y0+18, x, y0+panelH+8)
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">time (s), 0 to %.0f</text>`+"\n",
		left, height-6, last)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteFiles writes soak.svg and the soak section of README.md in dir.
func (r *SoakResult) WriteFiles(dir string) error {
	var svg bytes.Buffer
	if err := r.WriteSVG(&svg); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "soak.svg"), svg.Bytes(), 0o644); err != nil {
		return err
	}
	path := filepath.Join(dir, "README.md")
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var md strings.Builder
	r.WriteMarkdown(&md)
	section := soakBegin + "\n" + md.String() + "\n![soak chart](soak.svg)\n" + soakEnd
	s := string(old)
	i, j := strings.Index(s, soakBegin), strings.Index(s, soakEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no soak markers", path)
	}
	s = s[:i] + section + s[j+len(soakEnd):]
	return os.WriteFile(path, []byte(s), 0o644)
}
