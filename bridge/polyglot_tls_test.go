package bridge_test

import (
	"context"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc/auth"
	"github.com/arpcbridge/arpcbridge/bridge"
	"github.com/arpcbridge/arpcbridge/internal/testcerts"
)

// tlsFiles is a TLS server with optional client certificates and tokens,
// and the PEM files external clients need to talk to it.
type tlsFiles struct {
	addr                      string
	ca, clientCert, clientKey string
	token                     string
}

// startTLSServer serves w over TLS: a client certificate is verified when
// given (identity "poly-cert"), else the token (identity "poly-token") is
// required; the policy lets both do anything.
func startTLSServer(t *testing.T) tlsFiles {
	t.Helper()
	dir := t.TempDir()
	ca := testcerts.NewCA("poly-ca")
	srv := ca.Server()
	cfg := testcerts.ServerConfig(srv, nil)
	cfg.ClientCAs = ca.Pool()
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	policy, err := auth.ParsePolicy("policy.yaml",
		[]byte(`rules: [{identity: "poly-*", mutate: {allow: ["*"]}, observe: {allow: ["*"]}}]`))
	require.NoError(t, err)
	f := tlsFiles{ca: ca.Write(dir, "ca"), token: "poly-s3cret"}
	f.clientCert, f.clientKey = ca.Issue(testcerts.Opts{CN: "poly-cert"}).Write(dir,
		"client")
	s := startServer(t, newWorker(t), &bridge.ServerOpts{TLSConfig: cfg,
		Policy: policy,
		Tokens: auth.NewTokens(map[string]string{f.token: "poly-token"})})
	f.addr = s.Addr().String()
	return f
}

// modes are the two ways an external client authenticates.
func (f tlsFiles) modes() map[string][]string {
	return map[string][]string{
		"client-cert": {"--tls-ca", f.ca, "--tls-cert", f.clientCert,
			"--tls-key", f.clientKey},
		"token": {"--tls-ca", f.ca, "--token", f.token},
	}
}

func TestNodeClientTLS(t *testing.T) {
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
	f := startTLSServer(t)
	for mode, flags := range f.modes() {
		t.Run(mode, func(t *testing.T) {
			args := append([]string{"clients/node/client.mjs", f.addr, "--state",
				"A", "--timeout", "30"}, flags...)
			res := runClient(t, node, args...)
			assert.Equal(t, true, res["ok"], res)
		})
	}
}

func TestPythonClientTLS(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import grpc, grpc_tools").Run(); err != nil {
		missingTool(t, py+" with grpc and grpc_tools", "run "+
			"scripts/polyglot-deps.sh --python")
	}
	f := startTLSServer(t)
	for mode, flags := range f.modes() {
		t.Run(mode, func(t *testing.T) {
			args := append([]string{"clients/python/client.py", f.addr, "--state",
				"G", "--timeout", "30"}, flags...)
			res := runClient(t, py, args...)
			assert.Equal(t, true, res["ok"], res)
		})
	}
}

// TestToolsTLS: grpcurl with -cacert -cert -key and grpc-health-probe -tls
// against an mTLS port (scripts/tools.sh --grpcurl --health-probe).
func TestToolsTLS(t *testing.T) {
	tool := func(name string) string {
		bin, err := filepath.Abs(filepath.Join(repoRoot, ".tools/bin", name))
		require.NoError(t, err)
		if _, err := os.Stat(bin); err != nil {
			missingTool(t, ".tools/bin/"+name, "run scripts/tools.sh --grpcurl "+
				"--health-probe")
		}
		return bin
	}
	grpcurl, probe := tool("grpcurl"), tool("grpc-health-probe")
	f := startTLSServer(t)
	run := func(bin string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		return string(out), err
	}
	mtls := []string{"-cacert", f.ca, "-cert", f.clientCert, "-key", f.clientKey}
	out, err := run(grpcurl, append(mtls, f.addr, "list")...)
	require.NoError(t, err, out)
	assert.Contains(t, out, "arpc.bridge.v1.BridgeService")
	out, err = run(grpcurl, append(mtls, "-d", `{"client_id":"cli",`+
		`"type":"MUTATION_TYPE_ADD","states":["A"]}`, f.addr,
		"arpc.bridge.v1.BridgeService/Mutate")...)
	require.NoError(t, err, out)
	assert.Contains(t, out, "MUTATION_RESULT_EXECUTED")
	// a token instead of a certificate
	out, err = run(grpcurl, "-cacert", f.ca, "-H", "authorization: Bearer "+f.token,
		"-d", `{"client_id":"cli"}`, f.addr, "arpc.bridge.v1.BridgeService/Handshake")
	require.NoError(t, err, out)
	assert.Contains(t, out, `"machineId"`)
	// no credentials: UNAUTHENTICATED
	out, err = run(grpcurl, "-cacert", f.ca, "-d", `{"client_id":"cli"}`, f.addr,
		"arpc.bridge.v1.BridgeService/Handshake")
	require.Error(t, err)
	assert.Contains(t, out, "Unauthenticated")
	// plaintext against TLS fails, fast
	start := time.Now()
	_, err = run(grpcurl, "-plaintext", "-max-time", "5", f.addr, "list")
	require.Error(t, err)
	assert.Less(t, time.Since(start), 6*time.Second)

	out, err = run(probe, "-addr", f.addr, "-tls", "-tls-ca-cert", f.ca,
		"-tls-client-cert", f.clientCert, "-tls-client-key", f.clientKey)
	require.NoError(t, err, out)
	assert.Contains(t, out, "SERVING")
	out, err = run(probe, "-addr", f.addr, "-tls", "-tls-ca-cert", f.ca,
		"-tls-server-name", "bridge.example.com")
	require.Error(t, err, "hostname check: %s", out)
}
