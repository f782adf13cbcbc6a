package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDemo(t *testing.T) {
	s := startServer(t, nil, "--push-interval", "10ms", "--demo-interval",
		"20ms")
	a := s.addr

	code, body := httpGet(t, "http://"+a+"/healthz")
	if code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}

	t.Run("inspect", func(t *testing.T) {
		cli(t, nil, "inspect", a).want(t, 0, "machine demo at", "JobQueued",
			"require Running")
		r := cli(t, nil, "inspect", a, "--json", "--grpc")
		r.want(t, 0)
		var out inspectOut
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatal(err)
		}
		if out.Machine != "demo" || out.Door != "gRPC" || len(out.States) != 9 {
			t.Fatalf("inspect --json: %+v", out)
		}
	})

	for _, door := range []string{"arpc", "grpc"} {
		t.Run("watch-"+door, func(t *testing.T) {
			args := []string{"watch", a, "--json", "--count", "3"}
			if door == "grpc" {
				args = append(args, "--grpc")
			}
			r := cli(t, nil, args...)
			r.want(t, 0)
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if len(lines) != 4 {
				t.Fatalf("want 4 lines (initial + 3), got %d: %s", len(lines),
					r.stdout)
			}
			var prev uint64
			for i, l := range lines {
				var u watchOut
				if err := json.Unmarshal([]byte(l), &u); err != nil {
					t.Fatal(err)
				}
				if u.Initial != (i == 0) || (i > 0 && len(u.Changed) == 0) ||
					u.Seq < prev || len(u.Ticks) != 9 {
					t.Fatalf("line %d: %s", i, l)
				}
				prev = u.Seq
			}
		})
	}
	t.Run("watch-text", func(t *testing.T) {
		r := cli(t, nil, "watch", a, "--count", "1")
		r.want(t, 0, " initial active=", "Running")
	})

	t.Run("mutate", func(t *testing.T) {
		cli(t, nil, "add", a, "JobQueued", "--arg", "n=2").want(t, 0,
			"Executed: add JobQueued")
		r := cli(t, nil, "add", a, "JobQueued", "--grpc", "--json")
		r.want(t, 0, `"result":"executed"`)
		cli(t, nil, "add", a, "Nope").want(t, exitBadInput,
			`unknown state "Nope"`, "JobQueued")
		cli(t, nil, "remove", a, "Nope", "--grpc").want(t, exitBadInput,
			`unknown state "Nope"`)
		cli(t, nil, "set", a, "Running", "Done").want(t, 0,
			"Executed: set Running Done")
	})

	t.Run("get", func(t *testing.T) {
		cli(t, nil, "get", a, "id").want(t, 0, "demo")
		cli(t, nil, "get", a, "source", "--grpc").want(t, 0, "demo")
		cli(t, nil, "get", a, "source", "--grpc", "--grpc-compression",
			"zstd").want(t, 0, "demo")
		cli(t, nil, "get", a, "active", "--json").want(t, 0, `"value":[`)
		cli(t, nil, "get", a, "nope").want(t, exitBadInput, `does not expose "nope"`)
		cli(t, nil, "get", a, "nope", "--grpc").want(t, exitBadInput,
			`does not expose "nope"`)
	})

	t.Run("metrics", func(t *testing.T) {
		code, body := httpGet(t, "http://"+a+"/metrics")
		if code != 200 {
			t.Fatalf("/metrics: %d", code)
		}
		for _, m := range []string{
			`arpcbridge_clients{door="arpc"}`, `arpcbridge_clients{door="grpc"}`,
			`arpcbridge_mutations_total{door="arpc",result="executed"}`,
			`arpcbridge_mutations_total{door="grpc",result="executed"} 1`,
			`arpcbridge_pushes_total{door="arpc"}`, `arpcbridge_pushes_total{door="grpc"}`,
			`arpcbridge_sent_bytes_total{door="arpc"}`,
			`arpcbridge_push_lag_seconds_bucket{door="grpc",le="+Inf"}`,
			`arpcbridge_full_resyncs_total`, `arpcbridge_reconnects_total{door="grpc"}`,
			`arpcbridge_coalesced_diffs_total{door="arpc"}`,
			`arpcbridge_transitions_total`, `go_goroutines`,
		} {
			if !strings.Contains(body, m) {
				t.Errorf("/metrics lacks %s", m)
			}
		}
		for _, zero := range []string{`arpcbridge_pushes_total{door="arpc"} 0`,
			`arpcbridge_pushes_total{door="grpc"} 0`,
			`arpcbridge_sent_bytes_total{door="arpc"} 0`} {
			if strings.Contains(body, zero+"\n") {
				t.Errorf("/metrics: %s after watching", zero)
			}
		}
	})

	// after "metrics": a Connect call counts as a gRPC mutation
	t.Run("web", func(t *testing.T) {
		code, body := httpGet(t, "http://"+a+"/")
		if code != 200 || !strings.Contains(body, `<script defer src="inspector.js">`) {
			t.Fatalf("/: %d %.200q", code, body)
		}
		c := &http.Client{Timeout: 5 * time.Second}
		defer c.CloseIdleConnections()
		resp, err := c.Post("http://"+a+"/arpc.bridge.v1.BridgeService/Mutate",
			"application/json", strings.NewReader(
				`{"client_id":"c","type":"MUTATION_TYPE_ADD","states":["JobQueued"]}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 ||
			!strings.Contains(string(b), `"result":"MUTATION_RESULT_EXECUTED"`) {
			t.Fatalf("Connect Mutate: %d %s", resp.StatusCode, b)
		}
	})
}

const jobsYAML = `id: jobs
states:
  - name: Ready
  - name: Idle
    auto: true
    remove: [Working]
  - name: Working
    require: [Ready]
    after: [Idle]
  - name: Done
    multi: true
    add: [Idle]
`

func TestSchemaFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "jobs.yaml")
	if err := os.WriteFile(file, []byte(jobsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, nil, "--schema", file)
	a := s.addr

	cli(t, nil, "get", a, "source").want(t, 0, file)
	cli(t, nil, "inspect", a).want(t, 0, "machine jobs", "Working",
		"require Ready")
	// Working requires Ready: the machine cancels it
	cli(t, nil, "add", a, "Working").want(t, exitCanceled,
		"Canceled: add Working", "canceled by the machine")
	cli(t, nil, "add", a, "Working", "--grpc", "--json").want(t, exitCanceled,
		`"result":"canceled"`)
	cli(t, nil, "add", a, "Ready", "Working", "--grpc").want(t, 0,
		"Executed: add Ready Working")
	// the schema from the file instead of a gRPC Handshake
	cli(t, nil, "remove", a, "Working", "--schema", file).want(t, 0,
		"Executed: remove Working")
	cli(t, nil, "set", a, "Done", "--json").want(t, 0, `"active":["Idle","Done"]`)
	_, body := httpGet(t, "http://"+a+"/metrics")
	for _, m := range []string{
		`arpcbridge_mutations_total{door="arpc",result="canceled"} 1` + "\n",
		`arpcbridge_mutations_total{door="grpc",result="canceled"} 1` + "\n",
		`arpcbridge_mutations_total{door="grpc",result="executed"} 1` + "\n",
	} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	cli(t, nil, "add", a, "Ready", "--schema", filepath.Join(dir, "other.yaml")).
		want(t, exitBadInput, "other.yaml", "no such file")

	// a schema that differs from the server's
	other := filepath.Join(dir, "other.json")
	if err := os.WriteFile(other, []byte(`{"states":[{"name":"Ready"}]}`),
		0o600); err != nil {
		t.Fatal(err)
	}
	cli(t, nil, "add", a, "Ready", "--schema", other).want(t, exitBadInput,
		"schema mismatch")
}

// ordersJSON is a JSON schema file using every relation.
const ordersJSON = `{
  "id": "orders",
  "states": [
    {"name": "Open"},
    {"name": "Paid", "require": ["Open"], "add": ["Shipping"]},
    {"name": "Shipping", "require": ["Paid"], "after": ["Paid"]},
    {"name": "Closed", "remove": ["Open", "Paid", "Shipping"]},
    {"name": "Note", "multi": true},
    {"name": "Audited", "auto": true, "require": ["Closed"]}
  ]
}`

// TestSchemaFileJSON serves a JSON schema file and drives it with the
// client commands on both doors.
func TestSchemaFileJSON(t *testing.T) {
	file := filepath.Join(t.TempDir(), "orders.json")
	if err := os.WriteFile(file, []byte(ordersJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, nil, "--schema", file)
	a := s.addr

	cli(t, nil, "get", a, "source").want(t, 0, file)
	cli(t, nil, "inspect", a).want(t, 0, "machine orders at", "8 states",
		"require Open; add Shipping", "require Paid; after Paid",
		"remove Open,Paid,Shipping", "auto; require Closed")
	r := cli(t, nil, "inspect", a, "--json", "--grpc")
	r.want(t, 0)
	var out inspectOut
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if out.Machine != "orders" || out.Door != "gRPC" || len(out.States) != 8 ||
		out.States[2].Name != "Open" || !out.States[6].Multi ||
		!out.States[7].Auto || len(out.Active) != 0 {
		t.Fatalf("inspect --json: %+v", out)
	}

	// Paid requires Open
	cli(t, nil, "add", a, "Paid").want(t, exitCanceled, "Canceled: add Paid")
	cli(t, nil, "add", a, "Open", "--grpc").want(t, 0,
		"Executed: add Open (active: Open)")
	// Paid adds Shipping
	cli(t, nil, "add", a, "Paid", "--schema", file).want(t, 0,
		"Executed: add Paid (active: Open, Paid, Shipping)")
	cli(t, nil, "add", a, "Note", "--arg", "text=hello").want(t, 0,
		"active: Open, Paid, Shipping, Note")
	// Closed removes the rest, then Audited activates on its own
	cli(t, nil, "add", a, "Closed", "--json").want(t, 0, `"result":"executed"`)
	r = cli(t, nil, "inspect", a, "--json")
	r.want(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	active := map[string]bool{}
	for _, st := range out.States {
		active[st.Name] = st.Active
	}
	// Open went on and off (tick 2); Note is multi, added once (tick 1)
	if !active["Closed"] || !active["Audited"] || !active["Note"] ||
		active["Open"] || active["Paid"] || active["Shipping"] ||
		out.States[2].Tick != 2 || out.States[6].Tick != 1 {
		t.Fatalf("after the mutations: %+v", out.States)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unknown := write("unknown.yaml", "states:\n  - name: A\n    require: [B]\n")
	syntax := write("syntax.json", "{\"states\": [\n  {\"name\": \"A\",}\n]}")
	dup := write("dup.yml", "states:\n  - name: A\n  - name: A\n")

	tests := []struct {
		name     string
		env      []string
		args     []string
		contains []string
	}{
		{"unknown state in schema", nil, []string{"serve", "--schema", unknown},
			[]string{"unknown.yaml:3:15", `state "A"`, `unknown state: "B"`}},
		{"syntax error", nil, []string{"serve", "--schema", syntax},
			[]string{"syntax.json:2:"}},
		{"duplicate state", nil, []string{"serve", "--schema", dup},
			[]string{"dup.yml:3:", "duplicate"}},
		{"missing file", nil, []string{"serve", "--schema", filepath.Join(dir,
			"none.yaml")}, []string{"none.yaml", "no such file"}},
		{"bad env", []string{"BRIDGE_PUSH_INTERVAL=soon"}, []string{"serve"},
			[]string{"BRIDGE_PUSH_INTERVAL", "soon"}},
		{"bad log level", nil, []string{"serve", "--log-level", "loud"},
			[]string{"--log-level"}},
		{"unknown flag", nil, []string{"watch", "x", "--nope"},
			[]string{"unknown flag: --nope"}},
		{"unknown command", nil, []string{"frobnicate"},
			[]string{`unknown command "frobnicate"`}},
		{"missing state", nil, []string{"add", "127.0.0.1:1"},
			[]string{"needs ADDR and at least one STATE"}},
		{"bad arg", nil, []string{"add", "127.0.0.1:1", "A", "--arg", "noeq"},
			[]string{"want key=value"}},
		{"args to serve", nil, []string{"serve", "extra"},
			[]string{"serve needs no arguments"}},
		{"compression without --grpc", nil, []string{"add", "127.0.0.1:1", "A",
			"--grpc-compression", "gzip"}, []string{"--grpc-compression needs --grpc"}},
		{"unknown compression", nil, []string{"add", "127.0.0.1:1", "A", "--grpc",
			"--grpc-compression", "lz4"}, []string{`"lz4"`, "gzip, zstd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli(t, tt.env, tt.args...).want(t, exitBadInput, tt.contains...)
		})
	}
}

func TestUnreachable(t *testing.T) {
	// a port that was just free: nothing listens there
	s := startServer(t, nil)
	addr := s.addr
	if code, _ := s.stop(t); code != 0 {
		t.Fatalf("serve exit code %d\n%s", code, s.stderr)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "jobs.yaml")
	if err := os.WriteFile(file, []byte(jobsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"inspect", addr},
		{"watch", addr, "--grpc"},
		{"add", addr, "Ready", "--schema", file},
		{"get", addr, "id", "--schema", file, "--grpc"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cli(t, nil, append(args, "--timeout", "1s")...).want(t,
				exitUnreachable, addr)
		})
	}
}

func TestAllowId(t *testing.T) {
	s := startServer(t, []string{"BRIDGE_ALLOW_ID=rc-ops"})
	cli(t, nil, "inspect", s.addr).want(t, exitDenied, "refused")
	cli(t, nil, "inspect", s.addr, "--name", "ops").want(t, 0, "machine demo")
	cli(t, []string{"BRIDGE_NAME=ops"}, "get", s.addr, "id", "--grpc").want(t, 0,
		"demo")
}

// scripts/tools.sh --grpcurl installs grpcurl alone (it used to install
// buf and the protoc plugins too).
func TestToolsGrpcurlOnly(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ args, want string }{
		{"--grpcurl", "grpcurl"},
		{"", "buf protoc-gen-go protoc-gen-go-grpc"},
		{"--core --grpcurl --health-probe",
			"buf protoc-gen-go protoc-gen-go-grpc grpcurl grpc-health-probe"},
	} {
		cmd := exec.Command(filepath.Join(root, "scripts", "tools.sh"),
			strings.Fields(tt.args)...)
		cmd.Env = append(os.Environ(), "TOOLS_DRY_RUN=1")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("tools.sh %s: %v", tt.args, err)
		}
		if got := strings.Join(strings.Fields(string(out)), " "); got != tt.want {
			t.Errorf("tools.sh %s installs %q, want %q", tt.args, got, tt.want)
		}
	}
}

// TestGrpcurl runs the README's grpcurl lines (server reflection, no proto
// files) from a directory outside the repository.
func TestGrpcurl(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	grpcurl := filepath.Join(root, ".tools", "bin", "grpcurl")
	if _, err := os.Stat(grpcurl); err != nil {
		t.Skip("grpcurl not installed: run scripts/tools.sh --grpcurl to " +
			"install it into .tools/bin")
	}
	s := startServer(t, nil)
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		// as the README's lines: server reflection, from any directory
		cmd := exec.CommandContext(ctx, grpcurl, append([]string{"-plaintext"},
			args...)...)
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("grpcurl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := run(s.addr, "list"); !strings.Contains(out,
		"arpc.bridge.v1.BridgeService") {
		t.Fatalf("list: %s", out)
	}
	out := run("-d", `{"client_id":"cli","protocol_version":1}`, s.addr,
		"arpc.bridge.v1.BridgeService/Handshake")
	for _, want := range []string{`"machineId": "demo"`, `"JobQueued"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("Handshake lacks %s: %s", want, out)
		}
	}
	out = run("-d", `{"client_id":"cli","type":"MUTATION_TYPE_ADD",`+
		`"states":["JobQueued"],"mutation_id":"cli-1"}`, s.addr,
		"arpc.bridge.v1.BridgeService/Mutate")
	if !strings.Contains(out, "MUTATION_RESULT_EXECUTED") {
		t.Fatalf("Mutate: %s", out)
	}
	out = run(s.addr, "describe", "arpc.bridge.v1.BridgeService")
	if !strings.Contains(out, "rpc WatchClock") {
		t.Fatalf("describe: %s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	b, err := exec.CommandContext(ctx, grpcurl, "-plaintext", s.addr,
		"grpc.health.v1.Health/Check").CombinedOutput()
	if err != nil || !strings.Contains(string(b), "SERVING") {
		t.Fatalf("health: %v %s", err, b)
	}
}

// TestSigtermMidTraffic stops a busy server: watchers on both doors and a
// stream of mutations. The server must exit 0 within its shutdown timeout,
// and the watchers must end with "unreachable" instead of hanging.
func TestSigtermMidTraffic(t *testing.T) {
	s := startServer(t, nil, "--push-interval", "1ms", "--demo-interval",
		"2ms", "--shutdown-timeout", "3s")
	a := s.addr

	type watcher struct {
		cmd   *exec.Cmd
		lines chan string
		done  chan error
	}
	startWatch := func(extra ...string) *watcher {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		t.Cleanup(cancel)
		// the watchers retry a lost connection for --timeout
		cmd := exec.CommandContext(ctx, binPath, append([]string{"watch", a,
			"--json", "--timeout", "2s"}, extra...)...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w := &watcher{cmd: cmd, lines: make(chan string, 1024),
			done: make(chan error, 1)}
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				select {
				case w.lines <- sc.Text():
				default:
				}
			}
			w.done <- cmd.Wait()
		}()
		return w
	}
	watchers := []*watcher{startWatch(), startWatch("--grpc")}
	// each watcher saw live updates
	for _, w := range watchers {
		for range 3 {
			select {
			case <-w.lines:
			case err := <-w.done:
				t.Fatalf("watch ended early: %v", err)
			case <-time.After(testTimeout):
				t.Fatal("no updates from watch")
			}
		}
	}

	// mutations in flight while the signal arrives
	ctx, stopTraffic := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"add", a, "JobQueued", "--timeout", "2s"}
			if i == 1 {
				args = append(args, "--grpc")
			}
			for ctx.Err() == nil {
				c := exec.CommandContext(ctx, binPath, args...)
				if c.Run() != nil {
					return
				}
			}
		}()
	}
	// wait for traffic: some mutation went through after the watchers
	deadline := time.Now().Add(testTimeout)
	for {
		_, body := httpGet(t, "http://"+a+"/metrics")
		if strings.Contains(body, `arpcbridge_mutations_total{door="arpc",result="executed"} `) &&
			!strings.Contains(body, `arpcbridge_mutations_total{door="arpc",result="executed"} 0`+"\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no mutations reached the server")
		}
		<-time.After(20 * time.Millisecond)
	}

	code, took := s.stop(t)
	stopTraffic()
	wg.Wait()
	if code != 0 {
		t.Fatalf("serve exit code %d after SIGTERM\n%s", code, s.stderr)
	}
	if took > 5*time.Second {
		t.Fatalf("shutdown took %s", took)
	}
	if !strings.Contains(s.stderr.String(), "msg=stopped") {
		t.Errorf("no stop log\n%s", s.stderr)
	}
	for i, w := range watchers {
		select {
		case err := <-w.done:
			if c := exitStatus(err); c != exitUnreachable {
				t.Errorf("watcher %d: exit code %d, want %d", i, c, exitUnreachable)
			}
		case <-time.After(testTimeout):
			t.Errorf("watcher %d still running after the server stopped", i)
		}
	}
}

// TestServeStopAtOnce stops servers right after they print their address,
// when SIGTERM may reach the shutdown before the server's accept loop runs:
// each stop must still be clean (exit 0). The race is timing-dependent, so
// the test repeats it.
func TestServeStopAtOnce(t *testing.T) {
	for i := range 15 {
		s := startServer(t, nil, "--log-level", "warn")
		if code, _ := s.stop(t); code != 0 {
			t.Fatalf("stop %d: serve exit code %d\n%s", i, code, s.stderr)
		}
	}
}
