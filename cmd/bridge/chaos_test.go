package main

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/bridge"
)

// Process-level chaos: the real binary, real signals, clients on both doors
// and a CLI watcher, each adding its own multi state in a loop (see
// chaosFleet). Bounded: a few seconds each.

// kill -9 under steady mutations, three times: with --state --sync always,
// no acknowledged Add is lost, none is applied twice, and every client and
// the watcher end on the restored clock.
func TestChaosKill9Restart(t *testing.T) {
	if testing.Short() {
		t.Skip("process chaos")
	}
	dir := t.TempDir()
	schema := writeChaosSchema(t, dir)
	args := []string{"--schema", schema, "--state", filepath.Join(dir,
		"chaos.state"), "--sync", "always", "--push-interval", "20ms",
		"--log-level", "warn"}
	srv := startServer(t, nil, args...)
	addr := srv.addr
	fleet := newChaosFleet(t, addr, time.Second)
	for round := range 3 {
		time.Sleep(400 * time.Millisecond)
		kill9(t, srv)
		before := fleet.totalAcked()
		srv = restart(t, addr, args...)
		// the restarted server takes mutations again
		waitFor(t, func() bool { return fleet.totalAcked() > before+20 },
			"mutations after restart %d", round+1)
	}
	time.Sleep(200 * time.Millisecond)
	fleet.stopMutations()
	// a last kill with no mutation running: the clients (some of which saw
	// changes that were not durable yet, never acknowledged) must all come
	// back to the clock the restarted server restored
	kill9(t, srv)
	srv = restart(t, addr, args...)
	acked, unknown := fleet.check(serverTime(t, addr))
	t.Logf("acknowledged %d Adds, %d with unknown outcome, over 4 kill -9",
		acked, unknown)
	for _, m := range fleet.muts {
		// full resyncs: a client that saw a change the crash lost
		t.Logf("%s: %s", m.name, m.stats())
	}
	if code, _ := srv.stop(t); code != 0 {
		t.Errorf("exit code %d\n%s", code, srv.stderr)
	}
}

// kill -9 with --sync batch: what is lost is at most what was acknowledged
// within the batch delay (plus the commit's own time) before the kill, and
// nothing is applied twice.
func TestChaosKill9SyncBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("process chaos")
	}
	dir := t.TempDir()
	const delay = 100 * time.Millisecond
	args := []string{"--schema", writeChaosSchema(t, dir), "--state",
		filepath.Join(dir, "chaos.state"), "--sync", "batch", "--sync-delay",
		delay.String(), "--push-interval", "20ms", "--log-level", "warn"}
	srv := startServer(t, nil, args...)
	addr := srv.addr
	fleet := newChaosFleet(t, addr, time.Second)
	waitFor(t, func() bool { return fleet.totalAcked() > 300 }, "mutations")
	// long enough that most acknowledgements precede the loss window
	time.Sleep(1500 * time.Millisecond)
	killed := time.Now()
	kill9(t, srv)
	fleet.stopMutations()
	srv = restart(t, addr, args...)
	// the window: the batch delay, the commit (an fsync) and scheduling on
	// a loaded 2-core machine
	window := killed.Add(-delay - 400*time.Millisecond)
	var mayLose uint64
	acked, unknown, lost := fleet.checkLoss(serverTime(t, addr),
		func(m *mutator) uint64 {
			n := m.acksSince(window)
			mayLose += n
			return n
		})
	t.Logf("acknowledged %d Adds, %d within the loss window, %d lost; %d "+
		"unknown", acked, mayLose, lost, unknown)
}

// SIGSTOP for longer than the clients' call and ping timeouts, then SIGCONT:
// the clients give up on the frozen connections, reconnect once the server
// runs again, and nothing is lost or applied twice.
func TestChaosStopCont(t *testing.T) {
	if testing.Short() {
		t.Skip("process chaos")
	}
	dir := t.TempDir()
	srv := startServer(t, nil, "--schema", writeChaosSchema(t, dir), "--state",
		filepath.Join(dir, "chaos.state"), "--push-interval", "20ms",
		"--log-level", "warn")
	const clientTimeout = 300 * time.Millisecond
	fleet := newChaosFleet(t, srv.addr, clientTimeout)
	time.Sleep(300 * time.Millisecond)
	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * clientTimeout)
	frozen := fleet.totalAcked()
	time.Sleep(2 * clientTimeout)
	if got := fleet.totalAcked(); got != frozen {
		t.Errorf("%d Adds acknowledged by a stopped server", got-frozen)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return fleet.totalAcked() > frozen+20 },
		"mutations after SIGCONT")
	fleet.stopMutations()
	acked, unknown := fleet.check(serverTime(t, srv.addr))
	t.Logf("acknowledged %d Adds, %d with unknown outcome (timed out while "+
		"stopped)", acked, unknown)
}

