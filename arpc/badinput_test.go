package arpc_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

func TestUnknownStatesAndBadArgs(t *testing.T) {
	p := newPair(t, pairOpts{})
	assert.Equal(t, am.Canceled, p.rw.Add1("Nope", nil))
	assert.ErrorIs(t, p.rw.LastErr(), arpc.ErrInvalidParams)
	assert.ErrorIs(t, p.rw.LastErr(), am.ErrStateMissing)
	_, err := p.rw.Mutate(context.Background(), am.MutationRemove,
		am.S{"A", "Nope"}, nil)
	require.ErrorIs(t, err, arpc.ErrInvalidParams)

	// args gob cannot encode: a clear error, the connection survives
	_, err = p.rw.Mutate(context.Background(), am.MutationAdd, am.S{"A"},
		am.A{"fn": func() {}})
	require.ErrorIs(t, err, arpc.ErrInvalidParams)
	require.Equal(t, am.Executed, p.rw.Add1("A", am.A{"n": 1, "s": "x"}))
	assert.True(t, p.rw.Is1("A"))

	// a type that encoded once (an *A without Err) vouches nothing for its
	// next value (an *A with an error gob does not know)
	require.Equal(t, am.Executed, p.rw.Add1("A", arpc.Pass(&arpc.A{Name: "ok"})))
	_, err = p.rw.Mutate(context.Background(), am.MutationAdd, am.S{"A"},
		arpc.Pass(&arpc.A{Err: errors.New("not registered with gob")}))
	require.ErrorIs(t, err, arpc.ErrInvalidParams)
	require.Equal(t, am.Executed, p.rw.Add1("A", nil))
	assert.Zero(t, p.client.Stats().Reconnects, "the connection survived")
}

// TestHostilePeers sends garbage, oversized frames and silence to a server;
// each is dropped and the server keeps serving real clients.
func TestHostilePeers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(t, ctx)
	s := startServer(t, ctx, w, func(s *arpc.Server) {
		s.HandshakeTimeout = 300 * time.Millisecond
		s.MaxMsgSize = 1 << 20
	})

	// huge gob length prefix: 8-byte count of 2^40
	huge := []byte{0xf8}
	huge = binary.BigEndian.AppendUint64(huge, 1<<40)
	peers := map[string][]byte{
		"not aRPC":       []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"garbage frames": append([]byte("aRPC"), 0x05, 0xff, 0xfe, 0x00, 0x13, 0x37),
		"oversized":      append([]byte("aRPC"), huge...),
		"silent":         nil,
		"preface only":   []byte("aRPC"),
	}
	for name, payload := range peers {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", s.Addr)
			require.NoError(t, err)
			defer conn.Close()
			if payload != nil {
				_, err = conn.Write(payload)
				require.NoError(t, err)
			}
			// the server closes the connection (at the latest after the
			// handshake timeout)
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = io.Copy(io.Discard, conn)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("server should close the connection, not keep it")
			}
		})
	}

	// still serving
	c := newClient(t, ctx, s.Addr, "after", nil)
	startClient(t, c)
	require.Equal(t, am.Executed, c.Worker.Add1("B", nil))
}

func TestClientVanishesMidCall(t *testing.T) {
	for _, how := range []string{"stops", "link cut"} {
		t.Run(how, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w, err := am.NewCommon(ctx, "w-"+t.Name(), testSchema, testNames,
				nil, nil, &am.Opts{HandlerTimeout: time.Minute,
					DontLogStackTrace: true})
			require.NoError(t, err)
			defer w.Dispose()
			b := &blocker{release: make(chan struct{}),
				entered: make(chan struct{}, 1)}
			_, err = w.HandlersBind(b)
			require.NoError(t, err)
			s := startServer(t, ctx, w, nil)
			p := newProxy(t, s.Addr)

			c := newClient(t, ctx, p.Addr(), "vanishing", nil)
			c.CallTimeout = 5 * time.Second
			startClient(t, c)
			go c.Worker.Add1("A", nil)
			// wait until the worker runs the handler, then drop the client:
			// with a goodbye, or with no word at all (the link dies)
			waitChT(t, b.entered, "A handler running")
			if how == "stops" {
				c.Stop(ctx, true)
			} else {
				p.Refuse(true)
				p.CutAll()
			}
			close(b.release)

			waitState(t, s.Mach, ss.ServerStates.RpcReady)
			select {
			case <-s.Mach.WhenNot1(ss.ServerStates.ClientConnected, nil):
			case <-time.After(5 * time.Second):
				t.Fatal("server kept the vanished client")
			}
			c2 := newClient(t, ctx, s.Addr, "next", nil)
			startClient(t, c2)
			require.Equal(t, am.Executed, c2.Worker.Add1("B", nil))
		})
	}
}

// TestWriteTimeoutDropsStalledClient: a client whose link stops carrying
// bytes while the worker sends it payloads is dropped once a write blocks
// for WriteTimeout; the server then takes a new client.
func TestWriteTimeoutDropsStalledClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := newWorker(t, ctx)
	s := startServer(t, ctx, w, func(s *arpc.Server) {
		s.WriteTimeout = 300 * time.Millisecond
	})
	p := newProxy(t, s.Addr)
	c := newClient(t, ctx, p.Addr(), "stalled", nil)
	c.ReconnectOn = false
	startClient(t, c)
	require.True(t, s.Mach.Is1(ss.ServerStates.ClientConnected))

	p.Blackhole(true)
	gone := s.Mach.WhenNot1(ss.ServerStates.ClientConnected, ctx)
	data := make([]byte, 1<<20)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for sent := 0; ; sent++ {
		select {
		case <-gone:
			t.Logf("dropped after %d MiB", sent)
			p.Blackhole(false)
			// the slot is free again
			c2 := newClient(t, ctx, s.Addr, "next", nil)
			startClient(t, c2)
			return
		case <-ctx.Done():
			t.Fatalf("stalled client still connected after %d MiB", sent)
		case <-tick.C:
			w.Add1(ss.WorkerStates.SendPayload, arpc.Pass(&arpc.A{
				Payload: &arpc.ArgsPayload{Name: "big", Data: data}}))
		}
	}
}
