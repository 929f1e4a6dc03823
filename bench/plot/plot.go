// Package plot draws the line and bar charts of the benchmark reports as
// self-contained SVG 1.1: no scripts, style sheets or external fonts
// (font-family="sans-serif"), so the files display the same in browsers and
// in GitHub's Markdown image previews. It depends only on the standard
// library, to keep the weir binary small.
//
// A chart is a plain struct, rendered by SVG or WriteSVG:
//
//	c := plot.LineChart{
//		Title: "Produce throughput",
//		X:     plot.Axis{Label: "time (s)"},
//		Y:     plot.Axis{Label: "MB/s"},
//		Series: []plot.Series{{Name: "weir", X: secs, Y: mbps}},
//	}
//	err := os.WriteFile("w1.svg", c.SVG(), 0o644)
//
// Rendering is deterministic (the same chart gives the same bytes), never
// modifies the chart, and never panics on odd data: NaN and infinite values,
// and values <= 0 on a log axis, are skipped; a chart without data draws
// empty axes and "no data". Charts are not safe for concurrent use while
// being modified, but may be rendered concurrently.
//
// Series take their colors, in order, from the Okabe–Ito palette, which
// color-blind readers can tell apart; from the ninth series on, lines are
// also dashed.
package plot

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Series is one line of a LineChart: the points (X[i], Y[i]). Points with
// a NaN or infinite coordinate (or beyond ±1e300), or one <= 0 on a log
// axis, are skipped and break the line. If X and Y differ in length, the extra values are ignored.
type Series struct {
	Name string
	X, Y []float64
}

// Tick is a labelled position on an axis. An empty Label is the value
// formatted by Compact.
type Tick struct {
	V     float64
	Label string
}

// Axis describes one axis of a LineChart.
type Axis struct {
	Label string
	// Log selects a log10 scale; values <= 0 are skipped.
	Log bool
	// Ticks, if set, replace the computed ticks (1-2-5 steps on a linear
	// axis, decades on a log axis). Ticks outside the range are dropped.
	Ticks []Tick
	// Min and Max fix the range if Min < Max (and 0 < Min on a log axis);
	// points outside it are clipped. Otherwise the range covers the data,
	// rounded out to ticks, and on a linear Y axis it includes 0.
	Min, Max float64
}

// LineChart plots series of points joined by lines.
type LineChart struct {
	Title  string
	X, Y   Axis
	Series []Series
	// Width and Height are in pixels; 0 means 720×400.
	Width, Height int
	// Markers draws a dot at every point (for curves of a few points).
	// Isolated points are always drawn as dots.
	Markers bool
}

// BarChart plots, for each group, one bar per series, with the value
// written on top of the bar.
type BarChart struct {
	Title  string
	YLabel string
	Groups []string // categories along the X axis, e.g. workloads
	Series []BarSeries
	// Width and Height are in pixels; 0 means 720×400.
	Width, Height int
}

// BarSeries is one bar per group: Values[i] belongs to Groups[i]. NaN or
// infinite values, and missing ones, are drawn as "n/a".
type BarSeries struct {
	Name   string
	Values []float64
}

// PercentileX maps the quantile q (0.99 for the 99th percentile) to the X
// value of an HdrHistogram-style percentile plot: 1/(1-q), for a log axis
// with PercentileTicks.
func PercentileX(q float64) float64 { return 1 / (1 - q) }

// PercentileTicks returns the ticks 50%, 90%, … 99.999% for an X axis of
// PercentileX values.
func PercentileTicks() []Tick {
	return []Tick{{2, "50%"}, {10, "90%"}, {100, "99%"}, {1e3, "99.9%"}, {1e4, "99.99%"}, {1e5, "99.999%"}}
}

// Okabe–Ito, yellow last: it is faint on white.
var palette = [...]string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"}

func seriesStyle(i int) (color, dash string) {
	dashes := [...]string{"", "8 4", "2 3"}
	return palette[i%len(palette)], dashes[i/len(palette)%len(dashes)]
}

const (
	fontSize = 12
	// charWidth is a generous average advance of a sans-serif glyph, in em,
	// used to lay out text without font metrics.
	charWidth = 0.6
)

