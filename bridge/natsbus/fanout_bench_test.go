package natsbus_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge/natsbus"
)

// The fan-out measurement (docs/nats.md, "Measurements"): one worker in
// this process (the bridge), its watchers in a child process, for the
// direct aRPC Mux and for NATS, where the child also runs the NATS server
// (it is another process in production too), so that this process's CPU
// is the bridge's alone.
//
//	go test -run '^$' -bench BenchmarkFanOut -benchtime 50x ./bridge/natsbus
//
// NATSBUS_BENCH_WATCHERS (default "1000") lists the watcher counts, e.g.
// "1000,10000".

func benchWatchers() []int {
	spec := os.Getenv("NATSBUS_BENCH_WATCHERS")
	if spec == "" {
		spec = "1000"
	}
	var out []int
	for _, f := range strings.Split(spec, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

// Child modes: mux (arpc clients of a Mux), nats (natsbus clients, each an
// arpc.Worker with its own ordered consumer), core (plain NATS
// subscriptions of the clock subject, the lightest possible watcher).
const childEnv = "NATSBUS_FANOUT_CHILD"

// TestFanOutChild is the watcher side of BenchmarkFanOut, in a child
// process; it does nothing otherwise. Protocol on stdout/stdin: nats and
// core modes print "NATS url", wait for "GO"; every mode prints READY once
// its watchers are in sync, then answers each "ARM tick" with ARMED and,
// when every watcher saw state E reach tick (or, in core mode, got the
// next clock message), "GOT" and the receive times (unix ns).
func TestFanOutChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("child of BenchmarkFanOut only")
	}
	n, _ := strconv.Atoi(os.Getenv("NATSBUS_CHILD_N"))
	addr := os.Getenv("NATSBUS_CHILD_ADDR")
	in := bufio.NewScanner(os.Stdin)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var arm func(tick uint64) []int64
	switch mode {
	case "mux":
		cs := make([]*arpc.Client, n)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for i := range cs {
			c, err := arpc.NewClient(ctx, addr, fmt.Sprintf("m%d", i), testSchema,
				testNames, nil)
			require.NoError(t, err)
			cs[i] = c
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				c.Start()
				<-c.Mach.When1(ss.ClientStates.Ready, ctx)
			})
		}
		wg.Wait()
		defer func() {
			sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
			defer scancel()
			for _, c := range cs {
				wg.Go(func() { c.Stop(sctx, true) })
			}
			wg.Wait()
		}()
		arm = func(tick uint64) []int64 {
			ws := make([]*arpc.Worker, len(cs))
			for i, c := range cs {
				ws[i] = c.Worker
			}
			return armWorkers(ctx, ws, tick)
		}
	case "nats", "core":
		s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			MaxPayload: 1 << 20})
		require.NoError(t, err)
		s.Start()
		require.True(t, s.ReadyForConnections(10*time.Second))
		defer stopNATS(s)
		fmt.Println("NATS " + s.ClientURL())
		require.True(t, in.Scan())
		conns := make([]*nats.Conn, max(1, n/100))
		for i := range conns {
			conns[i], err = nats.Connect(s.ClientURL())
			require.NoError(t, err)
			defer conns[i].Close()
		}
		if mode == "core" {
			var mx sync.Mutex
			got := make([]int64, n)
			armed := false
			for i := range n {
				_, err := conns[i%len(conns)].Subscribe(natsbus.ClockSubject("fan"),
					func(*nats.Msg) {
						now := time.Now().UnixNano()
						mx.Lock()
						if armed && got[i] == 0 {
							got[i] = now
						}
						mx.Unlock()
					})
				require.NoError(t, err)
			}
			for _, nc := range conns {
				require.NoError(t, nc.Flush())
			}
			arm = func(uint64) []int64 {
				mx.Lock()
				clear(got)
				armed = true
				mx.Unlock()
				fmt.Println("ARMED")
				deadline := time.Now().Add(10 * time.Second)
				for time.Now().Before(deadline) {
					mx.Lock()
					done := !slices.Contains(got, 0)
					mx.Unlock()
					if done {
						break
					}
					time.Sleep(time.Millisecond)
				}
				mx.Lock()
				defer mx.Unlock()
				armed = false
				return slices.Clone(got)
			}
			break
		}
		cs := make([]*natsbus.Client, n)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for i := range cs {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				c, err := natsbus.Dial(ctx, conns[i%len(conns)], "fan", testSchema,
					testNames, &natsbus.ClientOpts{Name: fmt.Sprintf("n%d", i),
						ConnTimeout: time.Minute})
				if err != nil {
					t.Error(err)
					return
				}
				cs[i] = c
			})
		}
		wg.Wait()
		defer func() {
			for _, c := range cs {
				if c != nil {
					_ = c.Close()
				}
			}
		}()
		arm = func(tick uint64) []int64 {
			ws := make([]*arpc.Worker, len(cs))
			for i, c := range cs {
				ws[i] = c.Worker
			}
			return armWorkers(ctx, ws, tick)
		}
	default:
		t.Fatalf("mode %q", mode)
	}
	fmt.Println("READY")
	for in.Scan() {
		var tick uint64
		if _, err := fmt.Sscanf(in.Text(), "ARM %d", &tick); err != nil {
			t.Fatalf("bad line %q", in.Text())
		}
		got := arm(tick)
		line := []byte("GOT")
		for _, g := range got {
			line = strconv.AppendInt(append(line, ' '), g, 10)
		}
		fmt.Println(string(line))
	}
}

