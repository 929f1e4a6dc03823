package log

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/weirhq/weir/internal/vfs"
)

// FlushPolicy says when appended data is made durable with fsync.
type FlushPolicy int

const (
	// FlushGroup (the default) is group commit: a log with unsynced data
	// is fsynced by the shared Flusher once its oldest unsynced append has
	// waited FlushMaxDelay, or sooner when FlushMaxBytes are pending; one
	// fsync releases every waiter it covers.
	FlushGroup FlushPolicy = iota
	// FlushInterval fsyncs unsynced data every FlushInterval; appends
	// never wait for it (Kafka's flush.ms behaviour). Durable offsets are
	// still tracked and can be waited on.
	FlushInterval
	// FlushAlways fsyncs before Append returns.
	FlushAlways
)

func (p FlushPolicy) String() string {
	switch p {
	case FlushGroup:
		return "group"
	case FlushInterval:
		return "interval"
	case FlushAlways:
		return "always"
	}
	return fmt.Sprintf("FlushPolicy(%d)", int(p))
}

// ParseFlushPolicy parses "group", "interval" or "always".
func ParseFlushPolicy(s string) (FlushPolicy, error) {
	switch s {
	case "group", "":
		return FlushGroup, nil
	case "interval":
		return FlushInterval, nil
	case "always":
		return FlushAlways, nil
	}
	return 0, fmt.Errorf("log: unknown flush policy %q (want group, interval or always)", s)
}

// Options configure a Log. The zero value (or nil) means defaults; Open
// copies the options and never modifies the caller's.
type Options struct {
	// SegmentBytes is the size at which the active segment is rolled
	// (segment.bytes). Default 1 GiB.
	SegmentBytes int64
	// SegmentMs rolls the active segment once it is this old
	// (segment.ms). Default 7 days; negative disables.
	SegmentMs time.Duration
	// RetentionBytes deletes the oldest segments while the log is larger
	// (retention.bytes). Default -1 (unlimited).
	RetentionBytes int64
	// RetentionMs deletes segments whose newest record is older
	// (retention.ms). Default 7 days; -1 means unlimited.
	RetentionMs time.Duration
	// RetentionCheckInterval is how often the Flusher applies retention
	// and time-based rolls. Default 5 minutes.
	RetentionCheckInterval time.Duration
	// IndexIntervalBytes is the log bytes between index entries
	// (index.interval.bytes). Default 4096.
	IndexIntervalBytes int64
	// MaxIndexBytes is the size of a preallocated index file
	// (segment.index.bytes). Default 10 MiB.
	MaxIndexBytes int
	// MaxBatchBytes rejects larger batches with ErrTooLarge
	// (max.message.bytes). Default 1 MiB + 12 bytes (Kafka's default).
	MaxBatchBytes int
	// PreallocateBytes is the step in which the active segment reserves
	// disk space ahead of its appends with fallocate. Default 16 MiB (at
	// most SegmentBytes).
	PreallocateBytes int64
	// NoPreallocate disables fallocate of segments.
	NoPreallocate bool

	// FlushPolicy is the durability policy. Default FlushGroup.
	FlushPolicy FlushPolicy
	// FlushMaxDelay bounds how long an unsynced append waits for the
	// group commit (flush.max.delay). Default 1 ms.
	FlushMaxDelay time.Duration
	// FlushMaxBytes triggers a sync as soon as this many bytes are
	// unsynced (flush.max.bytes). Default 4 MiB.
	FlushMaxBytes int64
	// FlushInterval is the period of FlushInterval. Default 1 s.
	FlushInterval time.Duration
	// Flusher is the group-commit flusher; logs that share one share its
	// workers and timers (the broker's case: one flusher for every
	// partition). Nil: the log starts a private flusher, closed with it.
	Flusher *Flusher
	// ReadCacheBytes is FlusherOptions.ReadCacheBytes for the private
	// flusher of a log opened without Flusher. Default 0.
	ReadCacheBytes int64

	// DurableHook, if set, is called with the new durable offset every
	// time it advances, on a flusher goroutine (or the appender's with
	// FlushAlways). It must not block. The broker uses it to wake
	// long-polling fetches, whose high watermark is the durable offset.
	DurableHook func(durable int64)

	// PatchLeaderEpoch makes Append write LeaderEpoch into every batch's
	// partitionLeaderEpoch field (the broker does, as Kafka leaders do).
	PatchLeaderEpoch bool
	LeaderEpoch      int32

	// Logger receives recovery and error reports. Default slog.Default().
	Logger *slog.Logger
	// FS is the file system. Default the real one; tests pass crashable
	// or error-injecting layers.
	FS vfs.FS
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// BootID identifies the current machine boot; after an unclean
	// shutdown within the same boot the page cache survived, so recovery
	// trusts indexes and scans only from the last indexed position.
	// Default: /proc/sys/kernel/random/boot_id. Tests simulating a power
	// loss return a different value.
	BootID func() string
}

