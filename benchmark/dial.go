package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/arpcbridge/arpcbridge/arpc"
	arpcstates "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge"
)

// The dial measurements (-dial): how long a new client takes from dial to
// Ready (TCP, TLS handshake, aRPC or gRPC handshake, initial sync), and how
// much heap one idle connected client costs (client and server side: they
// share the process), for the rows of our doors with and without TLS.

// dialRows are the rows -dial measures.
var dialRows = []string{"arpc", "arpc-tls", "grpc-facade", "grpc-facade-tls"}

// dialSession opens extra clients on a running session.
type dialSession interface {
	Session
	// dialOne connects a new client and returns once it is Ready; close
	// stops it.
	dialOne(ctx context.Context, i int) (close func(), err error)
}

func (s *arpcSession) dialOne(ctx context.Context, i int) (func(), error) {
	opts := &arpc.ClientOpts{}
	if s.tls {
		opts.TLSConfig = benchTLS().client
	}
	c, err := arpc.NewClient(s.ctx, s.addr, fmt.Sprintf("dial-%d", i), s.schema,
		s.names, opts)
	if err != nil {
		return nil, err
	}
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		c.Stop(sctx, true)
	}
	c.Start()
	if err := waitState(ctx, c.Mach, arpcstates.ClientStates.Ready); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

func (s *facadeSession) dialOne(ctx context.Context, i int) (func(), error) {
	c, err := bridge.Dial(ctx, s.addr, fmt.Sprintf("dial-%d", i), s.schema,
		s.names, s.opts)
	if err != nil {
		return nil, err
	}
	return func() { _ = c.Close() }, nil
}

func newDialSession(ctx context.Context, env *Env, row string) (dialSession,
	error,
) {
	switch row {
	case "arpc", "arpc-tls":
		return newArpcSession(ctx, row == "arpc-tls", env, 0, false)
	case "grpc-facade", "grpc-facade-tls":
		return newFacadeSession(ctx, row == "grpc-facade-tls", env, 0, false)
	}
	return nil, fmt.Errorf("no dial measurement for %q", row)
}

// DialResult is one row's dial measurement.
type DialResult struct {
	Row           string
	P50, P99      time.Duration
	IdleBytesEach float64
}

// measureDial dials n clients one after another (each stopped before the
// next), then holds idle clients connected at once and measures the live
// heap they add, per client.
func measureDial(ctx context.Context, row string, n, idle int) (DialResult,
	error,
) {
	res := DialResult{Row: row}
	env := &Env{}
	defer env.Close()
	s, err := newDialSession(ctx, env, row)
	if err != nil {
		return res, err
	}
	defer s.Close()
	times := make([]time.Duration, 0, n)
	for i := range n {
		start := time.Now()
		stop, err := s.dialOne(ctx, i)
		if err != nil {
			return res, err
		}
		times = append(times, time.Since(start))
		stop()
	}
	slices.Sort(times)
	res.P50, res.P99 = times[len(times)/2], times[len(times)*99/100]

	base := liveHeap()
	stops := make([]func(), 0, idle)
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	for i := range idle {
		stop, err := s.dialOne(ctx, n+i)
		if err != nil {
			return res, err
		}
		stops = append(stops, stop)
	}
	// let the handshakes' garbage go and the connections settle
	time.Sleep(200 * time.Millisecond)
	res.IdleBytesEach = float64(int64(liveHeap())-int64(base)) / float64(idle)
	return res, nil
}

// liveHeap is the live heap after two GCs.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	s := newSamples()
	live, _ := readHeap(s)
	return live
}

// runDial measures every dial row and prints a markdown table.
func runDial(ctx context.Context, w io.Writer, n, idle int) error {
	fmt.Fprintf(w, "| row | dial to Ready p50 | p99 | heap per idle client |\n|---|---|---|---|\n")
	for _, row := range dialRows {
		r, err := measureDial(ctx, row, n, idle)
		if err != nil {
			return fmt.Errorf("%s: %w", row, err)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.1f KiB |\n", r.Row,
			r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond),
			r.IdleBytesEach/1024)
	}
	return nil
}