// SVG renders the chart.
func (c *LineChart) SVG() []byte {
	var b bytes.Buffer
	c.render(&b)
	return b.Bytes()
}

// WriteSVG renders the chart to w.
func (c *LineChart) WriteSVG(w io.Writer) error {
	_, err := w.Write(c.SVG())
	return err
}

// SVG renders the chart.
func (c *BarChart) SVG() []byte {
	var b bytes.Buffer
	c.render(&b)
	return b.Bytes()
}

// WriteSVG renders the chart to w.
func (c *BarChart) WriteSVG(w io.Writer) error {
	_, err := w.Write(c.SVG())
	return err
}

func (c *LineChart) render(b *bytes.Buffer) {
	var ex, ey extent
	for _, s := range c.Series {
		for i := range min(len(s.X), len(s.Y)) {
			if valid(s.X[i], c.X.Log) && valid(s.Y[i], c.Y.Log) {
				ex.add(s.X[i])
				ey.add(s.Y[i])
			}
		}
	}
	l := newLayout(c.Width, c.Height, c.Title != "", c.X.Label != "")
	var legend []legendEntry
	for i, s := range c.Series {
		if s.Name != "" {
			legend = append(legend, legendEntry{s.Name, i, false})
		}
	}
	ylo, yhi, yticks := c.Y.resolve(ey, true, int((l.bottom-l.top)/50))
	l.place(c.Y.Label != "", yticks, legend)
	xlo, xhi, xticks := c.X.resolve(ex, false, int((l.right-l.left)/90))
	xs := scale{xlo, xhi, c.X.Log, l.left, l.right}
	ys := scale{ylo, yhi, c.Y.Log, l.bottom, l.top}

	l.begin(b, c.Title)
	for _, t := range xticks {
		x := crisp(xs.pos(t.V))
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e4e4e4"/>`+"\n", num(x), num(l.top), num(x), num(l.bottom))
	}
	l.yGrid(b, ys, yticks)
	fmt.Fprintf(b, `<defs><clipPath id="plot-area"><rect x="%s" y="%s" width="%s" height="%s"/></clipPath></defs>`+"\n",
		num(l.left-4), num(l.top-4), num(l.right-l.left+8), num(l.bottom-l.top+8))
	b.WriteString(`<g clip-path="url(#plot-area)">` + "\n")
	for i, s := range c.Series {
		c.drawSeries(b, i, s, xs, ys)
	}
	b.WriteString("</g>\n")
	l.axes(b, ys.pos(ylo), c.X.Label, c.Y.Label, ys, yticks)
	for _, t := range xticks {
		x := crisp(xs.pos(t.V))
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#444"/>`+"\n", num(x), num(l.bottom), num(x), num(l.bottom+5))
		text(b, xs.pos(t.V), l.bottom+18, fontSize, "middle", ` fill="#444"`, t.Label)
	}
	if !ex.ok {
		text(b, (l.left+l.right)/2, (l.top+l.bottom)/2, 14, "middle", ` fill="#888"`, "no data")
	}
	l.legend(b, legend, c.Markers)
	b.WriteString("</svg>\n")
}

// drawSeries draws one series as a path, broken at invalid points.
func (c *LineChart) drawSeries(b *bytes.Buffer, i int, s Series, xs, ys scale) {
	color, dash := seriesStyle(i)
	var d strings.Builder
	var dots []string // "x y" of the dots to draw
	run, prev := 0, ""
	for j := range min(len(s.X), len(s.Y)) {
		x, y := xs.pos(s.X[j]), ys.pos(s.Y[j])
		if !valid(s.X[j], xs.log) || !valid(s.Y[j], ys.log) || math.IsNaN(x) || math.IsNaN(y) {
			if run == 1 && !c.Markers {
				dots = append(dots, prev)
			}
			run = 0
			continue
		}
		p := num(x) + " " + num(y)
		if run == 0 {
			d.WriteString("M" + p)
		} else {
			d.WriteString("L" + p)
		}
		if c.Markers {
			dots = append(dots, p)
		}
		run, prev = run+1, p
	}
	if run == 1 && !c.Markers {
		dots = append(dots, prev)
	}
	if d.Len() == 0 {
		return
	}
	b.WriteString(`<g class="series">`)
	if s.Name != "" {
		b.WriteString("<title>" + esc(s.Name) + "</title>")
	}
	b.WriteString("\n")
	fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"%s/>`+"\n",
		d.String(), color, dashAttr(dash))
	for _, p := range dots {
		x, y, _ := strings.Cut(p, " ")
		fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", x, y, color)
	}
	b.WriteString("</g>\n")
}

