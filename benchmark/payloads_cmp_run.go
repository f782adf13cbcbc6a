package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
)

// payloadResults are the samples of every cell: row → kind → size.
type payloadResults map[string]map[string]map[int][]payloadCell

// failures are the first error of a cell, row → "kind size".
type payloadFailures map[string]map[string]error

// payloadSetup is one row's peer in one round.
type payloadSetup struct {
	row  payloadRow
	env  *Env
	peer payloadPeer
	// broken: a failed transfer may leave the session unusable
	broken bool
}

// runPayloadCmp runs the comparison and writes its markdown to w; progress,
// when not nil, gets a line per cell. Every round sets up all rows, then
// measures cell by cell (kind, size) with the rows' order rotated per cell,
// so that raw TCP and the doors meet the same load of a shared machine; a
// row's ratio to raw TCP is taken per round, and the report shows the
// median of those ratios.
func runPayloadCmp(ctx context.Context, w, progress io.Writer,
	cfg PayloadCmpConfig,
) error {
	rows := selectPayloadRows(payloadRows(), cfg.Rows)
	kinds := payloadKinds
	if cfg.Kinds != nil {
		kinds = cfg.Kinds
	}
	res := payloadResults{}
	fails := payloadFailures{}
	for _, row := range rows {
		res[row.name] = map[string]map[int][]payloadCell{}
		fails[row.name] = map[string]error{}
		for _, kind := range kinds {
			res[row.name][kind] = map[int][]payloadCell{}
		}
	}
	for r := range cfg.Rounds {
		if err := runPayloadRound(ctx, rows, kinds, cfg, res, fails, progress,
			r); err != nil {
			return err
		}
	}
	writePayloadReport(w, cfg, rows, kinds, res, fails)
	return nil
}

// selectPayloadRows keeps the named rows (all for none); raw TCP always
// stays, as the ratios refer to it.
func selectPayloadRows(rows []payloadRow, names []string) []payloadRow {
	if names == nil {
		return rows
	}
	var out []payloadRow
	for _, row := range rows {
		if row.name == "tcp" || contains(names, row.name) {
			out = append(out, row)
		}
	}
	return out
}

// runPayloadRound sets up every row and measures every cell once.
func runPayloadRound(ctx context.Context, rows []payloadRow, kinds []string,
	cfg PayloadCmpConfig, res payloadResults, fails payloadFailures,
	progress io.Writer, round int,
) (err error) {
	setups := make([]*payloadSetup, 0, len(rows))
	defer func() {
		for _, s := range setups {
			err = errors.Join(err, s.peer.Close(), s.env.Close())
		}
	}()
	for _, row := range rows {
		env := &Env{}
		p, err := row.setup(ctx, env)
		if err != nil {
			_ = env.Close()
			return fmt.Errorf("%s: setup: %w", row.name, err)
		}
		setups = append(setups, &payloadSetup{row: row, env: env, peer: p})
	}
	cellN := 0
	for _, kind := range kinds {
		for _, size := range cfg.Sizes {
			key := fmt.Sprintf("%s %s", kind, sizeLabel(size))
			reps := min(max(cfg.Bytes/size, cfg.MinReps), 2_000)
			// one payload per cell, so that the heap's baseline holds one
			// payload only (the GC lets garbage grow with the live heap)
			data := payloadData(kind, size)
			for i := range setups {
				s := setups[(i+round+cellN)%len(setups)]
				if s.broken || fails[s.row.name][key] != nil ||
					(s.row.kinds != nil && !contains(s.row.kinds, kind)) {
					continue
				}
				measurePayloadInto(ctx, s, data, reps, key, cfg, res, fails,
					progress, round)
				runtime.GC()
			}
			cellN++
		}
	}
	return nil
}

// measurePayloadInto measures one cell of one row and records it.
func measurePayloadInto(ctx context.Context, s *payloadSetup, data []byte,
	reps int, key string, cfg PayloadCmpConfig, res payloadResults,
	fails payloadFailures, progress io.Writer, round int,
) {
	name, kind := s.row.name, strings.Fields(key)[0]
	cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	c, err := measurePayloadCell(cctx, s.peer, s.env, data, reps)
	cancel()
	if err != nil {
		fails[name][key] = err
		s.broken = true
		if progress != nil {
			fmt.Fprintf(progress, "round %d %s %s: FAIL %v\n", round+1, name,
				key, err)
		}
		return
	}
	c.round = round
	res[name][kind][len(data)] = append(res[name][kind][len(data)], c)
	if progress != nil {
		fmt.Fprintf(progress, "round %d %-17s %-12s %8.1f MB/s  peak %6.1f MiB  wire %s/payload\n",
			round+1, name, key, c.rate, c.peak/(1<<20), sizeLabelF(c.wire))
	}
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

// ratioMedian is the median over rounds of a cell's throughput divided by
// raw TCP's in the same round; ok is false without a round that has both.
func ratioMedian(cs, tcp []payloadCell) (float64, bool) {
	var xs []float64
	for _, c := range cs {
		for _, t := range tcp {
			if t.round == c.round && t.rate > 0 {
				xs = append(xs, c.rate/t.rate)
			}
		}
	}
	if len(xs) == 0 {
		return 0, false
	}
	return median(xs), true
}
func writePayloadReport(w io.Writer, cfg PayloadCmpConfig, rows []payloadRow,
	kinds []string, res payloadResults, fails payloadFailures,
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
	for _, kind := range kinds {
		head(fmt.Sprintf("Throughput, %s data: MB/s (median × raw TCP in the same round)", kind))
		for _, row := range rows {
			if row.kinds != nil && !contains(row.kinds, kind) {
				continue
			}
			fmt.Fprintf(w, "| %s |", row.name)
			for _, n := range cfg.Sizes {
				ratio, rok := ratioMedian(res[row.name][kind][n], res["tcp"][kind][n])
				fmt.Fprintf(w, " %s |", cell(row.name, kind, n, rate,
					func(v float64) string {
						if row.name == "tcp" || !rok {
							return fmt.Sprintf("%.0f", v)
						}
						return fmt.Sprintf("%.0f (%.2f×)", v, ratio)
					}))
			}
			fmt.Fprintln(w)
		}
	}
	if contains(kinds, "random") {
		writePeakTable(w, cfg, rows, head, cell)
	}
	if contains(kinds, "text") {
		writeWireTable(w, cfg, rows, head, cell)
	}
	fmt.Fprintf(w, "\nMedians of %d rounds, each with every row set up anew and the rows' order rotated cell by cell; ratios are the median of each round's ratio to raw TCP; about %s moved per cell (at least %d payloads, at most 2,000).\n",
		cfg.Rounds, sizeLabel(cfg.Bytes), cfg.MinReps)
	for i, n := range notes {
		fmt.Fprintf(w, "\n[^%d]: %s\n", i+1, n)
	}
}

// payloadCellFunc formats one cell of a report table.
type payloadCellFunc func(row, kind string, size int, f func(payloadCell) float64,
	format func(v float64) string) string

func writePeakTable(w io.Writer, cfg PayloadCmpConfig, rows []payloadRow,
	head func(string), cell payloadCellFunc,
) {
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
}

func writeWireTable(w io.Writer, cfg PayloadCmpConfig, rows []payloadRow,
	head func(string), cell payloadCellFunc,
) {
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
}
