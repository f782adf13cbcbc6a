package arpc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc/internal/wire"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/internal/apitest"
	"github.com/arpcbridge/arpcbridge/internal/chunk"
)

// errLog keeps the error values of error records.
type errLog struct {
	mx   sync.Mutex
	list []error
}

func (l *errLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *errLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *errLog) WithGroup(string) slog.Handler            { return l }
func (l *errLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelError {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Key == "err" {
			l.mx.Lock()
			l.list = append(l.list, err)
			l.mx.Unlock()
		}
		return true
	})
	return nil
}

func (l *errLog) errs() []error {
	l.mx.Lock()
	defer l.mx.Unlock()
	return slices.Clone(l.list)
}

// Chunk frames that lie, written by the server's session over the real
// socket: the client delivers nothing of them, reports a clear error
// (logged, PayloadErrors), closes the connection, reconnects, and takes the
// next payload.
func TestClientRefusesLyingChunkFrames(t *testing.T) {
	good := bytes.Repeat([]byte("x"), 5000)
	cs := chunk.Split(good, chunk.MinSize)
	frames := func(mod func([]*wire.PayloadChunk) []*wire.PayloadChunk,
	) []*wire.PayloadChunk {
		var out []*wire.PayloadChunk
		for _, c := range cs {
			pc := &wire.PayloadChunk{Offset: c.Offset, Total: c.Total,
				Data: bytes.Clone(c.Data), Digest: c.Digest}
			if c.Offset == 0 {
				pc.Header = &wire.PayloadHeader{Name: "lie"}
			}
			out = append(out, pc)
		}
		return mod(out)
	}
	notPayload := sha256.Sum256([]byte("not a payload"))
	for _, tc := range []struct {
		name string
		lies []*wire.PayloadChunk
		max  int64
		want error
	}{
		{"corrupted chunk", frames(func(p []*wire.PayloadChunk) []*wire.PayloadChunk {
			p[2].Data[10] ^= 1
			return p
		}), 0, ErrChunkDigest},
		{"wrong digest", frames(func(p []*wire.PayloadChunk) []*wire.PayloadChunk {
			d := sha256.Sum256([]byte("other"))
			p[len(p)-1].Digest = d[:]
			return p
		}), 0, ErrChunkDigest},
		{"offset past total", frames(func(p []*wire.PayloadChunk) []*wire.PayloadChunk {
			p[1].Offset = p[1].Total + 10
			return p
		}), 0, ErrChunkOrder},
		{"past total", frames(func(p []*wire.PayloadChunk) []*wire.PayloadChunk {
			last := p[len(p)-1]
			last.Data = append(last.Data, make([]byte, 2000)...)
			return p
		}), 0, ErrChunkPastTotal},
		{"overlapping", frames(func(p []*wire.PayloadChunk) []*wire.PayloadChunk {
			return append(p[:2:2], p[1:]...)
		}), 0, ErrChunkOverlap},
		{"out of order", frames(func(p []*wire.PayloadChunk) []*wire.PayloadChunk {
			p[1], p[2] = p[2], p[1]
			return p
		}), 0, ErrChunkOrder},
		{"total over the limit", frames(func(p []*wire.PayloadChunk) []*wire.PayloadChunk {
			for _, c := range p {
				c.Total = 1 << 40
			}
			return p
		}), 1 << 20, ErrChunkTooLarge},
		{"new payload before the last ended", frames(func(p []*wire.PayloadChunk) []*wire.PayloadChunk {
			return append(p[:2:2], p...)
		}), 0, ErrChunkInterrupted},
		{"verified bytes that are no gob", []*wire.PayloadChunk{{
			Total: 13, Data: []byte("not a payload"), Digest: notPayload[:],
			Header: &wire.PayloadHeader{Kind: wire.DataGob}}}, 0, ErrRpc},
		{"first chunk without header", frames(func(p []*wire.PayloadChunk) []*wire.PayloadChunk {
			p[0].Header = nil
			return p
		}), 0, ErrChunkOrder},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			w, err := am.NewCommon(ctx, "w-"+t.Name(), apitest.Schema,
				apitest.Names, nil, nil, nil)
			require.NoError(t, err)
			t.Cleanup(w.Dispose)
			s, err := NewServer(ctx, "127.0.0.1:0", "s", w, nil)
			require.NoError(t, err)
			s.Start()
			t.Cleanup(func() { s.Stop(true) })
			<-s.Mach.When1(ss.ServerStates.RpcReady, ctx)

			cons := am.New(ctx, ss.ConsumerSchema, nil)
			t.Cleanup(cons.Dispose)
			got := make(chan *ArgsPayload, 4)
			_, err = cons.HandlersBindMaps(nil, map[string]am.HandlerFinal{
				ss.ConsumerStates.WorkerPayload + am.SuffixState: func(e *am.Event) {
					got <- ParseArgs(e.Args).Payload
				},
			})
			require.NoError(t, err)
			logs := &errLog{}
			c, err := NewClient(ctx, s.Addr, "c", apitest.Schema, apitest.Names,
				&ClientOpts{Consumer: cons, Logger: slog.New(logs)})
			require.NoError(t, err)
			c.MaxPayload = tc.max
			c.Start()
			t.Cleanup(func() {
				sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer scancel()
				c.Stop(sctx, true)
			})
			<-c.Mach.When1(ss.ClientStates.Ready, ctx)

			s.mx.Lock()
			ses := s.sess
			s.mx.Unlock()
			for _, f := range tc.lies {
				if ses.rc.Notify(wire.MPayloadChunk, f) != nil {
					break // the client closed the connection already
				}
			}
			require.Eventually(t, func() bool {
				return c.Stats().Reconnects > 0 && c.Mach.Is1(ss.ClientStates.Ready)
			}, 10*time.Second, 5*time.Millisecond, "no reconnect: %+v", c.Stats())
			// the next payload, chunked, arrives whole
			big := bytes.Repeat([]byte("y"), 200<<10)
			require.NoError(t, s.SendPayload(ctx, &ArgsPayload{Name: "good",
				Data: big}))
			select {
			case p := <-got:
				assert.Equal(t, "good", p.Name, "the lie was delivered")
				assert.Equal(t, big, p.Data)
			case <-time.After(10 * time.Second):
				t.Fatalf("no payload after the lie; stats %+v", c.Stats())
			}
			assert.EqualValues(t, 1, c.Stats().PayloadErrors)
			errs := logs.errs()
			require.NotEmpty(t, errs)
			assert.ErrorIs(t, errs[0], tc.want)
			assert.ErrorIs(t, errs[0], ErrInvalidResp)
			if !errors.Is(tc.want, ErrRpc) {
				assert.ErrorIs(t, errs[0], ErrChunk)
			}
		})
	}
}
