package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge"
)

// Global flags may come before the command; they used to make the command
// line "serve ..." ("serve needs no arguments").
func TestGlobalFlagsBeforeCommand(t *testing.T) {
	s := startServer(t, nil)
	cli(t, nil, "--log-level", "debug", "inspect", s.addr).want(t, 0,
		"machine demo")
	cli(t, nil, "--log-format=json", "--log-level", "warn", "get", s.addr,
		"id").want(t, 0, "demo")
	cli(t, nil, "--log-level", "loud", "inspect", s.addr).want(t,
		exitBadInput, "--log-level")
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := cli(t, nil, args...)
		r.want(t, 0, "github.com/arpcbridge/arpcbridge", runtime.Version(),
			fmt.Sprintf("aRPC %d", arpc.ProtocolVersion),
			fmt.Sprintf("arpc.bridge.v1 %d", bridge.ProtocolVersion))
	}
	r := cli(t, nil, "version", "--json")
	r.want(t, 0)
	var v versionOut
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("version --json: %v: %s", err, r.stdout)
	}
	if v.GoVersion != runtime.Version() || v.Protocols["arpc"] != arpc.ProtocolVersion ||
		v.Protocols["arpc.bridge.v1"] != bridge.ProtocolVersion || v.Version == "" {
		t.Errorf("version --json: %+v", v)
	}

	// the commit, from a build that records it (GOFLAGS may turn it off)
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skip("not a git checkout:", err)
	}
	bin := filepath.Join(t.TempDir(), "bridge")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, out)
	}
	meta, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(meta, []byte("vcs.revision=")) {
		t.Skip("the toolchain recorded no commit here (a git worktree?)")
	}
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	v = versionOut{}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(head)); v.Commit != want {
		t.Errorf("commit %q, want %q", v.Commit, want)
	}
}

// Two commands with the default --name have different client IDs, and a
// gRPC watch goes on while another gRPC command mutates (the mutation used
// to end the watch, exit 4, as both had the client ID rc-bridge-cli).
func TestDefaultNamesUnique(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain.yaml")
	if err := os.WriteFile(file, []byte(plainYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, nil, "--log-level", "debug", "--schema", file)
	w := startWatch(t, "watch", "--grpc", "--json", s.addr)
	w.next("initial")
	cli(t, nil, "add", "--grpc", s.addr, "A").want(t, 0)
	u := w.next("after add")
	if _, ok := u.Changed["A"]; !ok {
		t.Errorf("watch saw %+v, want A changed", u)
	}
	cli(t, nil, "add", s.addr, "B").want(t, 0)
	u = w.next("after the second add")
	if _, ok := u.Changed["B"]; !ok {
		t.Errorf("watch saw %+v, want B changed", u)
	}
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`client=(rc-bridge-cli-\S+)`).
		FindAllStringSubmatch(s.stderr.String(), -1) {
		ids[m[1]] = true
	}
	if len(ids) != 3 {
		t.Errorf("want 3 client IDs (watch, 2 adds), got %v\n%s", ids, s.stderr)
	}
}

// watch started before its server waits for it (up to --timeout), as it
// waits for a restarted one; it used to exit 4 at once.
func TestWatchWaitsForServer(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	for _, door := range []string{"aRPC", "gRPC"} {
		t.Run(door, func(t *testing.T) {
			args := []string{"watch", addr, "--json", "--count", "1",
				"--timeout", "15s", "--log-level", "debug"}
			if door == "gRPC" {
				args = append(args, "--grpc")
			}
			w := startWatch(t, args...)
			if !w.stderr.Await("server not reachable yet", testTimeout) {
				t.Fatalf("watch did not retry:\n%s", w.stderr)
			}
			startServer(t, nil, "--addr", addr, "--demo-interval", "50ms")
			w.next("initial")
			w.next("first update")
			if code := w.wait(); code != 0 {
				t.Fatalf("exit %d\n%s", code, w.stderr)
			}
		})
	}
}

// an empty schema machine: nothing active at first
const plainYAML = `id: plain
states:
  - name: A
  - name: B
  - name: C
`

func TestOutputFixes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain.yaml")
	if err := os.WriteFile(file, []byte(plainYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, nil, "--schema", file)

	// watch --json: "active" is a list, empty when nothing is active
	r := cli(t, nil, "watch", s.addr, "--json", "--count", "0",
		"--idle-timeout", "1ms")
	if !strings.Contains(r.stdout, `"active":[]`) {
		t.Errorf("watch --json initial: %s", r.stdout)
	}

	// get active: schema order, whatever the activation order
	cli(t, nil, "add", s.addr, "C").want(t, 0)
	cli(t, nil, "add", s.addr, "A").want(t, 0)
	for _, door := range []string{"--grpc=false", "--grpc"} {
		r := cli(t, nil, "get", s.addr, "active", door)
		r.want(t, 0)
		if strings.TrimSpace(r.stdout) != `["A","C"]` {
			t.Errorf("get active %s: %q, want [\"A\",\"C\"]", door, r.stdout)
		}
		// names lists arpc.err, and both doors answer it
		cli(t, nil, "get", s.addr, "names", door).want(t, 0, `"arpc.err"`)
		r = cli(t, nil, "get", s.addr, "arpc.err", door)
		r.want(t, 0)
		if strings.TrimSpace(r.stdout) != "null" {
			t.Errorf("get arpc.err %s: %q, want null", door, r.stdout)
		}
	}
}

