package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/arpcbridge/arpcbridge/internal/testcerts"
)

// files are the PEM files and auth files of a test.
type files struct {
	dir, ca, srvCert, srvKey, cliCert, cliKey, otherCert, otherKey string
}

func writePKI(t *testing.T) files {
	t.Helper()
	dir := t.TempDir()
	ca, other := testcerts.NewCA("ca"), testcerts.NewCA("other")
	f := files{dir: dir, ca: ca.Write(dir, "ca")}
	f.srvCert, f.srvKey = ca.Server().Write(dir, "server")
	f.cliCert, f.cliKey = ca.Issue(testcerts.Opts{CN: "ui-1"}).Write(dir, "client")
	f.otherCert, f.otherKey = other.Issue(testcerts.Opts{CN: "ui-1"}).Write(dir,
		"other")
	return f
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const cliPolicy = `rules:
  - identity: "ui-*"
    mutate:  {allow: ["JobQueued"]}
    observe: {allow: ["*"], deny: ["Failed"]}
`

func TestSecurityMTLS(t *testing.T) {
	f := writePKI(t)
	policy := writeFile(t, f.dir, "policy.yaml", cliPolicy)
	s := startServer(t, nil, "--tls-cert", f.srvCert, "--tls-key", f.srvKey,
		"--tls-client-ca", f.ca, "--auth-policy", policy)
	a := s.addr
	creds := []string{"--tls-ca", f.ca, "--tls-cert", f.cliCert, "--tls-key",
		f.cliKey}
	with := func(args ...string) []string { return append(args, creds...) }

	cli(t, nil, with("inspect", a)...).want(t, 0, "machine demo")
	cli(t, nil, with("inspect", a, "--grpc")...).want(t, 0, "machine demo")
	cli(t, nil, with("add", a, "JobQueued")...).want(t, 0, "Executed")
	cli(t, nil, with("add", a, "JobQueued", "--grpc")...).want(t, 0, "Executed")
	for _, door := range [][]string{nil, {"--grpc"}} {
		cli(t, nil, with(append([]string{"add", a, "Idle"}, door...)...)...).want(t,
			exitDenied, "permission denied", "state Idle")
	}
	// environment mirrors
	cli(t, []string{"BRIDGE_TLS_CA=" + f.ca, "BRIDGE_TLS_CERT=" + f.cliCert,
		"BRIDGE_TLS_KEY=" + f.cliKey}, "get", a, "id").want(t, 0, "demo")

	// refusals: fast, exit 5 (credentials) or 4 (nothing to talk to)
	start := time.Now()
	cli(t, nil, "inspect", a, "--tls-ca", f.ca).want(t, exitDenied, "refused TLS")
	cli(t, nil, "inspect", a, "--tls-ca", f.ca, "--tls-cert", f.otherCert,
		"--tls-key", f.otherKey).want(t, exitDenied, "refused TLS")
	cli(t, nil, "inspect", a, "--tls-ca", f.otherCert, "--tls-cert", f.cliCert,
		"--tls-key", f.cliKey).want(t, exitDenied, "certificate")
	cli(t, nil, "inspect", a).want(t, exitDenied, "this server requires TLS", "--tls-ca")
	if d := time.Since(start); d > 4*DefaultTimeout {
		t.Errorf("refusals took %s", d)
	}

	// a reload on SIGHUP takes effect for new calls
	writeFile(t, f.dir, "policy.yaml", `rules: [{identity: "ui-*", mutate: {allow: ["*"]}}]`)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := cli(t, nil, with("add", a, "Idle")...)
		if r.code == 0 {
			break
		}
		if time.Now().After(deadline) {
			r.want(t, 0)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestSecurityTokens(t *testing.T) {
	f := writePKI(t)
	tokens := writeFile(t, f.dir, "tokens.yaml", "token: s3cret\nidentity: ui-2\n")
	policy := writeFile(t, f.dir, "policy.yaml", cliPolicy)
	s := startServer(t, nil, "--tls-cert", f.srvCert, "--tls-key", f.srvKey,
		"--auth-tokens", tokens, "--auth-policy", policy)
	a := s.addr
	cli(t, nil, "add", a, "JobQueued", "--tls-ca", f.ca, "--token", "s3cret").want(t, 0, "add JobQueued")
	cli(t, []string{"BRIDGE_TOKEN=s3cret"}, "add", a, "JobQueued", "--grpc",
		"--tls-ca", f.ca).want(t, 0, "add JobQueued")
	r := cli(t, nil, "inspect", a, "--tls-ca", f.ca, "--token", "wrong")
	r.want(t, exitDenied, "unknown token")
	cli(t, nil, "inspect", a, "--tls-ca", f.ca).want(t, exitDenied, "credentials required")
	cli(t, nil, "watch", a, "--tls-ca", f.ca, "--token", "s3cret", "--count", "1", "--json").want(t, 0, `"initial":true`)
}

func TestSecurityBadFiles(t *testing.T) {
	f := writePKI(t)
	badPolicy := writeFile(t, f.dir, "bad.yaml", "rules:\n  - identity: x\n    mutate: [A]\n")
	badTokens := writeFile(t, f.dir, "tokens.json", `{"tokens": [{"identity": "x", "sha256": "12"}]}`)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"policy", []string{"--auth-policy", badPolicy}, []string{badPolicy + ":3:13:", "mutate must be a mapping"}},
		{"tokens", []string{"--auth-tokens", badTokens}, []string{badTokens + ":1:41:", "sha256 must be 64 hex digits"}},
		{"key without cert", []string{"--tls-key", f.srvKey}, []string{"--tls-cert and --tls-key go together"}},
		{"client CA without TLS", []string{"--tls-client-ca", f.ca}, []string{"needs --tls-cert"}},
		{"cert and wrong key", []string{"--tls-cert", f.srvCert, "--tls-key", f.cliKey}, []string{"TLS certificate"}},
		{"missing policy", []string{"--auth-policy", filepath.Join(f.dir, "nope.yaml")}, []string{"nope.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli(t, nil, append([]string{"serve", "--addr", "127.0.0.1:0"},
				tt.args...)...).want(t, exitBadInput, tt.want...)
		})
	}
	cli(t, nil, "inspect", "127.0.0.1:1", "--tls-cert", f.cliCert).want(t,
		exitBadInput, "both the certificate and the key")
}