// A state file that cannot be created fails serve at start with a clear
// error (exit 1); one that stops being writable (here: the file size limit,
// as a full disk) makes the server refuse mutations with NOT_DURABLE while
// it goes on serving reads, and nothing acknowledged is lost.
func TestChaosStateUnwritable(t *testing.T) {
	if testing.Short() {
		t.Skip("process chaos")
	}
	dir := t.TempDir()
	schema := writeChaosSchema(t, dir)
	for _, path := range []string{"/proc/chaos.state", dir + "/missing/chaos.state"} {
		r := cli(t, nil, "serve", "--addr", "127.0.0.1:0", "--schema", schema,
			"--state", path)
		r.want(t, exitError, "cannot open the state file "+path)
	}

	state := filepath.Join(dir, "chaos.state")
	// ulimit -f counts 512-byte blocks in sh (dash); bbolt needs 32 KiB to
	// start and grows the file in steps
	cmd := exec.Command("sh", "-c", `ulimit -f 96 && exec "$0" "$@"`, binPath,
		"serve", "--addr", "127.0.0.1:0", "--schema", schema, "--state", state,
		"--log-level", "warn")
	srv := runServer(t, cmd)
	sch, names := chaosSchema()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	g, err := bridge.Dial(ctx, srv.addr, "g", sch, names, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = g.Close() }()
	// every Add leaves a record in the exactly-once window: the file grows
	var acked int
	var failure error
	for i := 0; i < 20000 && failure == nil; i++ {
		_, err := g.Worker.Mutate(ctx, am.MutationAdd, am.S{"W0"}, nil)
		if err != nil {
			failure = err
			break
		}
		acked++
	}
	if !errors.Is(failure, arpc.ErrNotDurable) {
		t.Fatalf("after %d Adds: %v, want ErrNotDurable", acked, failure)
	}
	t.Logf("file size limit hit after %d Adds: %v", acked, failure)
	if !srv.stderr.Await("state file write failed", 10*time.Second) {
		t.Errorf("no log of the failure:\n%s", srv.stderr)
	}
	// refused before it runs, on both doors; reads go on
	before := serverTime(t, srv.addr)
	r := cli(t, nil, "add", srv.addr, "W1")
	r.want(t, exitError, "not durable")
	r = cli(t, nil, "add", "--grpc", srv.addr, "W1")
	r.want(t, exitError, "not durable")
	if after := serverTime(t, srv.addr); !equalTime(after, before) {
		t.Errorf("a refused mutation changed the machine: %v -> %v", before, after)
	}
	if code, body := httpGet(t, "http://"+srv.addr+"/healthz"); code != 200 {
		t.Errorf("healthz %d %s", code, body)
	}
	// what was acknowledged is in the file
	if code, _ := srv.stop(t); code != 0 {
		t.Logf("exit code %d after write failures\n%s", code, srv.stderr)
	}
	srv = startServer(t, nil, "--schema", schema, "--state", state,
		"--log-level", "warn")
	got := applied(serverTime(t, srv.addr)[slices.Index(names, "W0")])
	if got < uint64(acked) {
		t.Errorf("%d acknowledged Adds lost (restored %d)", uint64(acked)-got, got)
	}
}

func (f *chaosFleet) totalAcked() uint64 {
	var n uint64
	for _, m := range f.muts {
		n += m.acked.Load()
	}
	return n
}

func equalTime(a, b am.Time) bool { return slices.Equal(a, b) }

// waitFor polls cond for up to testTimeout.
func waitFor(t *testing.T, cond func() bool, what string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timeout waiting for "+what, args...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
