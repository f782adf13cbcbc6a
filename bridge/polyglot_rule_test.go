package bridge_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestPolyglotReplicaRule runs the Node and Python clients' unit tests of
// the apply rule (bridge.proto: a full update is applied first, even at or
// below the client's seq; they used to drop such a repair).
func TestPolyglotReplicaRule(t *testing.T) {
	t.Run("node", func(t *testing.T) {
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
		runTests(t, node, "--test", "clients/node/")
	})
	t.Run("python", func(t *testing.T) {
		py := "/usr/bin/python3"
		if err := exec.Command(py, "-c", "import grpc").Run(); err != nil {
			missingTool(t, py+" with grpc", "run scripts/polyglot-deps.sh --python")
		}
		runTests(t, py, "-m", "unittest", "discover", "-s", "clients/python",
			"-p", "test_*.py")
	})
}

func runTests(t *testing.T, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}
