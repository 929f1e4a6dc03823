package bench

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Run results are grouped by workload and target; each figure reported is
// the median over repetitions, and each ratio is the median, over
// repetitions, of the target's figure divided by the baseline's figure in
// the same repetition (so slow drifts of the machine cancel out).

// column is one figure of a report table.
type column struct {
	name  string
	get   func(*Result) float64
	fmt   string // Sprintf verb for the median
	ratio bool   // also print the median same-repetition ratio to the baseline
}

func dur(d time.Duration) float64 { return float64(d) / 1e6 } // ms

var (
	colMBps    = column{"produce MB/s", func(r *Result) float64 { return r.ProduceMBps }, "%.0f", true}
	colRecs    = column{"records/s", func(r *Result) float64 { return r.RecordsPerSec }, "%.0f", true}
	colE2E50   = column{"e2e p50 ms", func(r *Result) float64 { return dur(r.E2E.P50) }, "%.2f", false}
	colE2E99   = column{"e2e p99 ms", func(r *Result) float64 { return dur(r.E2E.P99) }, "%.2f", false}
	colE2E999  = column{"e2e p99.9 ms", func(r *Result) float64 { return dur(r.E2E.P999) }, "%.2f", false}
	colAck99   = column{"ack p99 ms", func(r *Result) float64 { return dur(r.Ack.P99) }, "%.2f", false}
	colCPUGB   = column{"broker CPU-s/GB", func(r *Result) float64 { return r.CPUPerGB }, "%.2f", true}
	colClient  = column{"client CPU-s", func(r *Result) float64 { return r.ClientCPU.Seconds() }, "%.1f", false}
	colLag     = column{"not consumed", func(r *Result) float64 { return float64(r.Produced.Records - r.Consumed.Records) }, "%.0f", false}
	colPeak    = column{"peak RSS MB", func(r *Result) float64 { return mb(r.RSSPeak) }, "%.0f", false}
	colIdle    = column{"idle RSS MB", func(r *Result) float64 { return mb(r.RSSIdle) }, "%.1f", false}
	colAllocR  = column{"allocs/record", func(r *Result) float64 { return r.AllocsPerRecord }, "%.3f", false}
	colAllocQ  = column{"allocs/request", func(r *Result) float64 { return r.AllocsPerRequest }, "%.1f", false}
	colErrs    = column{"errors", func(r *Result) float64 { return float64(r.Errors) }, "%.0f", false}
	colFill    = column{"fill MB/s", func(r *Result) float64 { return r.ProduceMBps }, "%.0f", false}
	colRead    = column{"read MB/s", func(r *Result) float64 { return r.ConsumeMBps }, "%.0f", true}
	colReadCPU = column{"broker CPU-s/GB read", func(r *Result) float64 { return r.CPUPerGB }, "%.2f", true}
	colConnB   = column{"RSS/conn KB", func(r *Result) float64 { return r.RSSPerConn / 1024 }, "%.1f", false}
	colConnP50 = column{"req p50 ms", func(r *Result) float64 { return dur(r.ConnLatency.P50) }, "%.2f", false}
	colConnP99 = column{"req p99 ms", func(r *Result) float64 { return dur(r.ConnLatency.P99) }, "%.2f", false}
	colConnN   = column{"requests", func(r *Result) float64 { return float64(r.ConnRequests) }, "%.0f", false}
	colConnCPU = column{"broker CPU-s", func(r *Result) float64 { return r.BrokerCPU.Seconds() }, "%.2f", false}
	colSetup   = column{"open all s", func(r *Result) float64 { return r.ConnSetup.Seconds() }, "%.1f", false}
)

// ifAllocs is v for runs that counted allocations, NaN (printed "–")
// for the others.
func ifAllocs(r *Result, v float64) float64 {
	if r.Mallocs == 0 {
		return math.NaN()
	}
	return v
}

func columnsFor(rs []*Result) []column {
	r := rs[0]
	var cols []column
	switch {
	case r.Conns > 0:
		cols = []column{colIdle, colConnB, colPeak, colSetup, colConnN, colConnP50, colConnP99, colConnCPU, colErrs}
	case r.ConsumeMBps > 0 || r.Workload == W4:
		cols = []column{colFill, colRead, colReadCPU, colPeak, colErrs}
	default:
		cols = []column{colMBps, colRecs, colE2E50, colE2E99, colE2E999, colAck99, colCPUGB, colClient, colLag, colIdle, colPeak, colErrs}
	}
	for _, x := range rs {
		if x.Mallocs > 0 {
			if r.Conns == 0 {
				cols = append(cols, colAllocR)
			}
			cols = append(cols, colAllocQ)
			break
		}
	}
	return cols
}

// Report formats results as Markdown: one table per workload, one row per
// target, medians over the runs (Result.Rep tells repetitions apart), and
// ratios to the baseline target ("" or absent: no ratios).
func Report(results []Result, baseline string) string {
	var b strings.Builder
	var workloads, targets []string
	for _, r := range results {
		if !slices.Contains(workloads, r.Workload) {
			workloads = append(workloads, r.Workload)
		}
		if !slices.Contains(targets, r.Target) {
			targets = append(targets, r.Target)
		}
	}
	for _, wl := range workloads {
		byTarget := map[string][]*Result{}
		var all []*Result
		for i := range results {
			if r := &results[i]; r.Workload == wl {
				byTarget[r.Target] = append(byTarget[r.Target], r)
				all = append(all, r)
			}
		}
		cols := columnsFor(all)
		base := byTarget[baseline]
		reps := 0
		for _, rs := range byTarget {
			reps = max(reps, len(rs))
		}
		fmt.Fprintf(&b, "\n### %s (median of %d)\n\n| target |", wl, reps)
		for _, c := range cols {
			fmt.Fprintf(&b, " %s |", c.name)
			if c.ratio && base != nil {
				fmt.Fprintf(&b, " ×%s |", baseline)
			}
		}
		b.WriteString("\n|---|")
		for _, c := range cols {
			b.WriteString("---:|")
			if c.ratio && base != nil {
				b.WriteString("---:|")
			}
		}
		b.WriteString("\n")
		for _, tg := range targets {
			rs := byTarget[tg]
			if len(rs) == 0 {
				continue
			}
			fmt.Fprintf(&b, "| %s |", tg)
			for _, c := range cols {
				var vals []float64
				for _, r := range rs {
					if v := c.get(r); !math.IsNaN(v) {
						vals = append(vals, v)
					}
				}
				if len(vals) == 0 {
					b.WriteString(" – |")
				} else {
					fmt.Fprintf(&b, " "+c.fmt+" |", median(vals))
				}
				if c.ratio && base != nil {
					var ratios []float64
					for _, r := range rs {
						for _, br := range base {
							if br.Rep == r.Rep && c.get(br) != 0 {
								ratios = append(ratios, c.get(r)/c.get(br))
							}
						}
					}
					if len(ratios) == 0 {
						b.WriteString(" – |")
					} else {
						fmt.Fprintf(&b, " %.2f |", median(ratios))
					}
				}
			}
			b.WriteString("\n")
		}
		for _, r := range all {
			if r.FirstError != "" {
				fmt.Fprintf(&b, "\n%s run %d: %d errors, first: %s\n", r.Target, r.Rep, r.Errors, r.FirstError)
			}
			if r.Conns == 0 && r.Workload != W4 && r.E2E.Count > 0 && !r.Drained {
				fmt.Fprintf(&b, "\n%s run %d: consumer did not catch up (%d of %d records)\n", r.Target, r.Rep, r.Consumed.Records, r.Produced.Records)
			}
		}
	}
	return b.String()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
