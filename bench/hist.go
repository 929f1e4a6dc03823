package bench

import (
	"fmt"
	"math"
	"math/bits"
	"time"
)

// Histogram is a log-linear latency histogram in the style of HdrHistogram:
// values below 2·histSub are counted exactly, and above that every power of
// two is split into histSub linear sub-buckets, so a reported percentile is
// within 1/histSub (0.8%) of the true value. It records nanoseconds up to
// histMax (about 18 minutes; larger values are clamped), uses a fixed 36 KB
// array, never allocates after construction, and merges by adding counts.
//
// A Histogram is not safe for concurrent use: give each goroutine its own
// and Merge them when done.
//
// Why not github.com/HdrHistogram/hdrhistogram-go: bench/ should import a
// Kafka client library and little else (DESIGN.md), that module's go.mod
// drags gonum and testify into our module graph, and all we need is record,
// merge and percentile — about a hundred lines with the same guarantee.
type Histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	sum      float64
	min, max int64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits // linear sub-buckets per power of two
	histMaxBits = 40
	histMax     = 1<<histMaxBits - 1
	// Index of the largest value: shift = histMaxBits-(histSubBits+1),
	// top = 2·histSub-1.
	histBuckets = histSub*(histMaxBits-histSubBits-1) + 2*histSub
)

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return &Histogram{min: math.MaxInt64} }

func histIndex(v int64) int {
	m := bits.Len64(uint64(v))
	if m <= histSubBits+1 {
		return int(v)
	}
	shift := m - (histSubBits + 1)
	return histSub*shift + int(v>>shift)
}

// histUpper returns the largest value counted in bucket i.
func histUpper(i int) int64 {
	if i < 2*histSub {
		return int64(i)
	}
	shift := i/histSub - 1
	top := int64(i - histSub*shift)
	return (top+1)<<shift - 1
}

// Record adds one value in nanoseconds; negative values count as 0.
func (h *Histogram) Record(ns int64) {
	if ns < 0 {
		ns = 0
	} else if ns > histMax {
		ns = histMax
	}
	h.counts[histIndex(ns)]++
	h.n++
	h.sum += float64(ns)
	if ns < h.min {
		h.min = ns
	}
	if ns > h.max {
		h.max = ns
	}
}

// RecordDuration adds one duration.
func (h *Histogram) RecordDuration(d time.Duration) { h.Record(int64(d)) }

// Merge adds o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest value recorded, exactly; 0 if empty.
func (h *Histogram) Max() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.max)
}

// Mean returns the mean value; 0 if empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the value at quantile q in [0, 1]: the upper bound of
// the bucket holding the ⌈q·n⌉-th smallest value (as HdrHistogram reports
// the highest equivalent value), never more than Max. 0 if empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(histUpper(i), h.max))
		}
	}
	return time.Duration(h.max)
}

// Summary returns the usual percentiles.
func (h *Histogram) Summary() LatencySummary {
	return LatencySummary{
		Count: h.n,
		Mean:  h.Mean(),
		P50:   h.Quantile(0.50),
		P90:   h.Quantile(0.90),
		P99:   h.Quantile(0.99),
		P999:  h.Quantile(0.999),
		P9999: h.Quantile(0.9999),
		Max:   h.Max(),
	}
}

// curveQuantiles are the points of a percentile curve (HdrHistogram's
// percentile distribution, thinned).
var curveQuantiles = []float64{0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99995, 0.99999, 1}

// QuantileValue is one point of a percentile curve.
type QuantileValue struct {
	Q     float64
	Value time.Duration
}

// Curve returns the values at standard quantiles from 0 to 1, for a
// percentile plot; nil if empty. Quantiles finer than 1/Count are left
// out (they would all be the maximum).
func (h *Histogram) Curve() []QuantileValue {
	if h.n == 0 {
		return nil
	}
	var out []QuantileValue
	for _, q := range curveQuantiles {
		if q < 1 && q > 0 && (1-q)*float64(h.n) < 1 {
			continue
		}
		out = append(out, QuantileValue{q, h.Quantile(q)})
	}
	return out
}

// LatencySummary is a histogram's percentiles.
type LatencySummary struct {
	Count                                 uint64
	Mean, P50, P90, P99, P999, P9999, Max time.Duration
}

func (s LatencySummary) String() string {
	if s.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("n=%d p50=%v p90=%v p99=%v p99.9=%v p99.99=%v max=%v", s.Count,
		roundDur(s.P50), roundDur(s.P90), roundDur(s.P99), roundDur(s.P999), roundDur(s.P9999), roundDur(s.Max))
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 100*time.Microsecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