// Defaults.
const (
	DefaultSegmentBytes       = 1 << 30
	DefaultSegmentMs          = 7 * 24 * time.Hour
	DefaultRetentionMs        = 7 * 24 * time.Hour
	DefaultRetentionCheck     = 5 * time.Minute
	DefaultIndexIntervalBytes = 4096
	DefaultMaxIndexBytes      = 10 << 20
	DefaultMaxBatchBytes      = 1<<20 + 12
	DefaultFlushMaxDelay      = time.Millisecond
	DefaultFlushMaxBytes      = 4 << 20
	DefaultFlushInterval      = time.Second
)

// EnsureDefaults fills zero fields with defaults.
func (o *Options) EnsureDefaults() {
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.SegmentMs == 0 {
		o.SegmentMs = DefaultSegmentMs
	}
	if o.RetentionBytes == 0 {
		o.RetentionBytes = -1
	}
	if o.RetentionMs == 0 {
		o.RetentionMs = DefaultRetentionMs
	}
	if o.RetentionCheckInterval == 0 {
		o.RetentionCheckInterval = DefaultRetentionCheck
	}
	if o.PreallocateBytes == 0 {
		o.PreallocateBytes = min(16<<20, o.SegmentBytes)
	}
	if o.IndexIntervalBytes == 0 {
		o.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if o.MaxIndexBytes == 0 {
		o.MaxIndexBytes = DefaultMaxIndexBytes
	}
	if o.MaxBatchBytes == 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if o.FlushMaxDelay == 0 {
		o.FlushMaxDelay = DefaultFlushMaxDelay
	}
	if o.FlushMaxBytes == 0 {
		o.FlushMaxBytes = DefaultFlushMaxBytes
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.FS == nil {
		o.FS = vfs.OS
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BootID == nil {
		o.BootID = systemBootID
	}
}

// Validate reports the first invalid field, naming it and its limit.
func (o *Options) Validate() error {
	var errs []error
	if o.SegmentBytes < 14 || o.SegmentBytes > 1<<31-1 {
		errs = append(errs, fmt.Errorf("SegmentBytes %d outside [14, 2^31-1]", o.SegmentBytes))
	}
	if o.PreallocateBytes < 0 {
		errs = append(errs, fmt.Errorf("PreallocateBytes %d is negative", o.PreallocateBytes))
	}
	if o.IndexIntervalBytes < 0 {
		errs = append(errs, fmt.Errorf("IndexIntervalBytes %d is negative", o.IndexIntervalBytes))
	}
	if o.MaxIndexBytes < 4096 {
		errs = append(errs, fmt.Errorf("MaxIndexBytes %d below 4096", o.MaxIndexBytes))
	}
	if o.MaxBatchBytes < 61 {
		errs = append(errs, fmt.Errorf("MaxBatchBytes %d below a batch header (61)", o.MaxBatchBytes))
	}
	if o.RetentionBytes < -1 {
		errs = append(errs, fmt.Errorf("RetentionBytes %d below -1", o.RetentionBytes))
	}
	if o.RetentionMs < -1 {
		errs = append(errs, fmt.Errorf("RetentionMs %v below -1", o.RetentionMs))
	}
	if o.FlushPolicy < FlushGroup || o.FlushPolicy > FlushAlways {
		errs = append(errs, fmt.Errorf("FlushPolicy %d unknown", o.FlushPolicy))
	}
	if o.FlushMaxDelay < 0 || o.FlushInterval <= 0 || o.FlushMaxBytes <= 0 || o.RetentionCheckInterval <= 0 {
		errs = append(errs, errors.New("FlushMaxDelay, FlushInterval, FlushMaxBytes and RetentionCheckInterval must be positive"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("log: invalid options: %w", errors.Join(errs...))
	}
	return nil
}

// Reconfigure changes the settings that may change while the log is open
// (Kafka's dynamic topic configs): SegmentBytes, SegmentMs, RetentionBytes,
// RetentionMs, IndexIntervalBytes and MaxBatchBytes. Zero fields keep
// their current values. Changes apply from the next append or retention
// check.
func (l *Log) Reconfigure(o Options) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.opts
	if o.SegmentBytes != 0 {
		n.SegmentBytes = o.SegmentBytes
	}
	if o.SegmentMs != 0 {
		n.SegmentMs = o.SegmentMs
	}
	if o.RetentionBytes != 0 {
		n.RetentionBytes = o.RetentionBytes
	}
	if o.RetentionMs != 0 {
		n.RetentionMs = o.RetentionMs
	}
	if o.IndexIntervalBytes != 0 {
		n.IndexIntervalBytes = o.IndexIntervalBytes
	}
	if o.MaxBatchBytes != 0 {
		n.MaxBatchBytes = o.MaxBatchBytes
	}
	if err := n.Validate(); err != nil {
		return err
	}
	l.opts = n
	l.maxBatch.Store(int64(n.MaxBatchBytes))
	return nil
}
