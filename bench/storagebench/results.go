package storagebench

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Result is one row: the engine's figure, the reference measured in the
// same run, and their ratio.
type Result struct {
	// Name is the benchmark (NameAppend, …).
	Name string
	// Params says what was measured, e.g. "size=16KiB api=Append".
	Params string
	// Value is the engine's figure, the median over rounds, in Unit.
	Value float64
	// Unit is "MB/s" (1e6 bytes), "GB/s" (1e9 bytes) or "ms".
	Unit string
	// Reference is the reference's figure, the median over rounds, in
	// Unit.
	Reference float64
	// RefName says what the reference is, e.g. "pwrite(2)".
	RefName string
	// Ratio is the engine's speed relative to the reference: the median
	// over rounds of Value/Reference for rates, Reference/Value for times
	// (Unit "ms"), each from one round's adjacent samples. 1 means as
	// fast as the reference; higher is better.
	Ratio float64
	// Extra holds secondary figures keyed by name and unit: medians over
	// rounds of "fsyncs/s" and "acks/fsync" (engine; a syncfs counts as
	// one fsync) and "ref fsyncs/s" and "ref acks/fsync" (reference), and
	// "timed fsyncs", the total number of fsyncs inside the timed part of
	// append (0: the log never fsynced while timed).
	Extra map[string]float64
	// Rounds is the number of samples of each side.
	Rounds int
}

// Machine describes where the run happened.
type Machine struct {
	GOOS, GOARCH string
	GoVersion    string
	NumCPU       int
	GOMAXPROCS   int
	// Kernel is the kernel release (uname -r).
	Kernel string
	// FileSystem is the type of Dir's file system ("ext4", "xfs",
	// "tmpfs", … or its magic number in hex).
	FileSystem string
	// Dir is Options.Dir.
	Dir string
}

// Results is what Run returns.
type Results struct {
	// Rows are the results in the order measured.
	Rows []Result
	// Machine describes the machine and file system.
	Machine Machine
	// Options are the options run, with defaults filled in (Progress
	// cleared).
	Options Options
	// Notes say what was skipped and why.
	Notes []string
	// Started is when Run started; Elapsed how long it took.
	Started time.Time
	Elapsed time.Duration
}

// Markdown formats the results as a Markdown table, one row per Result:
// benchmark | parameters | weir | reference | ratio | notes, preceded by
// the machine and followed by the notes.
func (r *Results) Markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "Weir storage engine (package log) against raw system calls on the same file system, "+
		"medians of %d alternating rounds.\n\n", r.Options.Rounds)
	fmt.Fprintf(&b, "Machine: %s/%s, %d CPUs (GOMAXPROCS %d), %s, kernel %s; %s file system at %s.\n\n",
		m.GOOS, m.GOARCH, m.NumCPU, m.GOMAXPROCS, m.GoVersion, orDash(m.Kernel), orDash(m.FileSystem), m.Dir)
	b.WriteString("| benchmark | parameters | weir | reference | ratio | notes |\n")
	b.WriteString("|---|---|---:|---:|---:|---|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", row.Name, row.Params,
			formatValue(row.Value, row.Unit), formatValue(row.Reference, row.Unit),
			formatRatio(row.Ratio), row.notes())
	}
	b.WriteString("\nratio: weir's speed relative to the reference measured in the same run " +
		"(reference/weir for times); 1.00 means as fast.\n")
	if len(r.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

// notes renders the reference's name and the extra figures.
func (row *Result) notes() string {
	parts := []string{"ref: " + row.RefName}
	keys := make([]string, 0, len(row.Extra))
	for k := range row.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %s", k, formatNumber(row.Extra[k])))
	}
	return strings.ReplaceAll(strings.Join(parts, "; "), "|", `\|`)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// formatNumber prints v with three significant digits, or as an integer
// when it is 100 or more.
func formatNumber(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "–"
	case a >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func formatValue(v float64, unit string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return formatNumber(v) + " " + unit
}

func formatRatio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}

// median returns the median of v (NaN if empty).
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// sizeName formats a byte count the way Weir's benchmarks name sizes:
// 1KiB, 16KiB, 1MiB, 1GB.
func sizeName(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1e9 && n%1e9 == 0:
		return fmt.Sprintf("%dGB", n/1e9)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1e6 && n%1e6 == 0:
		return fmt.Sprintf("%dMB", n/1e6)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
