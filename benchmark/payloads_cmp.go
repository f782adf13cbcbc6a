package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/arpc"
	arpcstates "github.com/arpcbridge/arpcbridge/arpc/states"
	"github.com/arpcbridge/arpcbridge/bridge"
)

// The payload comparison (-payloads, issue 10's measurement): payloads of
// 1 KiB to 64 MiB from worker to client, random and compressible data, over
// raw TCP (the floor), the aRPC door plain and with S2 and zstd, and the
// gRPC door plain and with gzip and zstd (grpc-encoding), one
// bridge.Server with defaults for both doors, every connection through the
// counting
// proxy, rounds and rows interleaved (see runPayloadCmp). Per cell: throughput (and its ratio to raw TCP
// in the same run), the wire bytes per payload, and the peak heap of one
// more transfer, alone, above the heap after a GC (client and server share
// the process; garbage counts until the GC collects it). Payloads over 64 KiB
// travel in chunks on both doors.

// PayloadCmpConfig sizes the comparison.
type PayloadCmpConfig struct {
	// Sizes are the payload sizes, one column each.
	Sizes []int
	// Bytes is roughly how many bytes to move per cell (at least MinReps
	// payloads, at most 2,000).
	Bytes   int
	MinReps int
	// Rounds are interleaved; cells show medians.
	Rounds int
	// Timeout bounds one cell.
	Timeout time.Duration
	// Rows and Kinds, when not nil, keep only these rows (raw TCP always
	// runs) and data kinds.
	Rows, Kinds []string
}

// DefaultPayloadCmp is the full comparison (~4 min on 2 cores).
func DefaultPayloadCmp() PayloadCmpConfig {
	return PayloadCmpConfig{
		Sizes: []int{1 << 10, 64 << 10, 1 << 20, 16 << 20, 64 << 20},
		Bytes: 64 << 20, MinReps: 2, Rounds: 7, Timeout: 2 * time.Minute,
	}
}

// payloadKinds are the data kinds: random (incompressible) and
// compressible (text).
var payloadKinds = []string{"random", "text"}

// payloadData returns size bytes of kind.
func payloadData(kind string, size int) []byte {
	b := make([]byte, size)
	if kind == "random" {
		_, _ = rand.Read(b)
		return b
	}
	// log-like text: a repeated sentence with a counter, about 8:1 with gzip
	var line []byte
	for off, i := 0, 0; off < size; i++ {
		line = fmt.Appendf(line[:0],
			"%08d job=%d state=Working ok=true msg=\"the quick brown fox\"\n",
			i, i%97)
		off += copy(b[off:], line)
	}
	return b
}

// payloadPeer moves payloads from a server to its client.
type payloadPeer interface {
	// fetch has the server send data and returns once the client has it
	// all (checked).
	fetch(ctx context.Context, data []byte) error
	Close() error
}

// payloadRow is one row of the comparison.
type payloadRow struct {
	name string
	// kinds the row runs (nil: all)
	kinds []string
	setup func(ctx context.Context, env *Env) (payloadPeer, error)
}

func payloadRows() []payloadRow {
	return []payloadRow{
		{name: "tcp", setup: newTCPPayloadPeer},
		{name: "arpc", setup: bridgePayloadPeer(false, "")},
		{name: "arpc-s2", kinds: []string{"text"},
			setup: bridgePayloadPeer(false, string(arpc.CompressionS2))},
		{name: "arpc-zstd", kinds: []string{"text"},
			setup: bridgePayloadPeer(false, string(arpc.CompressionZstd))},
		{name: "grpc-facade", setup: bridgePayloadPeer(true, "")},
		{name: "grpc-facade-gzip", kinds: []string{"text"},
			setup: bridgePayloadPeer(true, "gzip")},
		{name: "grpc-facade-zstd", kinds: []string{"text"},
			setup: bridgePayloadPeer(true, "zstd")},
	}
}

// sinkPeer is a machine door: the worker's SendPayload, a Consumer sink.
type sinkPeer struct {
	send     *Worker
	received chan []byte
	close    func() error
}

