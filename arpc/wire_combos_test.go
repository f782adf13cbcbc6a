package arpc_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

// wireCombo is one encoding × compression a client asks for.
type wireCombo struct {
	enc  arpc.Encoding
	comp arpc.Compression
}

func (c wireCombo) String() string { return string(c.enc) + "-" + string(c.comp) }

// apply sets the combo on a client, with a threshold low enough that the
// bodies and snapshots of the tests are compressed.
func (c wireCombo) apply(cl *arpc.Client) {
	cl.Encoding, cl.Compression, cl.CompressThreshold = c.enc, c.comp, 64
}

// wireCombos are every encoding × compression, the default first.
var wireCombos = []wireCombo{
	{arpc.EncodingGob, arpc.CompressionNone},
	{arpc.EncodingGob, arpc.CompressionS2},
	{arpc.EncodingGob, arpc.CompressionZstd},
	{arpc.EncodingMsgpack, arpc.CompressionNone},
	{arpc.EncodingMsgpack, arpc.CompressionS2},
	{arpc.EncodingMsgpack, arpc.CompressionZstd},
}

// argsRecorder records the args of each activation of the worker's E.
type argsRecorder struct {
	mx   sync.Mutex
	args []am.A
	got  chan struct{}
}

func (r *argsRecorder) EState(e *am.Event) {
	r.mx.Lock()
	r.args = append(r.args, e.Args)
	r.mx.Unlock()
	select {
	case r.got <- struct{}{}:
	default:
	}
}

func (r *argsRecorder) last() am.A {
	r.mx.Lock()
	defer r.mx.Unlock()
	return r.args[len(r.args)-1]
}

// Every encoding × compression carries args, Get values and payloads; with
// compression a compressible payload crosses in fewer bytes than it has;
// msgpack values arrive by their shape.
func TestUserValuesEveryCombo(t *testing.T) {
	blob := bytes.Repeat([]byte("compressible "), 20_000) // 260 KB
	for _, combo := range wireCombos {
		t.Run(combo.String(), func(t *testing.T) {
			consumer, got := newPayloadConsumer(t)
			rec := &argsRecorder{got: make(chan struct{}, 1)}
			big := strings.Repeat("value ", 10_000)
			p := newPair(t, pairOpts{consumer: consumer,
				setup: func(s *arpc.Server, c *arpc.Client) {
					combo.apply(c)
					s.CompressThreshold = 64
					s.Getter = func(name string) any {
						if name == "big" {
							return big
						}
						return nil
					}
				}})
			_, err := p.worker.BindHandlers(rec)
			require.NoError(t, err)
			st := p.client.Stats()
			assert.Equal(t, combo.enc, st.Encoding)
			assert.Equal(t, combo.comp, st.Compression)

			// args: scalars, a slice, typed args (Pass)
			typed := &arpc.A{Name: "n", MachTime: am.Time{1, 2}}
			if combo.enc == arpc.EncodingMsgpack {
				typed.Err = errors.New("boom")
			}
			args := am.A{"n": 7, "s": "x", "list": []string{"a", "b"},
				"arpc": typed}
			if combo.enc == arpc.EncodingMsgpack {
				// any error travels as its message
				args["err"] = errors.New("an error")
			}
			require.Equal(t, am.Executed, p.rw.Add1("E", args))
			waitChT(t, rec.got, "E's args")
			a := rec.last()
			assert.Equal(t, "x", a["s"])
			at := arpc.ParseArgs(a)
			assert.Equal(t, "n", at.Name)
			assert.Equal(t, am.Time{1, 2}, at.MachTime)
			// scalars are packed by hand in every encoding: typed
			assert.Equal(t, 7, a["n"])
			if combo.enc == arpc.EncodingMsgpack {
				assert.Equal(t, []any{"a", "b"}, a["list"], "msgpack: by shape")
				var re *arpc.RemoteError
				require.ErrorAs(t, at.Err, &re)
				assert.Equal(t, "boom", re.Msg)
				require.IsType(t, &arpc.RemoteError{}, a["err"])
				assert.EqualError(t, a["err"].(error), "an error")
			} else {
				assert.Equal(t, []string{"a", "b"}, a["list"], "gob: by type")
			}

			// a Get value
			v, err := p.client.Get(context.Background(), "big")
			require.NoError(t, err)
			assert.True(t, v == any(big), "the Get value arrives whole: %T", v)

			// a compressible payload
			before := p.client.Stats().BytesIn
			require.NoError(t, p.server.SendPayload(context.Background(),
				&arpc.ArgsPayload{Name: "blob", Data: blob}))
			pl := waitPayload(t, got)
			data, ok := pl.Data.([]byte)
			assert.True(t, ok && bytes.Equal(blob, data),
				"the payload arrives whole: %T", pl.Data)
			in := p.client.Stats().BytesIn - before
			if combo.comp == arpc.CompressionNone {
				assert.Greater(t, in, int64(len(blob)))
			} else {
				assert.Less(t, in, int64(len(blob)/20), "compressed on the wire")
			}
		})
	}
}

