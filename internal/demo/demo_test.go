package demo_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	ss "github.com/pancsta/asyncmachine-go/pkg/states"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/internal/demo"
)

// fast runs moves back to back.
const fast = time.Microsecond

// guard bounds how long a test waits for the machine before failing.
const guard = 10 * time.Second

// checker is a tracer that checks the demo's invariants after every
// accepted transition and records the resulting states.
type checker struct {
	*am.TracerNoOp

	mu         sync.Mutex
	violations []string
	log        []string
}

func newChecker() *checker {
	return &checker{TracerNoOp: &am.TracerNoOp{}}
}

func (c *checker) TransitionEnd(tx *am.Transition) {
	if !tx.IsAccepted.Load() {
		return
	}
	active := tx.TargetStates()
	is := func(s string) bool { return slices.Contains(active, s) }
	implies := func(a, b string) bool { return !is(a) || is(b) }

	var bad []string
	for _, pair := range [][2]string{
		{demo.Working, demo.Done}, {demo.Working, demo.Failed},
		{demo.Done, demo.Failed}, {demo.Idle, demo.JobQueued},
	} {
		if is(pair[0]) && is(pair[1]) {
			bad = append(bad, pair[0]+"+"+pair[1])
		}
	}
	for _, pair := range [][2]string{
		{demo.Retrying, demo.Failed}, {demo.Working, demo.JobQueued},
		{demo.JobQueued, demo.Running}, {demo.Idle, demo.Running},
	} {
		if !implies(pair[0], pair[1]) {
			bad = append(bad, pair[0]+" without "+pair[1])
		}
	}

	sorted := slices.Sorted(slices.Values(active))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range bad {
		c.violations = append(c.violations, fmt.Sprintf("%s in %v", b, sorted))
	}
	c.log = append(c.log, fmt.Sprint(sorted))
}

func (c *checker) result() (violations, log []string) {
	c.mu.Lock()
	defer c.mu.Unlock()

	return slices.Clone(c.violations), slices.Clone(c.log)
}

// newMachine builds a machine of the demo states merged with extra ones,
// checked by the returned tracer, and disposes it when the test ends.
func newMachine(
	t *testing.T, extra am.Schema, extraNames am.S,
) (*am.Machine, *checker) {
	t.Helper()
	c := newChecker()
	schema := demo.Schema()
	if extra != nil {
		schema = extra.Merge(schema)
	}
	mach := am.New(context.Background(), schema, &am.Opts{
		Id:      "demo-" + t.Name(),
		Tracers: []am.Tracer{c},
	})
	t.Cleanup(func() {
		mach.Dispose()
		<-mach.WhenDisposed()
	})
	require.NoError(t, mach.Err())
	require.NoError(t, mach.VerifyStates(
		am.SAdd(extraNames, demo.Names(), am.S{am.StateException})))

	return mach, c
}

// runAsync starts Run and returns a channel with its result.
func runAsync(
	ctx context.Context, mach am.Api, opts demo.Options,
) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- demo.Run(ctx, mach, opts) }()

	return errc
}

// wait waits for ch or fails the test after guard.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(guard):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T

	return zero
}

func TestSchema(t *testing.T) {
	schema, names := demo.Schema(), demo.Names()
	require.Len(t, schema, len(names))

	used := map[string]bool{}
	for _, name := range names {
		s, ok := schema[name]
		require.True(t, ok, name)
		used["auto"] = used["auto"] || s.Auto
		used["multi"] = used["multi"] || s.Multi
		for rel, list := range map[string]am.S{
			"require": s.Require, "add": s.Add, "remove": s.Remove,
			"after": s.After,
		} {
			used[rel] = used[rel] || len(list) > 0
			for _, target := range list {
				assert.Contains(t, names, target, "%s %s", name, rel)
			}
		}
	}
	for _, what := range []string{
		"auto", "multi", "require", "add", "remove", "after",
	} {
		assert.True(t, used[what], "%s is used", what)
	}

	// no state of the demo clashes with asyncmachine's basic states
	assert.Empty(t, names.Shared(ss.BasicStates.Names()))

	// fresh copies
	schema[demo.Working] = am.State{}
	names[0] = "x"
	assert.NotEmpty(t, demo.Schema()[demo.Working].Remove)
	assert.Equal(t, demo.Running, demo.Names()[0])
}

func TestRelations(t *testing.T) {
	tests := []struct {
		name    string
		setup   am.S
		add     string
		want    am.S
		notWant am.S
	}{
		{"running brings idle", nil, demo.Running,
			am.S{demo.Running, demo.Idle}, nil},
		{"queued job removes idle", am.S{demo.Running}, demo.JobQueued,
			am.S{demo.JobQueued}, am.S{demo.Idle}},
		{"work needs a job", am.S{demo.Running}, demo.Working, nil,
			am.S{demo.Working}},
		{"done ends work", am.S{demo.Running, demo.JobQueued, demo.Working},
			demo.Done, am.S{demo.Done}, am.S{demo.Working}},
		{"failure ends work and retries", am.S{demo.Running, demo.JobQueued,
			demo.Working}, demo.Failed, am.S{demo.Failed, demo.Retrying},
			am.S{demo.Working}},
		{"work clears the last result", am.S{demo.Running, demo.JobQueued,
			demo.Failed}, demo.Working, am.S{demo.Working},
			am.S{demo.Failed, demo.Retrying, demo.Done}},
		{"retrying needs failed", am.S{demo.Running}, demo.Retrying, nil,
			am.S{demo.Retrying}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mach, c := newMachine(t, nil, nil)
			for _, s := range tt.setup {
				mach.Add1(s, nil)
			}
			mach.Add1(tt.add, nil)
			assert.Subset(t, mach.ActiveStates(nil), tt.want)
			for _, s := range tt.notWant {
				assert.False(t, mach.Is1(s), "%s is active", s)
			}
			violations, _ := c.result()
			assert.Empty(t, violations)
		})
	}
}

