package main

import (
	"errors"
	"testing"
	"time"
)

// TestThroughputOps: sized by ops (as the go test benchmarks are), the
// clients make exactly that many mutations between them, on real loopback
// connections; sized by time, they keep going until it is up.
func TestThroughputOps(t *testing.T) {
	tests := []struct {
		name    string
		t       ThroughputTransport
		clients int
		ops     int
	}{
		{"tcp, one client", tcpTransport{}, 1, 50},
		{"tcp, more clients than ops", tcpTransport{}, 8, 5},
		{"grpc, 4 clients", grpcTransport{}, 4, 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := MeasureThroughput(testCtx(t, 30*time.Second), tt.t, tt.clients, 0, tt.ops, 2)
			if err != nil {
				t.Fatal(err)
			}
			if got := s[mCalls]; got != float64(tt.ops) {
				t.Errorf("calls = %v, want %d", got, tt.ops)
			}
			if s[mTputRate] <= 0 || s[mP99] < s[mP50] || s[mTputCanceled] != 0 {
				t.Errorf("implausible sample %v", s)
			}
		})
	}
	s, err := MeasureThroughput(testCtx(t, 30*time.Second), tcpTransport{}, 2,
		30*time.Millisecond, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if s[mCalls] < 2 {
		t.Errorf("timed run made %v calls", s[mCalls])
	}
	_, err = MeasureThroughput(testCtx(t, time.Second), tcpTransport{}, 0, time.Second, 0, 1)
	if !errors.Is(err, errBadSize) {
		t.Errorf("no clients: %v, want errBadSize", err)
	}
}
