//go:build race

package batch

// raceEnabled reports whether the race detector is on: it makes sync.Pool
// drop items at random, so allocation counts of pooled paths vary.
const raceEnabled = true
