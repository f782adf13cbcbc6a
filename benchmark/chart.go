package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"slices"
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
	chartHeadH  = 64
)

var chartColors = []string{
	"#2f6fdf", "#6aa3ff", "#d9534f", "#f0ad4e", "#5cb85c", "#777777", "#9b59b6", "#1abc9c",
}

// WriteSVG draws the headline metrics as panels of horizontal bars, one bar
// per transport, lengths linear in the value, labelled with the value and the
// ratio to the panel's baseline (the fallback where the baseline has no
// result). It writes plain SVG with no external references.
func (r *Results) WriteSVG(w io.Writer) error {
	hs := r.headlines()
	rows := len(r.Transports)
	panelH := chartTitleH + rows*(chartBarH+chartGap) + chartPanelP
	height := chartHeadH + len(hs)*panelH
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" `+
		`viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartWidth, height, chartWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	m := r.Machine
	title := "aRPC Bridge benchmark — medians, ratios to " + r.Config.Baseline
	if r.usesFallback() {
		title += " (" + r.Config.Fallback + " where it has no result)"
	}
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="15" font-weight="bold">%s</text>`+"\n",
		esc(title))
	fmt.Fprintf(&b, `<text x="10" y="38" fill="#555">%s</text>`+"\n",
		esc(fmt.Sprintf("%s; %s", m, m.Date)))
	fmt.Fprintf(&b, `<text x="10" y="54" fill="#555">%s</text>`+"\n",
		esc("Bars are linear in the value; the panel's baseline is outlined and marked by a "+
			"dashed line; a white break marks a bar drawn off scale."))

	barMax := float64(chartWidth - chartLabelW - chartValueW - 20)
	y := chartHeadH
	for _, h := range hs {
		key := h.sc.key(h.m, h.v)
		better := "lower is better"
		if h.m.higherBetter {
			better = "higher is better"
		}
		fmt.Fprintf(&b, `<text x="10" y="%d" font-weight="bold">%s</text>`+
			`<text x="%d" y="%d" fill="#777" text-anchor="end">%s</text>`+"\n",
			y+18, esc(h.title), chartWidth-10, y+18, better)
		var vals []float64
		for _, t := range r.Transports {
			if v, ok := r.Median(h.sc, t.Name(), h.v, key); ok {
				vals = append(vals, v)
			}
		}
		maxV := chartScale(vals)
		ref, base := r.reference(h.sc, h.v, key)
		by := y + chartTitleH
		for i, t := range r.Transports {
			cy := by + i*(chartBarH+chartGap)
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n",
				chartLabelW, cy+chartBarH-4, esc(t.Name()))
			v, ok := r.Median(h.sc, t.Name(), h.v, key)
			label := "—"
			if c := r.cell(h.sc.name, t.Name(), h.v); c != nil && c.err != nil && !ok {
				label = "failed (see README)"
			}
			if ok {
				wBar := 1.0
				if maxV > 0 {
					wBar = math.Max(1, math.Min(v/maxV, 1)*barMax)
				}
				stroke := ""
				if t.Name() == ref {
					stroke = ` stroke="#000" stroke-width="1.5"`
				}
				fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"%s/>`+"\n",
					chartLabelW+8, cy, wBar, chartBarH, chartColors[i%len(chartColors)], stroke)
				if v > maxV {
					// off scale: a white break across the bar's end
					bx := float64(chartLabelW+8) + barMax - 14
					fmt.Fprintf(&b, `<path d="M%.1f %d l6 %d M%.1f %d l6 %d" stroke="#fff" stroke-width="3"/>`+"\n",
						bx, cy+chartBarH, -chartBarH, bx+5, cy+chartBarH, -chartBarH)
				}
				label = formatValue(v, h.m.unit)
				if ratio := r.ratioLabel(h.sc, t.Name(), h.v, key, v); ratio != "" {
					label += " (" + ratio + ")"
				}
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#222">%s</text>`+"\n",
				chartWidth-chartValueW, cy+chartBarH-4, esc(label))
		}
		if base > 0 && base <= maxV {
			// a dashed guide at the baseline's value
			bx := float64(chartLabelW+8) + base/maxV*barMax
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000" `+
				`stroke-width="1" stroke-dasharray="3,3" opacity="0.6"/>`+"\n",
				bx, by-3, bx, by+rows*(chartBarH+chartGap)-chartGap+3)
		}
		y += panelH
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())

	return err
}

// chartOutlier is how far past a panel's median a value may lie before its
// bar is drawn off scale (the in-process row's payload rates would otherwise
// shrink every other bar to a pixel).
const chartOutlier = 20

// chartScale returns the value a full-width bar stands for: the largest
// value within chartOutlier times the median; larger ones are off scale.
func chartScale(vals []float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	limit := median(vals) * chartOutlier
	scale := 0.0
	for _, v := range vals {
		if v <= limit && v > scale {
			scale = v
		}
	}
	if scale == 0 {
		scale = slices.Max(vals)
	}
	return scale
}

func esc(s string) string { return html.EscapeString(s) }
