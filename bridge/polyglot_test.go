package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// repoRoot is the repository root, seen from this package's directory.
const repoRoot = ".."

// requirePolyglotEnv, set to 1, turns a missing polyglot tool (node and its
// modules, python3-grpcio, grpcurl) from a skipped test into a failure.
// scripts/test.sh sets it (except with --quick), so that CI cannot pass
// with a broken setup while a plain `go test ./...` still skips.
const requirePolyglotEnv = "ARPC_REQUIRE_POLYGLOT"

// missingTool skips the test because a tool it needs is missing, or fails
// it when requirePolyglotEnv is 1. install says how to get the tool.
func missingTool(t *testing.T, what, install string) {
	t.Helper()
	if os.Getenv(requirePolyglotEnv) == "1" {
		t.Fatalf("%s missing (%s=1 requires it): %s", what, requirePolyglotEnv,
			install)
	}
	t.Skipf("%s missing: %s (set %s=1 to fail instead)", what, install,
		requirePolyglotEnv)
}

// TestMissingTool runs itself in a child process, as a test that lacks a
// tool, and checks that the child skips by default and fails, saying how to
// install the tool, with requirePolyglotEnv=1.
func TestMissingTool(t *testing.T) {
	const child = "ARPC_TEST_MISSING_TOOL_CHILD"
	if os.Getenv(child) == "1" {
		missingTool(t, "frobtool", "run scripts/frob.sh")
		return
	}
	run := func(env string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestMissingTool$",
			"-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), child+"=1",
			requirePolyglotEnv+"="+env)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	cases := []struct {
		env   string
		fails bool
		want  string
	}{
		{"", false, "--- SKIP: TestMissingTool"},
		{"0", false, "--- SKIP: TestMissingTool"},
		{"1", true, "frobtool missing (ARPC_REQUIRE_POLYGLOT=1 requires it): " +
			"run scripts/frob.sh"},
	}
	for _, c := range cases {
		t.Run("env="+c.env, func(t *testing.T) {
			out, err := run(c.env)
			if c.fails {
				var exit *exec.ExitError
				require.ErrorAs(t, err, &exit, out)
				assert.Contains(t, out, "--- FAIL: TestMissingTool")
			} else {
				require.NoError(t, err, out)
			}
			assert.Contains(t, out, c.want)
		})
	}
}

// runClient runs a polyglot client against addr and returns its JSON line.
func runClient(t *testing.T, name string, args ...string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = repoRoot
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "stderr: %s\nstdout: %s", stderr.String(), out)
	var res map[string]any
	require.NoError(t, json.Unmarshal(out, &res), string(out))
	return res
}

// TestNodeClient runs clients/node against the one-port server, fresh and
// resuming (scripts/polyglot-deps.sh installs its modules).
func TestNodeClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		missingTool(t, "node", "install Node.js >= 18, then run "+
			"scripts/polyglot-deps.sh --node")
	}
	if _, err := os.Stat(filepath.Join(repoRoot,
		"clients/node/node_modules/@grpc/grpc-js")); err != nil {
		missingTool(t, "clients/node/node_modules",
			"run scripts/polyglot-deps.sh --node (npm ci)")
	}
	w := newWorker(t)
	s := startServer(t, w, nil)
	for _, resume := range []bool{false, true} {
		args := []string{"clients/node/client.mjs", s.Addr().String(),
			"--state", "A", "--timeout", "30"}
		if resume {
			args = append(args, "--resume")
		}
		res := runClient(t, node, args...)
		assert.Equal(t, true, res["ok"], res)
		assert.Equal(t, w.Id(), res["machine_id"])
	}
	assert.True(t, w.Is1("A"))
}

// TestPythonClient runs clients/python with Debian's python3-grpcio.
func TestPythonClient(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import grpc, grpc_tools").Run(); err != nil {
		missingTool(t, py+" with grpc and grpc_tools", "run "+
			"scripts/polyglot-deps.sh --python (apt-get install python3-grpcio "+
			"python3-grpc-tools)")
	}
	w := newWorker(t)
	s := startServer(t, w, nil)
	for _, resume := range []bool{false, true} {
		args := []string{"clients/python/client.py", s.Addr().String(),
			"--state", "G", "--timeout", "30"}
		if resume {
			args = append(args, "--resume")
		}
		res := runClient(t, py, args...)
		assert.Equal(t, true, res["ok"], res)
	}
	assert.True(t, w.Is1("G"))
}

