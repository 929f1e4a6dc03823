package bench

import (
	"encoding/binary"
	"fmt"
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
// minus stamp. nullStamp marks a value with no send time (the null
// broker's canned records).
const recordHeader = 16

// clock is a run's monotonic time base, shared by producers and consumers
// (all live in this process).
type clock struct{ base time.Time }

func newClock() clock                { return clock{base: time.Now()} }
func (c clock) now() int64           { return int64(time.Since(c.base)) }
func (c clock) at(t int64) time.Time { return c.base.Add(time.Duration(t)) }

func newValue(n int, r *rand.Rand) []byte {
	v := make([]byte, n)
	fill(v[min(n, recordHeader):], r)
	return v
}

func fill(b []byte, r *rand.Rand) {
	for i := 0; i < len(b); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		copy(b[i:], w[:])
	}
}

func stamp(v []byte, t int64, seq uint64) {
	binary.LittleEndian.PutUint64(v[0:], uint64(t))
	binary.LittleEndian.PutUint64(v[8:], seq)
}

func readStamp(v []byte) (int64, bool) {
	if len(v) < recordHeader {
		return 0, false
	}
	t := int64(binary.LittleEndian.Uint64(v))
	return t, t != nullStamp
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

// newPacer paces recordsPerSec (0: max rate) from now for d.
func newPacer(clk clock, recordsPerSec float64, d time.Duration) *pacer {
	p := &pacer{clk: clk, start: clk.now()}
	p.end = p.start + int64(d)
	if recordsPerSec > 0 {
		p.interval = 1e9 / recordsPerSec
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

// sizer draws record value sizes.
type sizer struct {
	d    SizeDist
	mean int
	rng  *rand.Rand
}

func newSizer(w *Workload, rng *rand.Rand) *sizer {
	return &sizer{d: w.RecordSize, mean: w.RecordBytes, rng: rng}
}

func (s *sizer) next() int {
	switch s.d.Kind {
	case "uniform":
		return s.d.Min + s.rng.IntN(s.d.Max-s.d.Min+1)
	case "normal":
		v := int(math.Round(float64(s.mean) + s.d.Stddev*s.rng.NormFloat64()))
		return min(max(v, s.d.Min), s.d.Max)
	}
	return s.mean
}

// keyer chooses record keys; nil when the workload has none.
type keyer struct {
	keys [][]byte
	kind string
	rng  *rand.Rand
	zipf *rand.Zipf
	n    int
}

func newKeyer(w *Workload, keys [][]byte, rng *rand.Rand) *keyer {
	if len(keys) == 0 {
		return nil
	}
	k := &keyer{keys: keys, kind: w.Keys, rng: rng}
	if k.kind == "zipf" && len(keys) > 1 {
		k.zipf = rand.NewZipf(rng, 1.1, 1, uint64(len(keys)-1))
	}
	return k
}

// makeKeys returns the workload's key space, or nil for no keys.
func makeKeys(w *Workload) [][]byte {
	if w.Keys == "" || w.Keys == "none" {
		return nil
	}
	keys := make([][]byte, w.KeyCount)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key-%08d", i)
	}
	return keys
}

func (k *keyer) next() []byte {
	if k == nil {
		return nil
	}
	switch k.kind {
	case "sequential":
		k.n++
		return k.keys[k.n%len(k.keys)]
	case "zipf":
		if k.zipf != nil {
			return k.keys[k.zipf.Uint64()]
		}
	}
	return k.keys[k.rng.IntN(len(k.keys))]
}

// tally counts acknowledged records and errors from producer callbacks,
// which may run on several goroutines. Records due before measureFrom
// (the warm-up) count towards what the consumers must read but not
// towards rates or latencies.
type tally struct {
	measureFrom int64

	mu          sync.Mutex
	ack         *Histogram // ack latency from intended send time
	records     int64      // all acknowledged
	bytes       int64
	mRecords    int64 // acknowledged, due at or after measureFrom
	mBytes      int64
	lastAck     int64 // clock time of the last acknowledgement
	errs        int64
	firstErr    error
	retries     atomic.Int64 // failed requests the client retried
	outstanding atomic.Int64
}

func newTally(measureFrom int64) *tally { return &tally{ack: NewHistogram(), measureFrom: measureFrom} }

func (t *tally) acked(now, intended int64, n int) {
	t.mu.Lock()
	t.records++
	t.bytes += int64(n)
	if intended >= t.measureFrom {
		t.ack.Record(now - intended)
		t.mRecords++
		t.mBytes += int64(n)
	}
	t.lastAck = max(t.lastAck, now)
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

func (t *tally) errors() (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.errs, t.firstErr
}

// reader counts what the consumers received. Each consumer goroutine
// records latency into its own histogram (hist); the counts are shared.
type reader struct {
	measureFrom int64
	records     atomic.Int64
	bytes       atomic.Int64
	errs        atomic.Int64
	mu          sync.Mutex
	first       error
	hists       []*Histogram
}

func newReader(measureFrom int64) *reader { return &reader{measureFrom: measureFrom} }

// hist returns a new histogram for one consumer goroutine.
func (r *reader) hist() *Histogram {
	h := NewHistogram()
	r.mu.Lock()
	r.hists = append(r.hists, h)
	r.mu.Unlock()
	return h
}

func (r *reader) got(h *Histogram, clk clock, v []byte, latency bool) {
	if latency {
		if t, ok := readStamp(v); ok && t >= r.measureFrom {
			h.Record(clk.now() - t)
		}
	}
	r.records.Add(1)
	r.bytes.Add(int64(len(v)))
}

func (r *reader) failed(err error) {
	r.errs.Add(1)
	r.mu.Lock()
	if r.first == nil {
		r.first = err
	}
	r.mu.Unlock()
}

// latency merges the consumers' histograms; call once they are done.
func (r *reader) latency() *Histogram {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := NewHistogram()
	for _, x := range r.hists {
		h.Merge(x)
	}
	return h
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
