package main

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestUpstreamLostPushes pins the upstream v0.19.1 defect behind the
// upstream rows' fan-out failures (README, "Upstream's lost pushes"): a
// client whose worker stays idle for a push interval after its handshake
// never receives a push, while one worker change before that first tick
// keeps it in step. An explicit full Sync brings the client back. If this
// test fails, upstream's behaviour changed: revisit the README and
// upstreamTransport.knownDefect.
func TestUpstreamLostPushes(t *testing.T) {
	const interval = 250 * time.Millisecond // upstream's default
	tests := []struct {
		name string
		// early makes one worker change right after setup, before the
		// server's first push tick
		early bool
		lost  bool
	}{
		{name: "idle after handshake", lost: true},
		{name: "change before the first tick", early: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t, 30*time.Second)
			s, err := upstreamTransport{name: "upstream-arpc"}.newSession(ctx)
			if err != nil {
				t.Fatal(err)
			}
			env := &Env{}
			t.Cleanup(func() { _ = closeBoth(s, env) })
			if err := s.setup(ctx, env, 1, nil); err != nil {
				t.Fatal(err)
			}
			nm := s.net()
			if tt.early {
				s.w.Mach.Add1(ws.Ping, nil)
			}
			time.Sleep(3 * interval)
			joined := nm.Time(s.names)

			// one change, then up to 8 intervals for it to arrive
			reached := func() bool {
				tick := nm.Tick(ws.Ping)
				s.w.Mach.Add1(ws.Ping, nil)
				wctx, cancel := context.WithTimeout(ctx, 8*interval)
				defer cancel()
				select {
				case <-nm.WhenTime1(ws.Ping, tick+1, wctx):
					return nm.Tick(ws.Ping) > tick
				case <-wctx.Done():
					return false
				}
			}
			got := reached()
			if got == tt.lost {
				t.Fatalf("change reached the client: %v, want %v", got, !tt.lost)
			}
			if !tt.lost {
				return
			}
			if now := nm.Time(s.names); !slices.Equal(now, joined) {
				t.Fatalf("client clock %v moved off its handshake clock %v", now, joined)
			}
			if w := s.w.Mach.Time(s.names); slices.Equal(w, joined) {
				t.Fatalf("worker clock %v did not move", w)
			}
			// a full sync puts client and server back on the same base
			if s.conns[0].cli.Sync() == nil {
				t.Fatal("Sync failed")
			}
			if !reached() {
				t.Fatal("a change after Sync did not reach the client")
			}
		})
	}
}