func (c *BarChart) render(b *bytes.Buffer) {
	ng, ns := len(c.Groups), len(c.Series)
	l := newLayout(c.Width, c.Height, c.Title != "", false)
	var legend []legendEntry
	for i, s := range c.Series {
		if s.Name != "" {
			legend = append(legend, legendEntry{s.Name, i, true})
		}
	}
	// Value labels are laid out from a first guess of the plot width: the
	// Y tick labels, which set the left margin, rarely change it much.
	l.place(c.YLabel != "", []Tick{{Label: "00.0k"}}, legend)
	bar := 0.0
	if ng > 0 && ns > 0 {
		bar = (l.right - l.left) / float64(ng) * 0.8 / float64(ns)
	}
	labels := make([][]string, ng) // group labels, on up to two lines
	wrapped := false
	for g, name := range c.Groups {
		labels[g] = wrap(name, (l.right-l.left)/float64(ng)-4, fontSize)
		wrapped = wrapped || len(labels[g]) > 1
	}
	if wrapped {
		l.bottom -= 14
	}
	var ey extent
	widest := 0.0
	for _, s := range c.Series {
		for i := range min(len(s.Values), ng) {
			if v := s.Values[i]; valid(v, false) {
				ey.add(v)
				widest = max(widest, textWidth(Compact(v), 11))
			}
		}
	}
	rotate := ey.ok && widest > bar-2
	head := 16.0 // room beyond the end of a bar for its label, in pixels
	if rotate {
		head = widest*10/11 + 8
	}
	if ey.ok {
		ey.lo, ey.hi = min(ey.lo, 0), max(ey.hi, 0)
		if f := head / max(l.bottom-l.top-head, 1); ey.hi > ey.lo {
			span := ey.hi - ey.lo
			if ey.hi > 0 {
				ey.hi += span * f
			}
			if ey.lo < 0 {
				ey.lo -= span * f
			}
		}
	}
	yaxis := Axis{}
	ylo, yhi, yticks := yaxis.resolve(ey, true, int((l.bottom-l.top)/50))
	l.place(c.YLabel != "", yticks, legend)
	ys := scale{ylo, yhi, false, l.bottom, l.top}
	y0 := ys.pos(0)

	l.begin(b, c.Title)
	l.yGrid(b, ys, yticks)
	gw := (l.right - l.left) / float64(max(ng, 1))
	bar = gw * 0.8 / float64(max(ns, 1))
	gap := min(2, bar*0.1)
	for g, name := range c.Groups {
		x0 := l.left + gw*float64(g) + gw*0.1
		for i, s := range c.Series {
			color, _ := seriesStyle(i)
			x := x0 + bar*float64(i)
			cx := x + bar/2
			v := math.NaN()
			if g < len(s.Values) {
				v = s.Values[g]
			}
			if !valid(v, false) {
				if bar >= 16 {
					text(b, cx, y0-4, 9, "middle", ` fill="#888"`, "n/a")
				} else {
					text(b, cx+3, y0-4, 9, "start", ` fill="#888"`+rot(cx+3, y0-4), "n/a")
				}
				continue
			}
			y := ys.pos(v)
			top, h := min(y, y0), math.Abs(y-y0)
			fmt.Fprintf(b, `<rect class="bar" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`+"\n",
				num(x+gap/2), num(top), num(bar-gap), num(h), color, esc(s.Name+", "+name+": "+Compact(v)))
			label := Compact(v)
			switch {
			case !rotate && v >= 0:
				text(b, cx, y-5, 11, "middle", "", label)
			case !rotate:
				text(b, cx, y+13, 11, "middle", "", label)
			case v >= 0:
				text(b, cx+3.5, y-4, 10, "start", rot(cx+3.5, y-4), label)
			default:
				text(b, cx+3.5, y+4, 10, "end", rot(cx+3.5, y+4), label)
			}
		}
		for k, line := range labels[g] {
			text(b, l.left+gw*(float64(g)+0.5), l.bottom+18+14*float64(k), fontSize, "middle", ` fill="#222"`, line)
		}
	}
	l.axes(b, y0, "", c.YLabel, ys, yticks)
	if !ey.ok {
		text(b, (l.left+l.right)/2, (l.top+l.bottom)/2, 14, "middle", ` fill="#888"`, "no data")
	}
	l.legend(b, legend, false)
	b.WriteString("</svg>\n")
}

