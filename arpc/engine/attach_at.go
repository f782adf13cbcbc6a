package engine

import (
	"errors"
	"fmt"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// ErrAttached means AttachAt found the worker's engine already running at
// another epoch or sequence.
var ErrAttached = errors.New("engine: worker already attached")

// AttachAt is Attach for a worker whose time was restored (a durable store,
// see bridge/store): a new engine continues the restored one, with its epoch
// and its last sequence, so that peers of the previous process see one
// chain. epoch 0 picks a random one, like Attach. An engine already attached
// to the worker is returned only when it is still at that epoch and has not
// moved past seq; otherwise the error wraps ErrAttached.
func AttachAt(worker am.Api, epoch, seq uint64) (*Engine, error) {
	return attach(worker, epoch, seq)
}

// checkStart tells whether an existing engine can serve an AttachAt(epoch,
// seq). Called with registryMx held.
func (e *Engine) checkStart(epoch, seq uint64) error {
	if epoch == 0 && seq == 0 {
		return nil
	}
	cur := e.Snapshot()
	if (epoch != 0 && e.Epoch != epoch) || cur.Seq != max(seq, 1) {
		return fmt.Errorf("%w: at epoch %x seq %d, not %x seq %d", ErrAttached,
			e.Epoch, cur.Seq, epoch, seq)
	}
	return nil
}