func TestRun(t *testing.T) {
	mach, c := newMachine(t, nil, nil)
	before := mach.Time(nil).Sum(nil)

	err := demo.Run(context.Background(), mach, demo.Options{
		Interval: fast, Steps: 300, Seed: 1,
	})
	require.NoError(t, err)

	violations, log := c.result()
	assert.Empty(t, violations)
	assert.Greater(t, len(log), 300)
	assert.Greater(t, mach.Time(nil).Sum(nil), before)

	// every state went through at least a few activations (two ticks each)
	for _, s := range demo.Names() {
		assert.GreaterOrEqual(t, mach.Tick(s), uint64(2), s)
	}
	dones, fails := mach.Tick(demo.Done)/2, mach.Tick(demo.Failed)/2
	assert.Greater(t, dones, fails, "most jobs succeed")
	assert.Positive(t, fails, "some jobs fail")

	// stopping removes Running and what depends on it
	stopped := am.S{demo.Running, demo.Idle, demo.JobQueued, demo.Working}
	for _, s := range stopped {
		assert.False(t, mach.Is1(s), "%s is active after Run", s)
	}
	assert.Empty(t, mach.Handlers(), "handlers detached")
}

func TestRunDeterministic(t *testing.T) {
	logs := make([][]string, 2)
	for i := range logs {
		mach, c := newMachine(t, nil, nil)
		require.NoError(t, demo.Run(context.Background(), mach, demo.Options{
			Interval: fast, Steps: 200, Seed: 42,
		}))
		_, logs[i] = c.result()
	}
	assert.Equal(t, logs[0], logs[1])
}

func TestRunFailRate(t *testing.T) {
	tests := []struct {
		name     string
		rate     float64
		wantFail bool
		wantDone bool
	}{
		{"never fails", -1, false, true},
		{"always fails", 1, true, false},
		{"above one means always", 5, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mach, c := newMachine(t, nil, nil)
			require.NoError(t, demo.Run(context.Background(), mach,
				demo.Options{Interval: fast, Steps: 50, FailRate: tt.rate}))
			assert.Equal(t, tt.wantFail, mach.Tick(demo.Failed) > 0)
			assert.Equal(t, tt.wantDone, mach.Tick(demo.Done) > 0)
			violations, _ := c.result()
			assert.Empty(t, violations)
		})
	}
}

// TestRunMerged runs the demo in a machine that also has asyncmachine's
// basic states and a state of its own relating to the demo's.
func TestRunMerged(t *testing.T) {
	extra := ss.BasicSchema.Merge(am.Schema{
		"Alert": {Auto: true, Require: am.S{demo.Failed}},
	})
	names := am.SAdd(ss.BasicStates.Names(), am.S{"Alert"})
	mach, c := newMachine(t, extra, names)
	mach.Add1(ss.BasicStates.Start, nil)

	require.NoError(t, demo.Run(context.Background(), mach, demo.Options{
		Interval: fast, Steps: 200, Seed: 7,
	}))
	violations, _ := c.result()
	assert.Empty(t, violations)
	assert.Positive(t, mach.Tick("Alert"), "Alert followed Failed")
	assert.True(t, mach.Is1(ss.BasicStates.Start), "other states untouched")
	assert.False(t, mach.IsErr())
}

func TestRunCancel(t *testing.T) {
	mach, c := newMachine(t, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	errc := runAsync(ctx, mach, demo.Options{Interval: fast})
	// three finished jobs: Done goes on and off for each
	wait(t, mach.WhenTicks(demo.Done, 5, ctx), "three jobs")
	cancel()
	require.NoError(t, wait(t, errc, "Run to return"))

	assert.False(t, mach.Is1(demo.Running))
	violations, _ := c.result()
	assert.Empty(t, violations)
}

// TestRunOutsideMutations mutates the machine while Run drives it, as an RPC
// client would, and checks that Run adapts.
func TestRunOutsideMutations(t *testing.T) {
	mach, c := newMachine(t, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	errc := runAsync(ctx, mach, demo.Options{Interval: fast, Seed: 3})
	for i := range 20 {
		wait(t, mach.WhenTicks(demo.Working, 1, ctx), "work")
		switch i % 4 {
		case 0:
			mach.Add1(demo.JobQueued, nil)
		case 1:
			mach.Remove1(demo.Working, nil)
		case 2:
			mach.Remove1(demo.JobQueued, nil)
		case 3:
			mach.Remove1(demo.Running, nil)
		}
	}
	// the worker still makes progress afterwards
	wait(t, mach.WhenTicks(demo.Done, 2, ctx), "a job after the mutations")
	cancel()
	require.NoError(t, wait(t, errc, "Run to return"))

	violations, _ := c.result()
	assert.Empty(t, violations)
}

func TestRunDisposed(t *testing.T) {
	mach, _ := newMachine(t, nil, nil)
	ctx := context.Background()

	errc := runAsync(ctx, mach, demo.Options{Interval: fast})
	wait(t, mach.WhenTicks(demo.JobQueued, 1, ctx), "a job")
	mach.Dispose()
	require.ErrorIs(t, wait(t, errc, "Run to return"), demo.ErrDisposed)
}

func TestRunMissingStates(t *testing.T) {
	mach := am.New(context.Background(), am.Schema{demo.Running: {}}, nil)
	defer mach.Dispose()

	err := demo.Run(context.Background(), mach, demo.Options{Steps: 1})
	require.ErrorIs(t, err, demo.ErrMissingStates)
	assert.Contains(t, err.Error(), demo.Working)
}
