package arpc_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

// benchClients is how many clients the mux benchmarks connect: 1000, or
// ARPC_BENCH_CLIENTS.
func benchClients() int {
	if n, err := strconv.Atoi(os.Getenv("ARPC_BENCH_CLIENTS")); err == nil && n > 0 {
		return n
	}
	return 1000
}

// connectAll starts n clients of addr, at most par at a time, and waits
// until all are Ready.
func connectAll(tb testing.TB, ctx context.Context, addr string, n int,
	prefix string,
) []*arpc.Client {
	tb.Helper()
	cs := make([]*arpc.Client, n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range cs {
		cs[i] = muxClient(tb, ctx, addr, fmt.Sprintf("%s%d", prefix, i))
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cs[i].Start()
			select {
			case <-cs[i].Mach.When1(ss.ClientStates.Ready, nil):
			case <-time.After(30 * time.Second):
				tb.Errorf("client %d not Ready: %v", i, cs[i].Mach.Err())
			}
		})
	}
	wg.Wait()
	return cs
}

func heapAlloc() uint64 {
	h, _ := memInUse()
	return h
}

// memInUse returns the live heap and the goroutine stacks in use, after GC.
func memInUse() (heap, stacks uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.StackInuse
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// BenchmarkMuxFanOut connects benchClients() clients to one worker through
// a Mux (both sides in this process) and reports the connect-all time, the
// memory and goroutines per idle client (client and server side together),
// and the time from one worker mutation until each client, and all of
// them, see it.
func BenchmarkMuxFanOut(b *testing.B) {
	n := benchClients()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(b, ctx)
	m := startMux(b, ctx, w, nil)

	baseHeap, baseG := heapAlloc(), runtime.NumGoroutine()
	start := time.Now()
	cs := connectAll(b, ctx, m.Addr, n, "f")
	connectAllT := time.Since(start)
	defer stopClients(b, cs)
	heap := heapAlloc()
	g := runtime.NumGoroutine()

	var each, all []time.Duration
	b.ResetTimer()
	for range b.N {
		want := w.Tick("E") + 1
		if w.Is1("E") {
			want++
		}
		// the waiters are in place before the mutation, so that the timed
		// window holds the fan-out only, not the spawning of n goroutines
		lat := make([]time.Duration, n)
		var wg sync.WaitGroup
		var t0 time.Time
		start := make(chan struct{})
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		for i, c := range cs {
			ch := c.Worker.WhenTime1("E", want, wctx)
			wg.Go(func() {
				<-start
				select {
				case <-ch:
					lat[i] = time.Since(t0)
				case <-wctx.Done():
					lat[i] = 10 * time.Second
				}
			})
		}
		t0 = time.Now()
		close(start)
		w.Add1("E", nil)
		wg.Wait()
		wcancel()
		each = append(each, lat...)
		all = append(all, slices.Max(lat))
		// let the busy period pass for every session (its clock starts when
		// its push was written), so each round is a first change after a
		// quiet period, not a throttled one
		time.Sleep(2 * engine.DefaultMaxDelay)
	}
	b.StopTimer()
	b.ReportMetric(float64(n), "clients")
	b.ReportMetric(connectAllT.Seconds()*1000, "connect-all-ms")
	b.ReportMetric(float64(heap-min(heap, baseHeap))/float64(n)/1024,
		"KiB/client(both-sides)")
	b.ReportMetric(float64(g-baseG)/float64(n), "goroutines/client(both-sides)")
	reportFanOut(b, each, all)
}

// BenchmarkMuxServerSideMemory connects benchClients() clients from a child
// process and reports the heap and goroutines this (server) process spends
// per idle client.
func BenchmarkMuxServerSideMemory(b *testing.B) {
	n := benchClients()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(b, ctx)
	m := startMux(b, ctx, w, nil)
	// warm up one client, so first-use allocations are not counted
	warm := connectAll(b, ctx, m.Addr, 1, "warm")
	stopClients(b, warm)
	waitMuxEmpty(b, m)

	for range b.N {
		baseHeap, baseStacks := memInUse()
		baseG := runtime.NumGoroutine()
		start := time.Now()
		child := startChildClients(b, m.Addr, n)
		connectAllT := time.Since(start)
		require.Equal(b, n, m.Stats().Clients)
		heap, stacks := memInUse()
		g := runtime.NumGoroutine()
		child.stop()
		waitMuxEmpty(b, m)

		b.ReportMetric(float64(n), "clients")
		b.ReportMetric(connectAllT.Seconds()*1000, "connect-all-ms(incl-exec)")
		b.ReportMetric(float64(heap-min(heap, baseHeap))/float64(n)/1024,
			"KiB/client(server)")
		b.ReportMetric(float64(stacks-min(stacks, baseStacks))/float64(n)/1024,
			"stack-KiB/client(server)")
		b.ReportMetric(float64(g-baseG)/float64(n), "goroutines/client(server)")
	}
}

// TestMuxChildClients is the client side of BenchmarkMuxServerSideMemory
// and BenchmarkMuxFanOutRemote, run in a child process; it does nothing
// otherwise. It connects its clients, prints READY and then serves the
// parent's lines on stdin until EOF: "ARM want" arms a wait on every client
// for state E reaching tick want and prints ARMED; once all waits fired it
// prints GOT and every client's receive time (unix nanoseconds).
func TestMuxChildClients(t *testing.T) {
	addr := os.Getenv("ARPC_CHILD_ADDR")
	if addr == "" {
		t.Skip("child of the mux benchmarks only")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs := connectAll(t, ctx, addr, benchClients(), "child")
	fmt.Println("READY")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var want uint64
		if _, err := fmt.Sscanf(sc.Text(), "ARM %d", &want); err != nil {
			t.Errorf("bad line %q: %v", sc.Text(), err)
			break
		}
		got := make([]int64, len(cs))
		var wg sync.WaitGroup
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		for i, c := range cs {
			ch := c.Worker.WhenTime1("E", want, wctx)
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
		wcancel()
		line := make([]byte, 0, 20*len(got)+4)
		line = append(line, "GOT"...)
		for _, n := range got {
			line = strconv.AppendInt(append(line, ' '), n, 10)
		}
		fmt.Println(string(line))
	}
	stopClients(t, cs)
}

// BenchmarkMuxFanOutRemote is BenchmarkMuxFanOut with the clients in a
// child process, as they would be on other hosts: the server's writes and
// the clients' reads then run side by side instead of sharing one
// scheduler. It reports the time from one worker mutation until each
// client, and all of them, see it (clocks of one machine).
func BenchmarkMuxFanOutRemote(b *testing.B) {
	n := benchClients()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(b, ctx)
	m := startMux(b, ctx, w, nil)

	child := startChildClients(b, m.Addr, n)
	require.Equal(b, n, m.Stats().Clients)

	var each, all []time.Duration
	b.ResetTimer()
	for range b.N {
		want := w.Tick("E") + 1
		if w.Is1("E") {
			want++
		}
		_, err := fmt.Fprintf(child.stdin, "ARM %d\n", want)
		require.NoError(b, err)
		child.next("ARMED")
		t0 := time.Now()
		w.Add1("E", nil)
		fields := strings.Fields(child.next("GOT"))[1:]
		require.Len(b, fields, n)
		var worst time.Duration
		for _, f := range fields {
			at, err := strconv.ParseInt(f, 10, 64)
			require.NoError(b, err)
			require.NotZero(b, at, "a client missed the change")
			lat := time.Unix(0, at).Sub(t0)
			each = append(each, lat)
			worst = max(worst, lat)
		}
		all = append(all, worst)
		// each round is a first change after a quiet period (see
		// BenchmarkMuxFanOut)
		time.Sleep(2 * engine.DefaultMaxDelay)
	}
	b.StopTimer()
	child.stop()
	waitMuxEmpty(b, m)
	b.ReportMetric(float64(n), "clients")
	reportFanOut(b, each, all)
}

// childClients is a child process running TestMuxChildClients.
type childClients struct {
	tb    testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser
	sc    *bufio.Scanner
}

// startChildClients starts a child process with n clients of addr and waits
// until they are all Ready.
func startChildClients(tb testing.TB, addr string, n int) *childClients {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMuxChildClients$")
	cmd.Env = append(os.Environ(), "ARPC_CHILD_ADDR="+addr,
		"ARPC_BENCH_CLIENTS="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	require.NoError(tb, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(tb, err)
	require.NoError(tb, cmd.Start())
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 32*n+64)
	c := &childClients{tb: tb, cmd: cmd, stdin: stdin, sc: sc}
	c.next("READY")
	return c
}

// next returns the child's next line starting with prefix.
func (c *childClients) next(prefix string) string {
	c.tb.Helper()
	for c.sc.Scan() {
		if line := c.sc.Text(); strings.HasPrefix(line, prefix) {
			return line
		}
	}
	c.tb.Fatalf("child ended before %s: %v", prefix, c.sc.Err())
	return ""
}

// stop ends the child: its clients say goodbye.
func (c *childClients) stop() {
	c.tb.Helper()
	_ = c.stdin.Close()
	for c.sc.Scan() {
	}
	require.NoError(c.tb, c.cmd.Wait())
}

// reportFanOut reports percentiles of the per-client and all-clients
// fan-out times.
func reportFanOut(b *testing.B, each, all []time.Duration) {
	slices.Sort(each)
	slices.Sort(all)
	b.ReportMetric(float64(pct(each, 0.5).Microseconds())/1000, "p50-each-ms")
	b.ReportMetric(float64(pct(each, 0.99).Microseconds())/1000, "p99-each-ms")
	b.ReportMetric(float64(pct(all, 0.5).Microseconds())/1000, "p50-all-ms")
	b.ReportMetric(float64(pct(all, 0.99).Microseconds())/1000, "p99-all-ms")
}

// BenchmarkResumeBytes: a client misses 10k worker mutations during a 1 s
// disconnection of a worker with a wide schema (100 states, all active;
// the mutations hit 7 Multi ones); it reports the bytes the client receives to resume, and those of a
// full resync (a fresh client's handshake).
func BenchmarkResumeBytes(b *testing.B) {
	const states = 100
	schema := am.Schema{}
	maps := func(s am.Schema) am.Schema { return am.SchemaMerge(ss.WorkerSchema, s) }
	names := ss.WorkerStates.Names()
	for i := range states {
		name := fmt.Sprintf("S%03d", i)
		schema[name] = am.State{Multi: i < 7}
		names = append(names, name)
	}
	schema = maps(schema)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := am.NewCommon(ctx, "w-wide", schema, names, nil, nil, nil)
	require.NoError(b, err)
	defer w.Dispose()
	w.Add(names[len(ss.WorkerStates.Names()):], nil)

	// a switchable link: a proxy we can refuse new connections on
	var (
		mx      sync.Mutex
		refuse  bool
		conns   []net.Conn
		backend = startMux(b, ctx, w, nil)
	)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mx.Lock()
			if refuse {
				mx.Unlock()
				_ = c.Close()
				continue
			}
			s, err := net.Dial("tcp", backend.Addr)
			if err != nil {
				mx.Unlock()
				_ = c.Close()
				continue
			}
			conns = append(conns, c, s)
			mx.Unlock()
			go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
			go func() { _, _ = io.Copy(c, s); _ = c.Close() }()
		}
	}()
	cut := func(on bool) {
		mx.Lock()
		defer mx.Unlock()
		refuse = on
		if on {
			for _, c := range conns {
				_ = c.Close()
			}
			conns = nil
		}
	}

	for range b.N {
		c, err := arpc.NewClient(ctx, lis.Addr().String(), "resume", schema, names,
			nil)
		require.NoError(b, err)
		c.ConnRetryDelay = 10 * time.Millisecond
		c.ConnRetryBackoff = 50 * time.Millisecond
		c.ConnRetries = 1000
		c.Start()
		waitState(b, c.Mach, ss.ClientStates.Ready)
		firstIn := c.Stats().BytesIn

		// the client may pass Disconnected and be Connecting again before
		// a When1 could see it: wait for the tick instead
		lost := c.Mach.WhenTicks(ss.ClientStates.Disconnected, 1, nil)
		cut(true)
		select {
		case <-lost:
		case <-time.After(30 * time.Second):
			b.Fatalf("the client did not notice the cut: %s", c.Mach.StringAll())
		}
		start := time.Now()
		for i := range 10_000 {
			w.Add1(names[len(ss.WorkerStates.Names())+i%7], nil)
		}
		time.Sleep(time.Second - time.Since(start)) // the 1 s disconnection
		before := c.Stats().BytesIn
		cut(false)
		want := w.Time(nil)
		select {
		case <-c.Worker.WhenTime(names, want, nil):
		case <-time.After(30 * time.Second):
			b.Fatalf("the client did not resume within 30 s: %s, err %v",
				c.Mach.StringAll(), c.Mach.Err())
		}
		resumeIn := c.Stats().BytesIn - before
		b.ReportMetric(float64(firstIn), "full-handshake-bytes")
		b.ReportMetric(float64(resumeIn), "resume-bytes")
		b.ReportMetric(float64(c.Stats().FullSyncs), "full-resyncs")
		stop, cancelStop := context.WithTimeout(context.Background(), 5*time.Second)
		c.Stop(stop, true)
		cancelStop()
	}
}
