package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/weirhq/weir/bench/plot"
)

// WriteOutputs writes a run's report into dir (created if needed):
// results.json (every Result), report.md (Report, with the plots) and SVG
// plots: per workload the end-to-end latency percentiles and the
// throughput over time of each target, per rate sweep the latency against
// throughput, and bars of every target relative to the baseline. It
// returns the paths written.
func WriteOutputs(dir string, results []Result, o ReportOptions) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	var written []string
	write := func(name string, b []byte) error {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		written = append(written, p)
		return nil
	}
	js, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := write("results.json", js); err != nil {
		return nil, err
	}
	d := group(results, o)
	var md strings.Builder
	fmt.Fprintf(&md, "# Benchmark report\n\n%s, %s/%s, %d CPUs, %s. Targets: %s.\n\n",
		time.Now().Format("2006-01-02 15:04 MST"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), hostname(), strings.Join(d.targets, ", "))
	md.WriteString("| workload | what it does |\n|---|---|\n")
	for _, wl := range d.workloads {
		fmt.Fprintf(&md, "| %s | %s |\n", wl, d.sample(wl).Description)
	}
	md.WriteString("\n" + Report(results, o))
	var plots []string
	addPlot := func(name, caption string, svg []byte) error {
		if err := write(name, svg); err != nil {
			return err
		}
		plots = append(plots, fmt.Sprintf("![%s](%s)", caption, name))
		return nil
	}
	if svg := d.comparisonChart(); svg != nil {
		if err := addPlot("comparison.svg", "relative to "+d.baseline, svg); err != nil {
			return nil, err
		}
	}
	var bases []string
	for _, wl := range d.workloads {
		if b := d.sample(wl).Base; b != "" && !slices.Contains(bases, b) {
			bases = append(bases, b)
			if err := addPlot(slug(b)+"-latency-vs-throughput.svg", b+": latency against throughput", d.sweepChart(b)); err != nil {
				return nil, err
			}
		}
	}
	for _, wl := range d.workloads {
		if svg := d.latencyChart(wl); svg != nil {
			if err := addPlot(slug(wl)+"-latency.svg", wl+": end-to-end latency", svg); err != nil {
				return nil, err
			}
		}
		if svg := d.throughputChart(wl); svg != nil {
			if err := addPlot(slug(wl)+"-throughput.svg", wl+": throughput over time", svg); err != nil {
				return nil, err
			}
		}
	}
	if len(plots) > 0 {
		md.WriteString("\n## Plots\n\n" + strings.Join(plots, "\n\n") + "\n")
	}
	if err := write("report.md", []byte(md.String())); err != nil {
		return nil, err
	}
	return written, nil
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// slug makes a workload name a file name: latency@20MB/s → latency-20MB-s.
func slug(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, s)
}

// sample returns some result of workload wl.
func (d *reportData) sample(wl string) *Result {
	for _, t := range d.targets {
		if rs := d.by[wl][t]; len(rs) > 0 {
			return rs[0]
		}
	}
	return nil
}

// representative is the run whose figure is the median (lower middle).
func representative(rs []*Result, get func(*Result) float64) *Result {
	if len(rs) == 0 {
		return nil
	}
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b *Result) int {
		x, y := get(a), get(b)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	return s[(len(s)-1)/2]
}

// latencyChart plots each target's end-to-end latency percentiles (the
// run with the median p99).
func (d *reportData) latencyChart(wl string) []byte {
	c := plot.LineChart{
		Title: wl + ": end-to-end latency by percentile",
		X:     plot.Axis{Label: "percentile", Log: true, Ticks: plot.PercentileTicks()},
		Y:     plot.Axis{Label: "latency (ms)", Log: true},
	}
	for _, t := range d.targets {
		r := representative(d.by[wl][t], colE2E99.get)
		if r == nil || len(r.E2ECurve) == 0 {
			continue
		}
		s := plot.Series{Name: t}
		for _, p := range r.E2ECurve {
			if p.Q >= 0.5 && p.Q < 1 {
				s.X = append(s.X, plot.PercentileX(p.Q))
				s.Y = append(s.Y, dur(p.Value))
			}
		}
		c.Series = append(c.Series, s)
	}
	if len(c.Series) == 0 {
		return nil
	}
	c.Markers = true
	return c.SVG()
}

