package arpc_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/internal/door"
)

// counted runs mutations through the worker's Mutator, counting in ran the
// ones that ran (the Ran hook).
type counted struct {
	*door.Mutator
	ran *atomic.Int64
}

func (c counted) Run(ctx context.Context, mut *door.Mutation) (am.Result,
	bool, error,
) {
	mut.Ran = func(am.Result, error) { c.ran.Add(1) }
	return c.Mutator.Run(ctx, mut)
}

func newMutator(t *testing.T) (*am.Machine, counted, *atomic.Int64) {
	t.Helper()
	w := newWorker(t, context.Background())
	ran := &atomic.Int64{}
	return w, counted{door.MutatorFor(w), ran}, ran
}

func TestMutatorRefusesInvalidMutations(t *testing.T) {
	tests := []struct {
		name string
		mut  door.Mutation
		pos  int
	}{
		{"unknown state", door.Mutation{Type: door.MutAdd,
			States: am.S{"A", "Nope"}}, 1},
		{"no states", door.Mutation{Type: door.MutAdd}, -1},
		{"no states toggle", door.Mutation{Type: door.MutToggle}, -1},
		{"error takes one state", door.Mutation{Type: door.MutAddErr,
			States: am.S{"A", "B"}}, -1},
		{"unknown type", door.Mutation{Type: 99, States: am.S{"A"}}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, m, ran := newMutator(t)
			before := w.Time(nil)
			res, _, err := m.Run(context.Background(), &tt.mut)
			require.ErrorIs(t, err, arpc.ErrInvalidParams)
			assert.Equal(t, am.Canceled, res)
			assert.Equal(t, before, w.Time(nil), "nothing changed")
			assert.Zero(t, ran.Load(), "the hook saw no mutation")
			var se *door.StateError
			if tt.pos >= 0 {
				require.ErrorAs(t, err, &se)
				assert.Equal(t, tt.pos, se.Pos)
			}
			_, err = m.Can(&tt.mut)
			require.ErrorIs(t, err, arpc.ErrInvalidParams)
		})
	}
	t.Run("index out of range", func(t *testing.T) {
		_, m, _ := newMutator(t)
		_, err := m.Names([]int{0, 1000})
		var se *door.StateError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 1, se.Pos)
		assert.Equal(t, 1000, se.Index)
		require.ErrorIs(t, err, arpc.ErrInvalidParams)
	})
}

func TestMutatorRunsEveryType(t *testing.T) {
	w, m, ran := newMutator(t)
	ctx := context.Background()
	run := func(typ uint8, states ...string) am.Result {
		res, _, err := m.Run(ctx, &door.Mutation{Type: typ, States: states})
		require.NoError(t, err)
		return res
	}
	assert.Equal(t, am.Executed, run(door.MutAdd, "A"))
	assert.True(t, w.Is(am.S{"A", "B"}))
	assert.Equal(t, am.Executed, run(door.MutRemove, "A"))
	assert.False(t, w.Is1("A"))
	assert.Equal(t, am.Executed, run(door.MutToggle, "G"))
	assert.True(t, w.Is1("G"))
	assert.Equal(t, am.Executed, run(door.MutToggle, "G"))
	assert.False(t, w.Is1("G"))
	assert.Equal(t, am.Executed, run(door.MutSet, "D"))
	assert.Equal(t, am.S{"D", "F"}, w.ActiveStates(nil))
	res, _, err := m.Run(ctx, &door.Mutation{Type: door.MutAddErr,
		States: am.S{"Err1"}, ErrMsg: "bad"})
	require.NoError(t, err)
	assert.Equal(t, am.Executed, res)
	assert.True(t, w.Is1("Err1"))
	assert.Equal(t, int64(6), ran.Load())

	can, err := m.Can(&door.Mutation{Type: door.MutAdd, States: am.S{"C"}})
	require.NoError(t, err)
	assert.Equal(t, am.Canceled, can, "C requires B")
}

// Concurrent and later attempts of one mutation ID run it once and all get
// its result; another client's equal ID is its own mutation.
func TestMutatorExactlyOnce(t *testing.T) {
	w, m, ran := newMutator(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var replays atomic.Int64
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, replayed, err := m.Run(ctx, &door.Mutation{Client: "c", Id: 7,
				Type: door.MutAdd, States: am.S{"E"}})
			assert.NoError(t, err)
			assert.Equal(t, am.Executed, res)
			if replayed {
				replays.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(19), replays.Load())
	assert.Equal(t, int64(1), ran.Load())
	_, replayed, err := m.Run(ctx, &door.Mutation{Client: "other", Id: 7,
		Type: door.MutAdd, States: am.S{"E"}})
	require.NoError(t, err)
	assert.False(t, replayed)
	assert.Equal(t, uint64(3), w.Tick("E"), "two adds of a multi state: 1, then +2")
	assert.Same(t, m.Mutator, door.MutatorFor(w), "one mutation path per worker")
}

// A retry waiting for a first attempt that never ends gives up with its
// context, naming the cause.
func TestMutatorRetryGivesUpWithContext(t *testing.T) {
	w, m, _ := newMutator(t)
	entered, release := make(chan struct{}), make(chan struct{})
	_, err := w.BindHandlers(&blockingHandlers{entered: entered,
		release: release})
	require.NoError(t, err)
	// the first attempt, stuck in the worker's handler
	firstDone := make(chan struct{})
	go func() {
		defer close(firstDone)
		_, _, _ = m.Run(context.Background(), &door.Mutation{Client: "c",
			Id: 1, Type: door.MutAdd, States: am.S{"E"}})
	}()
	<-entered
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("client went away")
	cancel(cause)
	_, _, err = m.Run(ctx, &door.Mutation{Client: "c", Id: 1,
		Type: door.MutAdd, States: am.S{"E"}})
	require.ErrorIs(t, err, arpc.ErrNoConn)
	require.ErrorIs(t, err, cause)
	close(release)
	<-firstDone
}

type blockingHandlers struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (h *blockingHandlers) EState(_ *am.Event) {
	h.once.Do(func() { close(h.entered) })
	<-h.release
}
