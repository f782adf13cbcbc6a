package arpc

import (
	"context"
	"sync"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	ss "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/internal/apitest"
)

// TestHandlerQueueBound: final handlers slower than the worker fill the
// client's own bound; the steps past it become one gap event (Gap(e)), so
// handler calls plus gaps account for every worker transition, and the
// read loop never waits for a handler.
func TestHandlerQueueBound(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w, err := am.NewCommon(ctx, "w-hq", apitest.Schema, apitest.Names, nil,
		nil, nil)
	require.NoError(t, err)
	t.Cleanup(w.Dispose)
	s, err := NewServer(ctx, "127.0.0.1:0", "s-hq", w, nil)
	require.NoError(t, err)
	s.Start()
	t.Cleanup(func() { s.Stop(true) })
	<-s.Mach.When1(ss.ServerStates.RpcReady, ctx)
	c, err := NewClient(ctx, s.Addr, "c-hq", apitest.Schema, apitest.Names,
		&ClientOpts{PushAllTicks: true})
	require.NoError(t, err)
	c.Start()
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Stop(stopCtx, true)
	})
	<-c.Mach.When1(ss.ClientStates.Ready, ctx)
	rw := c.Worker
	rw.handlers.max = 10

	release := make(chan struct{})
	var mx sync.Mutex
	var calls, gapped uint64
	var once sync.Once
	_, err = rw.HandlersBindMaps(nil, map[string]am.HandlerFinal{
		"AnyState": func(e *am.Event) {
			once.Do(func() { <-release })
			mx.Lock()
			defer mx.Unlock()
			if n := Gap(e); n > 0 {
				gapped += n
			} else {
				calls++
			}
		},
	})
	require.NoError(t, err)
	const n = 200
	for i := range n {
		if i%2 == 0 {
			w.Add1("G", nil)
		} else {
			w.Add1("H", nil)
		}
	}
	<-rw.WhenTime(apitest.Names, w.Time(nil), ctx)
	close(release)
	require.Eventually(t, func() bool {
		mx.Lock()
		defer mx.Unlock()
		return calls+gapped == n
	}, 10*time.Second, time.Millisecond, "calls and gaps cover every transition")
	mx.Lock()
	assert.Positive(t, gapped)
	mx.Unlock()
	assert.Positive(t, rw.Stats().Gaps)
}
