package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"
)

func main() {
	var (
		rounds   = flag.Int("rounds", 5, "rounds per scenario (fan-out runs at most 3)")
		baseline = flag.String("baseline", "upstream-arpc", "transport the ratios refer to")
		fallback = flag.String("fallback", "grpc", "transport the ratios of a column refer to where the baseline has no result (none: no ratios there)")
		only     = flag.String("transports", "", "comma-separated transports (default: all)")
		scens    = flag.String("scenarios", "", "comma-separated scenarios: sgp,rt,burst,fanout,fanout-spaced,throughput,payload (default: all)")
		quick    = flag.Bool("quick", false, "small sizes, for a quick look (not comparable with full runs)")
		write    = flag.Bool("write", false, "update README.md and chart.svg in -dir")
		dir      = flag.String("dir", "benchmark", "directory of README.md and chart.svg")
		timeout  = flag.Duration("timeout", 90*time.Second, "bound on one measurement")
		list     = flag.Bool("list", false, "list transports and exit")
		quiet    = flag.Bool("q", false, "no progress lines")
		soak     = flag.Duration("soak", 0, "run a soak of this duration instead of the comparison (see README.md#soak)")
		soakA    = flag.Int("soak-arpc", 1000, "soak: aRPC clients")
		soakG    = flag.Int("soak-grpc", 200, "soak: gRPC clients")
		soakR    = flag.Float64("soak-rate", 20, "soak: mutations per second, over all clients")
		soakC    = flag.Float64("soak-churn", 0.10, "soak: share of the clients replaced per minute")
		soakS    = flag.Duration("soak-sample", 10*time.Second, "soak: sampling interval")
		soakSync = flag.String("soak-sync", "always", "soak: the server's --sync")
		dial     = flag.Bool("dial", false, "measure dial-to-Ready and heap per idle client of our doors with and without TLS, then exit")
		dialN    = flag.Int("dial-n", 200, "dials per row for -dial")
		dialIdle = flag.Int("dial-idle", 500, "idle clients per row for -dial's heap figure")
		payloads = flag.Bool("payloads", false, "compare payloads of 1 KiB to 64 MiB, random and compressible, over raw TCP and both doors (with gRPC compression), then exit; -rounds applies (default 7 here)")
		pRows    = flag.String("payload-rows", "", "-payloads: comma-separated rows besides raw TCP (default: all)")
		pBytes   = flag.Int("payload-bytes", 0, "-payloads: bytes to move per cell (default 64 MiB; more reps reach a steadier heap)")
		pKinds   = flag.String("payload-kinds", "", "-payloads: comma-separated data kinds: random,text (default: both)")
		wire     = flag.Bool("wire", false, "measure the aRPC encodings (a mutation with 20 args, gob vs msgpack) and compressions (a Get value, a full snapshot), then exit")
		wireN    = flag.Int("wire-n", 5000, "round trips per encoding for -wire")
	)
	flag.Parse()
	if *soak > 0 {
		os.Exit(runSoakMain(SoakConfig{Duration: *soak, ARPC: *soakA, GRPC: *soakG,
			Rate: *soakR, Churn: *soakC, Sample: *soakS, Sync: *soakSync},
			*write, *dir, *quiet))
	}

	if *dial {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		if err := runDial(ctx, os.Stdout, *dialN, *dialIdle); err != nil {
			fmt.Fprintln(os.Stderr, "dial:", err)
			os.Exit(1)
		}
		return
	}

	if *payloads {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		cfg := DefaultPayloadCmp()
		flag.Visit(func(f *flag.Flag) {
			if f.Name == "rounds" {
				cfg.Rounds = *rounds
			}
		})
		if *quick {
			cfg.Sizes, cfg.Bytes = []int{1 << 10, 64 << 10, 1 << 20}, 4<<20
		}
		if *pRows != "" {
			cfg.Rows = strings.Split(*pRows, ",")
		}
		if *pBytes > 0 {
			cfg.Bytes = *pBytes
		}
		if *pKinds != "" {
			cfg.Kinds = strings.Split(*pKinds, ",")
		}
		var progress io.Writer = os.Stderr
		if *quiet {
			progress = nil
		}
		if err := runPayloadCmp(ctx, os.Stdout, progress, cfg); err != nil {
			fmt.Fprintln(os.Stderr, "payloads:", err)
			os.Exit(1)
		}
		return
	}

	if *wire {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		if err := runWire(ctx, os.Stdout, *wireN); err != nil {
			fmt.Fprintln(os.Stderr, "wire:", err)
			os.Exit(1)
		}
		return
	}

	if *list {
		for _, t := range Transports() {
			fmt.Printf("%-20s %s\n", t.Name(), t.Desc())
		}
		return
	}

	cfg := RunConfig{
		Rounds:   *rounds,
		Baseline: *baseline,
		Fallback: *fallback,
		Timeout:  *timeout,
	}
	if *quick {
		cfg.Sizes = QuickSizes()
	}
	if *only != "" {
		for _, name := range strings.Split(*only, ",") {
			t := TransportByName(strings.TrimSpace(name))
			if t == nil {
				fmt.Fprintf(os.Stderr, "unknown transport %q (see -list)\n", name)
				os.Exit(2)
			}
			cfg.Transports = append(cfg.Transports, t)
		}
	}
	if *scens != "" {
		for _, s := range strings.Split(*scens, ",") {
			cfg.Scenarios = append(cfg.Scenarios, strings.TrimSpace(s))
		}
	}
	if !*quiet {
		cfg.Progress = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, format+"\n", args...)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		os.Exit(1)
	}
	res.WriteMachine(os.Stdout)
	fmt.Println()
	res.WriteMarkdown(os.Stdout)
	if *write {
		if err := res.WriteFiles(*dir); err != nil {
			fmt.Fprintln(os.Stderr, "write:", err)
			os.Exit(1)
		}
	}
}

// runSoakMain runs a soak and prints (and with write, stores) its report.
func runSoakMain(cfg SoakConfig, write bool, dir string, quiet bool) int {
	if !quiet {
		cfg.Progress = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, format+"\n", args...)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := RunSoak(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	res.WriteMarkdown(os.Stdout)
	if write {
		if err := res.WriteFiles(dir); err != nil {
			fmt.Fprintln(os.Stderr, "write:", err)
			return 1
		}
	}
	return 0
}
