package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWatchIdleTimeout watches a schema-file machine, which changes only when
// a client changes it: --count alone would wait forever, --idle-timeout ends
// the watch with exit code 6 once no update came for that long.
func TestWatchIdleTimeout(t *testing.T) {
	// no auto state can activate here before Closed: each mutation below is
	// exactly one update
	file := filepath.Join(t.TempDir(), "orders.json")
	if err := os.WriteFile(file, []byte(ordersJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, nil, "--schema", file, "--push-interval", "10ms")
	a := s.addr

	for _, door := range []string{"arpc", "grpc"} {
		t.Run("quiet-"+door, func(t *testing.T) {
			args := []string{"watch", a, "--json", "--count", "1",
				"--idle-timeout", "300ms"}
			if door == "grpc" {
				args = append(args, "--grpc")
			}
			start := time.Now()
			r := cli(t, nil, args...)
			took := time.Since(start)
			r.want(t, exitIdle, "no update from "+a+" for 300ms (--idle-timeout)")
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], `"initial":true`) {
				t.Errorf("want only the initial state, got: %s", r.stdout)
			}
			if took < 300*time.Millisecond {
				t.Errorf("ended after %s, before the idle timeout", took)
			}
		})
	}

	t.Run("negative", func(t *testing.T) {
		cli(t, nil, "watch", a, "--idle-timeout", "-1s").want(t, exitBadInput,
			"--idle-timeout must not be negative")
	})

	// updates restart the idle clock: a watch for two updates with a long
	// idle timeout gets both and exits 0
	t.Run("updates", func(t *testing.T) {
		w := startWatch(t, "watch", a, "--json", "--count", "2",
			"--idle-timeout", "15s")
		if u := w.next("the initial state"); !u.Initial {
			t.Fatalf("first line not initial: %+v", u)
		}
		cli(t, nil, "add", a, "Open").want(t, 0, "Executed: add Open")
		if u := w.next("Open"); u.Changed["Open"] == 0 || len(u.Changed) != 1 {
			t.Fatalf("want an update of Open: %+v", u)
		}
		cli(t, nil, "add", a, "Note").want(t, 0, "Executed: add Note")
		if u := w.next("Note"); u.Changed["Note"] == 0 || len(u.Changed) != 1 {
			t.Fatalf("want an update of Note: %+v", u)
		}
		if c := w.wait(); c != 0 {
			t.Fatalf("exit code %d, want 0\n%s", c, w.stderr)
		}
	})
}

// TestWatchSurvivesRestart: watch on either door goes on through a server
// restart on the same address within --timeout, showing the new server's
// updates, and the new server counts the client as a reconnect.
func TestWatchSurvivesRestart(t *testing.T) {
	for _, door := range []string{"arpc", "grpc"} {
		t.Run(door, func(t *testing.T) {
			testWatchSurvivesRestart(t, door)
		})
	}
}

func testWatchSurvivesRestart(t *testing.T, door string) {
	serveArgs := []string{"--push-interval", "5ms", "--demo-interval", "20ms"}
	s1 := startServer(t, nil, serveArgs...)
	a := s1.addr

	args := []string{"watch", a, "--json", "--timeout", "15s"}
	if door == "grpc" {
		args = append(args, "--grpc")
	}
	w := startWatch(t, args...)
	w.next("before the restart")
	w.next("before the restart")

	if code, _ := s1.stop(t); code != 0 {
		t.Fatalf("serve exit code %d\n%s", code, s1.stderr)
	}
	restarted := time.Now()
	startServer(t, nil, append([]string{"--addr", a}, serveArgs...)...)
	// updates shown after the restart, from the second server
	for seen := 0; seen < 2; {
		if u := w.next("after the restart"); u.Time.After(restarted) {
			seen++
		}
	}
	// the new server counted the watcher's return: as a reconnect on its
	// door (a resumed replica) and/or as a full resync (a replica ahead of
	// the restarted worker's clock is replaced by a full snapshot, at once or
	// once the resumed stream proves broken, depending on timing); never as
	// a reconnect on the other door
	_, body := httpGet(t, "http://"+a+"/metrics")
	other := map[string]string{"arpc": "grpc", "grpc": "arpc"}[door]
	reconnects := metricValue(t, body, `arpcbridge_reconnects_total{door="`+door+`"}`)
	resyncs := metricValue(t, body, "arpcbridge_full_resyncs_total")
	if reconnects+resyncs < 1 ||
		metricValue(t, body, `arpcbridge_reconnects_total{door="`+other+`"}`) != 0 {
		t.Errorf("want a reconnect or full resync on %s:\n%s", door,
			metricLines(body, "arpcbridge_reconnects", "arpcbridge_full_resyncs"))
	}
}

// watchProc is a running "bridge watch --json" process.
type watchProc struct {
	t      *testing.T
	ctx    context.Context
	lines  chan string
	done   chan error
	stderr *syncBuffer
}

// startWatch runs the bridge binary with args (a watch with --json), bounded
// by testTimeout; the test's cleanup kills it if it still runs and waits for
// it.
func startWatch(t *testing.T, args ...string) *watchProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	cmd := exec.CommandContext(ctx, binPath, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	w := &watchProc{t: t, ctx: ctx, lines: make(chan string, 4096),
		done: make(chan error, 1), stderr: &syncBuffer{}}
	cmd.Stderr = w.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case w.lines <- sc.Text():
			default: // a flood nobody reads: drop
			}
		}
		w.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel()
		w.done <- <-w.done
	})
	return w
}

// next returns the next update watch printed; the test fails if watch ends
// or prints nothing within testTimeout.
func (w *watchProc) next(what string) watchOut {
	w.t.Helper()
	var line string
	select {
	case line = <-w.lines:
	case err := <-w.done:
		w.done <- err
		// every line was queued before the exit was
		select {
		case line = <-w.lines:
		default:
			w.t.Fatalf("watch ended before %s: %v\n%s", what, err, w.stderr)
		}
	case <-w.ctx.Done():
		w.t.Fatalf("no update %s", what)
	}
	var u watchOut
	if err := json.Unmarshal([]byte(line), &u); err != nil {
		w.t.Fatalf("bad line %q: %v", line, err)
	}
	return u
}

// wait returns watch's exit code once it ends by itself.
func (w *watchProc) wait() int {
	w.t.Helper()
	select {
	case err := <-w.done:
		w.done <- err
		return exitStatus(err)
	case <-w.ctx.Done():
		w.t.Fatal("watch did not end")
	}
	return -1
}

// metricValue returns the value of the sample named name (with its labels)
// in /metrics output.
func metricValue(t *testing.T, body, name string) float64 {
	t.Helper()
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics lacks %s", name)
	return 0
}

// metricLines returns the sample lines of /metrics output whose names start
// with one of prefixes.
func metricLines(body string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}
