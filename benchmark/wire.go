package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc"
	arpcstates "github.com/arpcbridge/arpcbridge/arpc/states"
)

// The wire measurements (-wire): the aRPC door's negotiated encodings and
// compression, each on its own loopback server and client, bytes counted by
// the client (ClientStats, the bytes of its connection):
//
//   - the round trip of a mutation carrying 20 args, with gob and with
//     msgpack (time and bytes per round trip, and msgpack ÷ gob);
//   - the bytes of a compressible Get value and of a compressible full
//     snapshot (the handshake of a worker with many states), with each
//     compression.

// wireArgs are the 20 args of the measured mutation: 10 scalars (packed by
// hand in every encoding) and 10 values of other types (the body the
// encoding carries).
func wireArgs(i int) am.A {
	return am.A{
		"n0": i, "n1": int64(i) << 20, "f0": float64(i) / 3, "b0": i%2 == 0,
		"s0": "alpha", "s1": "beta", "s2": fmt.Sprint(i), "u0": uint(i),
		"n2": -i, "s3": "gamma",
		"l0": []string{"a", "b", "c"}, "l1": []string{"x", fmt.Sprint(i)},
		"l2": []int{1, 2, 3, i}, "l3": []int{i}, "l4": []float64{0.5, 1.5},
		"l5": []string{"one"}, "l6": []int{4, 5}, "l7": []float64{float64(i)},
		"l8": []string{"p", "q", "r", "s"}, "m0": am.A{"k": "v", "i": i},
	}
}

// wireSchema is a worker with an Op state for the mutations and n other
// states, for snapshots.
func wireSchema(n int) (am.Schema, am.S) {
	schema := am.SchemaMerge(arpcstates.WorkerSchema, am.Schema{
		"Op": {Multi: true}})
	names := slices.Clone(arpcstates.WorkerStates.Names())
	names = append(names, "Op")
	for i := range n {
		name := fmt.Sprintf("State%04d", i)
		schema[name] = am.State{}
		names = append(names, name)
	}
	return schema, names
}

// wireSetup is a worker served by a Mux on loopback.
type wireSetup struct {
	ctx    context.Context
	worker *am.Machine
	mux    *arpc.Mux
	schema am.Schema
	names  am.S
}

func newWireSetup(ctx context.Context, states int, getter func(string) any,
) (*wireSetup, error) {
	schema, names := wireSchema(states)
	w, err := am.NewCommon(ctx, fmt.Sprintf("wire-worker-%d", states), schema,
		names, nil, nil, nil)
	if err != nil {
		return nil, err
	}
	m, err := arpc.NewMux(ctx, w.Id(), func(num int, _ net.Conn,
	) (*arpc.Server, error) {
		s, err := arpc.NewServer(ctx, "", fmt.Sprintf("%s-%d", w.Id(), num), w,
			nil)
		if err == nil {
			s.Getter = getter
		}
		return s, err
	}, nil)
	if err != nil {
		w.Dispose()
		return nil, err
	}
	m.Addr = "127.0.0.1:0"
	m.Start()
	if err := waitState(ctx, m.Mach, arpcstates.MuxStates.Ready); err != nil {
		m.Stop(true)
		w.Dispose()
		return nil, err
	}
	return &wireSetup{ctx: ctx, worker: w, mux: m, schema: schema,
		names: names}, nil
}

func (s *wireSetup) close() {
	s.mux.Stop(true)
	s.worker.Dispose()
}

// client connects a Ready client with opts.
func (s *wireSetup) client(name string, opts *arpc.ClientOpts) (*arpc.Client,
	func(), error,
) {
	c, err := arpc.NewClient(s.ctx, s.mux.Addr, name, s.schema, s.names, opts)
	if err != nil {
		return nil, nil, err
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		c.Stop(ctx, true)
	}
	c.Start()
	if err := waitState(s.ctx, c.Mach, arpcstates.ClientStates.Ready); err != nil {
		stop()
		return nil, nil, err
	}
	return c, stop, nil
}

// WireArgsResult is the round trip of the 20-args mutation with one
// encoding.
type WireArgsResult struct {
	Encoding arpc.Encoding
	// PerOp is the mean time of one round trip; Bytes the bytes both ways.
	PerOp time.Duration
	Bytes float64
}

func measureWireArgs(s *wireSetup, enc arpc.Encoding, n int) (WireArgsResult,
	error,
) {
	c, stop, err := s.client("args-"+string(enc), &arpc.ClientOpts{Encoding: enc})
	if err != nil {
		return WireArgsResult{}, err
	}
	defer stop()
	rw := c.Worker
	// warm up: gob sends its type definitions once per connection
	for i := range 50 {
		if res := rw.Add1("Op", wireArgs(i)); res == am.Canceled {
			return WireArgsResult{}, fmt.Errorf("%s: %w", enc, rw.LastErr())
		}
	}
	before := c.Stats()
	start := time.Now()
	for i := range n {
		if res := rw.Add1("Op", wireArgs(i)); res == am.Canceled {
			return WireArgsResult{}, fmt.Errorf("%s: %w", enc, rw.LastErr())
		}
	}
	took := time.Since(start)
	after := c.Stats()
	bytes := after.BytesIn - before.BytesIn + after.BytesOut - before.BytesOut
	return WireArgsResult{Encoding: enc, PerOp: took / time.Duration(n),
		Bytes: float64(bytes) / float64(n)}, nil
}

