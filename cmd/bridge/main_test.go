package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// binPath is the bridge binary built once for all tests.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bridge-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "bridge")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building bridge:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// testTimeout bounds every process a test starts.
const testTimeout = 20 * time.Second

// server is a "bridge serve" process.
type server struct {
	cmd    *exec.Cmd
	addr   string
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

var listeningRe = regexp.MustCompile(`^bridge: serving (\w+) machine "([^"]*)" on (\S+) \(aRPC, gRPC, HTTP(?:; m?TLS)?\)$`)

// startServer runs "bridge serve --addr 127.0.0.1:0 args..." and returns once
// it printed its listening line. The test's cleanup stops it with SIGTERM.
func startServer(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"serve", "--addr",
		"127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	return runServer(t, cmd)
}

// runServer starts cmd, a "bridge serve" (or a wrapper that execs one), and
// returns once it printed its listening line, as startServer.
func runServer(t *testing.T, cmd *exec.Cmd) *server {
	t.Helper()
	s, err := tryServer(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop sends SIGTERM and waits (bounded) for the exit; it returns the exit
// code and how long the exit took.
func (s *server) stop(t *testing.T) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case <-s.done:
		return exitStatus(s.err), 0
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(testTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Errorf("serve did not exit within %s of SIGTERM\n%s", testTimeout,
			s.stderr)
	}
	return exitStatus(s.err), time.Since(start)
}

func exitStatus(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// result is a finished CLI process.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs the bridge binary with args, bounded by testTimeout.
func cli(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("bridge %s: timed out\nstderr: %s", strings.Join(args, " "),
			errb.String())
	}
	return result{exitStatus(err), out.String(), errb.String()}
}

// want checks the exit code and that stdout+stderr contain each string.
func (r result) want(t *testing.T, code int, contains ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, code,
			r.stdout, r.stderr)
	}
	all := r.stdout + r.stderr
	for _, c := range contains {
		if !strings.Contains(all, c) {
			t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", c, r.stdout,
				r.stderr)
		}
	}
}

// httpGet fetches a URL of the server, bounded.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	c.CloseIdleConnections()
	return resp.StatusCode, string(b)
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mx  sync.Mutex
	buf bytes.Buffer
	// wrote is closed and replaced on every Write, for Await
	wrote chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mx.Lock()
	defer b.mx.Unlock()
	if b.wrote != nil {
		close(b.wrote)
		b.wrote = nil
	}
	return b.buf.Write(p)
}

// Await reports whether the buffer holds s within d: a process's log line
// may arrive after the reply that its client already got.
func (b *syncBuffer) Await(s string, d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		b.mx.Lock()
		if strings.Contains(b.buf.String(), s) {
			b.mx.Unlock()
			return true
		}
		if b.wrote == nil {
			b.wrote = make(chan struct{})
		}
		wrote := b.wrote
		b.mx.Unlock()
		select {
		case <-wrote:
		case <-deadline.C:
			return false
		}
	}
}

func (b *syncBuffer) String() string {
	b.mx.Lock()
	defer b.mx.Unlock()
	return b.buf.String()
}
