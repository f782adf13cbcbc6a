package arpc_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
)

// TestDisposedWorkerNeverPanics calls every am.Api method of a remote worker
// after the client disposed it, with zero and with plausible arguments:
// nothing may panic, and waits must not block forever.
func TestDisposedWorkerNeverPanics(t *testing.T) {
	p := newPair(t, pairOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.client.Stop(ctx, true)
	waitCh(t, p.rw.WhenDisposed(), "worker disposed")
	require.True(t, p.rw.IsDisposed())

	api := reflect.TypeOf((*am.Api)(nil)).Elem()
	w := reflect.ValueOf(p.rw)
	for i := range api.NumMethod() {
		m := api.Method(i)
		for _, plausible := range []bool{false, true} {
			args := make([]reflect.Value, m.Type.NumIn())
			for j := range args {
				args[j] = argFor(m.Type.In(j), plausible)
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s(plausible=%v) panicked on a disposed worker: %v",
							m.Name, plausible, r)
					}
				}()
				if m.Type.IsVariadic() {
					w.MethodByName(m.Name).CallSlice(args)
				} else {
					w.MethodByName(m.Name).Call(args)
				}
			}()
		}
	}
	require.Empty(t, p.rw.Clock(nil))
	require.Equal(t, am.Canceled, p.rw.Add1("A", nil))
}

// argFor returns a zero value of typ, or a plausible one: a known state
// name, a live context.
func argFor(typ reflect.Type, plausible bool) reflect.Value {
	if !plausible {
		return reflect.Zero(typ)
	}
	switch typ {
	case reflect.TypeOf(""):
		return reflect.ValueOf("A")
	case reflect.TypeOf(am.S{}):
		return reflect.ValueOf(am.S{"A"})
	case reflect.TypeOf((*context.Context)(nil)).Elem():
		return reflect.ValueOf(context.Background())
	}
	return reflect.Zero(typ)
}

var _ am.Api = (*arpc.Worker)(nil)
