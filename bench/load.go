package bench

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Every record value starts with this header; the rest is filler.
//
//	+------------------+------------------+----------------------+
//	| stamp (int64 LE) | seq (uint64 LE)  | filler (random bytes) |
//	+------------------+------------------+----------------------+
//	  0                  8                  16
//
// stamp is the record's intended send time in nanoseconds since the run's
// clock base (monotonic): when it entered the producer, or when it was due
// at a fixed rate. The consumer's end-to-end latency is its receipt time
// minus stamp.
const recordHeader = 16

// clock is a run's monotonic time base, shared by producer and consumer
// (both live in this process).
type clock struct{ base time.Time }

func newClock() clock                { return clock{base: time.Now()} }
func (c clock) now() int64           { return int64(time.Since(c.base)) }
func (c clock) at(t int64) time.Time { return c.base.Add(time.Duration(t)) }

func newValue(n int, r *rand.Rand) []byte {
	v := make([]byte, n)
	for i := recordHeader; i < n; i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		copy(v[i:], w[:])
	}
	return v
}

func stamp(v []byte, t int64, seq uint64) {
	binary.LittleEndian.PutUint64(v[0:], uint64(t))
	binary.LittleEndian.PutUint64(v[8:], seq)
}

func readStamp(v []byte) (int64, bool) {
	if len(v) < recordHeader {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(v)), true
}

// pacer hands out intended send times: as fast as asked at max rate, or
// on a fixed schedule (interval apart from start), sleeping until each is
// due. It never skips a slot, so when the sender falls behind the intended
// times stay on schedule and the lateness shows in latency.
type pacer struct {
	clk      clock
	interval float64 // ns between records; 0: max rate
	start    int64
	end      int64 // stop once the next slot is at or after end
	n        uint64
}

func newPacer(clk clock, bytesPerSec float64, recordBytes int, d time.Duration) *pacer {
	p := &pacer{clk: clk, start: clk.now()}
	p.end = p.start + int64(d)
	if bytesPerSec > 0 {
		p.interval = 1e9 * float64(recordBytes) / bytesPerSec
	}
	return p
}

// next returns the next record's intended send time and sequence number,
// or ok=false once the phase is over.
func (p *pacer) next() (t int64, seq uint64, ok bool) {
	if p.interval == 0 {
		t = p.clk.now()
	} else {
		t = p.start + int64(math.Round(float64(p.n)*p.interval))
		if wait := t - p.clk.now(); wait > 0 {
			// Sleeping is coarse (tens of µs); sleep only when a slot is
			// far enough ahead, otherwise send the few due records now.
			if wait > 50_000 {
				time.Sleep(time.Duration(wait))
			}
		}
	}
	if t >= p.end {
		return 0, 0, false
	}
	seq = p.n
	p.n++
	return t, seq, true
}

// tally counts acknowledged records and errors from producer callbacks,
// which may run on several goroutines.
type tally struct {
	mu       sync.Mutex
	ack      *Histogram // ack latency from intended send time
	records  int64
	bytes    int64
	errs     int64
	firstErr error
}

func newTally() *tally { return &tally{ack: NewHistogram()} }

func (t *tally) acked(now, intended int64, n int) {
	t.mu.Lock()
	t.ack.Record(now - intended)
	t.records++
	t.bytes += int64(n)
	t.mu.Unlock()
}

func (t *tally) failed(err error) {
	t.mu.Lock()
	t.errs++
	if t.firstErr == nil {
		t.firstErr = err
	}
	t.mu.Unlock()
}

func (t *tally) snapshot() (records, bytes int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.records, t.bytes
}

// reader counts what a consumer received. The histogram belongs to the
// consumer's goroutine; the counts are read concurrently.
type reader struct {
	e2e     *Histogram
	records atomic.Int64
	bytes   atomic.Int64
	errs    atomic.Int64
	errMu   sync.Mutex
	first   error
}

func newReader() *reader { return &reader{e2e: NewHistogram()} }

func (r *reader) got(clk clock, v []byte, latency bool) {
	if latency {
		if t, ok := readStamp(v); ok {
			r.e2e.Record(clk.now() - t)
		}
	}
	r.records.Add(1)
	r.bytes.Add(int64(len(v)))
}

func (r *reader) failed(err error) {
	r.errs.Add(1)
	r.errMu.Lock()
	if r.first == nil {
		r.first = err
	}
	r.errMu.Unlock()
}

// waitFor polls until the reader has n records or d passes.
func (r *reader) waitFor(n int64, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for r.records.Load() < n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