// layout is the geometry of a chart, in pixels; left, right, top and bottom
// are the edges of the plot area.
type layout struct {
	w, h                     float64
	left, right, top, bottom float64
	legendWidth              float64
}

func newLayout(width, height int, title, xlabel bool) layout {
	if width <= 0 {
		width = 720
	}
	if height <= 0 {
		height = 400
	}
	l := layout{w: float64(max(width, 200)), h: float64(max(height, 150))}
	l.top = 16
	if title {
		l.top = 44
	}
	l.bottom = l.h - 30
	if xlabel {
		l.bottom -= 20
	}
	return l
}

// place sets the left and right margins from the Y tick labels and the
// legend.
func (l *layout) place(ylabel bool, yticks []Tick, legend []legendEntry) {
	w := 0.0
	for _, t := range yticks {
		w = max(w, textWidth(t.Label, fontSize))
	}
	l.left = 14 + w
	if ylabel {
		l.left += 22
	}
	l.right = l.w - 24
	l.legendWidth = 0
	for _, e := range legend {
		l.legendWidth = max(l.legendWidth, min(28+textWidth(e.name, fontSize), l.w*0.3))
	}
	if l.legendWidth > 0 {
		l.right = l.w - 16 - l.legendWidth
	}
}

// begin writes the SVG header, the background and the title.
func (l *layout) begin(b *bytes.Buffer, title string) {
	fmt.Fprintf(b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%s" height="%s" viewBox="0 0 %s %s" font-family="sans-serif" font-size="%d">`+"\n",
		num(l.w), num(l.h), num(l.w), num(l.h), fontSize)
	if title != "" {
		b.WriteString("<title>" + esc(title) + "</title>\n")
	}
	b.WriteString(`<rect width="100%" height="100%" fill="#ffffff"/>` + "\n")
	if title != "" {
		text(b, (l.left+l.right)/2, 26, 16, "middle", ` font-weight="bold" fill="#222"`, title)
	}
}

// yGrid draws the horizontal grid lines.
func (l *layout) yGrid(b *bytes.Buffer, ys scale, ticks []Tick) {
	for _, t := range ticks {
		y := crisp(ys.pos(t.V))
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e4e4e4"/>`+"\n", num(l.left), num(y), num(l.right), num(y))
	}
}

// axes draws the X axis line at y0, the Y axis with its ticks, and the
// axis labels.
func (l *layout) axes(b *bytes.Buffer, y0 float64, xlabel, ylabel string, ys scale, yticks []Tick) {
	if math.IsNaN(y0) || y0 < l.top || y0 > l.bottom {
		y0 = l.bottom
	}
	y0, x0 := crisp(y0), crisp(l.left)
	fmt.Fprintf(b, `<path d="M%s %sV%sM%s %sH%s" fill="none" stroke="#444"/>`+"\n",
		num(x0), num(l.top), num(crisp(l.bottom)), num(x0), num(y0), num(l.right))
	for _, t := range yticks {
		y := ys.pos(t.V)
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#444"/>`+"\n", num(x0-5), num(crisp(y)), num(x0), num(crisp(y)))
		text(b, l.left-8, y+4, fontSize, "end", ` fill="#444"`, t.Label)
	}
	if xlabel != "" {
		text(b, (l.left+l.right)/2, l.h-12, 13, "middle", ` fill="#222"`, xlabel)
	}
	if ylabel != "" {
		x, y := 18.0, (l.top+l.bottom)/2
		text(b, x, y, 13, "middle", ` fill="#222"`+rot(x, y), ylabel)
	}
}

