package bridge_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
	"github.com/arpcbridge/arpcbridge/internal/chunk"
)

// payloadOnStateSum serves a worker that sends a random payload of size
// bytes once state becomes active (the polyglot client's own mutation, made
// after its stream is open); it returns the address and the payload's
// SHA-256 in hex.
func payloadOnStateSum(t *testing.T, state string, size int) (string, string) {
	t.Helper()
	w := newWorker(t)
	s := startServer(t, w, nil)
	data := randPayload(t, size)
	sum := sha256.Sum256(data)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-w.When1(state, ctx):
			// queued when the client's mutation is still running
			w.Add1(ss.WorkerStates.SendPayload, arpc.Pass(&arpc.A{
				Payload: &arpc.ArgsPayload{Name: "big", Data: data}}))
		case <-ctx.Done():
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s.Addr().String(), hex.EncodeToString(sum[:])
}

// TestPythonClientChunkedPayload: the Python client, with grpcio's default
// limits (4 MiB per received message), receives a 64 MiB payload in
// chunks, reassembles it and verifies its SHA-256.
func TestPythonClientChunkedPayload(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import grpc, grpc_tools").Run(); err != nil {
		missingTool(t, py+" with grpc and grpc_tools", "run "+
			"scripts/polyglot-deps.sh --python (apt-get install python3-grpcio "+
			"python3-grpc-tools)")
	}
	const size = 64 << 20
	addr, sum := payloadOnStateSum(t, "G", size)
	res := runClient(t, py, "clients/python/client.py", addr, "--state", "G",
		"--timeout", "50", "--expect-payload", "67108864")
	assertPayloadReport(t, res, size, sum)
}

// TestNodeClientChunkedPayload: the Node client reassembles and verifies a
// chunked payload (4 MiB: over grpc-js's default limit as one message).
func TestNodeClientChunkedPayload(t *testing.T) {
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
	const size = 8 << 20
	addr, sum := payloadOnStateSum(t, "A", size)
	res := runClient(t, node, "clients/node/client.mjs", addr, "--state", "A",
		"--timeout", "50", "--expect-payload", "8388608")
	assertPayloadReport(t, res, size, sum)
}

// TestPolyglotClientsRefuseLyingChunks: the Node and Python clients, served
// a chunked payload whose digest lies, deliver nothing and fail with a
// clear error.
func TestPolyglotClientsRefuseLyingChunks(t *testing.T) {
	good := randPayload(t, 5000)
	var lies []*bridgev1.PayloadChunk
	for _, c := range chunk.Split(good, chunk.MinSize) {
		pc := &bridgev1.PayloadChunk{Offset: c.Offset, Total: c.Total,
			Data: c.Data, Sha256: c.Digest}
		if c.Offset == 0 {
			pc.Header = &bridgev1.Payload{Name: "lie"}
		}
		lies = append(lies, pc)
	}
	d := sha256.Sum256([]byte("other"))
	lies[len(lies)-1].Sha256 = d[:]

	clients := map[string][]string{}
	if err := exec.Command("/usr/bin/python3", "-c",
		"import grpc, grpc_tools").Run(); err == nil {
		clients["/usr/bin/python3"] = []string{"clients/python/client.py"}
	}
	if node, err := exec.LookPath("node"); err == nil {
		if _, err := os.Stat(filepath.Join(repoRoot,
			"clients/node/node_modules/@grpc/grpc-js")); err == nil {
			clients[node] = []string{"clients/node/client.mjs"}
		}
	}
	if len(clients) == 0 {
		missingTool(t, "node or python3-grpcio", "run scripts/polyglot-deps.sh")
	}
	for bin, args := range clients {
		t.Run(filepath.Base(bin), func(t *testing.T) {
			// a server of its own: its first stream lies
			w := newWorker(t)
			svc, err := bridge.NewService(w, nil)
			require.NoError(t, err)
			t.Cleanup(svc.Close)
			gs := grpc.NewServer()
			bridgev1.RegisterBridgeServiceServer(gs, &lyingService{Service: svc,
				lies: lies, good: good})
			l := listen(t)
			go func() { _ = gs.Serve(l) }()
			t.Cleanup(gs.Stop)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append(args, l.Addr().String(),
				"--state", "A", "--timeout", "20", "--expect-payload", "5000")...)
			cmd.Dir = repoRoot
			out, err := cmd.Output()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "the client accepted a lie: %s", out)
			assert.Equal(t, 1, exit.ExitCode())
			var res map[string]any
			require.NoError(t, json.Unmarshal(out, &res), string(out))
			assert.Equal(t, false, res["ok"])
			assert.Contains(t, res["error"], "payload chunk: SHA-256 mismatch")
		})
	}
}

// assertPayloadReport checks a polyglot client's report of the whole
// payload "big" of size bytes, reassembled from 64 KiB chunks, whose
// SHA-256 is sum.
func assertPayloadReport(t *testing.T, res map[string]any, size int,
	sum string,
) {
	t.Helper()
	require.Equal(t, true, res["ok"], res)
	p, _ := res["payload"].(map[string]any)
	require.NotNil(t, p, res)
	assert.Equal(t, "big", p["name"])
	assert.EqualValues(t, size, p["bytes"])
	assert.Equal(t, sum, p["sha256"])
	assert.EqualValues(t, size/(64<<10), p["chunks"])
}