// armWorkers waits, on every replica, for E to reach tick; it prints ARMED
// once the waits are in place.
func armWorkers(ctx context.Context, ws []*arpc.Worker, tick uint64) []int64 {
	got := make([]int64, len(ws))
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i, w := range ws {
		ch := w.WhenTime1("E", tick, wctx)
		wg.Go(func() {
			select {
			case <-ch:
				got[i] = time.Now().UnixNano()
			case <-wctx.Done():
			}
		})
	}
	fmt.Println("ARMED")
	wg.Wait()
	return got
}

type child struct {
	b     *testing.B
	cmd   *exec.Cmd
	stdin io.WriteCloser
	sc    *bufio.Scanner
}

func startChild(b *testing.B, mode, addr string, n int) *child {
	cmd := exec.Command(os.Args[0], "-test.run=^TestFanOutChild$",
		"-test.timeout=30m")
	cmd.Env = append(os.Environ(), childEnv+"="+mode,
		"NATSBUS_CHILD_N="+strconv.Itoa(n), "NATSBUS_CHILD_ADDR="+addr)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(b, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 24*n+1024)
	return &child{b: b, cmd: cmd, stdin: stdin, sc: sc}
}

func (c *child) next(prefix string) string {
	for c.sc.Scan() {
		if l := c.sc.Text(); strings.HasPrefix(l, prefix) {
			return l
		}
	}
	c.b.Fatalf("child ended before %s: %v", prefix, c.sc.Err())
	return ""
}

func (c *child) stop() {
	_ = c.stdin.Close()
	for c.sc.Scan() {
	}
	require.NoError(c.b, c.cmd.Wait())
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFanOut reports, per door and watcher count, the time from one
// worker change until each watcher (p50, p99) and all of them (p99) see
// it, and the bridge process's CPU per change; for NATS also the bytes the
// bridge publishes per change (stream message and KV snapshot).
func BenchmarkFanOut(b *testing.B) {
	for _, n := range benchWatchers() {
		for _, mode := range []string{"mux", "nats", "core"} {
			b.Run(fmt.Sprintf("%s/%d", mode, n), func(b *testing.B) {
				benchFanOut(b, mode, n)
			})
		}
	}
}

func benchFanOut(b *testing.B, mode string, n int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := am.NewCommon(ctx, "fan", testSchema, testNames, nil, nil, nil)
	require.NoError(b, err)
	defer w.Dispose()

	var ch *child
	var pub *natsbus.Publisher
	if mode == "mux" {
		m, err := arpc.NewMux(ctx, "fan", func(num int, _ net.Conn) (
			*arpc.Server, error,
		) {
			return arpc.NewServer(ctx, "", fmt.Sprintf("fan-%d", num), w, nil)
		}, nil)
		require.NoError(b, err)
		m.Addr = "127.0.0.1:0"
		m.Start()
		defer m.Stop(true)
		<-m.Mach.When1(ss.MuxStates.Ready, ctx)
		ch = startChild(b, mode, m.Addr, n)
	} else {
		ch = startChild(b, mode, "", n)
		url := strings.TrimPrefix(ch.next("NATS "), "NATS ")
		nc, err := nats.Connect(url)
		require.NoError(b, err)
		defer nc.Close()
		pub, err = natsbus.NewPublisher(ctx, nc, w, &natsbus.PublisherOpts{
			Memory: true})
		require.NoError(b, err)
		defer pub.Close()
		_, err = io.WriteString(ch.stdin, "GO\n")
		require.NoError(b, err)
	}
	ch.next("READY")
	var before natsbus.PublisherStats
	if pub != nil {
		before = pub.Stats()
	}
	var each, all []time.Duration
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		want := w.Tick("E") + 1
		if w.Is1("E") {
			want++
		}
		_, err := fmt.Fprintf(ch.stdin, "ARM %d\n", want)
		require.NoError(b, err)
		ch.next("ARMED")
		c0 := cpuTime()
		t0 := time.Now()
		w.Add1("E", nil)
		line := ch.next("GOT")
		// the bridge's CPU until every watcher has the change, without
		// this benchmark's parsing of the watchers' report
		cpu += cpuTime() - c0
		fields := strings.Fields(line)[1:]
		require.Len(b, fields, n)
		var worst time.Duration
		for _, f := range fields {
			at, err := strconv.ParseInt(f, 10, 64)
			require.NoError(b, err)
			require.NotZero(b, at, "a watcher missed the change")
			lat := time.Unix(0, at).Sub(t0)
			each = append(each, lat)
			worst = max(worst, lat)
		}
		all = append(all, worst)
		// each change after a quiet period, sent at once
		time.Sleep(2 * engine.DefaultMaxDelay)
	}
	b.StopTimer()
	ch.stop()
	slices.Sort(each)
	slices.Sort(all)
	p := func(s []time.Duration, q float64) float64 {
		return float64(s[min(len(s)-1, int(float64(len(s))*q))].Microseconds()) /
			1000
	}
	b.ReportMetric(float64(n), "watchers")
	b.ReportMetric(p(each, 0.5), "p50-each-ms")
	b.ReportMetric(p(each, 0.99), "p99-each-ms")
	b.ReportMetric(p(all, 0.99), "p99-all-ms")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "bridge-cpu-us/change")
	if pub != nil {
		st := pub.Stats()
		u := float64(st.Updates - before.Updates)
		b.ReportMetric(float64(st.Bytes-before.Bytes)/u, "stream-B/change")
		b.ReportMetric(float64(st.SnapshotBytes-before.SnapshotBytes)/u,
			"kv-B/change")
	}
}
