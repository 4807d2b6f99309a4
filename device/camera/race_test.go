//go:build race

package camera

// raceEnabled: the race detector slows decoding ~10×.
const raceEnabled = true
