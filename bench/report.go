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
// repetitions, of the target's figure divided by the other target's figure
// in the same repetition (so slow drifts of the machine cancel out).

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
	colCons    = column{"consume MB/s", func(r *Result) float64 { return nanIfZero(r.ConsumeMBps) }, "%.0f", false}
	colE2E50   = column{"e2e p50 ms", func(r *Result) float64 { return e2e(r, r.E2E.P50) }, "%.2f", false}
	colE2E99   = column{"e2e p99 ms", func(r *Result) float64 { return e2e(r, r.E2E.P99) }, "%.2f", false}
	colE2E999  = column{"e2e p99.9 ms", func(r *Result) float64 { return e2e(r, r.E2E.P999) }, "%.2f", false}
	colE2E9999 = column{"e2e p99.99 ms", func(r *Result) float64 { return e2e(r, r.E2E.P9999) }, "%.2f", false}
	colE2EMax  = column{"e2e max ms", func(r *Result) float64 { return e2e(r, r.E2E.Max) }, "%.1f", false}
	colAck50   = column{"ack p50 ms", func(r *Result) float64 { return dur(r.Ack.P50) }, "%.2f", false}
	colAck99   = column{"ack p99 ms", func(r *Result) float64 { return dur(r.Ack.P99) }, "%.2f", false}
	colCPUGB   = column{"broker CPU-s/GB", func(r *Result) float64 { return nanIfZero(r.CPUPerGB) }, "%.2f", true}
	colClient  = column{"client CPU-s", func(r *Result) float64 { return r.ClientCPU.Seconds() }, "%.1f", false}
	colLag     = column{"not consumed", func(r *Result) float64 {
		return nanIfNegative(float64(r.Produced.Records + r.WarmupRecords - r.Consumed.Records))
	}, "%.0f", false}
	colPeak    = column{"peak RSS MB", func(r *Result) float64 { return nanIfZero(mb(r.RSSPeak)) }, "%.0f", false}
	colIdle    = column{"idle RSS MB", func(r *Result) float64 { return nanIfZero(mb(r.RSSIdle)) }, "%.1f", false}
	colAllocR  = column{"allocs/record", func(r *Result) float64 { return ifAllocs(r, r.AllocsPerRecord) }, "%.3f", false}
	colAllocQ  = column{"allocs/request", func(r *Result) float64 { return ifAllocs(r, r.AllocsPerRequest) }, "%.1f", false}
	colErrs    = column{"errors", func(r *Result) float64 { return float64(r.Errors) }, "%.0f", false}
	colRetries = column{"retried requests", func(r *Result) float64 { return float64(r.Retries) }, "%.0f", false}
	colFill    = column{"fill MB/s", func(r *Result) float64 { return r.ProduceMBps }, "%.0f", false}
	colRead    = column{"read MB/s", func(r *Result) float64 { return r.ConsumeMBps }, "%.0f", true}
	colReadCPU = column{"broker CPU-s/GB read", func(r *Result) float64 { return nanIfZero(r.CPUPerGB) }, "%.2f", true}
	colCommits = column{"commits", func(r *Result) float64 { return float64(r.Commits) }, "%.0f", false}
	colCLag    = column{"uncommitted at end", func(r *Result) float64 { return float64(r.CommitLag) }, "%.0f", false}
	colConnB   = column{"RSS/conn KB", func(r *Result) float64 { return r.RSSPerConn / 1024 }, "%.1f", false}
	colConnP50 = column{"req p50 ms", func(r *Result) float64 { return dur(r.ConnLatency.P50) }, "%.2f", false}
	colConnP99 = column{"req p99 ms", func(r *Result) float64 { return dur(r.ConnLatency.P99) }, "%.2f", false}
	colConnN   = column{"requests", func(r *Result) float64 { return float64(r.ConnRequests) }, "%.0f", false}
	colConnCPU = column{"broker CPU-s", func(r *Result) float64 { return r.BrokerCPU.Seconds() }, "%.2f", false}
	colSetup   = column{"open all s", func(r *Result) float64 { return r.ConnSetup.Seconds() }, "%.1f", false}
)

// e2e is an end-to-end latency in ms, NaN when none was measured (the
// null broker's records carry no send time).
func e2e(r *Result, d time.Duration) float64 {
	if r.E2E.Count == 0 {
		return math.NaN()
	}
	return dur(d)
}

// nanIfNegative hides counts that mean nothing: the null broker serves
// more records than were produced.
func nanIfNegative(v float64) float64 {
	if v < 0 {
		return math.NaN()
	}
	return v
}

func nanIfZero(v float64) float64 {
	if v == 0 {
		return math.NaN()
	}
	return v
}

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
	switch r.Kind {
	case "conns":
		cols = []column{colIdle, colConnB, colPeak, colSetup, colConnN, colConnP50, colConnP99, colConnCPU, colErrs}
	case "backlog":
		cols = []column{colFill, colRead, colReadCPU, colPeak, colErrs, colRetries}
	default:
		cols = []column{colMBps, colRecs, colCons, colE2E50, colE2E99, colE2E999, colE2E9999, colE2EMax, colAck50, colAck99, colCPUGB, colClient, colLag, colPeak, colErrs, colRetries}
	}
	if slices.ContainsFunc(rs, func(x *Result) bool { return x.Commits > 0 || x.CommitLag != 0 }) {
		cols = append(cols, colCommits, colCLag)
	}
	if slices.ContainsFunc(rs, func(x *Result) bool { return x.Mallocs > 0 }) {
		if r.Kind != "conns" {
			cols = append(cols, colAllocR)
		}
		cols = append(cols, colAllocQ)
	}
	return cols
}

