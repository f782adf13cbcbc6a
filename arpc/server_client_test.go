package arpc_test

import (
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBasicMutationAndRead(t *testing.T) {
	p := newPair(t, pairOpts{})
	require.Equal(t, am.Executed, p.rw.Add1("A", nil))
	assert.True(t, p.rw.Is1("A"))
	assert.True(t, p.rw.Is1("B"))
	assert.Equal(t, p.worker.Time(nil), p.rw.Time(nil))

	// worker-side change reaches the client by push
	p.worker.Add1("D", nil)
	waitCh(t, p.rw.When1("D", nil), "D pushed")
	assert.True(t, p.rw.Not1("A"))
	assert.True(t, p.rw.Is1("F"), "auto state")
}
