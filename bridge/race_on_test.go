//go:build race

package bridge_test

// manyTransitions is smaller under the race detector, which slows the
// worker's transitions about tenfold: the property (exactly as many client
// handler calls as worker handler calls) does not depend on the count.
const manyTransitions = 10_000

// slowTransitions: see race_off_test.go.
const slowTransitions = 30_000
