package arpc_test

import (
	"context"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"

	"github.com/arpcbridge/arpcbridge/internal/apitest"
)

// TestBehaviourTable runs the same behaviours against a local machine and
// the remote worker of an identical one, and requires the same answers,
// over every encoding × compression.
func TestBehaviourTable(t *testing.T) {
	local := func(t *testing.T) (*am.Machine, am.Api) {
		w := newWorker(t, context.Background())
		return w, w
	}
	for _, combo := range wireCombos {
		t.Run(combo.String(), func(t *testing.T) {
			remote := func(t *testing.T) (*am.Machine, am.Api) {
				p := newPair(t, pairOpts{wire: &combo})
				return p.worker, p.rw
			}
			apitest.Run(t, local, remote)
		})
	}
}
