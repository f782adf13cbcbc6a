package door

import (
	"strconv"
	"testing"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/stretchr/testify/require"
)

func TestDedupStoreAnswersRetryWithFirstResult(t *testing.T) {
	d := newDedupStore()
	e, first := d.begin("c", 1)
	require.True(t, first)
	e.finish(am.Executed)
	again, first := d.begin("c", 1)
	require.False(t, first, "a retried ID must not run again")
	<-again.done
	require.Equal(t, am.Executed, again.result)
}

func TestDedupStoreWindowForgetsOldestId(t *testing.T) {
	d := newDedupStore()
	for id := uint64(1); id <= DedupWindow+1; id++ {
		e, first := d.begin("c", id)
		require.True(t, first)
		e.finish(am.Executed)
	}
	_, first := d.begin("c", 1)
	require.True(t, first, "ID 1 fell out of the window")
	_, first = d.begin("c", DedupWindow+1)
	require.False(t, first, "the newest ID is remembered")
}

// An active client keeps its window however many other clients come after
// it: eviction is least recently used, not oldest first.
func TestDedupStoreEvictsLeastRecentlyUsedClient(t *testing.T) {
	d := newDedupStore()
	e, _ := d.begin("active", 1)
	e.finish(am.Executed)
	for i := range dedupMaxClients + 10 {
		if i%100 == 0 {
			// the active client keeps mutating
			e, first := d.begin("active", uint64(2+i))
			require.True(t, first)
			e.finish(am.Executed)
		}
		e, _ := d.begin("other-"+strconv.Itoa(i), 1)
		e.finish(am.Executed)
	}
	require.LessOrEqual(t, d.lru.Len(), dedupMaxClients)
	require.Len(t, d.clients, d.lru.Len())
	_, first := d.begin("active", 1)
	require.False(t, first, "the active client's window was evicted")
	_, first = d.begin("other-0", 1)
	require.True(t, first, "the least recently used client is forgotten")
}
