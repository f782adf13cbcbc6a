package door

import (
	"container/list"
	"strconv"
	"sync"
	"sync/atomic"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// DedupWindow is how many recent mutation IDs a worker remembers per client
// ID. A retry of a mutation older than the last DedupWindow mutations of the
// same client would be applied again; clients retry within seconds, so the
// window only needs to cover the calls in flight.
const DedupWindow = 1024

// dedupMaxClients bounds the client scopes (a client ID and the ID scope of
// one Client instance) remembered per worker; the least recently used one is
// forgotten first, so a scope that mutates stays remembered however many
// clients come and go. It is above DefaultMuxMaxClients, so every client of
// a full Mux keeps its window.
const dedupMaxClients = 16384

// dedupStore remembers, per client ID, the results of recent mutations of
// one worker, so that a retried mutation (same client ID, same mutation ID)
// is answered with the original result instead of being applied twice. It
// outlives servers and connections: it lives as long as the worker.
type dedupStore struct {
	// journal makes the window and the worker's time durable (nil: none);
	// set before serving, see Dedup.SetJournal
	journal atomic.Pointer[journalRef]
	// barrier is held for reading from a mutation's begin to its finish
	// while a journal is set, so that Dedup.Quiesce sees no mutation whose
	// effect may be in the worker's time while its result is not remembered
	barrier sync.RWMutex
	// worker is the worker whose mutations these are (nil in unit tests)
	worker am.Api

	mx      sync.Mutex
	clients map[string]*list.Element // of *dedupWindow
	lru     list.List                // least recently used at the front
}

type dedupWindow struct {
	key     string
	entries map[uint64]*dedupEntry
	ring    []uint64
	next    int
}

type dedupEntry struct {
	done   chan struct{}
	result am.Result
	// d, key and id tell the journal what finish remembers
	d   *dedupStore
	key string
	id  uint64
}

var (
	dedupMx  sync.Mutex
	dedupAll = map[am.Api]*dedupStore{}
)

func dedupFor(worker am.Api) *dedupStore {
	dedupMx.Lock()
	defer dedupMx.Unlock()
	for w := range dedupAll {
		if w.IsDisposed() {
			delete(dedupAll, w)
		}
	}
	d, ok := dedupAll[worker]
	if !ok {
		d = newDedupStore()
		d.worker = worker
		dedupAll[worker] = d
	}
	return d
}

func newDedupStore() *dedupStore {
	return &dedupStore{clients: map[string]*list.Element{}}
}

// begin returns the entry of (client, id). first is true when the caller
// must execute the mutation and then call finish; otherwise the caller waits
// on entry.done and uses entry.result.
func (d *dedupStore) begin(client string, id uint64) (e *dedupEntry, first bool) {
	d.mx.Lock()
	defer d.mx.Unlock()
	var w *dedupWindow
	if el, ok := d.clients[client]; ok {
		d.lru.MoveToBack(el)
		w = el.Value.(*dedupWindow)
	} else {
		if d.lru.Len() >= dedupMaxClients {
			oldest := d.lru.Front()
			d.lru.Remove(oldest)
			gone := oldest.Value.(*dedupWindow)
			delete(d.clients, gone.key)
			if j := d.journal.Load(); j != nil {
				for _, id := range gone.ring {
					j.Forget(gone.key, id)
				}
			}
		}
		w = &dedupWindow{key: client, entries: map[uint64]*dedupEntry{},
			ring: make([]uint64, 0, 16)}
		d.clients[client] = d.lru.PushBack(w)
	}
	if e, ok := w.entries[id]; ok {
		return e, false
	}
	e = &dedupEntry{done: make(chan struct{}), d: d, key: client, id: id}
	if len(w.ring) < DedupWindow {
		w.ring = append(w.ring, id)
	} else {
		delete(w.entries, w.ring[w.next])
		if j := d.journal.Load(); j != nil {
			j.Forget(client, w.ring[w.next])
		}
		w.ring[w.next] = id
		w.next = (w.next + 1) % DedupWindow
	}
	w.entries[id] = e
	return e, true
}

// DedupKey is the dedup store key of a client's mutations: its ID and the
// scope of its mutation IDs (the Hello's IdScope; 0 for none).
func DedupKey(clientId string, scope uint64) string {
	if scope == 0 {
		return clientId
	}
	return clientId + "#" + strconv.FormatUint(scope, 36)
}

func (e *dedupEntry) finish(res am.Result) {
	e.result = res
	if e.d != nil {
		if j := e.d.journal.Load(); j != nil {
			// under mx: the journal sees Remember and Forget in window order
			e.d.mx.Lock()
			j.Remember(DedupRecord{Client: e.key, Id: e.id, Result: res})
			e.d.mx.Unlock()
		}
	}
	close(e.done)
}
