package main

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// plainWorker is the worker of the non-machine transports (plain gRPC, raw
// TCP): the same job as [Worker] in plain Go. version counts changes; each
// subscriber gets a wake-up (coalesced) per change and reads the version.
type plainWorker struct {
	mu      sync.Mutex
	value   int
	version uint64
	rnd     *rand.Rand
	subs    map[chan struct{}]struct{}

	oks  atomic.Int64
	errs atomic.Int64
}

func newPlainWorker() *plainWorker {
	return &plainWorker{
		value: 1,
		rnd:   rand.New(rand.NewPCG(1, 2)),
		subs:  map[chan struct{}]struct{}{},
	}
}

// Value returns the current value.
func (w *plainWorker) Value() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.value
}

// Version returns how many changes the worker made.
func (w *plainWorker) Version() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.version
}

// CallOp checks op against the value, picks a new value and emits a change.
// It returns whether op matched and the new value.
func (w *plainWorker) CallOp(op int) (bool, int) {
	w.mu.Lock()
	ok := op == w.value
	if ok {
		w.oks.Add(1)
	} else {
		w.errs.Add(1)
	}
	w.value = 1 + w.rnd.IntN(3)
	v := w.value
	w.changeLocked()
	w.mu.Unlock()

	return ok, v
}

// Change emits a change without touching the value (the Ping of machines).
func (w *plainWorker) Change() {
	w.mu.Lock()
	w.changeLocked()
	w.mu.Unlock()
}

func (w *plainWorker) changeLocked() {
	w.version++
	for ch := range w.subs {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// Subscribe returns a wake-up channel and the version it starts from.
func (w *plainWorker) Subscribe() (chan struct{}, uint64) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.subs[ch] = struct{}{}

	return ch, w.version
}

// Unsubscribe drops a channel from Subscribe.
func (w *plainWorker) Unsubscribe(ch chan struct{}) {
	w.mu.Lock()
	delete(w.subs, ch)
	w.mu.Unlock()
}
