package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPayloadCmpSmoke runs the payload comparison small (two sizes, one
// chunked, one round): every row moves its payloads and the report has
// every table. Cheap enough for CI; nothing is asserted on timings.
func TestPayloadCmpSmoke(t *testing.T) {
	var out strings.Builder
	cfg := PayloadCmpConfig{Sizes: []int{1 << 10, 200 << 10}, Bytes: 400 << 10,
		MinReps: 2, Rounds: 1, Timeout: 30 * time.Second}
	require.NoError(t, runPayloadCmp(context.Background(), &out, nil, cfg))
	s := out.String()
	for _, want := range []string{"Throughput, random data", "Throughput, text data",
		"Peak heap of one transfer", "Bytes on the wire", "| grpc-facade-zstd |", "| arpc |", "| arpc-zstd |"} {
		assert.Contains(t, s, want)
	}
	assert.NotContains(t, s, "fail[", s)
}

// BenchmarkPayloadCmp moves random payloads of 1 and 16 MiB over each row
// of the payload comparison without compression (for profiles: -run '^$'
// -bench PayloadCmp -cpuprofile ...).
func BenchmarkPayloadCmp(b *testing.B) {
	for _, size := range []int{1 << 20, 16 << 20} {
		b.Run(sizeLabel(size), func(b *testing.B) { benchPayloadRows(b, size) })
	}
}

func benchPayloadRows(b *testing.B, size int) {
	data := payloadData("random", size)
	for _, row := range selectPayloadRows(payloadRows(), []string{"arpc", "grpc-facade"}) {
		b.Run(row.name, func(b *testing.B) {
			ctx := context.Background()
			env := &Env{}
			defer env.Close()
			p, err := row.setup(ctx, env)
			require.NoError(b, err)
			defer p.Close()
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for range b.N {
				require.NoError(b, p.fetch(ctx, data))
			}
		})
	}
}

// TestRatioMedian: a row's ratio pairs each round with raw TCP's figure of
// the same round, then takes the median.
func TestRatioMedian(t *testing.T) {
	for _, tc := range []struct {
		name   string
		row    []payloadCell
		tcp    []payloadCell
		want   float64
		wantOK bool
	}{
		{"no samples", nil, []payloadCell{{round: 0, rate: 10}}, 0, false},
		{"no round in common", []payloadCell{{round: 1, rate: 5}},
			[]payloadCell{{round: 0, rate: 10}}, 0, false},
		{"per round, not median over median",
			[]payloadCell{{round: 0, rate: 5}, {round: 1, rate: 40}, {round: 2, rate: 9}},
			[]payloadCell{{round: 0, rate: 10}, {round: 1, rate: 100}, {round: 2, rate: 10}},
			0.5, true},
		{"a round missing on one side",
			[]payloadCell{{round: 0, rate: 5}, {round: 2, rate: 8}},
			[]payloadCell{{round: 0, rate: 10}, {round: 1, rate: 10}, {round: 2, rate: 10}},
			0.65, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ratioMedian(tc.row, tc.tcp)
			assert.Equal(t, tc.wantOK, ok)
			assert.InDelta(t, tc.want, got, 1e-9)
		})
	}
}
