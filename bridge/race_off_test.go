//go:build !race

package bridge_test

// manyTransitions is how many worker transitions TestPushAllTicksCount
// makes: the 100,000 (about a second on 2 cores).
const manyTransitions = 100_000

// slowTransitions is how many TestPushAllTicksSlowClient makes: enough to
// fill 64 KiB HTTP/2 windows and socket buffers several times over.
const slowTransitions = 60_000