func waitPayload(t *testing.T, ch <-chan *arpc.ArgsPayload) *arpc.ArgsPayload {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("timeout waiting for the payload")
		return nil
	}
}

// A value the chosen encoding cannot carry is refused with ErrInvalidParams
// naming its key (an arg) or its name (a Get value), and the connection
// lives on.
func TestUnencodableValueKeepsConnection(t *testing.T) {
	for _, combo := range []wireCombo{wireCombos[0], wireCombos[3]} {
		t.Run(combo.String(), func(t *testing.T) {
			p := newPair(t, pairOpts{setup: func(s *arpc.Server, c *arpc.Client) {
				combo.apply(c)
				s.Getter = func(name string) any { return make(chan int) }
			}})
			res := p.rw.Add1("E", am.A{"ok": 1, "bad": make(chan int)})
			assert.Equal(t, am.Canceled, res)
			err := p.rw.LastErr()
			assert.ErrorIs(t, err, arpc.ErrInvalidParams)
			assert.ErrorContains(t, err, `"bad"`)
			assert.Zero(t, p.worker.Tick("E"), "nothing reached the worker")

			_, err = p.client.Get(context.Background(), "ch")
			assert.ErrorIs(t, err, arpc.ErrInvalidParams)
			assert.ErrorContains(t, err, `getter "ch"`)

			assert.Equal(t, am.Executed,
				p.rw.Add1("E", am.A{"list": []string{"still", "here"}}))
			assert.Zero(t, p.client.Stats().Reconnects)
		})
	}
}

// The compression a connection gets: none when the client asks for none
// or the server refuses it, the client's codec when the server follows it
// (its default), else the server's own.
func TestCompressionNegotiation(t *testing.T) {
	tests := []struct {
		client, server, want arpc.Compression
	}{
		{"", "", arpc.CompressionNone},
		{arpc.CompressionNone, arpc.CompressionZstd, arpc.CompressionNone},
		{arpc.CompressionS2, "", arpc.CompressionS2},
		{arpc.CompressionZstd, "", arpc.CompressionZstd},
		{arpc.CompressionZstd, arpc.CompressionNone, arpc.CompressionNone},
		{arpc.CompressionZstd, arpc.CompressionS2, arpc.CompressionS2},
		{arpc.CompressionS2, arpc.CompressionZstd, arpc.CompressionZstd},
	}
	for _, tt := range tests {
		t.Run(string(tt.client)+"/"+string(tt.server), func(t *testing.T) {
			p := newPair(t, pairOpts{setup: func(s *arpc.Server, c *arpc.Client) {
				c.Compression = tt.client
				s.Compression = tt.server
			}})
			st := p.client.Stats()
			assert.Equal(t, tt.want, st.Compression)
			assert.Equal(t, arpc.EncodingGob, st.Encoding)
			assert.Equal(t, am.Executed, p.rw.Add1("E", am.A{"l": []int{1}}))
		})
	}
}

// An unknown encoding or compression is refused before dialing.
func TestUnknownEncodingRefused(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// options: refused by NewClient
	_, err := arpc.NewClient(ctx, "127.0.0.1:1", "c", testSchema, testNames,
		&arpc.ClientOpts{Encoding: "json"})
	assert.ErrorIs(t, err, arpc.ErrInvalidParams)
	assert.ErrorContains(t, err, `encoding "json"`)
	_, err = arpc.NewClient(ctx, "127.0.0.1:1", "c", testSchema, testNames,
		&arpc.ClientOpts{Compression: arpc.CompressionGzip})
	assert.ErrorIs(t, err, arpc.ErrInvalidParams)
	assert.ErrorContains(t, err, `compression "gzip" on the aRPC door`)

	// fields changed before Start: refused at the connect, and the client
	// gives up
	w := newWorker(t, ctx)
	s := startServer(t, ctx, w, nil)
	c := newClient(t, ctx, s.Addr, "c", nil)
	c.Encoding = "json"
	c.Start()
	waitCh(t, c.Done(), "the client gives up")
	assert.ErrorIs(t, c.Mach.Err(), arpc.ErrInvalidParams)
	assert.ErrorContains(t, c.Mach.Err(), `encoding "json"`)
}

// A server whose Compression no Hello could negotiate refuses to start,
// with the reason, instead of refusing every client.
func TestServerCompressionRefusedAtStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(t, ctx)
	s, err := arpc.NewServer(ctx, "127.0.0.1:0", "s-"+t.Name(), w, nil)
	require.NoError(t, err)
	s.Compression = arpc.CompressionGzip
	assert.Equal(t, am.Canceled, s.Start())
	t.Cleanup(func() { s.Stop(true) })
	assert.ErrorIs(t, s.Mach.Err(), arpc.ErrInvalidParams)
	assert.ErrorContains(t, s.Mach.Err(), `compression "gzip"`)
	assert.False(t, s.Mach.Is1(ss.ServerStates.RpcReady))
}
