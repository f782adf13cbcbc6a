package main

import (
	"fmt"
	"time"
)

// Sizes sets how much work each scenario does per measurement.
type Sizes struct {
	// SGPOps is the subscribe-get-process iterations per measurement.
	SGPOps int
	// RoundTrips is the round trips sampled for p50/p99.
	RoundTrips int
	// BurstMutations is the worker-side mutations of one burst.
	BurstMutations int
	// FanOutClients lists the client counts, one column each.
	FanOutClients []int
	// FanOutChanges is the changes timed per client count.
	FanOutChanges int
	// FanOutWait bounds the wait for one change to reach every client; past
	// it the measurement fails. 0 means 10 s.
	FanOutWait time.Duration
	// FanOutGap is the quiet time fanout-spaced leaves between one change
	// reaching every client and the next change.
	FanOutGap time.Duration
	// ThroughputClients lists the concurrent client counts, one column each.
	ThroughputClients []int
	// ThroughputTime is how long the clients of one measurement mutate.
	ThroughputTime time.Duration
	// PayloadSizes lists the payload sizes, one column each.
	PayloadSizes []int
	// PayloadBytes is roughly how many bytes to move per payload size (at
	// least PayloadMinReps payloads).
	PayloadBytes int
	// PayloadMinReps is the fewest payloads per size.
	PayloadMinReps int
	// Warmup is the untimed calls before each timed loop.
	Warmup int
	// TicksClients lists the client counts of the ticks scenario.
	TicksClients []int
	// TicksTransitions is the worker transitions of one ticks measurement.
	TicksTransitions int
}

// FullSizes are the sizes of the issues: 10k iterations, 100k mutations,
// up to 1,000 clients, 16 MiB payloads, 1 s of mutations from up to 100
// concurrent clients.
func FullSizes() Sizes {
	return Sizes{
		SGPOps:         10_000,
		RoundTrips:     5_000,
		BurstMutations: 100_000,
		FanOutClients:  []int{1, 10, 100, 1_000},
		FanOutChanges:  20,
		// six of upstream's worst legitimate delay (two 250 ms intervals):
		// a client that has not seen a change by then lost it
		FanOutWait:        3 * time.Second,
		FanOutGap:         5 * time.Millisecond,
		ThroughputClients: []int{1, 10, 100},
		ThroughputTime:    time.Second,
		PayloadSizes:      []int{1 << 10, 64 << 10, 1 << 20, 16 << 20},
		PayloadBytes:      64 << 20,
		PayloadMinReps:    4,
		Warmup:            200,
		TicksClients:      []int{1, 100},
		TicksTransitions:  20_000,
	}
}

// QuickSizes are small sizes for a fast look (and the runner's test).
func QuickSizes() Sizes {
	return Sizes{
		SGPOps:            300,
		RoundTrips:        300,
		BurstMutations:    2_000,
		FanOutClients:     []int{1, 10},
		FanOutChanges:     5,
		FanOutGap:         5 * time.Millisecond,
		ThroughputClients: []int{1, 10, 100},
		ThroughputTime:    300 * time.Millisecond,
		PayloadSizes:      []int{1 << 10, 64 << 10},
		PayloadBytes:      1 << 20,
		PayloadMinReps:    2,
		Warmup:            10,
		TicksClients:      []int{1, 10},
		TicksTransitions:  1_000,
	}
}

// payloadReps is how many payloads of size to move in one measurement.
func (s Sizes) payloadReps(size int) int {
	return min(max(s.PayloadBytes/size, s.PayloadMinReps), 2_000)
}

// sizeLabel names a byte size: 1KiB, 64KiB, 16MiB.
func sizeLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}

	return fmt.Sprintf("%dB", n)
}
