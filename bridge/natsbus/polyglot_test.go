package natsbus_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/bridge/natsbus"
)

// requirePolyglotEnv=1 turns a missing node or clients/node/node_modules
// into a failure (scripts/test.sh sets it), as in package bridge.
const requirePolyglotEnv = "ARPC_REQUIRE_POLYGLOT"

func missingTool(t *testing.T, what, install string) {
	t.Helper()
	if os.Getenv(requirePolyglotEnv) == "1" {
		t.Fatalf("%s missing (%s=1 requires it): %s", what, requirePolyglotEnv,
			install)
	}
	t.Skipf("%s missing: %s (set %s=1 to fail instead)", what, install,
		requirePolyglotEnv)
}

// TestNodeClient: clients/node/nats-clock.mjs, with the `nats` npm package
// and protobufjs only, rebuilds the clock from the KV snapshot and the
// stream, across a retention gap, and ends at the worker's time.
func TestNodeClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		missingTool(t, "node", "install Node.js >= 18, then run "+
			"scripts/polyglot-deps.sh --node")
	}
	const root = "../.."
	if _, err := os.Stat(filepath.Join(root,
		"clients/node/node_modules/nats")); err != nil {
		missingTool(t, "clients/node/node_modules/nats",
			"run scripts/polyglot-deps.sh --node (npm ci)")
	}
	s := startNATS(t, nil)
	w := newWorker(t, "node1")
	publish(t, connect(t, s.ClientURL()), w, &natsbus.PublisherOpts{
		MaxMsgs: 8, PushInterval: time.Millisecond})
	w.Add1("A", nil)
	g0 := w.Tick("G")

	const toggles = 30
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node,
		filepath.Join(root, "clients/node/nats-clock.mjs"), s.ClientURL(),
		"node1", "--until", fmt.Sprintf("G:%d", g0+toggles))
	stderr := &syncBuf{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(out)
	require.True(t, sc.Scan(), "no ready line: %s", stderr)
	require.Contains(t, sc.Text(), `"ready":true`)

	// changes after the snapshot come from the stream; more than retention
	// keeps, with a pause the reader may fall behind in
	for i := range toggles {
		w.Toggle1("G", nil)
		time.Sleep(2 * time.Millisecond)
		if i == toggles/2 {
			w.Add1("E", nil)
		}
	}
	require.True(t, sc.Scan(), "no result line: %s", stderr)
	var res struct {
		Ok        bool     `json:"ok"`
		Names     []string `json:"names"`
		Time      []uint64 `json:"time"`
		Updates   int      `json:"updates"`
		Snapshots int      `json:"snapshots"`
	}
	require.NoError(t, json.Unmarshal(sc.Bytes(), &res), sc.Text())
	require.NoError(t, cmd.Wait(), stderr.String())
	require.True(t, res.Ok)
	assert.Equal(t, []string(w.StateNames()), res.Names)
	gi := 0
	for i, n := range res.Names {
		if n == "G" {
			gi = i
		}
	}
	assert.Equal(t, g0+toggles, res.Time[gi])
	assert.Equal(t, []uint64(w.Time(nil)), res.Time,
		"node rebuilt the worker's time")
	assert.Positive(t, res.Updates, "updates read from the stream")
}
