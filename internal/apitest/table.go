package apitest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/require"
)

// Setup returns a fresh worker and the am.Api under test for it: the worker
// itself for the local reference, or a replica of it.
type Setup func(t *testing.T) (worker *am.Machine, api am.Api)

// Case is one behaviour: steps against the api (and the worker, for
// worker-side changes), writing observations to a trace.
type Case struct {
	Name string
	Run  func(t *testing.T, w *am.Machine, api am.Api, tr *Trace)
}

// Trace records observations; two implementations must produce equal
// traces.
type Trace struct{ lines []string }

// Add records an observation.
func (tr *Trace) Add(format string, args ...any) {
	tr.lines = append(tr.lines, fmt.Sprintf(format, args...))
}

// Run runs every case against the local reference and against the
// implementation under test, and requires equal traces.
func Run(t *testing.T, local, remote Setup) {
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			var want, got Trace
			w, api := local(t)
			c.Run(t, w, api, &want)
			w, api = remote(t)
			c.Run(t, w, api, &got)
			require.Equal(t, want.lines, got.lines)
		})
	}
}

// wait waits for ch within 5s, recording whether it closed.
func wait(t *testing.T, tr *Trace, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
		tr.Add("%s: closed", what)
	case <-time.After(5 * time.Second):
		tr.Add("%s: timeout", what)
	}
}

