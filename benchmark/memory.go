package main

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

const (
	metricHeapObjects = "/memory/classes/heap/objects:bytes"
	metricHeapAllocs  = "/gc/heap/allocs:bytes"
	memSampleEvery    = 250 * time.Microsecond
)

// heapSampler polls the live heap in a goroutine it owns, from start until
// Stop, and reports the peak above the heap at start. The process is shared
// by client and server, so the peak covers both sides of a transfer.
type heapSampler struct {
	base     uint64
	allocs0  uint64
	peak     uint64
	stop     chan struct{}
	wg       sync.WaitGroup
	samples  []metrics.Sample
	stopOnce sync.Once
}

func readHeap(s []metrics.Sample) (live, allocs uint64) {
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

func newSamples() []metrics.Sample {
	return []metrics.Sample{{Name: metricHeapObjects}, {Name: metricHeapAllocs}}
}

// startHeapSampler runs a GC, records the baseline and starts polling.
func startHeapSampler() *heapSampler {
	runtime.GC()
	h := &heapSampler{stop: make(chan struct{}), samples: newSamples()}
	h.base, h.allocs0 = readHeap(h.samples)
	h.peak = h.base
	h.wg.Add(1)
	go h.loop()

	return h
}

func (h *heapSampler) loop() {
	defer h.wg.Done()
	s := newSamples()
	t := time.NewTicker(memSampleEvery)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			live, _ := readHeap(s)
			h.peak = max(h.peak, live)
		}
	}
}

// Stop ends sampling and returns the peak live heap above the baseline and
// the bytes allocated since start.
func (h *heapSampler) Stop() (peak, allocated uint64) {
	h.stopOnce.Do(func() { close(h.stop) })
	h.wg.Wait()
	live, allocs := readHeap(h.samples)
	h.peak = max(h.peak, live)
	if h.peak > h.base {
		peak = h.peak - h.base
	}

	return peak, allocs - h.allocs0
}
