package storagebench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Benchmark names, for Options.Only and Result.Name, in the order Run runs
// them.
const (
	NameAppend      = "append"
	NameGroupCommit = "group-commit"
	NameManyLogs    = "many-logs"
	NameRead        = "read"
	NameOpen        = "open"
)

// Names returns the benchmark names in the order Run runs them.
func Names() []string {
	return []string{NameAppend, NameGroupCommit, NameManyLogs, NameRead, NameOpen}
}

// ErrInvalidOptions is wrapped by the error Run returns for options that do
// not validate; the message names the field and its limits.
var ErrInvalidOptions = errors.New("storagebench: invalid options")

// Limits of the options.
const (
	MinBatchSize = 128      // smallest batch of Sizes: a header and two small records
	MaxBatchSize = 64 << 20 // largest batch of Sizes
	MaxBytes     = 1 << 30  // largest Bytes: the append region stays in one 1 GiB segment
	MinReadBytes = 1 << 20  // smallest ReadBytes
)

// Defaults. The default Sizes are 1 KiB, 16 KiB and 1 MiB; GroupAppenders
// 1 and 8; Logs 1, 16, 100 and 1000.
const (
	DefaultBytes             = 256 << 20
	DefaultRounds            = 3
	DefaultReadBytes         = 1_000_000_000
	DefaultManyLogsAppenders = 64
	DefaultDuration          = 3 * time.Second
	DefaultTimeout           = 5 * time.Minute
)

// Options configure Run. The zero value means defaults; Run copies the
// options and never modifies the caller's.
type Options struct {
	// Dir is a directory on the file system under test; it must exist.
	// Run works in a new temporary directory inside it and removes that
	// at the end. Default os.TempDir().
	Dir string
	// Sizes are the batch sizes of the append benchmark, in bytes, each
	// in [MinBatchSize, MaxBatchSize]. Default 1 KiB, 16 KiB, 1 MiB.
	Sizes []int
	// Bytes is what one timed append pass writes, in bytes, in
	// [2×max(Sizes), MaxBytes]. The log and the reference file each keep
	// this much page cache resident. Default 256 MiB.
	Bytes int64
	// Rounds is the number of alternating rounds; rows report medians.
	// Default 3.
	Rounds int
	// ReadBytes is the size of the log that read reads and open reopens,
	// in bytes (rounded down to whole 16 KiB batches), at least
	// MinReadBytes. It is held twice in memory (page cache and a copy).
	// Default 1 GB (1e9).
	ReadBytes int64
	// GroupAppenders are the appender goroutine counts of group-commit,
	// each >= 1. Default 1, 8.
	GroupAppenders []int
	// Logs are the log counts of many-logs, each >= 1; ratios are taken
	// against the smallest. Default 1, 16, 100, 1000.
	Logs []int
	// ManyLogsAppenders is the appender goroutine pool of many-logs.
	// Default 64.
	ManyLogsAppenders int
	// Duration is the length of each timed durable sample (group-commit,
	// many-logs); read and open samples repeat their operation for at
	// least half of it. Default 3 s; at least 10 ms.
	Duration time.Duration
	// Timeout bounds each phase (one sample, or building a fixture);
	// a phase that takes longer fails the run. Default 5 minutes.
	Timeout time.Duration
	// Only restricts the run to these benchmarks (see Names). Empty means
	// all.
	Only []string
	// Progress receives a line per phase and sample. Nil: silent.
	Progress io.Writer
}

// EnsureDefaults fills zero fields with defaults. Slices are copied, so
// that the options never share memory with the caller's.
func (o *Options) EnsureDefaults() {
	if o.Dir == "" {
		o.Dir = os.TempDir()
	}
	o.Sizes = cloneOr(o.Sizes, 1<<10, 16<<10, 1<<20)
	if o.Bytes == 0 {
		o.Bytes = DefaultBytes
	}
	if o.Rounds == 0 {
		o.Rounds = DefaultRounds
	}
	if o.ReadBytes == 0 {
		o.ReadBytes = DefaultReadBytes
	}
	o.GroupAppenders = cloneOr(o.GroupAppenders, 1, 8)
	o.Logs = cloneOr(o.Logs, 1, 16, 100, 1000)
	if o.ManyLogsAppenders == 0 {
		o.ManyLogsAppenders = DefaultManyLogsAppenders
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	o.Only = slices.Clone(o.Only)
}

// cloneOr returns a copy of v, or def if v is empty.
func cloneOr(v []int, def ...int) []int {
	if len(v) == 0 {
		return def
	}
	return slices.Clone(v)
}

// Validate reports every invalid field, naming it and its limits, in an
// error wrapping ErrInvalidOptions. Call it after EnsureDefaults.
func (o *Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.Dir == "" {
		bad("Dir is empty")
	}
	maxSize := 0
	for i, s := range o.Sizes {
		if s < MinBatchSize || s > MaxBatchSize {
			bad("Sizes[%d] = %d outside [%d, %d]", i, s, MinBatchSize, MaxBatchSize)
		}
		maxSize = max(maxSize, s)
	}
	if o.Bytes < 2*int64(maxSize) || o.Bytes > MaxBytes {
		bad("Bytes %d outside [2×largest size = %d, %d]", o.Bytes, 2*maxSize, MaxBytes)
	}
	if o.Rounds < 1 {
		bad("Rounds %d below 1", o.Rounds)
	}
	if o.ReadBytes < MinReadBytes {
		bad("ReadBytes %d below %d", o.ReadBytes, MinReadBytes)
	}
	for i, n := range o.GroupAppenders {
		if n < 1 {
			bad("GroupAppenders[%d] = %d below 1", i, n)
		}
	}
	for i, n := range o.Logs {
		if n < 1 {
			bad("Logs[%d] = %d below 1", i, n)
		}
	}
	if o.ManyLogsAppenders < 1 {
		bad("ManyLogsAppenders %d below 1", o.ManyLogsAppenders)
	}
	if o.Duration < 10*time.Millisecond {
		bad("Duration %v below 10ms", o.Duration)
	}
	if o.Timeout <= 0 {
		bad("Timeout %v is not positive", o.Timeout)
	}
	for _, name := range o.Only {
		if !slices.Contains(Names(), name) {
			bad("unknown benchmark %q in Only (want %s)", name, strings.Join(Names(), ", "))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, errors.Join(errs...))
	}
	return nil
}

// selected reports whether the benchmark name is to run.
func (o *Options) selected(name string) bool {
	return len(o.Only) == 0 || slices.Contains(o.Only, name)
}
