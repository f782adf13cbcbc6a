package arpc_test

import (
	"context"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
)

func TestWhenArgsRemote(t *testing.T) {
	p := newPair(t, pairOpts{})
	ch := p.rw.WhenArgs("E", am.A{"id": 5}, nil)
	other := p.rw.WhenArgs("E", am.A{"id": 6}, nil)
	select {
	case <-ch:
		t.Fatal("closed before a match")
	default:
	}
	p.worker.Add1("E", am.A{"id": 5})
	waitCh(t, ch, "WhenArgs match")
	select {
	case <-other:
		t.Fatal("closed on other args")
	case <-time.After(50 * time.Millisecond):
	}

	// canceling the context closes the channel and the server subscription
	ctx, cancel := context.WithCancel(context.Background())
	ch2 := p.rw.WhenArgs("E", am.A{"id": 7}, ctx)
	cancel()
	waitCh(t, ch2, "canceled WhenArgs")

	// unknown state: reported, channel closed
	assert.NotNil(t, p.rw.WhenArgs("Nope", nil, nil))
	assert.Error(t, p.rw.LastErr())
}
