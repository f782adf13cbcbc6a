package main

import (
	"context"
	"fmt"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/benchmark/states"
)

var sinkStates = states.SinkStates

// argData is the argument key of an in-process payload.
const argData = "Data"

// payloadOf returns a buffer of size bytes filled with a fixed pattern,
// reusing buf when it is large enough.
func payloadOf(buf []byte, size int) []byte {
	if cap(buf) >= size && len(buf) >= size {
		return buf[:size]
	}
	buf = make([]byte, size)
	for i := range buf {
		buf[i] = byte(i % 251)
	}

	return buf
}

// checkPayload reports whether b looks like payloadOf(size).
func checkPayload(b []byte, size int) error {
	if len(b) != size {
		return fmt.Errorf("%w: %d bytes, want %d", ErrMismatch, len(b), size)
	}
	if size == 0 {
		return nil
	}
	for _, i := range []int{0, size / 2, size - 1} {
		if b[i] != byte(i%251) {
			return fmt.Errorf("%w: byte %d", ErrMismatch, i)
		}
	}

	return nil
}

// sinkHandlers deliver each payload to a channel.
type sinkHandlers struct {
	extract  func(am.A) []byte
	received chan []byte
}

func (h *sinkHandlers) ServerPayloadState(e *am.Event) {
	// never block the machine: the reader waits for exactly one payload
	select {
	case h.received <- h.extract(e.Args):
	default:
	}
}

// newPayloadSink returns a sink machine whose ServerPayload state hands the
// payload's bytes (read from args[argData]) to the returned channel.
func newPayloadSink(
	ctx context.Context, id string,
) (*am.Machine, chan []byte, error) {
	return newPayloadSinkFn(ctx, id, func(a am.A) []byte {
		b, _ := a[argData].([]byte)
		return b
	})
}

// newPayloadSinkFn is newPayloadSink with a custom argument reader.
func newPayloadSinkFn(
	ctx context.Context, id string, extract func(am.A) []byte,
) (*am.Machine, chan []byte, error) {
	received := make(chan []byte, 1)
	h := &sinkHandlers{extract: extract, received: received}
	m, err := am.NewCommon(ctx, id, states.SinkSchema, sinkStates.Names(), h,
		nil, &am.Opts{DontLogStackTrace: true})
	if err != nil {
		return nil, nil, fmt.Errorf("payload sink: %w", err)
	}

	return m, received, nil
}

// awaitPayload waits for one payload and checks it.
func awaitPayload(ctx context.Context, received <-chan []byte, size int) error {
	select {
	case b := <-received:
		return checkPayload(b, size)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// disposeTimeout bounds the wait for one machine's disposal.
const disposeTimeout = 5 * time.Second

// disposeAll disposes every non-nil machine and waits for all of them.
func disposeAll(machs ...*am.Machine) {
	for _, m := range machs {
		if m != nil {
			m.Dispose()
		}
	}
	waitDisposed(machs...)
}

// waitDisposed waits (bounded) until every non-nil machine is disposed.
func waitDisposed(machs ...*am.Machine) {
	deadline := time.NewTimer(disposeTimeout)
	defer deadline.Stop()
	for _, m := range machs {
		if m == nil {
			continue
		}
		select {
		case <-m.WhenDisposed():
		case <-deadline.C:
			return
		}
	}
}