type legendEntry struct {
	name string
	i    int // series index, for the style
	box  bool
}

// legend draws the legend to the right of the plot area.
func (l *layout) legend(b *bytes.Buffer, entries []legendEntry, markers bool) {
	x := l.right + 16
	for k, e := range entries {
		y := l.top + 8 + 20*float64(k)
		color, dash := seriesStyle(e.i)
		switch {
		case e.box:
			fmt.Fprintf(b, `<rect x="%s" y="%s" width="14" height="12" fill="%s"/>`+"\n", num(x+3), num(y-6), color)
		default:
			fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"%s/>`+"\n",
				num(x), num(y), num(x+20), num(y), color, dashAttr(dash))
			if markers {
				fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", num(x+10), num(y), color)
			}
		}
		text(b, x+28, y+4, fontSize, "start", ` fill="#222"`, fit(e.name, l.legendWidth-28, fontSize))
	}
}

// scale maps values in [lo, hi] to pixels in [a, b].
type scale struct {
	lo, hi float64
	log    bool
	a, b   float64
}

// pos is the pixel position of v, NaN if v cannot be placed.
func (s scale) pos(v float64) float64 {
	var t float64
	if s.log {
		t = (math.Log10(v) - math.Log10(s.lo)) / (math.Log10(s.hi) - math.Log10(s.lo))
	} else {
		t = (v/2 - s.lo/2) / (s.hi/2 - s.lo/2) // halves: no overflow
	}
	p := s.a + t*(s.b-s.a)
	if math.IsNaN(p) || math.IsInf(p, 0) {
		return math.NaN()
	}
	// Far outside the range the point is clipped anyway; keep numbers short.
	return max(-1e5, min(1e5, p))
}

// valid reports whether v can be placed on a (log) axis. Values are limited
// to ±1e300 (1e-300 to 1e300 on a log axis) so that no range or tick
// computation overflows.
func valid(v float64, log bool) bool {
	if log {
		return v >= 1e-300 && v <= 1e300
	}
	return v >= -1e300 && v <= 1e300
}

// extent is the range of some values.
type extent struct {
	lo, hi float64
	ok     bool
}

func (e *extent) add(v float64) {
	if !e.ok {
		e.lo, e.hi, e.ok = v, v, true
	}
	e.lo, e.hi = min(e.lo, v), max(e.hi, v)
}

// resolve returns the range and ticks of the axis for data in e, about n
// ticks; zero includes 0 in an automatic linear range.
func (a *Axis) resolve(e extent, zero bool, n int) (lo, hi float64, ticks []Tick) {
	n = max(n, 3)
	var tv []float64
	switch {
	case a.Min < a.Max && valid(a.Min, a.Log) && valid(a.Max, a.Log):
		lo, hi = a.Min, a.Max
		if a.Log {
			tv = logTicks(lo, hi, n)
		} else {
			_, _, tv = linTicks(lo, hi, n, false)
		}
	case a.Log:
		lo, hi = 1, 10
		if e.ok {
			lo, hi = e.lo, e.hi
		}
		if lo == hi {
			lo, hi = lo/2, hi*2
		}
		lo, hi = snap125(lo, false), snap125(hi, true)
		tv = logTicks(lo, hi, n)
	default:
		lo, hi = 0, 1
		if e.ok {
			lo, hi = e.lo, e.hi
		}
		if zero {
			lo, hi = min(lo, 0), max(hi, 0)
		}
		if lo == hi {
			if d := math.Abs(lo) / 2; d == 0 {
				hi = 1
			} else {
				lo, hi = lo-d, hi+d
			}
		}
		lo, hi, tv = linTicks(lo, hi, n, true)
	}
	if len(a.Ticks) == 0 {
		return lo, hi, labelTicks(tv)
	}
	for _, t := range a.Ticks {
		if inRange(t.V, lo, hi, a.Log) {
			if t.Label == "" {
				t.Label = Compact(t.V)
			}
			ticks = append(ticks, t)
		}
	}
	return lo, hi, ticks
}

