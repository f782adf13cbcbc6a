//go:build race

package main

// raceEnabled is true under the race detector, which slows machines ~10x.
const raceEnabled = true
