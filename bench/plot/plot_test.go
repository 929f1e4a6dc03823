package plot

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// node is any XML element, for inspecting rendered charts.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []node     `xml:",any"`
}

func (n *node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// all returns the elements named name, in document order.
func (n *node) all(name string) []*node {
	var out []*node
	var walk func(*node)
	walk = func(n *node) {
		if n.XMLName.Local == name {
			out = append(out, n)
		}
		for i := range n.Nodes {
			walk(&n.Nodes[i])
		}
	}
	walk(n)
	return out
}

// texts returns the content of every text and title element.
func (n *node) texts() []string {
	var out []string
	for _, name := range []string{"text", "title"} {
		for _, t := range n.all(name) {
			out = append(out, t.Text)
		}
	}
	return out
}

// parse checks that svg is a well-formed SVG document with finite numbers,
// and returns its root.
func parse(t *testing.T, svg []byte) *node {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	for {
		_, err := d.Token()
		if err != nil {
			if err != io.EOF {
				t.Fatalf("not well-formed: %v\n%s", err, svg)
			}
			break
		}
	}
	var root node
	if err := xml.Unmarshal(svg, &root); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if root.XMLName.Local != "svg" || root.XMLName.Space != "http://www.w3.org/2000/svg" || root.attr("version") != "1.1" {
		t.Fatalf("root is %v version %q", root.XMLName, root.attr("version"))
	}
	for _, bad := range []string{"NaN", "Inf"} {
		if bytes.Contains(svg, []byte(bad)) {
			t.Errorf("output contains %q:\n%s", bad, svg)
		}
	}
	return &root
}

// seriesPoints returns, for each drawn line series, the number of points
// of its path.
func seriesPoints(root *node) []int {
	var out []int
	for _, g := range root.all("g") {
		if g.attr("class") != "series" {
			continue
		}
		for _, p := range g.all("path") {
			d := p.attr("d")
			out = append(out, strings.Count(d, "M")+strings.Count(d, "L"))
		}
	}
	return out
}

func has(ss []string, s string) bool { return slices.Contains(ss, s) }

func ramp(n int, f func(i int) float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = f(i)
	}
	return v
}

// The four charts of the benchmark report, on made-up data.
func percentileChart() *LineChart {
	c := &LineChart{
		Title: "End-to-end latency, W2 (20 MB/s)",
		X:     Axis{Label: "percentile", Log: true, Ticks: PercentileTicks()},
		Y:     Axis{Label: "latency (ms)"},
	}
	for k, name := range []string{"weir", "kfake", "nats"} {
		var s Series
		s.Name = name
		for i := 0; i <= 100; i++ {
			q := 1 - math.Pow(10, -5*float64(i)/100) // 0 to 0.99999
			x := PercentileX(q)
			s.X = append(s.X, x)
			s.Y = append(s.Y, 0.8+0.4*float64(k)+0.3*float64(k+1)*math.Pow(math.Log10(x), 2))
		}
		c.Series = append(c.Series, s)
	}
	return c
}

func throughputChart() *LineChart {
	c := &LineChart{
		Title: "Produce throughput, W1",
		X:     Axis{Label: "time (s)"},
		Y:     Axis{Label: "MB/s"},
	}
	for k, name := range []string{"weir", "weir (net)", "kfake", "nats"} {
		base := []float64{180, 165, 240, 120}[k]
		c.Series = append(c.Series, Series{
			Name: name,
			X:    ramp(41, func(i int) float64 { return float64(i) / 2 }),
			Y: ramp(41, func(i int) float64 {
				return base * (1 - math.Exp(-float64(i)/2)) * (1 + 0.06*math.Sin(float64(i*(k+2))))
			}),
		})
	}
	return c
}

