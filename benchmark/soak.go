package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge"
)

// SoakConfig is a soak run: a real `bridge serve --state` process with many
// clients of both doors mutating steadily while some reconnect.
type SoakConfig struct {
	// Duration of the run after every client connected.
	Duration time.Duration
	// ARPC and GRPC are the client counts per door.
	ARPC, GRPC int
	// Churn is the share of clients that reconnect per minute.
	Churn float64
	// Rate is the mutations per second over all clients.
	Rate float64
	// Sample is the interval between two samples of the server.
	Sample time.Duration
	// Sync is the server's --sync mode.
	Sync string
	// Progress receives progress lines (nil: none).
	Progress func(format string, args ...any)
}

// SoakSample is one sample of the server process.
type SoakSample struct {
	At                  time.Duration
	Goroutines, FDs     float64
	HeapBytes, RSSBytes float64
	Clients             int
	Mutations, Errors   uint64
	// Replaced counts the clients replaced by churn so far.
	Replaced uint64
}

// SoakResult is a soak run's samples.
type SoakResult struct {
	Config  SoakConfig
	Machine SysInfo
	Samples []SoakSample
	// WarmUp is how many samples precede the flatness window.
	WarmUp int
}

// soakStates are the soak machine's states, after the worker states: each
// mutation adds the multi state M, so every one changes the clock.
const soakSchemaYAML = "id: soak\nstates:\n  - name: M\n    multi: true\n" +
	"  - name: A\n  - name: B\n    remove: [A]\n"

func soakSchema() (am.Schema, am.S) {
	return am.SchemaMerge(ss.WorkerSchema, am.Schema{"M": {Multi: true}, "A": {},
		"B": {Remove: am.S{"A"}}}), am.SAdd(ss.WorkerStates.Names(), am.S{"M", "A", "B"})
}

var soakListening = regexp.MustCompile(` on (\S+) \(aRPC, gRPC, HTTP\)$`)