// headline is the one figure a workload is judged by.
type headline struct {
	name   string
	get    func(*Result) float64
	fmt    string
	higher bool // higher is better
}

func headlineOf(r *Result) headline {
	switch r.Kind {
	case "conns":
		return headline{"request p99 ms", colConnP99.get, "%.2f", false}
	case "backlog":
		return headline{"read MB/s", colRead.get, "%.0f", true}
	case "fixed":
		return headline{"e2e p99 ms", colE2E99.get, "%.2f", false}
	}
	if r.Produced.Bytes > 0 && r.Produced.Bytes/max(r.Produced.Records, 1) < 512 {
		return headline{"records/s", colRecs.get, "%.0f", true}
	}
	return headline{"produce MB/s", colMBps.get, "%.0f", true}
}

// ReportOptions shape a report.
type ReportOptions struct {
	// Baseline is the target every other is compared with ("": the first
	// target that is not the ceiling).
	Baseline string
	// Ceiling is the null broker's target name ("null" if empty): its
	// figures are what the load generator can drive on this machine.
	Ceiling string
}

// reportData groups results by workload and target, in first-seen order.
type reportData struct {
	results   []Result
	workloads []string
	targets   []string
	by        map[string]map[string][]*Result // workload → target → runs
	baseline  string
	ceiling   string
}

func group(results []Result, o ReportOptions) *reportData {
	d := &reportData{results: results, by: map[string]map[string][]*Result{}, ceiling: o.Ceiling}
	if d.ceiling == "" {
		d.ceiling = string(KindNull)
	}
	for i := range results {
		r := &results[i]
		if !slices.Contains(d.workloads, r.Workload) {
			d.workloads = append(d.workloads, r.Workload)
			d.by[r.Workload] = map[string][]*Result{}
		}
		if !slices.Contains(d.targets, r.Target) {
			d.targets = append(d.targets, r.Target)
		}
		d.by[r.Workload][r.Target] = append(d.by[r.Workload][r.Target], r)
	}
	d.baseline = o.Baseline
	if d.baseline == "" {
		for _, t := range d.targets {
			if t != d.ceiling {
				d.baseline = t
				break
			}
		}
	}
	return d
}

// medianOf is the median of get over runs (NaN values skipped).
func medianOf(rs []*Result, get func(*Result) float64) float64 {
	var vals []float64
	for _, r := range rs {
		if v := get(r); !math.IsNaN(v) {
			vals = append(vals, v)
		}
	}
	return median(vals)
}

// ratioOf is the median over repetitions of a's figure over b's in the
// same repetition.
func ratioOf(a, b []*Result, get func(*Result) float64) float64 {
	var ratios []float64
	for _, x := range a {
		for _, y := range b {
			if x.Rep == y.Rep {
				if vy := get(y); vy != 0 && !math.IsNaN(vy) && !math.IsNaN(get(x)) {
					ratios = append(ratios, get(x)/vy)
				}
			}
		}
	}
	return median(ratios)
}