func inRange(v, lo, hi float64, log bool) bool {
	if log {
		return v >= lo*(1-1e-9) && v <= hi*(1+1e-9)
	}
	eps := (hi/2 - lo/2) * 2e-9
	return v >= lo-eps && v <= hi+eps
}

// niceStep is the smallest 1, 2 or 5 times a power of 10 that is >= rough,
// 0 if there is none.
func niceStep(rough float64) float64 {
	if !(rough > 0) || math.IsInf(rough, 0) {
		return 0
	}
	p := math.Pow10(int(math.Floor(math.Log10(rough))))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= rough*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// linTicks returns ticks at a 1-2-5 step giving about n intervals over
// [lo, hi]. If expand, the range is first rounded out to multiples of the
// step, and returned.
func linTicks(lo, hi float64, n int, expand bool) (float64, float64, []float64) {
	step := niceStep((hi/2 - lo/2) / float64(n) * 2)
	if step == 0 {
		return lo, hi, nil
	}
	if expand {
		l, h := math.Floor(lo/step)*step, math.Ceil(hi/step)*step
		if valid(l, false) && valid(h, false) {
			lo, hi = l, h
		}
	}
	k0, k1 := math.Ceil(lo/step-1e-9), math.Floor(hi/step+1e-9)
	if !(k1-k0 >= 0 && k1-k0 <= 100) {
		return lo, hi, nil
	}
	var ts []float64
	for i := 0; i <= int(k1-k0); i++ {
		v := (k0 + float64(i)) * step
		if len(ts) == 0 || v != ts[len(ts)-1] {
			ts = append(ts, v)
		}
	}
	return lo, hi, ts
}

// logTicks returns ticks for a log axis over [lo, hi]: powers of 10 (every
// k-th one if there are more than 1.5n), else 1-2-5 steps, else linear
// ticks.
func logTicks(lo, hi float64, n int) []float64 {
	var ts []float64
	e0, e1 := decade(lo), decade(hi)
	if math.Pow10(e0) < lo*(1-1e-9) {
		e0++
	}
	if e1-e0 >= 2 {
		lim := n + n/2
		k := (e1 - e0 + lim) / lim // ceil((e1-e0+1)/lim)
		for e := e0; e <= e1; e++ {
			if e%k == 0 {
				ts = append(ts, math.Pow10(e))
			}
		}
		if len(ts) >= 2 {
			return ts
		}
	}
	ts = ts[:0]
	for e := decade(lo); e <= e1; e++ {
		for _, m := range []float64{1, 2, 5} {
			if v := m * math.Pow10(e); inRange(v, lo, hi, true) {
				ts = append(ts, v)
			}
		}
	}
	if len(ts) >= 2 {
		return ts
	}
	_, _, ts = linTicks(lo, hi, n, false)
	return ts
}

// decade is floor(log10(v)) for v > 0, exact at powers of 10.
func decade(v float64) int {
	e := int(math.Floor(math.Log10(v)))
	if math.Pow10(e+1) <= v {
		e++
	} else if math.Pow10(e) > v {
		e--
	}
	return e
}

// snap125 rounds v > 0 down (or up) to 1, 2 or 5 times a power of 10,
// ignoring rounding errors of a millionth (1/(1-0.99999) is not 1e5).
func snap125(v float64, up bool) float64 {
	e := decade(v)
	if up {
		for _, m := range []float64{1, 2, 5, 10} {
			if s := m * math.Pow10(e); s >= v*(1-1e-6) {
				return s
			}
		}
	}
	for _, m := range []float64{5, 2, 1} {
		if s := m * math.Pow10(e); s <= v*(1+1e-6) {
			return s
		}
	}
	return v
}

// labelTicks labels tick values with the fewest significant digits (3 or
// more) that tell them all apart.
func labelTicks(vs []float64) []Tick {
	ts := make([]Tick, len(vs))
	for prec := 3; prec <= 17; prec++ {
		distinct := true
		for i, v := range vs {
			ts[i] = Tick{v, compact(v, prec)}
			if i > 0 && ts[i].Label == ts[i-1].Label {
				distinct = false
			}
		}
		if distinct {
			break
		}
	}
	return ts
}

// Compact formats v in at most 3 significant digits with a k, M, G, T, P
// or E suffix for thousands, millions…: 0.001, 2.5, 950, 10k, 1.2M.
func Compact(v float64) string { return compact(v, 3) }

func compact(v float64, prec int) string {
	if v == 0 {
		return "0"
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	round := func(x float64) float64 {
		r, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', prec, 64), 64)
		return r
	}
	pows := [...]float64{1, 1e3, 1e6, 1e9, 1e12, 1e15, 1e18}
	i := 0
	for i < len(pows)-1 && round(v/pows[i]) >= 1000 {
		i++
	}
	m := round(v / pows[i])
	if m >= 1000 || m < 1e-4 { // beyond E, or tiny: exponent notation
		s := strconv.FormatFloat(round(v), 'g', -1, 64)
		s = strings.Replace(strings.Replace(s, "e+", "e", 1), "e-0", "e-", 1)
		return sign + strings.Replace(s, "e0", "e", 1)
	}
	return sign + strconv.FormatFloat(m, 'f', -1, 64) + [...]string{"", "k", "M", "G", "T", "P", "E"}[i]
}

// text writes a text element; attrs, if any, starts with a space.
func text(b *bytes.Buffer, x, y, size float64, anchor, attrs, s string) {
	if math.IsNaN(x) || math.IsNaN(y) {
		return
	}
	fmt.Fprintf(b, `<text x="%s" y="%s" font-size="%s" text-anchor="%s"%s>%s</text>`+"\n",
		num(x), num(y), num(size), anchor, attrs, esc(s))
}

// rot is the attribute turning text at (x, y) to read upwards.
func rot(x, y float64) string {
	return ` transform="rotate(-90 ` + num(x) + " " + num(y) + `)"`
}

func dashAttr(dash string) string {
	if dash == "" {
		return ""
	}
	return ` stroke-dasharray="` + dash + `"`
}

// textWidth estimates the width of s in pixels.
func textWidth(s string, size float64) float64 {
	return float64(utf8.RuneCountInString(s)) * size * charWidth
}

// fit shortens s with an ellipsis to about width pixels.
func fit(s string, width, size float64) string {
	if textWidth(s, size) <= width+0.5 {
		return s
	}
	r := []rune(s)
	n := max(int(width/(size*charWidth))-1, 1)
	return string(r[:min(n, len(r))]) + "…"
}

// wrap breaks s into two lines, at the space, slash or dash that best
// balances them, if it is wider than width pixels, and shortens the lines
// that are still too wide.
func wrap(s string, width, size float64) []string {
	if textWidth(s, size) <= width {
		return []string{s}
	}
	best, a, b := len(s)+1, s, ""
	for i, r := range s {
		j, k := i+1, i+1 // s[:j] and s[k:]
		switch r {
		case ' ':
			j = i
		case '/', '-':
		default:
			continue
		}
		if n := max(utf8.RuneCountInString(s[:j]), utf8.RuneCountInString(s[k:])); n < best && j > 0 && k < len(s) {
			best, a, b = n, s[:j], s[k:]
		}
	}
	if b == "" {
		return []string{fit(s, width, size)}
	}
	return []string{fit(a, width, size), fit(b, width, size)}
}

// crisp moves a coordinate to the middle of a pixel, so that 1-pixel lines
// are sharp.
func crisp(v float64) float64 { return math.Floor(v) + 0.5 }

// num formats a coordinate to 0.1 pixel.
func num(v float64) string {
	r := math.Round(v*10) / 10
	if r == 0 {
		r = 0 // no "-0"
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// esc escapes s for XML text and attribute values; invalid characters
// become U+FFFD.
func esc(s string) string {
	var sb strings.Builder
	xml.EscapeText(&sb, []byte(s)) // writes to a strings.Builder cannot fail
	return sb.String()
}
