package plot_test

import (
	"bytes"
	"fmt"
	"math"
	"strings"

	"github.com/weirhq/weir/bench/plot"
)

// A latency percentile plot in the style of HdrHistogram: the X axis
// stretches the tail, so that 99%, 99.9% and 99.99% are equally spaced.
func ExampleLineChart() {
	quantiles := []float64{0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999}
	latencyMs := func(q float64) float64 { return 1 + 2*math.Pow(q, 8) } // made up
	s := plot.Series{Name: "weir"}
	for _, q := range quantiles {
		s.X = append(s.X, plot.PercentileX(q))
		s.Y = append(s.Y, latencyMs(q))
	}
	c := plot.LineChart{
		Title:  "End-to-end latency",
		X:      plot.Axis{Label: "percentile", Log: true, Ticks: plot.PercentileTicks()},
		Y:      plot.Axis{Label: "latency (ms)"},
		Series: []plot.Series{s},
	}
	svg := c.SVG() // or c.WriteSVG(file)
	fmt.Println(bytes.Count(svg, []byte("<path")) > 0, bytes.Contains(svg, []byte(">99.9%<")))
	// Output: true true
}

func ExampleBarChart() {
	c := plot.BarChart{
		Title:  "Produce throughput",
		YLabel: "MB/s",
		Groups: []string{"W1", "W3"},
		Series: []plot.BarSeries{
			{Name: "weir", Values: []float64{182, 95.5}},
			{Name: "nats", Values: []float64{121, math.NaN()}}, // not run: drawn as n/a
		},
	}
	svg := c.SVG()
	fmt.Println(bytes.Contains(svg, []byte(">95.5<")), bytes.Contains(svg, []byte(">n/a<")))
	// Output: true true
}

func ExampleCompact() {
	var s []string
	for _, v := range []float64{0.001, 2.5, 950, 12345, 1.2e6} {
		s = append(s, plot.Compact(v))
	}
	fmt.Println(strings.Join(s, " "))
	// Output: 0.001 2.5 950 12.3k 1.2M
}
