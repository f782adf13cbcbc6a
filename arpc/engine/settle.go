package engine

import "time"

// SettleTime is how long the worker must go without a transition to count
// as settled: the end of a busy period, when held-back updates go out at
// once (see Sub.Run). One timer per engine notices it, not one per
// subscriber.
const SettleTime = 250 * time.Microsecond

// Settled returns a channel closed once the worker has made no transition
// for SettleTime; already closed when it has not made one since.
func (e *Engine) Settled() <-chan struct{} {
	if !e.settleBusy.Load() {
		return closedCh
	}
	e.mx.Lock()
	defer e.mx.Unlock()
	if e.settleTimer == nil || !e.settleArmed || e.doneErr != nil {
		return closedCh
	}
	if e.settled == nil {
		e.settled = make(chan struct{})
	}
	return e.settled
}

// armSettle starts watching for the worker to settle after a transition.
// Called under e.mx.
func (e *Engine) armSettle() {
	if e.settleArmed || e.released {
		return
	}
	e.settleArmed = true
	e.settleBusy.Store(true)
	if e.settleTimer == nil {
		e.settleTimer = time.AfterFunc(SettleTime, e.checkSettled)
	} else {
		e.settleTimer.Reset(SettleTime)
	}
}

// checkSettled runs on the settle timer: it re-arms while transitions keep
// coming, and wakes the waiters of Settled once they stopped.
func (e *Engine) checkSettled() {
	e.mx.Lock()
	if !e.settleArmed {
		e.mx.Unlock()
		return
	}
	if left := SettleTime - time.Since(e.cur.At); left > 0 && !e.released {
		e.settleTimer.Reset(left)
		e.mx.Unlock()
		return
	}
	e.settleArmed = false
	e.settleBusy.Store(false)
	ch := e.settled
	e.settled = nil
	e.mx.Unlock()
	if ch != nil {
		close(ch)
	}
}

// stopSettle stops the settle timer for good and wakes its waiters. Called
// under e.mx.
func (e *Engine) stopSettle() (wake chan struct{}) {
	e.released = true
	if e.settleTimer != nil {
		e.settleTimer.Stop()
	}
	e.settleArmed = false
	e.settleBusy.Store(false)
	wake, e.settled = e.settled, nil
	return wake
}
