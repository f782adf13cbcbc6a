package engine

import (
	"context"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// DefaultPushInterval is the PushInterval of every door when none is set: no
// rate cap. Pacing is latency-first all the same (see Sub.Run): a change
// after a quiet period goes out at once, and within a busy period changes
// are merged until the worker settles, or for at most DefaultMaxDelay.
const DefaultPushInterval time.Duration = 0

// DefaultMaxDelay is Pace.MaxDelay from NewPace: within a busy period, the
// longest a change waits for the worker to settle before it is sent. Chosen
// from the benchmark's burst (docs/architecture.md, "Pacing"): a peer gets
// at least 40 updates a second during a continuous stream of changes, and a
// 100k-mutation burst costs about a hundred pushes.
const DefaultMaxDelay = 25 * time.Millisecond

// PushesDisabled, as a PushInterval, turns pushes off: a peer then sees
// worker-side changes only in replies (mutations, Sync). Payloads and
// heartbeats still flow.
const PushesDisabled time.Duration = -1

// Pace says when [Sub.Run] sends updates. Every door builds it with
// [NewPace] from its PushInterval, so the option means the same everywhere.
type Pace struct {
	// MinInterval is the least time between the starts of two updates sent
	// by Run: an optional rate cap (0: none).
	MinInterval time.Duration
	// MaxDelay bounds how long a change made within a busy period (less than
	// MaxDelay after the previous update) waits for the worker to settle
	// (SettleTime without a transition) before it is sent anyway. 0 sends
	// every change as soon as the previous write returned.
	MaxDelay time.Duration
	// Off disables updates (see PushesDisabled).
	Off bool
	// Heartbeat, when positive, is how long Run may go without sending
	// anything before it calls Sender.SendHeartbeat.
	Heartbeat time.Duration
}

// NewPace returns the pace of a PushInterval, with one meaning on every door:
// positive is a minimum spacing between pushes (a rate cap), 0 is no cap
// (DefaultPushInterval), negative (PushesDisabled) turns pushes off.
// MaxDelay is DefaultMaxDelay; heartbeat is Pace.Heartbeat.
func NewPace(pushInterval, heartbeat time.Duration) Pace {
	if pushInterval < 0 {
		return Pace{Off: true, Heartbeat: heartbeat}
	}
	return Pace{MinInterval: pushInterval, MaxDelay: DefaultMaxDelay,
		Heartbeat: heartbeat}
}

// Sender is a door's side of [Sub.Run]: it encodes and writes, nothing else.
// Each method returns when its write is done (or failed); an error ends Run.
// Run calls one method at a time.
type Sender interface {
	// SendUpdate writes one clock update.
	SendUpdate(u *Update) error
	// SendPayloads writes payloads taken from the subscription (the args of
	// the worker's payload-state mutations, oldest first). The door decides
	// which are for its peer.
	SendPayloads(payloads []am.A) error
	// SendHeartbeat is called after Pace.Heartbeat without any send by Run.
	// A door whose connection wrote something else meanwhile may skip it.
	SendHeartbeat() error
}

// Run is the one push loop of every door: it sends the subscription's
// updates, payloads and heartbeats through send until ctx ends (returning
// context.Cause), the engine ends (ErrWorkerGone, ErrSchemaChanged), or a
// send fails (returning its error).
//
// Pacing, latency first:
//   - a change after a quiet period (no update for pace.MaxDelay) goes out
//     at once;
//   - changes made while a send is in flight are merged into the next
//     update;
//   - within a busy period, changes are merged until the worker settles
//     (SettleTime without a transition), so a burst's last change arrives
//     right after the burst, or until pace.MaxDelay has passed since the
//     first of them, so a continuous stream is still seen;
//   - never two updates closer than pace.MinInterval (the rate cap).
//
// Payloads: a door that implements [ChunkSender] gets them one at a time,
// and those over its chunk size as chunks interleaved with updates (see
// ChunkSender); other doors get them in batches (Sender.SendPayloads).
//
// The last change is always sent. Updates the door takes from the
// subscription itself (mutation replies, which advance the same chain) are
// not sent again.
func (s *Sub) Run(ctx context.Context, pace Pace, send Sender) error {
	p := pacer{pace: pace}
	var beat *time.Timer
	var beatC <-chan time.Time
	if pace.Heartbeat > 0 {
		beat = time.NewTimer(pace.Heartbeat)
		defer beat.Stop()
		beatC = beat.C
	}
	sent := func() {
		if beat != nil {
			beat.Reset(pace.Heartbeat)
		}
	}
	// payloads in chunks, when the door can (chunks.go)
	var chunks *chunker
	if cs, ok := send.(ChunkSender); ok {
		chunks = &chunker{send: cs}
	}
	// timer holds back a change; made on first use, as most subscribers are
	// idle and many
	var timer *time.Timer
	// ticksFull: half of a PushAllTicks bound pending (ticks.go); nil
	// otherwise
	ticksFull := s.ticksFull()
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var changed, settled <-chan struct{}
		var timerC <-chan time.Time
		sendNow := false
		switch {
		case pace.Off:
		case !p.pending:
			changed = s.Changed()
		default:
			var at time.Time
			sendNow, at, settled = p.wait(time.Now(), s.e)
			if !sendNow {
				if timer == nil {
					timer = time.NewTimer(time.Until(at))
				} else {
					timer.Reset(time.Until(at))
				}
				timerC = timer.C
			}
		}
		// a payload in hand goes on, a piece per turn, whenever nothing
		// else is ready
		var work <-chan struct{}
		if chunks.busy() {
			work = closed
		}
		if !sendNow {
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-s.e.done:
				return s.e.Err()
			case <-beatC:
				if err := send.SendHeartbeat(); err != nil {
					return err
				}
				sent()
			case <-s.pready:
				if chunks != nil {
					chunks.more = true
				} else if p := s.TakePayloads(); len(p) > 0 {
					if err := send.SendPayloads(p); err != nil {
						return err
					}
					sent()
				}
			case <-changed:
				sendNow = p.changed(time.Now())
			case <-settled:
				sendNow = true
			case <-ticksFull:
				sendNow = !pace.Off
			case <-timerC:
				// re-evaluated at the top
			case <-work:
				// an update that is due goes before the next chunk
				select {
				case <-changed:
					sendNow = p.changed(time.Now())
				case <-settled:
					sendNow = true
				case <-timerC:
				default:
					if err := chunks.step(s); err != nil {
						return err
					}
					sent()
				}
			}
			if timerC != nil {
				timer.Stop()
			}
		}
		if !sendNow {
			continue
		}
		// a wake counts as an update even when a reply took the change:
		// under a stream of the peer's own mutations, Run then wakes about
		// once per MaxDelay, not once per mutation
		p.sent(time.Now())
		u, ok := s.Next()
		if !ok {
			continue
		}
		if err := send.SendUpdate(&u); err != nil {
			return err
		}
		sent()
	}
}