func (p *sinkPeer) fetch(ctx context.Context, data []byte) error {
	p.send.Mach.Add1(arpcstates.WorkerStates.SendPayload, arpc.Pass(&arpc.A{
		Payload: &arpc.ArgsPayload{Name: "bench", Data: data}}))
	select {
	case b := <-p.received:
		return sameData(b, data)
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (p *sinkPeer) Close() error { return p.close() }

// sameData compares the received bytes with the sent ones (ends and
// middle: a full compare would cost as much as the transfer).
func sameData(got, want []byte) error {
	if len(got) != len(want) {
		return fmt.Errorf("%w: %d bytes, want %d", ErrMismatch, len(got), len(want))
	}
	n := min(len(want), 1024)
	mid := len(want) / 2
	if !bytes.Equal(got[:n], want[:n]) || !bytes.Equal(got[len(got)-n:],
		want[len(want)-n:]) || !bytes.Equal(got[mid:mid+n/2], want[mid:mid+n/2]) {
		return fmt.Errorf("%w: bytes differ", ErrMismatch)
	}
	return nil
}

// bridgePayloadPeer is one bridge.Server (both doors on one port, defaults)
// and one client of the aRPC door (arpc.NewClient) or of the gRPC door
// (bridge.Dial), asking for a compression (none: "").
func bridgePayloadPeer(useGRPC bool, comp string,
) func(context.Context, *Env) (payloadPeer, error) {
	return func(ctx context.Context, env *Env) (payloadPeer, error) {
		ctx, cancel := context.WithCancel(ctx)
		schema, names := arpcSchema()
		w, err := NewWorker(ctx, "payload-worker", schema, names)
		if err != nil {
			cancel()
			return nil, err
		}
		sink, received, err := newArpcSink(ctx)
		if err != nil {
			cancel()
			return nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			cancel()
			return nil, err
		}
		srv, err := bridge.NewServer(ctx, ln, "payload", w.Mach, nil)
		if err != nil {
			_ = ln.Close()
			cancel()
			return nil, err
		}
		served := make(chan struct{})
		go func() {
			defer close(served)
			_ = srv.Serve()
		}()
		var stopClient func()
		closeAll := func() error {
			if stopClient != nil {
				stopClient()
			}
			sctx, scancel := context.WithTimeout(context.Background(), stopTimeout)
			defer scancel()
			err := srv.Shutdown(sctx)
			<-served
			cancel()
			sink.Dispose()
			return err
		}
		addr, err := env.Expose(ln.Addr().String())
		if err == nil {
			stopClient, err = dialPayloadClient(ctx, useGRPC, addr, comp,
				schema, names, sink)
		}
		if err != nil {
			_ = closeAll()
			return nil, err
		}
		return &sinkPeer{send: w, received: received, close: closeAll}, nil
	}
}

// tcpPayloadPeer is raw TCP: the client asks for n bytes (8-byte request),
// the server writes the current data.
type tcpPayloadPeer struct {
	ln   net.Listener
	conn net.Conn
	data atomic.Pointer[[]byte]
	wg   sync.WaitGroup
	buf  []byte
}

func newTCPPayloadPeer(_ context.Context, env *Env) (payloadPeer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &tcpPayloadPeer{ln: ln}
	p.wg.Go(p.serve)
	addr, err := env.Expose(ln.Addr().String())
	if err == nil {
		p.conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	return p, nil
}

func (p *tcpPayloadPeer) serve() {
	c, err := p.ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	var req [8]byte
	for {
		if _, err := io.ReadFull(c, req[:]); err != nil {
			return
		}
		if _, err := c.Write(*p.data.Load()); err != nil {
			return
		}
	}
}

func (p *tcpPayloadPeer) fetch(ctx context.Context, data []byte) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = p.conn.SetDeadline(dl)
	}
	p.data.Store(&data)
	var req [8]byte
	binary.BigEndian.PutUint64(req[:], uint64(len(data)))
	if _, err := p.conn.Write(req[:]); err != nil {
		return err
	}
	// the client allocates what it receives, as the doors' clients do
	p.buf = make([]byte, len(data))
	if _, err := io.ReadFull(p.conn, p.buf); err != nil {
		return err
	}
	err := sameData(p.buf, data)
	p.buf = nil
	return err
}

func (p *tcpPayloadPeer) Close() error {
	err := p.ln.Close()
	if p.conn != nil {
		err = errors.Join(err, p.conn.Close())
	}
	p.wg.Wait()
	return err
}

// payloadCell is one measurement.
type payloadCell struct {
	round int
	rate  float64 // MB/s
	peak  float64 // bytes
	wire  float64 // bytes per payload
}

// measurePayloadCell moves reps payloads of data (after one warm-up).
func measurePayloadCell(ctx context.Context, p payloadPeer, env *Env,
	data []byte, reps int,
) (payloadCell, error) {
	if err := p.fetch(ctx, data); err != nil {
		return payloadCell{}, fmt.Errorf("warm-up: %w", err)
	}
	b0 := env.Bytes()
	start := time.Now()
	for range reps {
		if err := p.fetch(ctx, data); err != nil {
			return payloadCell{}, err
		}
	}
	d := time.Since(start)
	wire := env.Bytes() - b0
	// the memory of one transfer, alone: in the timed loop the peak would
	// mostly show how much garbage the GC lets pile up between cycles
	mem := startHeapSampler()
	err := p.fetch(ctx, data)
	peak, _ := mem.Stop()
	if err != nil {
		return payloadCell{}, err
	}
	return payloadCell{
		rate: float64(len(data)) * float64(reps) / d.Seconds() / 1e6,
		peak: float64(peak),
		wire: float64(wire) / float64(reps),
	}, nil
}

// dialPayloadClient connects the payload client of one door and returns
// how to stop it.
func dialPayloadClient(ctx context.Context, useGRPC bool, addr, comp string,
	schema am.Schema, names am.S, sink *am.Machine,
) (func(), error) {
	if useGRPC {
		c, err := bridge.Dial(ctx, addr, "payload", schema, names,
			&bridge.ClientOpts{Consumer: sink, Compression: arpc.Compression(comp)})
		if err != nil {
			return nil, err
		}
		return func() { _ = c.Close() }, nil
	}
	c, err := arpc.NewClient(ctx, addr, "payload", schema, names,
		&arpc.ClientOpts{Consumer: sink, Compression: arpc.Compression(comp)})
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
