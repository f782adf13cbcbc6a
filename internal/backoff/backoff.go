package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is a delay that doubles from Initial up to Max after each wait.
// The zero value waits nothing; set the fields before the first use. Not
// safe for concurrent use: each retry loop owns its own.
type Backoff struct {
	// Initial is the first delay.
	Initial time.Duration
	// Max caps the delay; 0 means no cap.
	Max time.Duration
	// Jitter spreads each delay at random over [d×(1−Jitter), d], so that
	// many clients retrying after one failure (a server restart) do not come
	// back all at once. 0 means none; at most 1.
	Jitter float64

	next time.Duration
}

// New returns a Backoff from initial up to max, without jitter.
func New(initial, max time.Duration) *Backoff {
	return &Backoff{Initial: initial, Max: max}
}

// Next returns the delay to wait now and doubles the following one.
func (b *Backoff) Next() time.Duration {
	d := b.next
	if d <= 0 {
		d = b.Initial
	}
	if b.Max > 0 {
		d = min(d, b.Max)
	}
	b.next = d * 2
	if b.Max > 0 {
		b.next = min(b.next, b.Max)
	}
	if j := min(b.Jitter, 1); j > 0 && d > 0 {
		d -= time.Duration(rand.Float64() * j * float64(d))
	}
	return d
}

// Reset starts over from Initial (after a success).
func (b *Backoff) Reset() { b.next = 0 }

// Wait waits for Next, or until ctx ends; false when ctx ended first.
func (b *Backoff) Wait(ctx context.Context) bool {
	return Sleep(ctx, b.Next())
}

// Sleep waits for d, or until ctx ends; false when ctx ended first (or had
// already).
func Sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ReconnectJitter is the Jitter of every client's reconnect loop: a server
// restart drops all its clients at once, and they should not all come back
// in the same millisecond.
const ReconnectJitter = 0.2