func closedNow(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// sorted returns states sorted: a machine lists active states in
// activation order, a replica in schema order; the set is what must match.
func sorted(s am.S) am.S {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func snapshot(tr *Trace, api am.Api) {
	tr.Add("time %v active %v", api.Time(nil), sorted(api.ActiveStates(nil)))
}

// Cases returns the behaviour table.
func Cases() []Case {
	return []Case{
		{"add with Add relation", func(t *testing.T, w *am.Machine, api am.Api, tr *Trace) {
			tr.Add("add A: %v", api.Add1("A", nil))
			tr.Add("is A,B: %v", api.Is(am.S{"A", "B"}))
			snapshot(tr, api)
		}},
		{"require blocks", func(t *testing.T, w *am.Machine, api am.Api, tr *Trace) {
			tr.Add("add C: %v", api.Add1("C", nil))
			tr.Add("not C: %v", api.Not1("C"))
			tr.Add("add B,C: %v", api.Add(am.S{"B", "C"}, nil))
			tr.Add("is C: %v", api.Is1("C"))
			tr.Add("remove B: %v", api.Remove1("B", nil))
			tr.Add("C after B removed: %v", api.Is1("C"))
			snapshot(tr, api)
		}},
		{"remove relation and auto", func(t *testing.T, w *am.Machine, api am.Api, tr *Trace) {
			api.Add1("A", nil)
			tr.Add("add D: %v", api.Add1("D", nil))
			tr.Add("A removed: %v, F auto: %v", api.Not1("A"), api.Is1("F"))
			snapshot(tr, api)
		}},
		{"mutual remove", func(t *testing.T, w *am.Machine, api am.Api, tr *Trace) {
			api.Add1("G", nil)
			tr.Add("add H: %v", api.Add1("H", nil))
			tr.Add("G %v H %v", api.Is1("G"), api.Is1("H"))
			tr.Add("switch: %s", api.Switch(am.S{"G", "H"}))
		}},
		{"multi", func(t *testing.T, w *am.Machine, api am.Api, tr *Trace) {
			for i := 0; i < 3; i++ {
				tr.Add("add E: %v tick %d", api.Add1("E", nil), api.Tick("E"))
			}
			snapshot(tr, api)
		}},
		{"set and toggle", func(t *testing.T, w *am.Machine, api am.Api, tr *Trace) {
			api.Add(am.S{"A", "G"}, nil)
			tr.Add("set D,E: %v", api.Set(am.S{"D", "E"}, nil))
			snapshot(tr, api)
			tr.Add("toggle G: %v is %v", api.Toggle1("G", nil), api.Is1("G"))
			tr.Add("toggle G: %v is %v", api.Toggle1("G", nil), api.Is1("G"))
			tr.Add("toggle D,E: %v", api.Toggle(am.S{"D", "E"}, nil))
			snapshot(tr, api)
		}},
		{"errors", func(t *testing.T, w *am.Machine, api am.Api, tr *Trace) {
			tr.Add("iserr %v err %v", api.IsErr(), api.Err())
			tr.Add("adderr: %v", api.AddErr(errors.New("boom"), nil))
			tr.Add("iserr %v err %v", api.IsErr(), api.Err())
			tr.Add("adderrstate: %v", api.AddErrState("Err1", errors.New("bam"), nil))
			tr.Add("err1 %v err %v", api.Is1("Err1"), api.Err())
			wait(t, tr, "whenErr", api.WhenErr(nil))
			tr.Add("remove exc: %v", api.Remove1(am.StateException, nil))
			snapshot(tr, api)
		}},
		{"can add / can remove", func(t *testing.T, w *am.Machine, api am.Api, tr *Trace) {
			tr.Add("can add C: %v", api.CanAdd1("C", nil))
			tr.Add("can add B: %v", api.CanAdd1("B", nil))
			api.Add1("B", nil)
			tr.Add("can remove B: %v", api.CanRemove1("B", nil))
			snapshot(tr, api)
		}},
		{"getters", func(t *testing.T, w *am.Machine, api am.Api, tr *Trace) {
			api.Add(am.S{"A", "E"}, nil)
			tr.Add("names %v", api.StateNames())
			tr.Add("index %d %v", api.Index1("C"), api.Index(am.S{"B", "A"}))
			tr.Add("has %v %v", api.Has(am.S{"A", "B"}), api.Has1("Nope"))
			tr.Add("any %v any1 %v", api.Any(am.S{"A", "C"}, am.S{"B"}),
				api.Any1("C", "D"))
			tr.Add("clock %v", api.Clock(am.S{"A", "B"}))
			tr.Add("time %v", api.Time(am.S{"E", "A"}))
			now := api.Time(nil)
			tr.Add("istime %v wastime %v", api.IsTime(now, nil), api.WasTime(now, nil))
			tr.Add("isclock %v", api.IsClock(api.Clock(nil)))
			tr.Add("active %v", sorted(api.ActiveStates(am.S{"A", "C", "E"})))
			tr.Add("string %s", api.String())
			tr.Add("stringall %s", api.StringAll())
			exp, schema, err := api.Export()
			tr.Add("export %v %v %d %v", exp.Time, exp.StateNames, len(schema), err)
			tr.Add("parse %v", api.ParseStates(am.S{"A", "Nope"}))
			tr.Add("verified %v", api.StatesVerified())
		}},
		{"when for worker-side changes", func(t *testing.T, w *am.Machine, api am.Api, tr *Trace) {
			whenA := api.When1("A", nil)
			whenAD := api.When(am.S{"A", "D"}, nil)
			tr.Add("when A closed early: %v", closedNow(whenA))
			w.Add1("A", nil)
			wait(t, tr, "when A", whenA)
			whenNotA := api.WhenNot1("A", nil)
			w.Add1("D", nil)
			wait(t, tr, "whenNot A", whenNotA)
			_ = whenAD // a machine may close it here (A and D activated in turn)
			wait(t, tr, "when now-active D", api.When1("D", nil))
		}},
		{"when time and ticks", func(t *testing.T, w *am.Machine, api am.Api, tr *Trace) {
			whenTicks := api.WhenTicks("E", 3, nil)
			whenTime := api.WhenTime(am.S{"E", "B"}, am.Time{2, 1}, nil)
			next := api.WhenNextActive("B", nil)
			for i := 0; i < 3; i++ {
				w.Add1("E", nil)
			}
			wait(t, tr, "whenTicks E 3", whenTicks)
			tr.Add("whenTime early: %v", closedNow(whenTime))
			w.Add1("B", nil)
			wait(t, tr, "whenTime", whenTime)
			wait(t, tr, "next active B", next)
			q := api.WhenQuery(func(c am.Clock) bool { return c["G"] >= 1 }, nil)
			w.Add1("G", nil)
			wait(t, tr, "query", q)
			wait(t, tr, "whenTime1 done", api.WhenTime1("E", 1, nil))
		}},
		{"when with canceled ctx", func(t *testing.T, w *am.Machine, api am.Api, tr *Trace) {
			ctx, cancel := context.WithCancel(context.Background())
			ch := api.When1("C", ctx)
			tr.Add("open: %v", !closedNow(ch))
			cancel()
			// a machine collects canceled waits on its next transition
			w.Add1("E", nil)
			wait(t, tr, "canceled when", ch)
			done, cancel2 := context.WithCancel(context.Background())
			cancel2()
			tr.Add("done ctx closed at once: %v", closedNow(api.When1("C", done)))
		}},
		{"state ctx", func(t *testing.T, w *am.Machine, api am.Api, tr *Trace) {
			inactive := api.NewStateCtx("A")
			tr.Add("inactive ctx err: %v", inactive.Err())
			w.Add1("A", nil)
			wait(t, tr, "A", api.When1("A", nil))
			wait(t, tr, "inactive ctx done on activation", inactive.Done())
			ctx := api.NewStateCtx("A")
			tr.Add("active ctx err: %v", ctx.Err())
			w.Remove1("A", nil)
			wait(t, tr, "state ctx done", ctx.Done())
			tr.Add("err: %v", ctx.Err())
		}},
	}
}
