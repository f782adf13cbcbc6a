package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// chart geometry
const (
	chartWidth  = 820
	chartLabelW = 170
	chartValueW = 150
	chartBarH   = 16
	chartGap    = 4
	chartTitleH = 28
	chartPanelP = 14
)

var chartColors = []string{
	"#2f6fdf", "#6aa3ff", "#d9534f", "#f0ad4e", "#5cb85c", "#777777", "#9b59b6", "#1abc9c",
}

// WriteSVG draws the headline metrics as panels of horizontal bars, one bar
// per transport, lengths linear in the value, labelled with the value and the
// ratio to the baseline. It writes plain SVG with no external references.
func (r *Results) WriteSVG(w io.Writer) error {
	hs := r.headlines()
	rows := len(r.Transports)
	panelH := chartTitleH + rows*(chartBarH+chartGap) + chartPanelP
	height := 48 + len(hs)*panelH
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" `+
		`viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartWidth, height, chartWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	m := r.Machine
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="15" font-weight="bold">%s</text>`+"\n",
		esc("aRPC Bridge benchmark — medians, ratios to "+r.Config.Baseline))
	fmt.Fprintf(&b, `<text x="10" y="38" fill="#555">%s</text>`+"\n",
		esc(fmt.Sprintf("%s, %d cores, %s, %s", m.CPU, m.Cores, m.GoVersion, m.Date)))

	barMax := float64(chartWidth - chartLabelW - chartValueW - 20)
	y := 48
	for _, h := range hs {
		key := h.sc.key(h.m, h.v)
		better := "lower is better"
		if h.m.higherBetter {
			better = "higher is better"
		}
		fmt.Fprintf(&b, `<text x="10" y="%d" font-weight="bold">%s</text>`+
			`<text x="%d" y="%d" fill="#777" text-anchor="end">%s</text>`+"\n",
			y+18, esc(h.title), chartWidth-10, y+18, better)
		maxV := 0.0
		for _, t := range r.Transports {
			if v, ok := r.Median(h.sc, t.Name(), h.v, key); ok && v > maxV {
				maxV = v
			}
		}
		base := r.baselineValue(h.sc, h.v, key)
		by := y + chartTitleH
		for i, t := range r.Transports {
			cy := by + i*(chartBarH+chartGap)
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n",
				chartLabelW, cy+chartBarH-4, esc(t.Name()))
			v, ok := r.Median(h.sc, t.Name(), h.v, key)
			label := "—"
			if c := r.cell(h.sc.name, t.Name(), h.v); c != nil && c.err != nil && !ok {
				label = "failed"
			}
			if ok {
				wBar := 1.0
				if maxV > 0 {
					wBar = math.Max(1, v/maxV*barMax)
				}
				stroke := ""
				if t.Name() == r.Config.Baseline {
					stroke = ` stroke="#000" stroke-width="1.5"`
				}
				fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"%s/>`+"\n",
					chartLabelW+8, cy, wBar, chartBarH, chartColors[i%len(chartColors)], stroke)
				label = formatValue(v, h.m.unit)
				if ratio := formatRatio(v, base); ratio != "" && t.Name() != r.Config.Baseline {
					label += " (" + ratio + ")"
				}
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#222">%s</text>`+"\n",
				chartWidth-chartValueW, cy+chartBarH-4, esc(label))
		}
		y += panelH
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())

	return err
}

func esc(s string) string { return html.EscapeString(s) }