// RunSoak builds cmd/bridge, serves the soak machine with it and drives it.
func RunSoak(ctx context.Context, cfg SoakConfig) (*SoakResult, error) {
	progress := cfg.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	dir, err := os.MkdirTemp("", "bridge-soak")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bridge")
	progress("soak: building cmd/bridge")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/bridge")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	schema := filepath.Join(dir, "soak.yaml")
	if err := os.WriteFile(schema, []byte(soakSchemaYAML), 0o600); err != nil {
		return nil, err
	}
	srv := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--schema", schema,
		"--state", filepath.Join(dir, "soak.state"), "--sync", cfg.Sync,
		"--log-level", "warn")
	srv.Stderr = os.Stderr
	out, err := srv.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, err
	}
	defer func() {
		_ = srv.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = srv.Process.Kill()
			<-done
		}
	}()
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		return nil, errors.New("serve printed nothing")
	}
	m := soakListening.FindStringSubmatch(sc.Text())
	if m == nil {
		return nil, fmt.Errorf("serve: %q", sc.Text())
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	addr := m[1]

	d := &soakDriver{cfg: cfg, addr: addr, progress: progress}
	d.ctx, d.cancel = context.WithCancel(ctx)
	defer d.stopAll()
	progress("soak: connecting %d aRPC and %d gRPC clients to %s", cfg.ARPC,
		cfg.GRPC, addr)
	if err := d.connectAll(); err != nil {
		return nil, err
	}
	res := &SoakResult{Config: cfg, Machine: ReadSysInfo()}
	hc := &http.Client{Timeout: 5 * time.Second}
	start := time.Now()
	sample := func() error {
		s, err := scrape(hc, "http://"+addr+"/metrics")
		if err != nil {
			return err
		}
		s.At = time.Since(start).Round(time.Second)
		s.Clients = d.connected()
		s.Mutations, s.Errors = d.muts.Load(), d.errs.Load()
		s.Replaced = d.replaced.Load()
		res.Samples = append(res.Samples, s)
		progress("soak: %s goroutines=%.0f fds=%.0f heap=%.1fMiB rss=%.1fMiB "+
			"clients=%d mutations=%d errors=%d replaced=%d", s.At, s.Goroutines,
			s.FDs, s.HeapBytes/(1<<20), s.RSSBytes/(1<<20), s.Clients, s.Mutations,
			s.Errors, s.Replaced)
		return nil
	}
	if err := sample(); err != nil {
		return nil, err
	}
	d.wg.Add(2)
	go d.mutate()
	go d.churn()
	tick := time.NewTicker(cfg.Sample)
	defer tick.Stop()
	end := time.After(cfg.Duration)
loop:
	for {
		select {
		case <-tick.C:
			if err := sample(); err != nil {
				return nil, err
			}
		case <-end:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	// warm-up: the first minute, at most a fifth of the run
	res.WarmUp = min(int(time.Minute/cfg.Sample), len(res.Samples)/5)
	return res, nil
}

// scrape reads the server's Go runtime and process metrics.
func scrape(hc *http.Client, url string) (SoakSample, error) {
	var s SoakSample
	resp, err := hc.Get(url)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	want := map[string]*float64{"go_goroutines": &s.Goroutines,
		"process_open_fds": &s.FDs, "go_memstats_heap_inuse_bytes": &s.HeapBytes,
		"process_resident_memory_bytes": &s.RSSBytes}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if p := want[name]; ok && p != nil {
			*p, _ = strconv.ParseFloat(strings.TrimSpace(val), 64)
		}
	}
	return s, sc.Err()
}

// soakClient is one connected client of either door.
type soakClient struct {
	worker *arpc.Worker
	stop   func()
}

type soakDriver struct {
	cfg      SoakConfig
	addr     string
	progress func(string, ...any)
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mx      sync.Mutex
	clients []*soakClient // nil while being replaced
	grpc    []bool
	gen     int

	muts, errs, replaced atomic.Uint64
}

func (d *soakDriver) connectAll() error {
	n := d.cfg.ARPC + d.cfg.GRPC
	d.clients = make([]*soakClient, n)
	d.grpc = make([]bool, n)
	// a few at a time: 1,200 handshakes at once would be a different test
	sem := make(chan struct{}, 32)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		d.grpc[i] = i >= d.cfg.ARPC
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := d.connect(i)
			if err != nil {
				errs <- err
				return
			}
			d.mx.Lock()
			d.clients[i] = c
			d.mx.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (d *soakDriver) connect(i int) (*soakClient, error) {
	schema, names := soakSchema()
	d.mx.Lock()
	d.gen++
	name := fmt.Sprintf("%d-%d", i, d.gen)
	isGRPC := d.grpc[i]
	d.mx.Unlock()
	cctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
	defer cancel()
	if isGRPC {
		g, err := bridge.Dial(d.ctx, d.addr, "g"+name, schema, names, nil)
		if err != nil {
			return nil, err
		}
		return &soakClient{worker: g.Worker, stop: func() { _ = g.Close() }}, nil
	}
	c, err := arpc.NewClient(d.ctx, d.addr, "a"+name, schema, names, nil)
	if err != nil {
		return nil, err
	}
	c.Start()
	select {
	case <-c.Mach.When1(ss.ClientStates.Ready, cctx):
	case <-cctx.Done():
		c.Stop(context.Background(), true)
		return nil, fmt.Errorf("aRPC client %s: %w", name, cctx.Err())
	}
	return &soakClient{worker: c.Worker, stop: func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		c.Stop(sctx, true)
	}}, nil
}

func (d *soakDriver) connected() int {
	d.mx.Lock()
	defer d.mx.Unlock()
	n := 0
	for _, c := range d.clients {
		if c != nil {
			n++
		}
	}
	return n
}

// mutate adds M from random clients at cfg.Rate per second, each from its
// own goroutine (bounded), so a slow reply does not slow the rate.
func (d *soakDriver) mutate() {
	defer d.wg.Done()
	every := time.Duration(float64(time.Second) / d.cfg.Rate)
	tick := time.NewTicker(every)
	defer tick.Stop()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-tick.C:
		}
		d.mx.Lock()
		c := d.clients[rand.IntN(len(d.clients))]
		d.mx.Unlock()
		if c == nil {
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			d.errs.Add(1) // 64 calls in flight: count as a miss
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
			defer cancel()
			if _, err := c.worker.Mutate(ctx, am.MutationAdd, am.S{"M"},
				nil); err != nil {
				if d.ctx.Err() == nil {
					d.errs.Add(1)
				}
				return
			}
			d.muts.Add(1)
		}()
	}
}

// churn replaces cfg.Churn of the clients per minute, spread evenly: a
// replaced client stops (goodbye) and a new one (new ID) connects.
func (d *soakDriver) churn() {
	defer d.wg.Done()
	n := len(d.clients)
	perMin := d.cfg.Churn * float64(n)
	if perMin <= 0 {
		return
	}
	tick := time.NewTicker(time.Duration(float64(time.Minute) / perMin))
	defer tick.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-tick.C:
		}
		i := rand.IntN(n)
		d.mx.Lock()
		old := d.clients[i]
		d.clients[i] = nil
		d.mx.Unlock()
		if old == nil {
			continue
		}
		old.stop()
		c, err := d.connect(i)
		if err != nil {
			if d.ctx.Err() == nil {
				d.progress("soak: reconnect %d: %v", i, err)
				d.errs.Add(1)
			}
			continue
		}
		d.mx.Lock()
		d.clients[i] = c
		d.mx.Unlock()
		d.replaced.Add(1)
	}
}

func (d *soakDriver) stopAll() {
	d.cancel()
	d.wg.Wait()
	d.mx.Lock()
	cs := d.clients
	d.mx.Unlock()
	var wg sync.WaitGroup
	for _, c := range cs {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); c.stop() }()
	}
	wg.Wait()
}
