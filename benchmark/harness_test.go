package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		p    float64
		want float64
	}{
		{"empty", nil, 50, math.NaN()},
		{"one", []float64{3}, 99, 3},
		{"median odd", []float64{3, 1, 2}, 50, 2},
		{"median even", []float64{4, 1, 3, 2}, 50, 2.5},
		{"p99 of 100", seq(100), 99, 99},
		{"p99 of 10", seq(10), 99, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := percentile(tt.xs, tt.p)
			if got != tt.want && !(math.IsNaN(got) && math.IsNaN(tt.want)) {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.xs, tt.p, got, tt.want)
			}
		})
	}
}

func seq(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i + 1)
	}
	return out
}

func TestFormat(t *testing.T) {
	tests := []struct {
		v    float64
		u    unit
		want string
	}{
		{512, unitDur, "512 ns"},
		{114902, unitDur, "114.9 µs"},
		{379e6, unitDur, "379.00 ms"},
		{1202586, unitBytes, "1.1 MiB"},
		{30006, unitCount, "30,006"},
		{1.5, unitCount, "1.50"},
		{-1, unitCount, "—"},
		{123.4, unitRate, "123 MB/s"},
	}
	for _, tt := range tests {
		if got := formatValue(tt.v, tt.u); got != tt.want {
			t.Errorf("formatValue(%v, %v) = %q, want %q", tt.v, tt.u, got, tt.want)
		}
	}
	if got := formatRatio(2, 4); got != "0.50×" {
		t.Errorf("formatRatio = %q", got)
	}
}

func TestProxyCounts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c) // echo
	}()
	p, err := NewProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("hello, proxy")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if got, want := p.Bytes(), int64(2*len(msg)); got != want {
		t.Errorf("Bytes = %d, want %d", got, want)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestGate(t *testing.T) {
	g := newGate(2)
	done := g.Arm(1)
	g.Seen(0, 1)
	select {
	case <-done:
		t.Fatal("closed with one of two clients")
	default:
	}
	g.Seen(1, 3)
	<-done
	// already reached by both: closes at once
	if err := g.Wait(testCtx(t, time.Second), g.Arm(1)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := g.Wait(ctx, g.Arm(3)); !errors.Is(err, ErrNotAllReached) {
		t.Fatalf("Wait = %v, want ErrNotAllReached", err)
	}
	if got := g.Missing(); !slices.Equal(got, []int{0}) {
		t.Fatalf("Missing = %v, want [0]", got)
	}
}

// TestRunQuick runs the runner end to end on the cheap transports and checks
// the markdown and the SVG it renders.
func TestRunQuick(t *testing.T) {
	sz := QuickSizes()
	sz.SGPOps, sz.RoundTrips, sz.BurstMutations = 20, 20, 50
	sz.FanOutChanges, sz.PayloadBytes = 2, 64<<10
	sz.ThroughputClients, sz.ThroughputTime = []int{1, 4}, 50*time.Millisecond
	res, err := Run(testCtx(t, time.Minute), RunConfig{
		Sizes:      sz,
		Rounds:     2,
		Baseline:   "tcp",
		Transports: []Transport{inprocTransport{}, tcpTransport{}, grpcTransport{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	res.WriteMarkdown(&md)
	out := md.String()
	// tcp has no fan-out: those columns' ratios fall back to grpc
	for _, want := range []string{"| **tcp** (baseline) |", "| inproc |", "| grpc |",
		"#### sgp", "#### payload", "p99 @10 clients", "× grpc)", "instead, and say so",
		"#### fanout-spaced", "#### throughput", "mutations/s @4 clients",
		"| floor (inproc + tcp) |", "Against the floor"} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "fail[^") {
		t.Errorf("unexpected failure:\n%s", out)
	}
	var svg bytes.Buffer
	if err := res.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&svg)
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
}