func curveChart() *LineChart {
	c := &LineChart{
		Title:   "p99 latency vs throughput",
		X:       Axis{Label: "achieved MB/s"},
		Y:       Axis{Label: "p99 latency (ms)", Log: true},
		Markers: true,
	}
	for k, name := range []string{"weir", "nats"} {
		capacity := []float64{210, 130}[k]
		var s Series
		s.Name = name
		for _, r := range []float64{10, 25, 50, 100, 150, 200, 300} {
			got := min(r, capacity*0.97)
			s.X = append(s.X, got)
			s.Y = append(s.Y, 1.5/(1-got/capacity))
		}
		c.Series = append(c.Series, s)
	}
	return c
}

func barChart() *BarChart {
	return &BarChart{
		Title:  "Broker CPU per GB produced",
		YLabel: "CPU-s/GB",
		Groups: []string{"W1", "W2", "W3", "W4 (read)"},
		Series: []BarSeries{
			{Name: "weir", Values: []float64{1.92, 2.1, 7.5, 0.61}},
			{Name: "kfake", Values: []float64{3.4, 3.9, 12.26, math.NaN()}},
			{Name: "nats", Values: []float64{5.15, 5.6, 21.5, 1.2}},
		},
	}
}

// TestUses renders the report's charts, to $PLOT_SAMPLES if set, else to a
// temporary directory, for a look.
func TestUses(t *testing.T) {
	dir := os.Getenv("PLOT_SAMPLES")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	wide := barChart()
	wide.Title, wide.YLabel = "Comparison to kfake (ratio)", "ratio"
	wide.Groups = []string{"produce MB/s", "records/s", "e2e p99 ms", "ack p99 ms", "CPU-s/GB", "peak RSS MB", "allocs/record"}
	wide.Series = []BarSeries{
		{Name: "weir", Values: []float64{1.31, 1.25, 0.42, 0.5, 0.55, 0.8, 0.013}},
		{Name: "weir (net)", Values: []float64{1.2, 1.15, 0.47, 0.53, 0.61, 0.82, 0.021}},
		{Name: "nats", Values: []float64{0.7, 0.66, 1.8, 2.2, 1.5, 2.4, math.NaN()}},
		{Name: "kfake", Values: []float64{1, 1, 1, 1, 1, 1, 1}},
	}
	big := barChart()
	big.Title, big.YLabel = "Records per second, W3", "records/s"
	big.Groups = []string{"1 partition", "4 partitions", "16 partitions"}
	big.Series[0].Values = []float64{1.52e6, 2.31e6, 2.45e6}
	big.Series[1].Values = []float64{980e3, 1.41e6, 1.38e6}
	big.Series[2].Values = []float64{410e3, 820e3, -1}
	for name, svg := range map[string][]byte{
		"percentiles": percentileChart().SVG(),
		"throughput":  throughputChart().SVG(),
		"curve":       curveChart().SVG(),
		"bars":        barChart().SVG(),
		"bars-wide":   wide.SVG(),
		"bars-big":    big.SVG(),
	} {
		parse(t, svg)
		if err := os.WriteFile(filepath.Join(dir, name+".svg"), svg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLineChart(t *testing.T) {
	c := throughputChart()
	c.Series[1].Y[3] = math.NaN() // a break: 40 points in two pieces
	c.Series = append(c.Series, Series{Name: "empty"})
	root := parse(t, c.SVG())
	if got, want := seriesPoints(root), []int{41, 40, 41, 41}; !slices.Equal(got, want) {
		t.Errorf("points per series = %v, want %v", got, want)
	}
	texts := root.texts()
	for _, want := range []string{c.Title, c.X.Label, c.Y.Label, "weir", "weir (net)", "kfake", "nats", "empty", "0", "200"} {
		if !has(texts, want) {
			t.Errorf("no text %q in %q", want, texts)
		}
	}
}

func TestPercentileChart(t *testing.T) {
	c := percentileChart()
	root := parse(t, c.SVG())
	if got := seriesPoints(root); !slices.Equal(got, []int{101, 101, 101}) {
		t.Errorf("points per series = %v", got)
	}
	texts := root.texts()
	for _, want := range []string{"50%", "90%", "99%", "99.9%", "99.99%", "99.999%", "percentile", "latency (ms)"} {
		if !has(texts, want) {
			t.Errorf("no tick %q in %q", want, texts)
		}
	}
}

func TestMarkers(t *testing.T) {
	c := curveChart()
	root := parse(t, c.SVG())
	// 7 points per series, plus one marker per legend entry.
	if n := len(root.all("circle")); n != 2*7+2 {
		t.Errorf("%d circles, want %d", n, 2*7+2)
	}
	c.Markers = false
	c.Series[0].Y[3] = math.Inf(1) // two lines: points 0-2 and 4-6
	c.Series[1].Y[1] = math.NaN()  // point 0 alone: drawn as a dot
	root = parse(t, c.SVG())
	if n := len(root.all("circle")); n != 1 {
		t.Errorf("%d circles, want 1 (the isolated point)", n)
	}
}

func TestBarChart(t *testing.T) {
	c := barChart()
	root := parse(t, c.SVG())
	var bars int
	for _, r := range root.all("rect") {
		if r.attr("class") == "bar" {
			bars++
		}
	}
	if bars != 11 { // 12, one missing
		t.Errorf("%d bars, want 11", bars)
	}
	texts := root.texts()
	for _, want := range []string{c.Title, c.YLabel, "W1", "W4 (read)", "weir", "kfake", "nats", "1.92", "12.3", "21.5", "n/a"} {
		if !has(texts, want) {
			t.Errorf("no text %q in %q", want, texts)
		}
	}
}

func TestDeterministic(t *testing.T) {
	for _, f := range []func() []byte{
		func() []byte { return percentileChart().SVG() },
		func() []byte { return curveChart().SVG() },
		func() []byte { return barChart().SVG() },
	} {
		if a, b := f(), f(); !bytes.Equal(a, b) {
			t.Error("two renders differ")
		}
	}
	var w bytes.Buffer
	c := throughputChart()
	if err := c.WriteSVG(&w); err != nil || !bytes.Equal(w.Bytes(), c.SVG()) {
		t.Errorf("WriteSVG differs from SVG (err %v)", err)
	}
}

func TestEscaping(t *testing.T) {
	const name = `a<b & "c" 'd' </text>]]>`
	lc := LineChart{Title: name, X: Axis{Label: name}, Y: Axis{Label: name},
		Series: []Series{{Name: name, X: []float64{1, 2}, Y: []float64{1, 2}}}}
	bc := BarChart{Title: name, YLabel: name, Groups: []string{name}, Series: []BarSeries{{Name: name, Values: []float64{1}}}}
	for _, svg := range [][]byte{lc.SVG(), bc.SVG()} {
		root := parse(t, svg)
		n := 0
		for _, s := range root.texts() {
			if s == name {
				n++
			}
		}
		if n < 4 {
			t.Errorf("name found %d times unaltered in %q", n, root.texts())
		}
	}
	// Characters XML cannot hold are replaced, not copied.
	lc.Title = "nul\x00 \xff"
	parse(t, lc.SVG())
}

func TestEdgeCases(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	one := func(x, y []float64) []Series { return []Series{{Name: "s", X: x, Y: y}} }
	lines := map[string]LineChart{
		"zero value":    {},
		"no series":     {Title: "t", X: Axis{Label: "x"}, Y: Axis{Label: "y"}},
		"empty series":  {Series: []Series{{Name: "e"}, {}}},
		"single point":  {Series: one([]float64{3}, []float64{7})},
		"single log":    {X: Axis{Log: true}, Y: Axis{Log: true}, Series: one([]float64{3}, []float64{7})},
		"all equal":     {Series: one([]float64{1, 2, 3}, []float64{5, 5, 5})},
		"all equal x":   {Series: one([]float64{2, 2}, []float64{1, 3})},
		"all zero":      {Series: one([]float64{0, 0}, []float64{0, 0})},
		"all nan":       {Series: one([]float64{nan, inf}, []float64{nan, -inf})},
		"negative":      {Series: one([]float64{-5, -1, 3}, []float64{-40, 12, -3})},
		"log skips":     {X: Axis{Log: true}, Y: Axis{Log: true}, Series: one([]float64{-1, 0, 1, 10}, []float64{5, 5, 0, 50})},
		"log all bad":   {Y: Axis{Log: true}, Series: one([]float64{1, 2}, []float64{0, -3})},
		"huge linear":   {Series: one([]float64{-1e300, 1e300}, []float64{1e-300, 1e300})},
		"beyond range":  {Series: one([]float64{math.MaxFloat64, -math.MaxFloat64, 1}, []float64{1, 2, 3})},
		"huge log":      {X: Axis{Log: true}, Y: Axis{Log: true}, Series: one([]float64{1e-300, 1e300}, []float64{5e-324, 1e-9})},
		"tiny range":    {Series: one([]float64{1e16, 1e16 + 2}, []float64{1, 1.0000000000000002})},
		"lengths":       {Series: one([]float64{1, 2, 3}, []float64{1})},
		"fixed range":   {X: Axis{Min: 2, Max: 4}, Y: Axis{Min: -1, Max: 1}, Series: one([]float64{0, 3, 1e9}, []float64{5, 0, -1e9})},
		"bad range":     {X: Axis{Min: nan, Max: 4, Log: true}, Y: Axis{Min: -1, Max: 10, Log: true}, Series: one([]float64{1, 2}, []float64{1, 2})},
		"ticks outside": {X: Axis{Ticks: []Tick{{-100, "a"}, {1.5, ""}, {nan, "n"}}}, Series: one([]float64{1, 2}, []float64{1, 2})},
		"tiny canvas":   {Width: 1, Height: 1, Title: "a very long title for such a small chart", Series: one([]float64{1, 2}, []float64{1, 2})},
		"many series": {Series: slices.Collect(func(yield func(Series) bool) {
			for i := range 20 {
				yield(Series{Name: strings.Repeat("long name ", i), X: []float64{0, 1}, Y: []float64{float64(i), float64(i + 1)}})
			}
		})},
	}
	for name, c := range lines {
		t.Run(name, func(t *testing.T) { parse(t, c.SVG()) })
	}
	bars := map[string]BarChart{
		"zero value":   {},
		"no series":    {Groups: []string{"a", "b"}},
		"no groups":    {Series: []BarSeries{{Name: "a", Values: []float64{1}}}},
		"short values": {Groups: []string{"a", "b"}, Series: []BarSeries{{Name: "s", Values: []float64{1}}}},
		"all nan":      {Groups: []string{"a"}, Series: []BarSeries{{Values: []float64{nan}}, {Values: []float64{inf}}}},
		"all zero":     {Groups: []string{"a"}, Series: []BarSeries{{Values: []float64{0}}}},
		"negative":     {Groups: []string{"a", "b"}, Series: []BarSeries{{Values: []float64{-3, 5}}, {Values: []float64{-1e6, 2}}}},
		"huge":         {Groups: []string{"a", "b"}, Series: []BarSeries{{Values: []float64{1e300, -1e300}}}},
		"many":         {Groups: []string{"a very long group name indeed", "b"}, Series: slices.Repeat([]BarSeries{{Name: "x", Values: []float64{123456, 7}}}, 30)},
	}
	for name, c := range bars {
		t.Run("bars/"+name, func(t *testing.T) { parse(t, c.SVG()) })
	}
}

func TestAutoTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi  float64
		log     bool
		n       int
		wantLo  float64
		wantHi  float64
		ticks   []float64
		labels  []string // if set
		comment string
	}{
		{lo: 0, hi: 97, n: 5, wantLo: 0, wantHi: 100, ticks: []float64{0, 20, 40, 60, 80, 100}},
		{lo: 0, hi: 1, n: 5, wantLo: 0, wantHi: 1, ticks: []float64{0, 0.2, 0.4, 0.6, 0.8, 1}, labels: []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}},
		{lo: -3, hi: 7, n: 5, wantLo: -4, wantHi: 8, ticks: []float64{-4, -2, 0, 2, 4, 6, 8}},
		{lo: 0, hi: 2.3e6, n: 5, wantLo: 0, wantHi: 2.5e6, ticks: []float64{0, 0.5e6, 1e6, 1.5e6, 2e6, 2.5e6}, labels: []string{"0", "500k", "1M", "1.5M", "2M", "2.5M"}},
		{lo: 10000, hi: 10040, n: 4, wantLo: 10000, wantHi: 10040, ticks: []float64{10000, 10010, 10020, 10030, 10040}, labels: []string{"10k", "10.01k", "10.02k", "10.03k", "10.04k"}},
		{lo: 0.3, hi: 2000, log: true, n: 5, wantLo: 0.2, wantHi: 2000, ticks: []float64{1, 10, 100, 1000}},
		{lo: 1, hi: 1e5, log: true, n: 5, wantLo: 1, wantHi: 1e5, ticks: []float64{1, 10, 100, 1e3, 1e4, 1e5}, labels: []string{"1", "10", "100", "1k", "10k", "100k"}},
		{lo: 2.5, hi: 45, log: true, n: 5, wantLo: 2, wantHi: 50, ticks: []float64{2, 5, 10, 20, 50}},
		{lo: 2.1, hi: 4.9, log: true, n: 5, wantLo: 2, wantHi: 5, ticks: []float64{2, 5}},
		{lo: 1e-9, hi: 1e12, log: true, n: 5, wantLo: 1e-9, wantHi: 1e12, ticks: []float64{1e-8, 1e-4, 1, 1e4, 1e8, 1e12}, labels: []string{"1e-8", "0.0001", "1", "10k", "100M", "1T"}},
	} {
		a := Axis{Log: tc.log}
		lo, hi, ticks := a.resolve(extent{tc.lo, tc.hi, true}, false, tc.n)
		var vs []float64
		var ls []string
		for _, t := range ticks {
			vs = append(vs, t.V)
			ls = append(ls, t.Label)
		}
		if lo != tc.wantLo || hi != tc.wantHi || !close(vs, tc.ticks) || tc.labels != nil && !slices.Equal(ls, tc.labels) {
			t.Errorf("%g..%g log=%v: range %g..%g ticks %v %q, want %g..%g %v %q",
				tc.lo, tc.hi, tc.log, lo, hi, vs, ls, tc.wantLo, tc.wantHi, tc.ticks, tc.labels)
		}
	}
	// Between 1-2-5 values, a log axis falls back to linear ticks.
	if got := logTicks(2.1, 4.9, 5); !close(got, []float64{3, 4}) {
		t.Errorf("logTicks(2.1, 4.9) = %v", got)
	}
	// A linear Y axis includes 0.
	if lo, hi, _ := (&Axis{}).resolve(extent{40, 97, true}, true, 5); lo != 0 || hi != 100 {
		t.Errorf("Y range %g..%g, want 0..100", lo, hi)
	}
}

func close(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Abs(x-y) <= 1e-9*math.Max(math.Abs(x), math.Abs(y)) })
}

func TestCompact(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "0"}, {1, "1"}, {2.5, "2.5"}, {0.001, "0.001"}, {0.00012345, "0.000123"},
		{1.2e-5, "1.2e-5"}, {999, "999"}, {999.6, "1k"}, {1000, "1k"}, {1500, "1.5k"}, {10000, "10k"},
		{12345, "12.3k"}, {999999, "1M"}, {1.2e6, "1.2M"}, {-1.2e6, "-1.2M"}, {3.4e9, "3.4G"},
		{1e12, "1T"}, {2e15, "2P"}, {5e18, "5E"}, {1e21, "1e21"}, {math.NaN(), "NaN"}, {1.0 / 3, "0.333"},
	} {
		if got := Compact(tc.v); got != tc.want {
			t.Errorf("Compact(%g) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
