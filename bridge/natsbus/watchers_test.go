package natsbus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/bridge/natsbus"
)

// TestThousandWatchers: 1,000 full clients (each an arpc.Worker replica
// with its own ordered consumer), over 10 connections, all reach the
// worker's time after a series of changes.
func TestThousandWatchers(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const watchers, conns = 1000, 10
	s := startNATS(t, nil)
	w := newWorker(t, "many")
	publish(t, connect(t, s.ClientURL()), w, nil)
	ncs := make([]*nats.Conn, conns)
	for i := range ncs {
		ncs[i] = connect(t, s.ClientURL())
	}
	clients := make([]*natsbus.Client, watchers)
	var wg sync.WaitGroup
	errs := make(chan error, watchers)
	sem := make(chan struct{}, 32)
	for i := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := natsbus.Dial(context.Background(), ncs[i%conns], "many",
				testSchema, testNames, &natsbus.ClientOpts{
					Name: fmt.Sprintf("w%d", i),
					// 1,000 consumers are created on a loaded CI machine
					ConnTimeout: time.Minute})
			if err != nil {
				errs <- err
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	t.Cleanup(func() {
		for _, c := range clients {
			if c != nil {
				_ = c.Close()
			}
		}
	})
	for err := range errs {
		require.NoError(t, err, "Dial")
	}
	for range 10 {
		w.Toggle1("G", nil)
		w.Add1("E", nil)
	}
	want := fmt.Sprint(w.Time(nil))
	deadline := time.Now().Add(30 * time.Second)
	for i, c := range clients {
		for fmt.Sprint(c.Worker.Time(nil)) != want {
			if time.Now().After(deadline) {
				t.Fatalf("watcher %d: %v, worker %s", i, c.Worker.Time(nil), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
