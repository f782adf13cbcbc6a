package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge"
)

// The chaos machine has one multi state per client: a client's state is
// ticked only by its own Adds, two ticks per Add (deactivate, activate), so
// its tick counts exactly how many of them the machine applied.
const chaosClients = 3 // per door

func chaosNames() am.S {
	var n am.S
	for i := range 2 * chaosClients {
		n = append(n, fmt.Sprintf("W%d", i))
	}
	return n
}

// writeChaosSchema writes the chaos machine's schema file.
func writeChaosSchema(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("id: chaos\nstates:\n")
	for _, n := range chaosNames() {
		fmt.Fprintf(&b, "  - name: %s\n    multi: true\n", n)
	}
	path := filepath.Join(dir, "chaos.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func chaosSchema() (am.Schema, am.S) {
	s := am.Schema{}
	for _, n := range chaosNames() {
		s[n] = am.State{Multi: true}
	}
	return am.SchemaMerge(ss.WorkerSchema, s),
		am.SAdd(ss.WorkerStates.Names(), chaosNames())
}

// applied is how many Adds a multi state's tick stands for.
func applied(tick uint64) uint64 { return (tick + 1) / 2 }

// mutator is one client adding its own state in a loop, counting the Adds
// that were acknowledged and those whose outcome it cannot know (the call
// failed: the machine may or may not have applied them).
type mutator struct {
	name   string
	state  string
	worker *arpc.Worker
	stats  func() string
	stop   func()
	acked  atomic.Uint64
	// acks are the times of the acknowledgements
	acksMx  sync.Mutex
	acks    []time.Time
	unknown atomic.Uint64
	lastErr atomic.Pointer[error]
	errsMx  sync.Mutex
	errs    map[string]int
}

func (m *mutator) failed(err error) {
	m.lastErr.Store(&err)
	m.unknown.Add(1)
	msg := err.Error()
	if len(msg) > 60 {
		msg = msg[:60]
	}
	m.errsMx.Lock()
	if m.errs == nil {
		m.errs = map[string]int{}
	}
	m.errs[msg]++
	m.errsMx.Unlock()
}

func (m *mutator) run(ctx context.Context, wg *sync.WaitGroup) {
	defer wg.Done()
	for ctx.Err() == nil {
		res, err := m.worker.Mutate(ctx, am.MutationAdd, am.S{m.state}, nil)
		switch {
		case err == nil && res != am.Canceled:
			// Executed, or queued behind another client's (the server
			// replies once the queue ran it, see door.Journal)
			m.acked.Add(1)
			m.acksMx.Lock()
			m.acks = append(m.acks, time.Now())
			m.acksMx.Unlock()
		case err == nil:
			// the queued Add was canceled?
			m.failed(fmt.Errorf("result %v", res))
		default:
			m.failed(err)
			// do not spin while the server is away
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// chaosFleet is the clients of a chaos test: chaosClients on each door, one
// mutator each, and a CLI watcher process.
type chaosFleet struct {
	t        *testing.T
	addr     string
	muts     []*mutator
	cancel   context.CancelFunc // ends the mutations
	end      context.CancelFunc // ends the clients
	wg       sync.WaitGroup
	watcher  *exec.Cmd
	watchOut *lineBuffer
	watchErr *syncBuffer
	watchEnd chan error
}

// newChaosFleet connects the clients to addr with clientTimeout as their
// call and ping timeouts, starts the watcher and the mutations.
func newChaosFleet(t *testing.T, addr string, clientTimeout time.Duration,
) *chaosFleet {
	t.Helper()
	schema, names := chaosSchema()
	f := &chaosFleet{t: t, addr: addr}
	ctx, end := context.WithCancel(context.Background())
	mctx, cancel := context.WithCancel(ctx)
	f.cancel, f.end = cancel, end
	cctx, ccancel := context.WithTimeout(ctx, testTimeout)
	defer ccancel()
	for i := range chaosClients {
		c, err := arpc.NewClient(ctx, addr, fmt.Sprintf("a%d", i), schema, names,
			nil)
		if err != nil {
			t.Fatal(err)
		}
		c.CallTimeout, c.PingTimeout = clientTimeout, clientTimeout
		c.ConnRetries, c.ConnRetryTimeout = 1000, time.Minute
		c.ConnRetryBackoff, c.CallRetryBackoff = 200*time.Millisecond,
			200*time.Millisecond
		c.Start()
		select {
		case <-c.Mach.When1(ss.ClientStates.Ready, cctx):
		case <-cctx.Done():
			t.Fatalf("aRPC client %d not ready: %v", i, c.Mach.Err())
		}
		f.muts = append(f.muts, &mutator{name: c.Mach.Id(),
			state: names[len(ss.WorkerStates.Names())+i], worker: c.Worker,
			stats: func() string { return fmt.Sprintf("%+v", c.Stats()) },
			stop: func() {
				sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer scancel()
				c.Stop(sctx, true)
			}})
	}
	for i := range chaosClients {
		g, err := bridge.Dial(ctx, addr, fmt.Sprintf("g%d", i), schema, names,
			&bridge.ClientOpts{CallTimeout: clientTimeout,
				ConnRetryTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		f.muts = append(f.muts, &mutator{name: g.Id,
			state:  names[len(ss.WorkerStates.Names())+chaosClients+i],
			worker: g.Worker,
			stats:  func() string { return fmt.Sprintf("%+v", g.Stats()) },
			stop:   func() { _ = g.Close() }})
	}
	f.startWatcher()
	for _, m := range f.muts {
		f.wg.Add(1)
		go m.run(mctx, &f.wg)
	}
	t.Cleanup(f.close)
	return f
}

func (f *chaosFleet) startWatcher() {
	f.watcher = exec.Command(binPath, "watch", f.addr, "--json", "--timeout",
		"1m")
	f.watchOut, f.watchErr = newLineBuffer(), &syncBuffer{}
	f.watcher.Stdout, f.watcher.Stderr = f.watchOut, f.watchErr
	if err := f.watcher.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.watchEnd = make(chan error, 1)
	go func() { f.watchEnd <- f.watcher.Wait() }()
}

// stopMutations stops the mutators and waits for their calls to end.
func (f *chaosFleet) stopMutations() {
	f.cancel()
	f.wg.Wait()
}

func (f *chaosFleet) close() {
	f.stopMutations()
	for _, m := range f.muts {
		m.stop()
	}
	f.end()
	if f.watcher.ProcessState == nil {
		_ = f.watcher.Process.Signal(syscall.SIGINT)
		select {
		case <-f.watchEnd:
		case <-time.After(5 * time.Second):
			_ = f.watcher.Process.Kill()
			<-f.watchEnd
		}
	}
}

// acksSince counts the acknowledgements at or after t.
func (m *mutator) acksSince(t time.Time) uint64 {
	m.acksMx.Lock()
	defer m.acksMx.Unlock()
	i, _ := slices.BinarySearchFunc(m.acks, t, func(a, b time.Time) int {
		return a.Compare(b)
	})
	return uint64(len(m.acks) - i)
}

// check verifies, against the machine's time now (mutations stopped):
// nothing acknowledged was lost, nothing applied twice, every client and
// the watcher back on that clock. It returns the totals.
func (f *chaosFleet) check(truth am.Time) (acked, unknown uint64) {
	acked, unknown, _ = f.checkLoss(truth, func(*mutator) uint64 { return 0 })
	return acked, unknown
}

// checkLoss is check allowing each mutator to have lost up to mayLose of
// its acknowledged Adds.
func (f *chaosFleet) checkLoss(truth am.Time, mayLose func(*mutator) uint64,
) (acked, unknown, lost uint64) {
	t := f.t
	t.Helper()
	_, names := chaosSchema()
	for _, m := range f.muts {
		idx := slices.Index(names, m.state)
		got := applied(truth[idx])
		a, u := m.acked.Load(), m.unknown.Load()
		acked += a
		unknown += u
		if got < a {
			lost += a - got
		}
		if got+mayLose(m) < a {
			t.Errorf("%s: %d acknowledged Adds lost (applied %d, acknowledged %d, "+
				"%d may be lost)", m.name, a-got, got, a, mayLose(m))
		}
		if got > a+u {
			t.Errorf("%s: %d Adds applied twice (applied %d, acknowledged %d, "+
				"unknown %d)", m.name, got-a-u, got, a, u)
		}
		if a == 0 {
			t.Errorf("%s: no Add acknowledged", m.name)
		}
		if u > 0 {
			m.errsMx.Lock()
			t.Logf("%s: %d unknown: %v", m.name, u, m.errs)
			m.errsMx.Unlock()
		}
	}
	deadline := time.Now().Add(testTimeout)
	for _, m := range f.muts {
		for !slices.Equal(m.worker.Time(nil), truth) {
			if time.Now().After(deadline) {
				t.Fatalf("%s not back on the restored clock: %v, want %v (%s)",
					m.name, m.worker.Time(nil), truth, m.stats())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	want := map[string]uint64{}
	for i, n := range names {
		want[n] = truth[i]
	}
	for {
		var last watchOut
		if l := f.watchOut.last(); l != "" {
			_ = json.Unmarshal([]byte(l), &last)
		}
		if mapsEqual(last.Ticks, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("watcher not on the restored clock: %v, want %v\nstderr: %s",
				last.Ticks, want, f.watchErr)
		}
		select {
		case err := <-f.watchEnd:
			t.Fatalf("watcher exited: %v\nstderr: %s", err, f.watchErr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return acked, unknown, lost
}

func mapsEqual(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// serverTime reads the served machine's time with a fresh gRPC client.
func serverTime(t *testing.T, addr string) am.Time {
	t.Helper()
	schema, names := chaosSchema()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	g, err := bridge.Dial(ctx, addr, "truth", schema, names, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = g.Close() }()
	return g.Worker.Time(nil)
}

// lineBuffer keeps the last complete line written to it.
type lineBuffer struct {
	mx      sync.Mutex
	partial []byte
	line    string
}

func newLineBuffer() *lineBuffer { return &lineBuffer{} }

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mx.Lock()
	defer b.mx.Unlock()
	b.partial = append(b.partial, p...)
	for {
		i := strings.IndexByte(string(b.partial), '\n')
		if i < 0 {
			break
		}
		b.line = string(b.partial[:i])
		b.partial = b.partial[i+1:]
	}
	return len(p), nil
}

func (b *lineBuffer) last() string {
	b.mx.Lock()
	defer b.mx.Unlock()
	return b.line
}

// restart starts "bridge serve args..." on addr, retrying while the port is
// still held for a moment by the previous process.
func restart(t *testing.T, addr string, args ...string) *server {
	t.Helper()
	for attempt := 0; ; attempt++ {
		cmd := exec.Command(binPath, append([]string{"serve", "--addr", addr},
			args...)...)
		s, err := tryServer(cmd)
		if err == nil {
			t.Cleanup(func() { s.stop(t) })
			return s
		}
		if attempt > 50 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tryServer is runServer returning an error instead of failing.
func tryServer(cmd *exec.Cmd) (*server, error) {
	s := &server{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = s.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		s.err = cmd.Wait()
		close(s.done)
	}()
	select {
	case line := <-lines:
		m := listeningRe.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("unexpected first line %q", line)
		}
		s.addr = m[3]
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("serve exited: %w: %s", s.err, s.stderr)
	case <-time.After(testTimeout):
		_ = cmd.Process.Kill()
		<-s.done
		return nil, errors.New("serve did not print its address")
	}
}

// kill9 kills a server with SIGKILL and waits for it.
func kill9(t *testing.T, s *server) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(testTimeout):
		t.Fatal("killed server did not exit")
	}
}
