package auth_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc/auth"
	"github.com/arpcbridge/arpcbridge/internal/testcerts"
)

func sum(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

func TestTokensParse(t *testing.T) {
	tests := []struct {
		name, file, data string
		lookup           map[string]string
		wantErr          string
	}{
		{"yaml list", "t.yaml", "tokens:\n  - {identity: ui-1, sha256: " +
			sum("a") + "}\n  - identity: ui-2\n    sha256: " + sum("b") + "\n",
			map[string]string{"a": "ui-1", "b": "ui-2", "c": ""}, ""},
		{"json list", "t.json", `{"tokens": [{"identity": "x", "sha256": "` +
			sum("a") + `"}]}`, map[string]string{"a": "x"}, ""},
		{"clear token", "t.yaml", "token: s3cret\n",
			map[string]string{"s3cret": auth.DefaultTokenIdentity}, ""},
		{"clear token with identity", "t.yaml", "token: s3cret\nidentity: me\n",
			map[string]string{"s3cret": "me"}, ""},
		{"bad hex", "t.yaml", "tokens:\n  - {identity: x, sha256: zz}\n", nil,
			"t.yaml:2:27: bad auth file: sha256 must be 64 hex digits"},
		{"unknown field", "t.yaml", "tokens:\n  - {identity: x, sha: 1}\n", nil,
			"t.yaml:2:19: bad auth file: unknown field \"sha\""},
		{"no identity", "t.yaml", "tokens:\n  - sha256: " + sum("a") + "\n", nil,
			"t.yaml:2:5: bad auth file: token without identity"},
		{"duplicate", "t.yaml", "tokens:\n  - {identity: x, sha256: " + sum("a") +
			"}\n  - {identity: y, sha256: " + sum("a") + "}\n", nil,
			"t.yaml:3:6: bad auth file: the same token twice"},
		{"syntax", "t.json", "{\"tokens\": [}", nil, "t.json:1:13: bad auth file: syntax error"},
		{"empty", "t.yaml", "", nil, "t.yaml:1:1: bad auth file"},
		{"both", "t.yaml", "token: a\ntokens: []\n", nil, "t.yaml:1:1: bad auth file: give tokens or token"},
		{"not a mapping", "t.yaml", "- a\n", nil, "t.yaml:1:1: bad auth file: want a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toks, err := auth.ParseTokens(tt.file, []byte(tt.data))
			if tt.wantErr != "" {
				require.ErrorIs(t, err, auth.ErrBadFile)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			for tok, want := range tt.lookup {
				id, ok := toks.Lookup(tok)
				assert.Equal(t, want != "", ok, tok)
				assert.Equal(t, want, id)
			}
		})
	}
}

func TestPolicyParseErrors(t *testing.T) {
	tests := []struct{ name, data, wantErr string }{
		{"unknown top", "rulez: []\n", "p.yaml:1:1: bad auth file: unknown field \"rulez\""},
		{"rules not a list", "rules: 3\n", "p.yaml:1:8: bad auth file: rules must be a list"},
		{"no identity", "rules:\n  - mutate: {allow: [A]}\n", "p.yaml:2:5: bad auth file: rule without identity"},
		{"bad perms", "rules:\n  - identity: x\n    mutate: [A]\n", "p.yaml:3:13: bad auth file: mutate must be a mapping"},
		{"bad glob list", "rules:\n  - identity: x\n    observe: {allow: A}\n", "p.yaml:3:22: bad auth file: observe.allow must be a list"},
		{"unknown perm", "rules:\n  - identity: x\n    observe: {permit: [A]}\n", "p.yaml:3:15: bad auth file: unknown field \"permit\""},
		{"empty identity", "rules:\n  - identity: \"\"\n", "p.yaml:2:15: bad auth file: identity must not be empty"},
		{"yaml syntax", "rules:\n  - identity: [x\n", "p.yaml:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.ParsePolicy("p.yaml", []byte(tt.data))
			require.ErrorIs(t, err, auth.ErrBadFile)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestPolicyAllowed(t *testing.T) {
	p, err := auth.ParsePolicy("p.yaml", []byte(`
rules:
  - identity: "ui-*"
    mutate:  {allow: ["Job*"], deny: ["JobAdmin"]}
    observe: {allow: ["*"],    deny: ["Secret*"]}
  - identity: "ui-admin"
    mutate:  {allow: ["JobAdmin"]}
  - identity: "*"
    observe: {allow: ["Public"]}
`))
	require.NoError(t, err)
	tests := []struct {
		id    string
		a     auth.Action
		state string
		want  bool
	}{
		{"ui-1", auth.Mutate, "JobQueued", true},
		{"ui-1", auth.Mutate, "JobAdmin", false},
		{"ui-admin", auth.Mutate, "JobAdmin", false}, // deny wins across rules
		{"ui-1", auth.Mutate, "Other", false},
		{"ui-1", auth.Observe, "SecretKey", false},
		{"ui-1", auth.Observe, "Anything", true},
		{"svc", auth.Observe, "Public", true},
		{"svc", auth.Observe, "Anything", false},
		{"svc", auth.Mutate, "Public", false},
		{"", auth.Observe, "Public", false}, // unauthenticated matches nothing
		{"spiffe://x/ui-1", auth.Observe, "Public", true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, p.Allowed(tt.id, tt.a, tt.state), "%+v", tt)
	}
	err = p.Check("ui-1", auth.Mutate, []string{"JobA", "JobAdmin"})
	require.ErrorIs(t, err, auth.ErrPermissionDenied)
	assert.Contains(t, err.Error(), "JobAdmin")
	var nilPolicy *auth.Policy
	assert.True(t, nilPolicy.Allowed("", auth.Mutate, "X"))
}

func TestReloadKeepsOldOnError(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "p.yaml")
	tf := filepath.Join(dir, "t.yaml")
	write := func(f, data string) { require.NoError(t, os.WriteFile(f, []byte(data), 0o600)) }
	write(pf, "rules: [{identity: a, mutate: {allow: [X]}}]\n")
	write(tf, "token: one\n")
	p, err := auth.LoadPolicy(pf)
	require.NoError(t, err)
	toks, err := auth.LoadTokens(tf)
	require.NoError(t, err)

	write(pf, "rules: [{identity: a, mutate: {allow: [Y]}}]\n")
	write(tf, "token: two\n")
	require.NoError(t, p.Reload())
	require.NoError(t, toks.Reload())
	assert.True(t, p.Allowed("a", auth.Mutate, "Y"))
	assert.False(t, p.Allowed("a", auth.Mutate, "X"))
	_, ok := toks.Lookup("two")
	assert.True(t, ok)

	write(pf, "rules: [{identity: a, mutate: {allow: Y}}]\n")
	write(tf, "tokens: 1\n")
	err = p.Reload()
	require.ErrorIs(t, err, auth.ErrBadFile)
	assert.Contains(t, err.Error(), pf+":1:")
	require.ErrorIs(t, toks.Reload(), auth.ErrBadFile)
	assert.True(t, p.Allowed("a", auth.Mutate, "Y"), "old rules stay")
	_, ok = toks.Lookup("two")
	assert.True(t, ok, "old tokens stay")
}

func TestWatchFilesReloads(t *testing.T) {
	f := filepath.Join(t.TempDir(), "p.yaml")
	require.NoError(t, os.WriteFile(f, []byte("a"), 0o600))
	ctx, cancel := context.WithCancel(context.Background())
	reloaded := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		auth.WatchFiles(ctx, 10*time.Millisecond, []string{f}, func() {
			select {
			case reloaded <- struct{}{}:
			default:
			}
		})
	}()
	defer func() { cancel(); <-done }()
	// the watcher takes its first stamps when it starts: change the file
	// until it notices (each write grows it)
	deadline := time.After(5 * time.Second)
	content := "a"
	for {
		content += "b"
		require.NoError(t, os.WriteFile(f, []byte(content), 0o600))
		select {
		case <-reloaded:
			return
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatal("no reload")
		}
	}
}

func TestCertIdentityAndGuard(t *testing.T) {
	ca := testcerts.NewCA("ca")
	tests := []struct {
		name string
		o    testcerts.Opts
		want string
	}{
		{"uri first", testcerts.Opts{CN: "cn", DNS: []string{"dns"},
			URIs: []string{"spiffe://d/w"}}, "spiffe://d/w"},
		{"dns next", testcerts.Opts{CN: "cn", DNS: []string{"dns", "dns2"}}, "dns"},
		{"cn last", testcerts.Opts{CN: "cn"}, "cn"},
	}
	for _, tt := range tests {
		leaf := ca.Issue(tt.o).TLS.Leaf
		assert.Equal(t, tt.want, auth.CertIdentity(leaf), tt.name)
		verified := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf},
			VerifiedChains: [][]*x509.Certificate{{leaf, ca.Cert}}}
		assert.Equal(t, tt.want, auth.PeerIdentity(verified))
		unverified := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
		assert.Empty(t, auth.PeerIdentity(unverified), "unverified names nobody")
	}

	leaf := ca.Issue(testcerts.Opts{CN: "alice"}).TLS.Leaf
	mtls := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf},
		VerifiedChains: [][]*x509.Certificate{{leaf}}}
	toks := auth.NewTokens(map[string]string{"ta": "alice", "tb": "bob"})
	g := auth.Guard{Tokens: toks}
	for _, tc := range []struct {
		st      *tls.ConnectionState
		token   string
		want    string
		wantErr bool
	}{
		{nil, "ta", "alice", false},
		{mtls, "ta", "alice", false},
		{mtls, "", "alice", false},
		{mtls, "tb", "", true},
		{nil, "", "", true},
		{nil, "nope", "", true},
	} {
		id, err := g.Authenticate(tc.st, tc.token)
		if tc.wantErr {
			require.ErrorIs(t, err, auth.ErrUnauthenticated)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, id)
	}
	// no tokens, no policy: anonymous is fine, a token is not
	id, err := auth.Guard{}.Authenticate(nil, "")
	require.NoError(t, err)
	assert.Empty(t, id)
	_, err = auth.Guard{}.Authenticate(nil, "x")
	require.ErrorIs(t, err, auth.ErrUnauthenticated)
}

func TestGlob(t *testing.T) {
	p, err := auth.ParsePolicy("p.yaml", []byte(`rules: [{identity: "a*b?c*", observe: {allow: ["*"]}}]`))
	require.NoError(t, err)
	for id, want := range map[string]bool{"abxc": true, "a/b/c/d": true,
		"aXXbYc": true, "aXXbYcZZ": true, "abc": false, "ab": false, "xabzc": false} {
		assert.Equal(t, want, p.Allowed(id, auth.Observe, "S"), id)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("rules: [{identity: a, mutate: {allow: [X]}}]"))
	f.Add([]byte("tokens: [{identity: a, sha256: " + sum("x") + "}]"))
	f.Add([]byte(`{"token": "x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// never panics; errors are file errors
		if _, err := auth.ParsePolicy("f", data); err != nil {
			require.ErrorIs(t, err, auth.ErrBadFile)
		}
		if _, err := auth.ParseTokens("f", data); err != nil {
			require.ErrorIs(t, err, auth.ErrBadFile)
		}
	})
}
