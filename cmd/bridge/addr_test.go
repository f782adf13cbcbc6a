package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
		why  string
	}{
		{"localhost:7420", true, ""},
		{":7420", true, ""},
		{"127.0.0.1:7420", true, ""},
		{"[::1]:7420", true, ""},
		{"[fe80::1%lo]:7420", true, ""},
		{"bridge-1.example.internal:65535", true, ""},
		{"my_host:1", true, ""},
		{"bad addr::", false, "too many colons"},
		{"::::", false, "too many colons"},
		{"::1:7420", false, "too many colons"},
		{"localhost", false, "missing port"},
		{"", false, "missing port"},
		{"localhost:", false, "missing port"},
		{"localhost:abc", false, `port "abc" is not a number`},
		{"localhost:65536", false, `port "65536" is not a number`},
		{"localhost:-1", false, "is not a number"},
		{"localhost:0", false, "port 0"},
		{"bad addr:7420", false, `"bad addr" is neither`},
		{"-host:7420", false, "is neither"},
		{"host-:7420", false, "is neither"},
		{"a..b:7420", false, "is neither"},
		{"[::1:7420", false, "missing ']'"},
		{"dns:///localhost:7420", false, "too many colons"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := checkAddr(tt.addr)
			if tt.ok {
				if err != nil {
					t.Fatalf("checkAddr: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("checkAddr accepted it")
			}
			if exitCode(err) != exitBadInput {
				t.Errorf("exit code %d, want %d", exitCode(err), exitBadInput)
			}
			if !strings.Contains(err.Error(), tt.why) ||
				!strings.Contains(err.Error(), "want HOST:PORT") {
				t.Errorf("error %q lacks %q or the hint", err, tt.why)
			}
		})
	}
	if err := checkListenAddr("127.0.0.1:0"); err != nil {
		t.Errorf("checkListenAddr port 0: %v", err)
	}
}

// TestBadAddr: a malformed ADDR is bad input, reported before anything is
// dialed (so at once, not after --timeout), on every client command and door.
func TestBadAddr(t *testing.T) {
	file := filepath.Join(t.TempDir(), "jobs.yaml")
	if err := os.WriteFile(file, []byte(jobsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"watch", "bad addr::"}, "too many colons"},
		{[]string{"watch", "bad addr::", "--grpc"}, "too many colons"},
		{[]string{"add", "::::", "X"}, "too many colons"},
		{[]string{"add", "::::", "Ready", "--schema", file}, "too many colons"},
		{[]string{"inspect", "localhost"}, "missing port"},
		{[]string{"get", "localhost:http", "id", "--grpc"}, `port "http"`},
		{[]string{"remove", "bad host:7420", "Ready"}, "neither an IP"},
		{[]string{"set", "127.0.0.1:0", "Ready"}, "port 0"},
		{[]string{"serve", "--addr", "bad addr::"}, "--addr: bad address"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			start := time.Now()
			// a long --timeout: a dial attempt would show as a slow exit
			args := append(tt.args, "--timeout", "10s")
			if tt.args[0] == "serve" {
				args = tt.args
			}
			cli(t, nil, args...).want(t, exitBadInput, "bad address",
				tt.want, "want HOST:PORT")
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %s: the address was dialed", took)
			}
		})
	}
}

// TestNotABridge: a gRPC server without BridgeService (here, only gRPC
// health) is the wrong address, not an unreachable server.
func TestNotABridge(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		srv.Stop()
		select {
		case err := <-served:
			if err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(testTimeout):
			t.Error("gRPC server did not stop")
		}
	}()
	addr := l.Addr().String()
	file := filepath.Join(t.TempDir(), "jobs.yaml")
	if err := os.WriteFile(file, []byte(jobsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	msg := addr + " is not an aRPC bridge (gRPC service " +
		"arpc.bridge.v1.BridgeService not found)"
	for _, args := range [][]string{
		{"inspect", addr},
		{"watch", addr, "--json"},
		{"watch", addr, "--grpc"},
		{"add", addr, "Ready"},
		{"get", addr, "id", "--grpc"},
		// with the schema from a file, the gRPC door's own Handshake finds out
		{"add", addr, "Ready", "--grpc", "--schema", file},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cli(t, nil, append(args, "--timeout", "5s")...).want(t,
				exitBadInput, msg)
		})
	}
}
