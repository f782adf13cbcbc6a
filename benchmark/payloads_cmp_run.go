package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
)

// payloadResults are the samples of every cell: row → kind → size.
type payloadResults map[string]map[string]map[int][]payloadCell

// failures are the first error of a cell, row → "kind size".
type payloadFailures map[string]map[string]error

// runPayloadCmp runs the comparison and writes its markdown to w; progress,
// when not nil, gets a line per cell.
func runPayloadCmp(ctx context.Context, w, progress io.Writer,
	cfg PayloadCmpConfig,
) error {
	rows := payloadRows()
	res := payloadResults{}
	fails := payloadFailures{}
	for r := range cfg.Rounds {
		for i := range rows {
			row := rows[(i+r)%len(rows)]
			if err := runPayloadRow(ctx, row, cfg, res, fails, progress,
				r); err != nil {
				return err
			}
		}
	}
	writePayloadReport(w, cfg, rows, res, fails)
	return nil
}

// runPayloadRow measures every cell of one row, on one setup.
func runPayloadRow(ctx context.Context, row payloadRow, cfg PayloadCmpConfig,
	res payloadResults,
	fails payloadFailures, progress io.Writer, round int,
) error {
	env := &Env{}
	defer env.Close()
	p, err := row.setup(ctx, env)
	if err != nil {
		return fmt.Errorf("%s: setup: %w", row.name, err)
	}
	defer p.Close()
	if res[row.name] == nil {
		res[row.name] = map[string]map[int][]payloadCell{}
		fails[row.name] = map[string]error{}
	}
	for _, kind := range payloadKinds {
		if row.kinds != nil && !contains(row.kinds, kind) {
			continue
		}
		if res[row.name][kind] == nil {
			res[row.name][kind] = map[int][]payloadCell{}
		}
		for _, size := range cfg.Sizes {
			key := fmt.Sprintf("%s %s", kind, sizeLabel(size))
			if fails[row.name][key] != nil {
				continue
			}
			reps := min(max(cfg.Bytes/size, cfg.MinReps), 2_000)
			// made per cell, so that the heap's baseline holds one payload
			// only (the GC lets garbage grow with the live heap)
			data := payloadData(kind, size)
			cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
			c, err := measurePayloadCell(cctx, p, env, data, reps)
			cancel()
			if err != nil {
				fails[row.name][key] = err
				if progress != nil {
					fmt.Fprintf(progress, "round %d %s %s: FAIL %v\n", round+1,
						row.name, key, err)
				}
				// a failed transfer may leave the session unusable
				return nil
			}
			res[row.name][kind][size] = append(res[row.name][kind][size], c)
			if progress != nil {
				fmt.Fprintf(progress, "round %d %-17s %-12s %8.1f MB/s  peak %6.1f MiB  wire %s/payload\n",
					round+1, row.name, key, c.rate, c.peak/(1<<20),
					sizeLabelF(c.wire))
			}
			runtime.GC()
		}
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// sizeLabelF is a byte count, rounded, with a binary unit.
func sizeLabelF(b float64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

// cellMedian is the median of one metric over a cell's rounds; ok is false
// without samples.
func cellMedian(cs []payloadCell, f func(payloadCell) float64) (float64, bool) {
	if len(cs) == 0 {
		return 0, false
	}
	xs := make([]float64, len(cs))
	for i, c := range cs {
		xs[i] = f(c)
	}
	return median(xs), true
}

func writePayloadReport(w io.Writer, cfg PayloadCmpConfig, rows []payloadRow,
	res payloadResults, fails payloadFailures,
) {
	head := func(title string) {
		fmt.Fprintf(w, "\n%s\n\n| row |", title)
		for _, n := range cfg.Sizes {
			fmt.Fprintf(w, " %s |", sizeLabel(n))
		}
		fmt.Fprintf(w, "\n|---|%s\n", strings.Repeat("---:|", len(cfg.Sizes)))
	}
	var notes []string
	cell := func(row, kind string, size int, f func(payloadCell) float64,
		format func(v float64) string,
	) string {
		if err := fails[row][fmt.Sprintf("%s %s", kind, sizeLabel(size))]; err != nil {
			notes = append(notes, fmt.Sprintf("%s, %s %s: %v", row, kind,
				sizeLabel(size), err))
			return fmt.Sprintf("fail[^%d]", len(notes))
		}
		v, ok := cellMedian(res[row][kind][size], f)
		if !ok {
			return "–"
		}
		return format(v)
	}
	rate := func(c payloadCell) float64 { return c.rate }
	for _, kind := range payloadKinds {
		head(fmt.Sprintf("Throughput, %s data: MB/s (× raw TCP in the same run)", kind))
		for _, row := range rows {
			if row.kinds != nil && !contains(row.kinds, kind) {
				continue
			}
			fmt.Fprintf(w, "| %s |", row.name)
			for _, n := range cfg.Sizes {
				tcp, tok := cellMedian(res["tcp"][kind][n], rate)
				fmt.Fprintf(w, " %s |", cell(row.name, kind, n, rate,
					func(v float64) string {
						if row.name == "tcp" || !tok || tcp == 0 {
							return fmt.Sprintf("%.0f", v)
						}
						return fmt.Sprintf("%.0f (%.2f×)", v, v/tcp)
					}))
			}
			fmt.Fprintln(w)
		}
	}
	head("Peak heap of one transfer, random data (× payload size; client and server together, garbage included)")
	for _, row := range rows {
		if row.kinds != nil && !contains(row.kinds, "random") {
			continue
		}
		fmt.Fprintf(w, "| %s |", row.name)
		for _, n := range cfg.Sizes {
			fmt.Fprintf(w, " %s |", cell(row.name, "random", n,
				func(c payloadCell) float64 { return c.peak },
				func(v float64) string {
					return fmt.Sprintf("%s (%.1f×)", sizeLabelF(v), v/float64(n))
				}))
		}
		fmt.Fprintln(w)
	}
	head("Bytes on the wire per payload, text data (% of the payload)")
	for _, row := range rows {
		fmt.Fprintf(w, "| %s |", row.name)
		for _, n := range cfg.Sizes {
			fmt.Fprintf(w, " %s |", cell(row.name, "text", n,
				func(c payloadCell) float64 { return c.wire },
				func(v float64) string {
					return fmt.Sprintf("%s (%.0f%%)", sizeLabelF(v), 100*v/float64(n))
				}))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nMedians of %d interleaved rounds; about %s moved per cell (at least %d payloads, at most 2,000).\n",
		cfg.Rounds, sizeLabel(cfg.Bytes), cfg.MinReps)
	for i, n := range notes {
		fmt.Fprintf(w, "\n[^%d]: %s\n", i+1, n)
	}
}