// WireCompressResult is what one compression puts on the wire for a Get
// value and for a full snapshot.
type WireCompressResult struct {
	Compression arpc.Compression
	// GetBytes are the bytes in of one Get of the compressible value,
	// GetTime the median round trip.
	GetBytes int64
	GetTime  time.Duration
	// SnapshotBytes are the bytes in of the handshake of a client of the
	// worker with many states (its full snapshot).
	SnapshotBytes int64
}

// wireGetValue is a compressible Get value: 256 KiB of log-like text.
func wireGetValue() string {
	var b strings.Builder
	for i := 0; b.Len() < 256<<10; i++ {
		fmt.Fprintf(&b, "2026-12-04T18:%02d:%02d level=info msg=\"state changed\" "+
			"machine=worker-%d state=State%04d tick=%d\n", i/60%60, i%60, i%7,
			i%4096, i)
	}
	return b.String()
}

func measureWireCompress(s *wireSetup, comp arpc.Compression,
) (WireCompressResult, error) {
	out := WireCompressResult{Compression: comp}
	c, stop, err := s.client("comp-"+string(comp),
		&arpc.ClientOpts{Compression: comp})
	if err != nil {
		return out, err
	}
	defer stop()
	out.SnapshotBytes = c.Stats().BytesIn
	// the median of a few Gets; the bytes of one
	times := make([]time.Duration, wireGets)
	var bytes int64
	for i := range times {
		before := c.Stats().BytesIn
		start := time.Now()
		v, err := c.Get(s.ctx, "log")
		if err != nil {
			return out, err
		}
		times[i] = time.Since(start)
		if str, ok := v.(string); !ok || len(str) < 256<<10 {
			return out, fmt.Errorf("%s: Get returned %T", comp, v)
		}
		bytes = c.Stats().BytesIn - before
	}
	slices.Sort(times)
	out.GetTime, out.GetBytes = times[len(times)/2], bytes
	return out, nil
}

// wireGets is how many Gets of the value are timed (the median).
const wireGets = 21

// wireSnapshotStates is the size of the worker whose full snapshot is
// measured.
const wireSnapshotStates = 2000

// runWire prints the wire measurements; n is the round trips per encoding.
func runWire(ctx context.Context, w io.Writer, n int) error {
	// the args on a small worker: a transition's cost grows with the states
	small, err := newWireSetup(ctx, 0, nil)
	if err != nil {
		return err
	}
	var args []WireArgsResult
	for _, enc := range []arpc.Encoding{arpc.EncodingGob, arpc.EncodingMsgpack} {
		r, err := measureWireArgs(small, enc, n)
		if err != nil {
			small.close()
			return err
		}
		args = append(args, r)
	}
	small.close()
	fmt.Fprintf(w, "### A mutation with 20 args (10 scalars, 10 slices and maps), "+
		"%d round trips\n\n", n)
	fmt.Fprintln(w, "| encoding | time per round trip | bytes per round trip |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, r := range args {
		fmt.Fprintf(w, "| %s | %s | %.0f |\n", r.Encoding, fmtDur(r.PerOp),
			r.Bytes)
	}
	fmt.Fprintf(w, "| msgpack ÷ gob | %.2f× | %.2f× |\n\n",
		float64(args[1].PerOp)/float64(args[0].PerOp), args[1].Bytes/args[0].Bytes)

	logText := wireGetValue()
	big, err := newWireSetup(ctx, wireSnapshotStates, func(name string) any {
		if name == "log" {
			return logText
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer big.close()
	// every state ticked, some more than once: a full snapshot names them
	// all
	var all, odd, third am.S
	for i := range wireSnapshotStates {
		name := fmt.Sprintf("State%04d", i)
		all = append(all, name)
		if i%2 == 1 {
			odd = append(odd, name)
		}
		if i%3 == 0 {
			third = append(third, name)
		}
	}
	big.worker.Add(all, nil)
	big.worker.Remove(odd, nil)
	big.worker.Remove(third, nil)
	big.worker.Add(third, nil)

	fmt.Fprintf(w, "### Compression: a 256 KiB log-like Get value, and the "+
		"full snapshot of a worker of %d states (the handshake)\n\n",
		wireSnapshotStates)
	fmt.Fprintln(w, "| compression | Get: bytes in | Get: round trip (median) | "+
		"handshake: bytes in |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, comp := range []arpc.Compression{arpc.CompressionNone,
		arpc.CompressionS2, arpc.CompressionZstd} {
		r, err := measureWireCompress(big, comp)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "| %s | %d | %s | %d |\n", r.Compression, r.GetBytes,
			fmtDur(r.GetTime), r.SnapshotBytes)
	}
	return nil
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
	}
}