// TestGrpcurl: list, describe, a mutation and a few stream messages with
// grpcurl over server reflection (scripts/tools.sh --grpcurl installs it).
func TestGrpcurl(t *testing.T) {
	bin, err := filepath.Abs(filepath.Join(repoRoot, ".tools/bin/grpcurl"))
	require.NoError(t, err)
	if _, err := os.Stat(bin); err != nil {
		missingTool(t, ".tools/bin/grpcurl", "run scripts/tools.sh --grpcurl")
	}
	w := newWorker(t)
	s := startServer(t, w, nil)
	addr := s.Addr().String()
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, append([]string{"-plaintext"},
			args...)...).CombinedOutput()
		return string(out), err
	}

	out, err := run(addr, "list")
	require.NoError(t, err, out)
	assert.Contains(t, out, "arpc.bridge.v1.BridgeService")
	assert.Contains(t, out, "grpc.health.v1.Health")

	out, err = run(addr, "describe", "arpc.bridge.v1.BridgeService")
	require.NoError(t, err, out)
	assert.Contains(t, out, "rpc WatchClock")

	out, err = run("-d", `{"client_id":"cli","type":"MUTATION_TYPE_ADD",`+
		`"states":["A"],"args":{"n":1},"mutation_id":"cli-1"}`, addr,
		"arpc.bridge.v1.BridgeService/Mutate")
	require.NoError(t, err, out)
	assert.Contains(t, out, "MUTATION_RESULT_EXECUTED")
	assert.True(t, w.Is1("A"))

	out, err = run("-d", `{"client_id":"cli","type":"MUTATION_TYPE_ADD",`+
		`"states":["Nope"]}`, addr, "arpc.bridge.v1.BridgeService/Mutate")
	require.Error(t, err)
	assert.Contains(t, out, "InvalidArgument")

	// the stream: catch-up, InitialSyncDone, heartbeats, until max-time
	out, _ = run("-max-time", "1", "-d",
		`{"client_id":"cli","heartbeat_interval":"0.2s"}`, addr,
		"arpc.bridge.v1.BridgeService/WatchClock")
	assert.Contains(t, out, `"full": true`)
	assert.Contains(t, out, `"initialSyncDone"`)
	assert.Contains(t, out, `"heartbeat"`)
}

// flipA is a worker handler that removes A as soon as it is active: +A and
// -A are two worker transitions of one Mutate.
type flipA struct{ w *am.Machine }

func (h *flipA) AState(*am.Event) { h.w.Remove1("A", nil) }

// TestPolyglotAllTicks: the Node and Python clients, with --all-ticks
// (push_all_ticks), receive every worker transition: their own +A and the
// worker's -A right after it, in order, with types and called states, and
// no gap.
func TestPolyglotAllTicks(t *testing.T) {
	clients := []struct {
		name  string
		bin   func(t *testing.T) string
		entry string
	}{
		{name: "node", entry: "clients/node/client.mjs", bin: func(t *testing.T) string {
			node, err := exec.LookPath("node")
			if err != nil {
				missingTool(t, "node", "install Node.js >= 18, then run "+
					"scripts/polyglot-deps.sh --node")
			}
			if _, err := os.Stat(filepath.Join(repoRoot,
				"clients/node/node_modules/@grpc/grpc-js")); err != nil {
				missingTool(t, "clients/node/node_modules",
					"run scripts/polyglot-deps.sh --node (npm ci)")
			}
			return node
		}},
		{name: "python", entry: "clients/python/client.py", bin: func(t *testing.T) string {
			py := "/usr/bin/python3"
			if err := exec.Command(py, "-c", "import grpc, grpc_tools").Run(); err != nil {
				missingTool(t, py+" with grpc and grpc_tools", "run "+
					"scripts/polyglot-deps.sh --python")
			}
			return py
		}},
	}
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			bin := cl.bin(t)
			w := newWorker(t)
			_, err := w.HandlersBind(&flipA{w: w})
			require.NoError(t, err)
			s := startServer(t, w, nil)
			res := runClient(t, bin, cl.entry, s.Addr().String(), "--state", "A",
				"--all-ticks", "--timeout", "30")
			require.Equal(t, true, res["ok"], res)
			assert.Equal(t, 0.0, res["gap_updates"], res)
			trs, ok := res["transitions"].([]any)
			require.True(t, ok, res)
			var seen []string
			for _, tr := range trs {
				m := tr.(map[string]any)
				seen = append(seen, fmt.Sprintf("%v %v %v", m["type"], m["called"],
					m["changes"]))
			}
			assert.Equal(t, []string{
				"MUTATION_TYPE_ADD [A] [+A +B]",
				"MUTATION_TYPE_REMOVE [A] [-A]",
			}, seen)
			assert.False(t, w.Is1("A"))
		})
	}
}