func cell(format string, v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

// Report formats results as Markdown: a headline table (one row per
// workload, its headline figure per target with the ratio to the baseline
// and the share of the ceiling), then one table per workload with every
// figure (medians over Result.Rep repetitions), pairwise ratios when there
// are more than two targets, and notes on errors.
func Report(results []Result, o ReportOptions) string {
	d := group(results, o)
	var b strings.Builder
	d.headlineTable(&b)
	for _, wl := range d.workloads {
		d.workloadTable(&b, wl)
	}
	return b.String()
}

func (d *reportData) reps(wl string) int {
	n := 0
	for _, rs := range d.by[wl] {
		n = max(n, len(rs))
	}
	return n
}

// headlineTable is the suite's summary.
func (d *reportData) headlineTable(b *strings.Builder) {
	others := slices.DeleteFunc(slices.Clone(d.targets), func(t string) bool { return t == d.ceiling })
	haveCeiling := slices.ContainsFunc(d.workloads, func(wl string) bool { return len(d.by[wl][d.ceiling]) > 0 })
	b.WriteString("## Headline\n\n| workload | figure |")
	for _, t := range others {
		fmt.Fprintf(b, " %s |", t)
		if t != d.baseline && len(d.targets) > 1 {
			fmt.Fprintf(b, " %s ÷ %s |", t, d.baseline)
		}
		if haveCeiling {
			fmt.Fprintf(b, " %s of ceiling |", t)
		}
	}
	if haveCeiling {
		b.WriteString(" ceiling |")
	}
	b.WriteString("\n|---|---|")
	for _, t := range others {
		b.WriteString("---:|")
		if t != d.baseline && len(d.targets) > 1 {
			b.WriteString("---:|")
		}
		if haveCeiling {
			b.WriteString("---:|")
		}
	}
	if haveCeiling {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, wl := range d.workloads {
		h := headlineOf(d.sample(wl))
		dir := "higher is better"
		if !h.higher {
			dir = "lower is better"
		}
		fmt.Fprintf(b, "| %s | %s (%s) |", wl, h.name, dir)
		ceil := d.by[wl][d.ceiling]
		for _, t := range others {
			rs := d.by[wl][t]
			fmt.Fprintf(b, " %s |", cell(h.fmt, medianOf(rs, h.get)))
			if t != d.baseline && len(d.targets) > 1 {
				fmt.Fprintf(b, " %s |", cell("%.2f", ratioOf(rs, d.by[wl][d.baseline], h.get)))
			}
			if haveCeiling {
				v := math.NaN()
				if h.higher {
					v = 100 * ratioOf(rs, ceil, h.get)
				}
				fmt.Fprintf(b, " %s |", cell("%.0f%%", v))
			}
		}
		if haveCeiling {
			fmt.Fprintf(b, " %s |", cell(h.fmt, medianOf(ceil, h.get)))
		}
		b.WriteString("\n")
	}
	b.WriteString("\nMedians over repetitions; a ratio is the median of the same-repetition ratios.")
	if haveCeiling {
		fmt.Fprintf(b, " The ceiling is the %s broker, which acknowledges and discards produce requests and serves fetches from one canned batch: what the load generator itself can drive on this machine.", d.ceiling)
	}
	b.WriteString("\n")
}

func (d *reportData) workloadTable(b *strings.Builder, wl string) {
	byTarget := d.by[wl]
	var all []*Result
	for _, t := range d.targets {
		all = append(all, byTarget[t]...)
	}
	cols := columnsFor(all)
	base := byTarget[d.baseline]
	ceil := byTarget[d.ceiling]
	fmt.Fprintf(b, "\n### %s (median of %d)\n\n| target |", wl, d.reps(wl))
	ratioCols := func(c column) []string {
		if !c.ratio {
			return nil
		}
		var out []string
		if base != nil && len(byTarget) > 1 {
			out = append(out, "÷"+d.baseline)
		}
		if ceil != nil && d.baseline != d.ceiling {
			out = append(out, "÷"+d.ceiling)
		}
		return out
	}
	for _, c := range cols {
		fmt.Fprintf(b, " %s |", c.name)
		for _, rc := range ratioCols(c) {
			fmt.Fprintf(b, " %s |", rc)
		}
	}
	b.WriteString("\n|---|")
	for _, c := range cols {
		b.WriteString(strings.Repeat("---:|", 1+len(ratioCols(c))))
	}
	b.WriteString("\n")
	for _, tg := range d.targets {
		rs := byTarget[tg]
		if len(rs) == 0 {
			continue
		}
		fmt.Fprintf(b, "| %s |", tg)
		for _, c := range cols {
			fmt.Fprintf(b, " %s |", cell(c.fmt, medianOf(rs, c.get)))
			for _, rc := range ratioCols(c) {
				other := base
				if rc == "÷"+d.ceiling {
					other = ceil
				}
				fmt.Fprintf(b, " %s |", cell("%.2f", ratioOf(rs, other, c.get)))
			}
		}
		b.WriteString("\n")
	}
	// Pairwise ratios of the headline figure, when a single baseline
	// column does not show every pair.
	var present []string
	for _, t := range d.targets {
		if len(byTarget[t]) > 0 {
			present = append(present, t)
		}
	}
	if len(present) > 2 {
		h := headlineOf(all[0])
		fmt.Fprintf(b, "\nPairwise %s ratios (row ÷ column, same repetition):\n\n|  |", h.name)
		for _, t := range present {
			fmt.Fprintf(b, " %s |", t)
		}
		b.WriteString("\n|---|" + strings.Repeat("---:|", len(present)) + "\n")
		for _, x := range present {
			fmt.Fprintf(b, "| %s |", x)
			for _, y := range present {
				v := math.NaN()
				if x != y {
					v = ratioOf(byTarget[x], byTarget[y], h.get)
				}
				fmt.Fprintf(b, " %s |", cell("%.2f", v))
			}
			b.WriteString("\n")
		}
	}
	for _, r := range all {
		if r.FirstError != "" {
			fmt.Fprintf(b, "\n%s run %d: %d errors, first: %s\n", r.Target, r.Rep, r.Errors, r.FirstError)
		}
		if r.Kind != "conns" && r.E2E.Count > 0 && !r.Drained {
			fmt.Fprintf(b, "\n%s run %d: consumers did not catch up (%d of %d records)\n", r.Target, r.Rep, r.Consumed.Records, r.Produced.Records+r.WarmupRecords)
		}
		if r.Kind == "fixed" && r.ProduceMBps < 0.9*r.TargetMBps {
			fmt.Fprintf(b, "\n%s run %d: reached %.1f of the %.1f MB/s asked for\n", r.Target, r.Rep, r.ProduceMBps, r.TargetMBps)
		}
	}
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