// After a restart without a state file the ticks start over: a state that
// stays inactive is no change ("~Working" used to be printed).
func TestWatchTickResetIsNoChange(t *testing.T) {
	names := am.S{"Exception", "SendPayload", "Working", "Multi"}
	var out bytes.Buffer
	v := &watchView{r: &remote{names: names, schema: am.Schema{
		"Multi": {Multi: true}}}, out: &out}
	before := am.Time{0, 0, 4, 3}
	if err := v.show(before, am.Time{0, 0, 0, 5}, 7); err != nil {
		t.Fatal(err)
	}
	line := out.String()
	if strings.Contains(line, "Working") || !strings.Contains(line, "~Multi") {
		t.Errorf("got %q, want ~Multi only", line)
	}
	if changeMark(2, 4) != "~" || changeMark(4, 0) != "" ||
		changeMark(1, 2) != "-" || changeMark(0, 1) != "+" {
		t.Error("changeMark")
	}
}

// A server without a getter exposes nothing: get exits 2 as for any name
// not exposed (the aRPC door used to exit 1).
func TestGetWithoutGetter(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	schema := am.SchemaMerge(ss.WorkerSchema, am.Schema{"A": {}})
	names := am.SAdd(ss.WorkerStates.Names(), am.S{"A"})
	w, err := am.NewCommon(ctx, "nogetter", schema, names, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Dispose()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := bridge.NewServer(ctx, l, "nogetter", w, nil)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	defer func() {
		_ = srv.Shutdown(context.Background())
		<-served
	}()
	addr := srv.Addr().String()
	for _, door := range []string{"--grpc=false", "--grpc"} {
		cli(t, nil, "get", addr, "id", door).want(t, exitBadInput,
			`does not expose "id"`)
	}
}

// The allow-id hint comes with --schema too (no discovery call).
func TestAllowIdHintWithSchema(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain.yaml")
	if err := os.WriteFile(file, []byte(plainYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, nil, "--schema", file, "--allow-id", "rc-ops")
	for _, door := range []string{"--grpc=false", "--grpc"} {
		cli(t, nil, "inspect", s.addr, "--schema", file, door).want(t,
			exitDenied, "refused", "try --name")
	}
}

// A port that accepts and never answers: the error names the address.
func TestSilentPortNamesAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	defer func() { _ = l.Close(); <-done }()
	file := filepath.Join(t.TempDir(), "plain.yaml")
	if err := os.WriteFile(file, []byte(plainYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	for _, door := range []string{"--grpc=false", "--grpc"} {
		cli(t, nil, "inspect", addr, "--schema", file, "--timeout", "1s",
			door).want(t, exitUnreachable, addr)
	}
}

// An HTTP/1 server at ADDR is not a bridge: exit 2 with a message saying so
// (it used to be "http2: frame too large", exit 4).
func TestHTTP1ServerIsNotABridge(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter,
		_ *http.Request) {
		_, _ = w.Write([]byte("hello"))
	}))
	defer hs.Close()
	addr := strings.TrimPrefix(hs.URL, "http://")
	file := filepath.Join(t.TempDir(), "plain.yaml")
	if err := os.WriteFile(file, []byte(plainYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"inspect", addr},
		{"inspect", addr, "--grpc", "--schema", file},
		{"inspect", addr, "--schema", file},
		{"watch", addr, "--timeout", "2s"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cli(t, nil, append(args, "--timeout", "2s")...).want(t, exitBadInput,
				addr+" is not an aRPC bridge", "HTTP/1")
		})
	}
}

// --log-level debug logs connections, calls and mutations of both doors,
// one structured line each; JSON logs write durations as strings.
func TestDebugLog(t *testing.T) {
	s := startServer(t, nil, "--log-level", "debug", "--log-format", "json",
		"--demo-interval", "1h")
	cli(t, nil, "add", s.addr, "JobQueued", "--name", "a1").want(t, 0)
	cli(t, nil, "add", s.addr, "JobQueued", "--name", "g1", "--grpc").want(t, 0)
	cli(t, nil, "get", s.addr, "id", "--name", "a2").want(t, 0)
	want := []map[string]any{
		{"msg": "client connected", "door": "arpc", "client": "rc-a1"},
		{"msg": "mutation", "door": "arpc", "client": "rc-a1", "type": "add",
			"result": "executed"},
		{"msg": "client disconnected", "door": "arpc", "client": "rc-a1"},
		{"msg": "connection opened", "door": "grpc"},
		{"msg": "call", "door": "grpc", "method": "Handshake", "client": "rc-g1",
			"code": "OK"},
		{"msg": "mutation", "door": "grpc", "client": "rc-g1", "type": "add"},
		{"msg": "call", "door": "grpc", "method": "Mutate", "client": "rc-g1"},
		{"msg": "call", "door": "arpc", "method": "Get", "client": "rc-a2"},
	}
	durRe := regexp.MustCompile(`^[0-9.]+(ns|µs|ms|s)$`)
	if !s.stderr.Await(`"method":"Get"`, testTimeout) {
		t.Fatalf("no Get call logged:\n%s", s.stderr)
	}
	var lines []map[string]any
	for _, l := range strings.Split(s.stderr.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			lines = append(lines, m)
			if strings.Count(l, `"server":`) > 1 {
				t.Errorf("a key twice: %s", l)
			}
		}
	}
	for _, w := range want {
		found := false
		for _, l := range lines {
			match := true
			for k, v := range w {
				if l[k] != v {
					match = false
				}
			}
			if match {
				found = true
				if d, ok := l["duration"]; ok {
					if ds, ok := d.(string); !ok || !durRe.MatchString(ds) {
						t.Errorf("duration %v (%T), want a string like 1.5ms", d, d)
					}
				}
			}
		}
		if !found {
			t.Errorf("no log line %v", w)
		}
	}
	if t.Failed() {
		t.Log(s.stderr)
	}
}
