package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestRunHelp checks the help answers the usual questions, in-process.
func TestRunHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"Exit codes:", "BRIDGE_PUSH_INTERVAL",
			"watch", "inspect", "serve", "malformed ADDR or one that is not a",
			"6  watch --idle-timeout"}},
		{[]string{"help", "serve"}, []string{"--push-interval", "--allow-id",
			"/metrics", "SIGTERM", `serving demo machine "demo"`}},
		{[]string{"watch", "--help"}, []string{"--grpc", "--schema", "--json",
			"Handshake", "--idle-timeout", "(exit code 6)"}},
		{[]string{"add", "--help"}, []string{"--arg", "Queued", "3 canceled"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), tt.args, &out, &errb)
			if err != nil || exitCode(err) != exitOK {
				t.Fatalf("err %v, stderr %s", err, errb.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("help lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestRunServeInProcess runs serve in-process (as "bridge" with no command)
// and stops it through its context, as SIGINT does; goleak in TestMain
// checks that nothing is left running.
func TestRunServeInProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--log-level",
			"warn"}, pw, &errb)
		_ = pw.Close()
	}()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	var addr string
	select {
	case l := <-lines:
		m := listeningRe.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("first line %q", l)
		}
		addr = m[3]
	case err := <-done:
		t.Fatalf("run ended: %v %s", err, errb.String())
	case <-time.After(testTimeout):
		t.Fatal("no listening line")
	}
	cli(t, nil, "watch", addr, "--count", "1").want(t, 0, "seq=")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, errb.String())
		}
	case <-time.After(testTimeout):
		t.Fatal("serve did not stop")
	}
}