// closed is a channel that is always ready.
var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// pacer decides when Run sends, from the times of its updates and of the
// changes it holds back.
type pacer struct {
	pace Pace
	// last is when the previous update was sent (zero: never)
	last time.Time
	// pending is set while a change is held back; first is when it came
	pending bool
	first   time.Time
}

// changed notes a change at now; true when it goes out at once.
func (p *pacer) changed(now time.Time) bool {
	idle := p.last.IsZero() || now.Sub(p.last) >= p.pace.MaxDelay
	if idle && now.Sub(p.last) >= p.pace.MinInterval {
		return true
	}
	p.pending, p.first = true, now
	return false
}

// wait returns, for a held-back change, whether to send now; otherwise until
// when to wait, and (once the rate cap allows) the engine's settle channel.
func (p *pacer) wait(now time.Time, e *Engine) (bool, time.Time,
	<-chan struct{},
) {
	earliest := p.last.Add(p.pace.MinInterval)
	due := p.first.Add(p.pace.MaxDelay)
	if due.Before(earliest) {
		due = earliest
	}
	switch {
	case !now.Before(due):
		return true, time.Time{}, nil
	case now.Before(earliest):
		return false, earliest, nil
	}
	return false, due, e.Settled()
}

// sent notes an update at now.
func (p *pacer) sent(now time.Time) {
	p.last, p.pending = now, false
}
