package backoff_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/arpcbridge/arpcbridge/internal/backoff"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNextDoublesUpToMax(t *testing.T) {
	tests := []struct {
		name         string
		initial, max time.Duration
		want         []time.Duration
	}{
		{"capped", 100 * time.Millisecond, 350 * time.Millisecond,
			[]time.Duration{100, 200, 350, 350}},
		{"no cap", time.Millisecond, 0, []time.Duration{1, 2, 4, 8, 16}},
		{"max below initial", time.Second, time.Millisecond,
			[]time.Duration{1, 1}},
		{"zero", 0, 0, []time.Duration{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := backoff.New(tt.initial, tt.max)
			unit := time.Millisecond
			for i, w := range tt.want {
				assert.Equal(t, w*unit, b.Next(), "delay %d", i)
			}
			b.Reset()
			if len(tt.want) > 0 {
				assert.Equal(t, tt.want[0]*unit, b.Next(), "after Reset")
			}
		})
	}
}

func TestJitterStaysWithinBounds(t *testing.T) {
	b := &backoff.Backoff{Initial: 100 * time.Millisecond,
		Max: 100 * time.Millisecond, Jitter: 0.5}
	spread := false
	for range 200 {
		d := b.Next()
		assert.GreaterOrEqual(t, d, 50*time.Millisecond)
		assert.LessOrEqual(t, d, 100*time.Millisecond)
		spread = spread || d != 100*time.Millisecond
	}
	assert.True(t, spread, "jitter never changed a delay")
}

func TestWaitEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := backoff.New(time.Hour, 0)
	assert.False(t, b.Wait(ctx))
	assert.True(t, backoff.Sleep(context.Background(), 0))
	assert.True(t, backoff.Sleep(context.Background(), time.Microsecond))
}
