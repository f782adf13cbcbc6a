package engine_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc/engine"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/internal/chunk"
)

// chunkRec is a ChunkSender that logs what Run writes ("update", "whole",
// "chunk"). SendChunk of chunk number gateAt blocks until gate is closed,
// after signaling entered.
type chunkRec struct {
	*recSender
	size    int
	gateAt  int
	gate    chan struct{}
	entered chan struct{}

	mx     sync.Mutex
	log    []string
	chunks []chunk.Chunk
	wholes [][]byte
}

func (c *chunkRec) add(ev string) {
	c.mx.Lock()
	c.log = append(c.log, ev)
	c.mx.Unlock()
	c.got <- struct{}{}
}

func (c *chunkRec) SendUpdate(*engine.Update) error {
	c.add("update")
	return nil
}

func (c *chunkRec) PreparePayload(args am.A) (engine.Prepared, bool) {
	b, ok := args["data"].([]byte)
	return engine.Prepared{Data: b, Meta: args["name"]}, ok
}

func (c *chunkRec) SendWhole(p engine.Prepared) error {
	c.mx.Lock()
	c.wholes = append(c.wholes, p.Data)
	c.mx.Unlock()
	c.add(fmt.Sprint("whole ", p.Meta))
	return nil
}

func (c *chunkRec) SendChunk(p engine.Prepared, ch chunk.Chunk) error {
	c.mx.Lock()
	n := len(c.chunks)
	c.chunks = append(c.chunks, ch)
	c.mx.Unlock()
	if n == c.gateAt && c.gate != nil {
		c.entered <- struct{}{}
		<-c.gate
	}
	c.add(fmt.Sprint("chunk ", p.Meta))
	return nil
}

func (c *chunkRec) ChunkSize() int { return c.size }

func (c *chunkRec) events() []string {
	c.mx.Lock()
	defer c.mx.Unlock()
	return append([]string(nil), c.log...)
}

func count(ev []string, what string) int {
	n := 0
	for _, e := range ev {
		if e == what {
			n++
		}
	}
	return n
}

// nth returns the index of the n-th (from 1) event what, -1 if none.
func nth(ev []string, what string, n int) int {
	for i, e := range ev {
		if e == what {
			if n--; n == 0 {
				return i
			}
		}
	}
	return -1
}

func payloadEvents(ev []string) []string {
	var out []string
	for _, e := range ev {
		if e != "update" {
			out = append(out, e)
		}
	}
	return out
}

func randData(t *testing.T, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// A clock change that is due while a chunk is being written goes out right
// after that chunk, before the rest of the payload; the chunks reassemble.
func TestRunInterleavesUpdatesWithChunks(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	r := &chunkRec{recSender: newRecSender(), size: chunk.MinSize, gateAt: 2,
		gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	// no merging of changes (MaxDelay 0): every change is due at once
	_, stop := runSub(t, e, engine.Pace{}, r)
	data := randData(t, 10*chunk.MinSize+7)
	w.Add1(ss.WorkerStates.SendPayload, am.A{"data": data, "name": "big"})
	select {
	case <-r.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("third chunk not written")
	}
	before := count(r.events(), "update")
	w.Add1("A", nil)
	close(r.gate)
	for count(r.events(), "chunk big") < 11 {
		waitGot(t, r.recSender)
	}
	require.ErrorIs(t, stop(), context.Canceled)
	ev := r.events()
	third := nth(ev, "chunk big", 3)
	require.Greater(t, len(ev), third+1)
	assert.Equal(t, "update", ev[third+1],
		"the update right after the chunk in flight: %v", ev)
	assert.Equal(t, before+1, count(ev[:third+2], "update"))
	var a chunk.Assembler
	for i, c := range r.chunks {
		whole, done, err := a.Add(c)
		require.NoError(t, err)
		assert.Equal(t, i == len(r.chunks)-1, done)
		if done {
			assert.True(t, bytes.Equal(data, whole))
		}
	}
}

// Payloads up to the chunk size go whole, in order; others as chunks.
func TestRunSmallPayloadsWhole(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	r := &chunkRec{recSender: newRecSender(), size: 2 * chunk.MinSize,
		gateAt: -1}
	_, stop := runSub(t, e, engine.NewPace(0, 0), r)
	w.Add1(ss.WorkerStates.SendPayload, am.A{"data": randData(t, 100),
		"name": 1})
	w.Add1(ss.WorkerStates.SendPayload, am.A{"data": randData(t,
		3*chunk.MinSize), "name": 2})
	w.Add1(ss.WorkerStates.SendPayload, am.A{"data": randData(t,
		2*chunk.MinSize), "name": 3})
	w.Add1(ss.WorkerStates.SendPayload, am.A{"name": "not for the peer"})
	for len(payloadEvents(r.events())) < 4 {
		waitGot(t, r.recSender)
	}
	require.ErrorIs(t, stop(), context.Canceled)
	assert.Equal(t, []string{"whole 1", "chunk 2", "chunk 2", "whole 3"},
		payloadEvents(r.events()))
}

// The pending payload bytes of a subscriber are capped: past the cap,
// payloads are dropped and counted.
func TestLimitPayloadsBytes(t *testing.T) {
	w := newWorker(t)
	e, err := engine.Attach(w)
	require.NoError(t, err)
	defer e.Release()
	sub := e.Subscribe()
	defer sub.Close()
	sub.LimitPayloads(3000, func(a am.A) int64 {
		b, _ := a["data"].([]byte)
		return int64(len(b))
	})
	for i := range 3 {
		w.Add1(ss.WorkerStates.SendPayload, am.A{"i": i, "data": make([]byte, 1400)})
	}
	assert.EqualValues(t, 1, sub.PayloadsDropped())
	assert.EqualValues(t, 1, e.Stats().PayloadsDropped)
	require.Len(t, sub.TakePayloads(), 2)
	// taken: room again
	w.Add1(ss.WorkerStates.SendPayload, am.A{"data": make([]byte, 2900)})
	assert.Len(t, sub.TakePayloads(), 1)
	assert.EqualValues(t, 1, sub.PayloadsDropped())
}