// throughputChart plots each target's produce (and consume) rate over
// time, from the run with the median headline figure.
func (d *reportData) throughputChart(wl string) []byte {
	first := d.sample(wl)
	if first == nil || first.Kind == "conns" {
		return nil
	}
	c := plot.LineChart{
		Title: wl + ": throughput over time",
		X:     plot.Axis{Label: "seconds"},
		Y:     plot.Axis{Label: "MB/s"},
	}
	h := headlineOf(first)
	for _, t := range d.targets {
		r := representative(d.by[wl][t], h.get)
		if r == nil || len(r.Series) == 0 {
			continue
		}
		prod := plot.Series{Name: t + " produce"}
		cons := plot.Series{Name: t + " consume"}
		for _, s := range r.Series {
			prod.X, prod.Y = append(prod.X, s.T), append(prod.Y, s.ProduceMBps)
			cons.X, cons.Y = append(cons.X, s.T), append(cons.Y, s.ConsumeMBps)
		}
		if first.Kind != "backlog" || slices.ContainsFunc(prod.Y, func(v float64) bool { return v > 0 }) {
			c.Series = append(c.Series, prod)
		}
		if slices.ContainsFunc(cons.Y, func(v float64) bool { return v > 0 }) {
			c.Series = append(c.Series, cons)
		}
	}
	if len(c.Series) == 0 {
		return nil
	}
	return c.SVG()
}

// sweepChart plots p50 and p99 end-to-end latency against the achieved
// produce rate, one point per rate of the sweep, per target.
func (d *reportData) sweepChart(base string) []byte {
	c := plot.LineChart{
		Title:   base + ": end-to-end latency against throughput",
		X:       plot.Axis{Label: "achieved produce MB/s"},
		Y:       plot.Axis{Label: "latency (ms)", Log: true},
		Markers: true,
	}
	for _, t := range d.targets {
		p50 := plot.Series{Name: t + " p50"}
		p99 := plot.Series{Name: t + " p99"}
		for _, wl := range d.workloads {
			rs := d.by[wl][t]
			if len(rs) == 0 || rs[0].Base != base || rs[0].E2E.Count == 0 {
				continue
			}
			x := medianOf(rs, colMBps.get)
			p50.X, p50.Y = append(p50.X, x), append(p50.Y, medianOf(rs, colE2E50.get))
			p99.X, p99.Y = append(p99.X, x), append(p99.Y, medianOf(rs, colE2E99.get))
		}
		if len(p50.X) > 0 {
			c.Series = append(c.Series, p50, p99)
		}
	}
	return c.SVG()
}

// comparisonChart draws every target's headline figure relative to the
// baseline's, per workload, oriented so that higher is better (latencies
// are inverted: baseline ÷ target).
func (d *reportData) comparisonChart() []byte {
	if len(d.targets) < 2 {
		return nil
	}
	c := plot.BarChart{
		Title:  "Headline figure relative to " + d.baseline + " (higher is better)",
		YLabel: "× " + d.baseline,
	}
	for _, wl := range d.workloads {
		c.Groups = append(c.Groups, wl)
	}
	for _, t := range d.targets {
		s := plot.BarSeries{Name: t}
		for _, wl := range d.workloads {
			v := math.NaN()
			if first := d.sample(wl); first != nil {
				h := headlineOf(first)
				v = ratioOf(d.by[wl][t], d.by[wl][d.baseline], h.get)
				if !h.higher && v != 0 {
					v = 1 / v
				}
			}
			s.Values = append(s.Values, v)
		}
		c.Series = append(c.Series, s)
	}
	c.Width = max(720, 120*len(d.workloads))
	return c.SVG()
}
