//go:build race

package arpc_test

const raceOn = true
