package bridge_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/bridge"
	"github.com/arpcbridge/arpcbridge/bridge/web"
)

// chromiumPath is Debian's chromium, which scripts/web.sh chromium installs.
const chromiumPath = "/usr/bin/chromium"

// inspectorResult is what web/test/inspector.mjs measured.
type inspectorResult struct {
	FirstStatesMs     float64 `json:"firstStatesMs"`
	FirstStatesWallMs float64 `json:"firstStatesWallMs"`
	AfterHTMLMs       float64 `json:"afterHtmlMs"`
	ReloadStatesMs    float64 `json:"reloadStatesMs"`
	WorkerChangeMs    float64 `json:"workerChangeMs"`
	Paint             struct {
		N   int     `json:"n"`
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
		Max float64 `json:"max"`
	} `json:"paint"`
	ReconnectMs float64 `json:"reconnectMs"`
	Clicks      string  `json:"clicks"`
	GrpcWeb     string  `json:"grpcWeb"`
}

// inspectorRequest is one request of the script (see its header).
type inspectorRequest struct {
	Cmd    string           `json:"cmd"`
	Op     string           `json:"op"`
	State  string           `json:"state"`
	Result *inspectorResult `json:"result"`
	Error  string           `json:"error"`
}

// restartable serves one worker on a fixed loopback address with the web
// inspector, and can stop and serve again on that address.
type restartable struct {
	t    *testing.T
	w    am.Api
	addr string
	opts *bridge.ServerOpts
	srv  *bridge.Server
	done chan error
}

func (r *restartable) start() error {
	l, err := net.Listen("tcp", r.addr)
	if err != nil {
		return err
	}
	r.addr = l.Addr().String()
	s, err := bridge.NewServer(context.Background(), l, "s", r.w, r.opts)
	if err != nil {
		_ = l.Close()
		return err
	}
	r.srv, r.done = s, make(chan error, 1)
	go func() { r.done <- s.Serve() }()
	return nil
}

func (r *restartable) stop() error {
	if r.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	if serr := <-r.done; err == nil {
		err = serr
	}
	r.srv = nil
	return err
}

// TestInspectorBrowser loads the web inspector in headless chromium against
// a real server (web/test/inspector.mjs): every state shown in schema
// order with the worker's ticks, worker-side changes painted within a
// bound (latency over 100 changes), clicks that mutate the worker and show
// a canceled mutation, reconnect and resume after a server restart, and
// gRPC-Web with JSON.
func TestInspectorBrowser(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		missingTool(t, "node", "install Node.js >= 18, then run scripts/web.sh deps")
	}
	if _, err := os.Stat(filepath.Join(repoRoot,
		"web/node_modules/playwright-core")); err != nil {
		missingTool(t, "web/node_modules", "run scripts/web.sh deps (npm ci)")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		missingTool(t, chromiumPath, "run scripts/web.sh chromium (apt-get install chromium)")
	}

	w := newWorker(t)
	mux := http.NewServeMux()
	mux.Handle("GET /", web.Handler())
	// default pacing (latency-first, no rate cap), as bridge serve has
	srv := &restartable{t: t, w: w, addr: "127.0.0.1:0",
		opts: &bridge.ServerOpts{HTTP: mux}}
	require.NoError(t, srv.start())
	t.Cleanup(func() { assert.NoError(t, srv.stop()) })

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	names, err := json.Marshal(testNames)
	require.NoError(t, err)
	cmd := exec.CommandContext(ctx, node, "test/inspector.mjs",
		"http://"+srv.addr+"/", string(names))
	cmd.Dir = filepath.Join(repoRoot, "web")
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath)
	if shot := os.Getenv("INSPECTOR_SCREENSHOT"); shot != "" {
		abs, err := filepath.Abs(shot)
		require.NoError(t, err)
		cmd.Env = append(cmd.Env, "INSPECTOR_SCREENSHOT="+abs)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	res, err := serveInspector(stdout, stdin, srv)
	_ = stdin.Close()
	werr := cmd.Wait()
	require.NoError(t, err, "stderr:\n%s", stderr.String())
	require.NoError(t, werr, "stderr:\n%s", stderr.String())
	t.Logf("inspector: states shown %.1f ms after navigation (%.1f ms after "+
		"the HTML arrived; %.0f ms wall; %.1f ms on a reload), "+
		"worker change shown in %.1f ms, change-to-paint p50 %.1f ms p99 %.1f ms "+
		"(max %.1f, n=%d), reconnected %.0f ms after the restart",
		res.FirstStatesMs, res.AfterHTMLMs, res.FirstStatesWallMs,
		res.ReloadStatesMs,
		res.WorkerChangeMs,
		res.Paint.P50, res.Paint.P99, res.Paint.Max, res.Paint.N, res.ReconnectMs)
	assert.Equal(t, 100, res.Paint.N)
	assert.Equal(t, "ok", res.Clicks)
	assert.Equal(t, "ok", res.GrpcWeb)
	assert.Positive(t, res.FirstStatesMs)
}

// serveInspector answers the script's requests until it is done.
func serveInspector(out io.Reader, in io.Writer, srv *restartable,
) (*inspectorResult, error) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var req inspectorRequest
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			return nil, fmt.Errorf("bad request %q: %w", sc.Text(), err)
		}
		reply := map[string]any{}
		switch req.Cmd {
		case "done":
			if req.Error != "" {
				return nil, fmt.Errorf("inspector: %s", req.Error)
			}
			if req.Result == nil {
				return nil, fmt.Errorf("inspector: done without a result")
			}
			return req.Result, nil
		case "mutate":
			var res am.Result
			switch req.Op {
			case "add":
				res = srv.w.Add1(req.State, nil)
			case "remove":
				res = srv.w.Remove1(req.State, nil)
			case "toggle":
				res = srv.w.Toggle1(req.State, nil)
			default:
				reply["error"] = "unknown op " + req.Op
			}
			reply["result"] = res.String()
			reply["t"] = float64(time.Now().UnixNano()) / 1e6
		case "time":
		case "stop":
			if err := srv.stop(); err != nil {
				reply["error"] = err.Error()
			}
		case "start":
			if err := srv.start(); err != nil {
				reply["error"] = err.Error()
			}
		default:
			reply["error"] = "unknown request " + req.Cmd
		}
		ticks := srv.w.Time(nil)
		strs := make([]string, len(ticks))
		for i, tk := range ticks {
			strs[i] = strconv.FormatUint(tk, 10)
		}
		reply["time"] = strs
		b, _ := json.Marshal(reply)
		if _, err := fmt.Fprintf(in, "%s\n", b); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("inspector: ended without a result")
}
