package bridge_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"slices"
	"sync"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/metadata"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/auth"
	"github.com/arpcbridge/arpcbridge/bridge"
	bridgev1 "github.com/arpcbridge/arpcbridge/gen/arpc/bridge/v1"
)

// sentListener records everything the server writes, over the counting
// listener.
type sentListener struct {
	*arpc.CountingListener
	mx  sync.Mutex
	out bytes.Buffer
}

type sentConn struct {
	net.Conn
	l *sentListener
}

func (l *sentListener) Accept() (net.Conn, error) {
	c, err := l.CountingListener.Accept()
	if err != nil {
		return nil, err
	}
	return &sentConn{Conn: c, l: l}, nil
}

func (c *sentConn) Write(p []byte) (int, error) {
	c.l.mx.Lock()
	c.l.out.Write(p)
	c.l.mx.Unlock()
	return c.Conn.Write(p)
}

func (l *sentListener) sent() []byte {
	l.mx.Lock()
	defer l.mx.Unlock()
	return slices.Clone(l.out.Bytes())
}

// TestPolicyGRPCBytes: the hidden state's tick, a value whose varint (as in
// every protobuf clock message) cannot turn up by chance, never crosses the
// wire to an observer that may not see it: handshake, stream, Sync with a
// forged known time, Mutate replies, a new connection. The same worker
// served to an identity that may see it puts the tick on the wire.
func TestPolicyGRPCBytes(t *testing.T) {
	const hiddenTick = 233_573_357
	w := newWorker(t)
	idxH := slices.Index(testNames, "H")
	exp, _, err := w.Export()
	require.NoError(t, err)
	exp.Time[idxH] = hiddenTick
	require.NoError(t, w.Import(exp))
	policy, err := auth.ParsePolicy("p.yaml", []byte(`
rules:
  - {identity: obs, mutate: {allow: [A, B]}, observe: {allow: ["*"], deny: [H]}}
  - {identity: all, mutate: {allow: ["*"]}, observe: {allow: ["*"]}}
`))
	require.NoError(t, err)
	tokens := auth.NewTokens(map[string]string{"t-obs": "obs", "t-all": "all"})
	serve := func() (*sentListener, string) {
		l := &sentListener{CountingListener: arpc.NewCountingListener(listen(t))}
		s := startServerOn(t, l, w, &bridge.ServerOpts{Policy: policy,
			Tokens: tokens})
		return l, s.Addr().String()
	}
	pattern := binary.AppendUvarint(nil, hiddenTick)

	ctl, ctlAddr := serve()
	dial(t, ctlAddr, "all", &bridge.ClientOpts{Token: "t-all"})
	require.True(t, bytes.Contains(ctl.sent(), pattern),
		"the check must be able to fail")

	obs, addr := serve()
	for i := range 2 {
		c := dial(t, addr, "obs", &bridge.ClientOpts{Token: "t-obs"})
		w.Toggle1("H", nil)
		require.Equal(t, am.Executed, c.Worker.Add1("A", nil))
		c.Worker.Remove1("A", nil)
		c.Worker.Sync()
		assert.Zero(t, c.Worker.Tick("H"), "round %d", i)
		require.NoError(t, c.Close())
	}
	raw := rawClient(t, addr)
	ctx := metadata.AppendToOutgoingContext(tctx(t), "authorization", "Bearer t-obs")
	hs, err := raw.Handshake(ctx, &bridgev1.HandshakeRequest{ClientId: "r"})
	require.NoError(t, err)
	forged := slices.Clone(hs.Time)
	forged[idxH] = hiddenTick + 1
	_, err = raw.Sync(ctx, &bridgev1.SyncRequest{ClientId: "r",
		KnownSeq: hs.Seq, KnownTime: forged})
	require.NoError(t, err)
	_, err = raw.Sync(ctx, &bridgev1.SyncRequest{ClientId: "r"})
	require.NoError(t, err)

	// the count first: streams may still write (heartbeats) after it, and
	// the record must hold at least every byte counted
	_, written := obs.Bytes()
	got := obs.sent()
	require.NotEmpty(t, got)
	assert.False(t, bytes.Contains(got, pattern),
		"the hidden state's tick left the server")
	assert.GreaterOrEqual(t, int64(len(got)), written,
		"every byte written was recorded")
}
