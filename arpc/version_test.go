package arpc_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

// The bytes a protocol 3 peer sends, as the version 3 codec wrote them
// (commit 67a6748): a client's Hello (ClientId "v3client", IdScope 7, no
// token), and a server's refusal of a version 4 Hello ("rpc: client speaks
// protocol 4, server 3", ServerId "v3server").
const (
	v3Hello   = "2f510548656c6c6f0006087633636c69656e741830313233343536373839616263646566303132333435363700000700"
	v3Refusal = "3850000103277270633a20636c69656e7420737065616b732070726f746f636f6c20342c207365727665722033000876337365727665720000"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// A version 3 client's Hello reaches a version 4 server whole (its layout
// is read up to the version) and gets a refusal it can decode, naming both
// versions, with the version error's own code; the server keeps serving.
func TestV3ClientRefusedByVersion(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(t, ctx)
	s := startServer(t, ctx, w, nil)

	conn, err := net.Dial("tcp", s.Addr)
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = conn.Write(append([]byte("aRPC"), unhex(t, v3Hello)...))
	require.NoError(t, err)

	dec := wire.NewDecoder(conn, 0, nil, nil)
	h, err := dec.ReadHeader()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), h.Seq)
	var resp wire.RespHello
	require.NoError(t, dec.ReadBody(&resp))
	require.NotNil(t, resp.Err)
	assert.Equal(t, "rpc: protocol version mismatch: client speaks protocol 3, "+
		"server 4", resp.Err.Msg)
	// a version 3 client maps the unknown code to ErrRpc; the refusal carries
	// nothing a version 3 client could not decode
	assert.False(t, resp.Negotiated)
	assert.Greater(t, resp.Err.Code, uint8(14), "the version error's own code")

	// the server serves a current client
	c := newClient(t, ctx, s.Addr, "v4", nil)
	startClient(t, c)
}

// A version 4 client refused by a version 3 server gets ErrProtocolVersion
// with the server's message naming both versions, not a framing failure.
func TestV4ClientRefusedByV3Server(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	served := make(chan error, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			served <- err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		// the preface, then the Hello frame, read as a version 3 server does
		pre := make([]byte, 4)
		if _, err := io.ReadFull(conn, pre); err != nil {
			served <- err
			return
		}
		dec := wire.NewDecoder(conn, 0, nil, nil)
		if _, err := dec.ReadHeader(); err != nil {
			served <- err
			return
		}
		_, err = conn.Write(unhex(t, v3Refusal))
		served <- err
		// the client closes
		_, _ = io.Copy(io.Discard, conn)
	}()

	c := newClient(t, ctx, l.Addr().String(), "v4", nil)
	c.Start()
	waitState(t, c.Mach, ss.SharedStates.ErrRpc)
	err = c.Mach.Err()
	assert.ErrorIs(t, err, arpc.ErrProtocolVersion)
	assert.ErrorIs(t, err, arpc.ErrRpc)
	assert.ErrorContains(t, err, "client speaks protocol 4, server 3")
	require.NoError(t, <-served)
}

// A decompression bomb (a small compressed body that decompresses past the
// server's MaxMsgSize) closes its connection with the frame error, before
// the output is allocated; the server keeps serving other clients.
func TestDecompressionBombClosesConnection(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(t, ctx)
	var logs syncBuffer
	s, err := arpc.NewServer(ctx, "127.0.0.1:0", "s-"+t.Name(), w,
		&arpc.ServerOpts{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	s.MaxMsgSize = 64 << 10
	s.Start()
	defer s.Stop(true)
	waitState(t, s.Mach, ss.ServerStates.RpcReady)

	conn, err := net.Dial("tcp", s.Addr)
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = conn.Write([]byte("aRPC"))
	require.NoError(t, err)
	var enc wire.Encoder
	hello, err := enc.Encode(wire.MHello, 1, "", &wire.ArgsHello{
		Version: wire.ProtocolVersion, ClientId: "bomber",
		Compression: wire.CompressZstd})
	require.NoError(t, err)
	_, err = conn.Write(hello)
	require.NoError(t, err)
	enc.Release()
	dec := wire.NewDecoder(conn, 0, nil, nil)
	_, err = dec.ReadHeader()
	require.NoError(t, err)
	var resp wire.RespHello
	require.NoError(t, dec.ReadBody(&resp))
	require.Nil(t, resp.Err)
	assert.Equal(t, wire.CompressZstd, resp.Compression)

	// 16 MiB of zeros in a few hundred bytes
	enc.SetCompression(wire.CompressZstd, 1)
	bomb, err := enc.Encode(wire.MMutate, 2, "", &wire.ArgsMut{
		States: []int{0}, Args: am.A{"zeros": make([]byte, 16<<20)}})
	require.NoError(t, err)
	assert.Less(t, len(bomb), 4<<10)
	_, err = conn.Write(bomb)
	require.NoError(t, err)
	enc.Release()
	// the server closes the connection without a reply, and says why
	_, err = dec.ReadHeader()
	assert.ErrorIs(t, err, io.EOF)
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "frame too large: zstd body "+
			"decompresses to 16777") // the gob of 16 MiB of zeros
	}, 5*time.Second, 10*time.Millisecond, "the server's log: %s", &logs)

	// and serves the next client
	c := newClient(t, ctx, s.Addr, "next", &arpc.ClientOpts{
		Compression: arpc.CompressionZstd})
	startClient(t, c)
	assert.Equal(t, am.Executed, c.Worker.Add1("A", nil))
}

// syncBuffer is a bytes.Buffer safe for a logger and a test.
type syncBuffer struct {
	mx  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mx.Lock()
	defer b.mx.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mx.Lock()
	defer b.mx.Unlock()
	return b.buf.String()
}
