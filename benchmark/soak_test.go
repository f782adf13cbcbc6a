package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSoakFlatness(t *testing.T) {
	mk := func(heap ...float64) *SoakResult {
		r := &SoakResult{Config: SoakConfig{Duration: time.Minute, ARPC: 1,
			GRPC: 1, Sample: 10 * time.Second, Sync: "always"}, WarmUp: 1}
		for i, h := range heap {
			r.Samples = append(r.Samples, SoakSample{At: time.Duration(i) * 10 *
				time.Second, Goroutines: 10, FDs: 5, HeapBytes: h * (1 << 20),
				RSSBytes: 20 << 20})
		}
		return r
	}
	for _, tc := range []struct {
		name string
		heap []float64
		flat bool
	}{
		{"flat after warm-up", []float64{1, 10, 11, 9, 10, 10, 11, 10, 9}, true},
		{"growing", []float64{1, 10, 11, 12, 13, 14, 15, 16, 17}, false},
		{"shrinking", []float64{1, 20, 19, 17, 15, 14, 13, 12, 11}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := mk(tc.heap...).Flatness()
			require.Len(t, fs, len(soakMetrics))
			assert.Equal(t, "heap in use", fs[2].Name)
			assert.Equal(t, tc.flat, fs[2].Flat(), "%+v", fs[2])
			assert.True(t, fs[0].Flat(), "goroutines")
		})
	}
}

func TestSoakWriteFiles(t *testing.T) {
	dir := t.TempDir()
	readme := "# x\n\n" + soakBegin + "\nold\n" + soakEnd + "\ntail\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"),
		[]byte(readme), 0o600))
	r := &SoakResult{Config: SoakConfig{Duration: time.Minute, Sample: time.Second},
		Samples: []SoakSample{{Goroutines: 1}, {At: time.Second, Goroutines: 2}}}
	require.NoError(t, r.WriteFiles(dir))
	b, err := os.ReadFile(filepath.Join(dir, "README.md"))
	require.NoError(t, err)
	s := string(b)
	assert.NotContains(t, s, "old")
	assert.True(t, strings.HasSuffix(s, soakEnd+"\ntail\n"))
	assert.Contains(t, s, "| goroutines |")
	svg, err := os.ReadFile(filepath.Join(dir, "soak.svg"))
	require.NoError(t, err)
	assert.Contains(t, string(svg), "<polyline")
}
