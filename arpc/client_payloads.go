package arpc

import (
	"sync"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

// payloadQueue hands payloads to the consumer off the read loop (its
// handlers may take their time) and in the order they arrived: one
// goroutine drains it while it holds any.
type payloadQueue struct {
	mx      sync.Mutex
	pending []*ArgsPayload
	running bool
}

// deliverPayload queues p for cons, starting the drain when none runs.
func (c *Client) deliverPayload(cons am.Api, p *ArgsPayload) {
	q := &c.payloads
	q.mx.Lock()
	q.pending = append(q.pending, p)
	if q.running {
		q.mx.Unlock()
		return
	}
	q.running = true
	q.mx.Unlock()
	c.goTracked(func() {
		for {
			q.mx.Lock()
			if len(q.pending) == 0 {
				q.running = false
				q.mx.Unlock()
				return
			}
			next := q.pending[0]
			q.pending[0] = nil
			q.pending = q.pending[1:]
			q.mx.Unlock()
			cons.Add1(ss.ConsumerStates.WorkerPayload,
				Pass(&A{Name: next.Name, Payload: next}))
		}
	})
}
