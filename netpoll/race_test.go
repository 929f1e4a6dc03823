//go:build race

package netpoll

// raceEnabled: the race detector randomizes sync.Pool and allocates.
const raceEnabled = true
