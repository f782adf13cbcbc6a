package auth_test

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc/auth"
	"github.com/arpcbridge/arpcbridge/internal/testcerts"
)

// TestServerTLSReload: new handshakes use reloaded files, a live connection
// keeps going, and a failed reload keeps the previous certificate.
func TestServerTLSReload(t *testing.T) {
	dir := t.TempDir()
	ca1, ca2 := testcerts.NewCA("one"), testcerts.NewCA("two")
	certFile, keyFile := ca1.Server().Write(dir, "server")
	clientCA := ca1.Write(dir, "clients")
	st, err := auth.LoadServerTLS(certFile, keyFile, clientCA)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{certFile, keyFile, clientCA}, st.Files())

	l, err := tls.Listen("tcp", "127.0.0.1:0", st.Config())
	require.NoError(t, err)
	var wg sync.WaitGroup
	defer func() { _ = l.Close(); wg.Wait() }()
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			// echo until the client leaves
			wg.Go(func() { defer c.Close(); _, _ = io.Copy(c, c) })
		}
	})
	dial := func(ca *testcerts.CA, client *testcerts.Cert) (*tls.Conn, error) {
		d := &tls.Dialer{Config: testcerts.ClientConfig(ca, client),
			NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
		c, err := d.Dial("tcp", l.Addr().String())
		if err != nil {
			return nil, err
		}
		tc := c.(*tls.Conn)
		// TLS 1.3: a refused client certificate shows on the first read
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := tc.Write([]byte("x")); err == nil {
			_, err = io.ReadFull(tc, make([]byte, 1))
		}
		if err != nil {
			_ = tc.Close()
			return nil, err
		}
		return tc, nil
	}
	echo := func(c *tls.Conn) error {
		if _, err := c.Write([]byte("y")); err != nil {
			return err
		}
		_, err := io.ReadFull(c, make([]byte, 1))
		return err
	}

	live, err := dial(ca1, ca1.Issue(testcerts.Opts{CN: "a"}))
	require.NoError(t, err)
	defer live.Close()

	// rotate: a server certificate of CA two, client certificates of CA two
	ca2.Server().Write(dir, "server")
	ca2.Write(dir, "clients")
	require.NoError(t, st.Reload())
	_, err = dial(ca1, ca1.Issue(testcerts.Opts{CN: "a"}))
	require.Error(t, err, "the old CA's server certificate is gone")
	c2, err := dial(ca2, ca2.Issue(testcerts.Opts{CN: "b"}))
	require.NoError(t, err)
	_ = c2.Close()
	require.NoError(t, echo(live), "the live connection kept going")

	// a broken file keeps what was loaded
	require.NoError(t, os.WriteFile(keyFile, []byte("garbage"), 0o600))
	require.ErrorIs(t, st.Reload(), auth.ErrBadFile)
	c3, err := dial(ca2, ca2.Issue(testcerts.Opts{CN: "c"}))
	require.NoError(t, err)
	_ = c3.Close()
}
