package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Workload describes the load of one run. Workload files (see
// ParseWorkloads and the files under workloads/) are the usual way to write
// one; the standard suite is returned by StandardSuite. Zero fields take
// the defaults documented on each.
type Workload struct {
	// Name labels the workload in reports. Default "custom".
	Name string
	// Description is one line for the report.
	Description string
	// Base is, for a workload expanded from a rate sweep, the name of the
	// sweep ("latency"); reports draw one latency-vs-throughput curve per
	// base. Empty otherwise.
	Base string

	// Topics is the number of topics (default 1), each with Partitions
	// partitions (default 4). NATS: one stream, a subject per partition.
	Topics     int
	Partitions int
	// RecordBytes is each record's value size, at least 16 (a send
	// timestamp and a sequence number lead the value). Default 1024. With
	// RecordSize set, it is the mean.
	RecordBytes int
	// RecordSize, when its Kind is set, draws each value's size from a
	// distribution instead.
	RecordSize SizeDist
	// Keys is how record keys are chosen: "" or "none" (no key: the
	// client's sticky partitioner), "random" (uniform over KeyCount keys),
	// "sequential" (round robin over KeyCount keys), "zipf" (skewed over
	// KeyCount keys, s = 1.1). KeyCount defaults to 1000.
	Keys     string
	KeyCount int

	// Producers is the number of producer clients (default 1), sharing the
	// rate evenly.
	Producers int
	// Rate is the total produce rate in value bytes per second, or
	// RecordRate in records per second; both 0 produce as fast as the
	// clients can. A fixed rate is paced from intended send times: each
	// record carries the time it was due, not the time it left, so a stall
	// of the client or broker shows in the latency of every record it
	// delayed (no coordinated omission).
	Rate       float64
	RecordRate float64
	// Acks is "all" (default), "1" or "0".
	Acks string
	// Idempotent enables the idempotent producer (acks=all only).
	Idempotent bool
	// Compression is the producer's codec: "" or "none", "gzip", "snappy",
	// "lz4", "zstd".
	Compression string
	// Linger is the producer's linger (kgo.ProducerLinger). Default 0:
	// batches form from back-pressure alone, as a latency-minded client is
	// configured; franz-go's own default is 10 ms.
	Linger time.Duration
	// BatchBytes caps a produced batch (kgo.ProducerBatchMaxBytes); 0:
	// the client's default (1 MB).
	BatchBytes int
	// MaxBufferedBytes bounds each producer's buffer (kgo.MaxBufferedBytes;
	// NATS: max pending publishes × RecordBytes). A record's end-to-end
	// latency starts when it enters this buffer, so at max rate it bounds
	// the client-side queueing in the latency. Default 16 MiB.
	MaxBufferedBytes int

	// Consumers is the number of consumer clients reading while the
	// producers run (0: none). Without a group the partitions are split
	// among them and read from offset 0; with Group they join one consumer
	// group and commit offsets every CommitInterval (default 1 s).
	Consumers      int
	Group          bool
	CommitInterval time.Duration
	// FetchMaxBytes and MaxPartitionFetchBytes bound each consumer fetch
	// and each partition in it (Kafka's fetch.max.bytes and
	// max.partition.fetch.bytes; kgo.FetchMaxBytes and
	// kgo.FetchMaxPartitionBytes); 0: the client's defaults (50 MiB and
	// 1 MiB). A consumer has one fetch in flight per broker, so at high
	// rates these, not the broker, can bound what it reads. Kafka targets
	// only.
	FetchMaxBytes          int
	MaxPartitionFetchBytes int
	// Consume is the older spelling of Consumers: 1.
	Consume bool

	// Warmup runs the load this long before measuring (default 0); records
	// due during the warm-up are produced and consumed but not counted in
	// rates or latencies.
	Warmup time.Duration
	// Duration of the measured produce phase (default 20 s). With
	// BacklogBytes set it is the most the catch-up read may take.
	Duration time.Duration
	// BacklogBytes, when positive, turns the workload into a catch-up
	// read: produce this many value bytes with no consumer, then measure
	// Consumers (at least 1) fresh consumers reading them all from offset 0.
	BacklogBytes int64
	// DrainTimeout bounds the wait, after the produce phase, for the
	// consumers to read everything acknowledged. Default 15 s.
	DrainTimeout time.Duration

	// Conns, when positive, makes this the idle-connections workload: open
	// Conns connections, each sending one ApiVersions request, then send a
	// trickle of ConnRate Metadata requests per second, each on a random
	// connection, for Duration. Kafka-protocol targets only.
	Conns int
	// ConnRate is the trickle's requests per second (default 200), paced
	// from intended send times like Rate.
	ConnRate float64
}

// SizeDist is a distribution of record sizes in bytes.
type SizeDist struct {
	// Kind is "uniform" (between Min and Max) or "normal" (mean
	// Workload.RecordBytes, standard deviation Stddev, clamped to
	// [Min, Max]); "" means fixed at Workload.RecordBytes.
	Kind     string
	Min, Max int
	Stddev   float64
}

// Standard workload aliases (the workloads of issue-era reports), mapped
// to the standard suite's names by StandardWorkload.
const (
	W1    = "W1"    // max-throughput
	W2    = "W2"    // latency at 20 MB/s
	W3    = "W3"    // small-records
	W4    = "W4"    // catch-up
	Conns = "CONNS" // idle-connections
)

var aliases = map[string]string{
	W1: "max-throughput", W2: "latency@20MB/s", W3: "small-records", W4: "catch-up", Conns: "idle-connections",
}

// StandardWorkload returns a workload of the standard suite by name, or by
// one of the aliases W1…W4 and CONNS (case-insensitive).
func StandardWorkload(name string) (Workload, error) {
	suite, err := StandardSuite()
	if err != nil {
		return Workload{}, err
	}
	if a, ok := aliases[strings.ToUpper(name)]; ok {
		name = a
	}
	var names []string
	for _, w := range suite {
		if strings.EqualFold(w.Name, name) {
			return w, nil
		}
		names = append(names, w.Name)
	}
	return Workload{}, fmt.Errorf("bench: unknown workload %q (the standard suite has %v; aliases W1-W4, CONNS)", name, names)
}

func (w *Workload) ensureDefaults() {
	if w.Name == "" {
		w.Name = "custom"
	}
	if w.Topics == 0 {
		w.Topics = 1
	}
	if w.Partitions == 0 {
		w.Partitions = 4
	}
	if w.RecordBytes == 0 {
		w.RecordBytes = 1024
	}
	if w.KeyCount == 0 {
		w.KeyCount = 1000
	}
	if w.Producers == 0 {
		w.Producers = 1
	}
	if w.Acks == "" {
		w.Acks = "all"
	}
	if w.Consume && w.Consumers == 0 {
		w.Consumers = 1
	}
	if w.BacklogBytes > 0 && w.Consumers == 0 {
		w.Consumers = 1
	}
	if w.Group && w.CommitInterval == 0 {
		w.CommitInterval = time.Second
	}
	if w.Duration == 0 {
		w.Duration = 20 * time.Second
	}
	if w.MaxBufferedBytes == 0 {
		w.MaxBufferedBytes = 16 << 20
	}
	if w.DrainTimeout == 0 {
		w.DrainTimeout = 15 * time.Second
	}
	if w.Conns > 0 && w.ConnRate == 0 {
		w.ConnRate = 200
	}
}

// maxRecordBytes is the largest value a producer sends.
func (w *Workload) maxRecordBytes() int {
	if w.RecordSize.Kind != "" {
		return w.RecordSize.Max
	}
	return w.RecordBytes
}

// recordRate is the total fixed rate in records per second; 0: max rate.
func (w *Workload) recordRate() float64 {
	if w.RecordRate > 0 {
		return w.RecordRate
	}
	if w.Rate > 0 {
		return w.Rate / float64(w.RecordBytes)
	}
	return 0
}

func (w *Workload) validate() error {
	bad := func(field string, format string, args ...any) error {
		return fmt.Errorf("bench: workload %s: %s: %s", w.Name, field, fmt.Sprintf(format, args...))
	}
	switch {
	case w.Topics < 1 || w.Topics > 1000:
		return bad("topics", "%d not in [1, 1000]", w.Topics)
	case w.Partitions < 1 || w.Partitions > 100000 || w.Topics*w.Partitions > 100000:
		return bad("partitions", "%d per topic (%d in all) not in [1, 100000]", w.Partitions, w.Topics*w.Partitions)
	case w.RecordBytes < recordHeader || w.RecordBytes > 8<<20:
		return bad("record-size", "%d not in [%d, 8 MiB]", w.RecordBytes, recordHeader)
	case w.Rate < 0 || w.RecordRate < 0:
		return bad("rate", "negative")
	case w.Rate > 0 && w.RecordRate > 0:
		return bad("rate", "give bytes per second or records per second, not both")
	case w.Duration <= 0:
		return bad("duration", "%v must be positive", w.Duration)
	case w.Warmup < 0:
		return bad("warmup", "%v is negative", w.Warmup)
	case w.MaxBufferedBytes < w.maxRecordBytes():
		return bad("max-buffered-bytes", "%d below the largest record (%d)", w.MaxBufferedBytes, w.maxRecordBytes())
	case w.Producers < 1 || w.Producers > 1000:
		return bad("producers", "%d not in [1, 1000]", w.Producers)
	case w.Consumers < 0 || w.Consumers > 1000:
		return bad("consumers", "%d not in [0, 1000]", w.Consumers)
	case w.Conns < 0 || w.ConnRate < 0:
		return bad("connections", "must not be negative")
	case w.BacklogBytes < 0:
		return bad("backlog", "negative")
	case w.BacklogBytes > 0 && w.recordRate() > 0:
		return bad("backlog", "a backlog is produced at max rate; drop the rate")
	case w.KeyCount < 1:
		return bad("key-count", "%d must be positive", w.KeyCount)
	case w.BatchBytes < 0:
		return bad("batch-size", "negative")
	case w.CommitInterval < 0:
		return bad("commit-interval", "negative")
	case w.FetchMaxBytes < 0 || w.FetchMaxBytes > 1<<30:
		return bad("fetch-max-bytes", "%d not in [0, 1 GiB]", w.FetchMaxBytes)
	case w.MaxPartitionFetchBytes < 0 || w.MaxPartitionFetchBytes > 1<<30:
		return bad("max-partition-fetch-bytes", "%d not in [0, 1 GiB]", w.MaxPartitionFetchBytes)
	}
	switch w.Keys {
	case "", "none", "random", "sequential", "zipf":
	default:
		return bad("keys", "%q is not one of none, random, sequential, zipf", w.Keys)
	}
	switch w.Acks {
	case "all", "1", "0":
	default:
		return bad("acks", "%q is not one of all, 1, 0", w.Acks)
	}
	if w.Idempotent && w.Acks != "all" {
		return bad("idempotent", "needs acks: all")
	}
	switch w.Compression {
	case "", "none", "gzip", "snappy", "lz4", "zstd":
	default:
		return bad("compression", "%q is not one of none, gzip, snappy, lz4, zstd", w.Compression)
	}
	if d := w.RecordSize; d.Kind != "" {
		switch {
		case d.Kind != "uniform" && d.Kind != "normal":
			return bad("record-size.distribution", "%q is not uniform or normal", d.Kind)
		case d.Min < recordHeader || d.Max < d.Min || d.Max > 8<<20:
			return bad("record-size", "min %d max %d: want %d <= min <= max <= 8 MiB", d.Min, d.Max, recordHeader)
		case d.Kind == "normal" && d.Stddev <= 0:
			return bad("record-size.stddev", "must be positive")
		}
	}
	return nil
}

// Config is one run: a workload against a target. Run works on a copy.
type Config struct {
	Workload Workload
	Target   Target
	// DataDir is where the target's data directory is created (and removed
	// after the run). It should be on the disk under test. Default
	// os.TempDir().
	DataDir string
	// Log receives log lines. Default: discarded.
	Log io.Writer
	// KeepTopics leaves the run's topics (weirbench-ID…) on the target;
	// by default they are deleted after the run.
	KeepTopics bool
	// Progress, if set, is called about once a second during the run with
	// the current rates (a live progress line).
	Progress func(Progress)
}

// Progress is a run's state, as passed to Config.Progress.
type Progress struct {
	Workload, Target string
	Phase            string        // "warmup", "produce", "drain", "fill", "read"
	Elapsed          time.Duration // since the run's load started
	Total            time.Duration // planned length of the load (warm-up + duration)
	Sample           Sample        // the last second
}

func (c *Config) ensureDefaults() {
	c.Workload.ensureDefaults()
	c.Target.ensureDefaults()
	if c.DataDir == "" {
		c.DataDir = os.TempDir()
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// ErrUnsupported is returned (wrapped) by Run when the target cannot run
// the workload, e.g. a consumer group against the null broker.
var ErrUnsupported = errors.New("bench: workload not supported by target")

func (c *Config) validate() error {
	if err := c.Workload.validate(); err != nil {
		return err
	}
	if err := c.Target.validate(); err != nil {
		return err
	}
	w := &c.Workload
	switch c.Target.Kind {
	case KindNATS:
		if w.Conns > 0 || w.Group || w.Topics > 1 || w.Producers > 1 || w.Consumers > 1 || w.RecordSize.Kind != "" {
			return fmt.Errorf("%w: the NATS adapter runs one stream, one producer and one ordered consumer, fixed-size records (%s)", ErrUnsupported, w.Name)
		}
	case KindNull:
		if w.Conns > 0 || w.Group {
			return fmt.Errorf("%w: the null broker has no consumer groups and no connection costs worth measuring (%s)", ErrUnsupported, w.Name)
		}
	}
	return nil
}

func (c *Config) logf(format string, args ...any) {
	fmt.Fprintf(c.Log, "%s %s/%s: %s\n", time.Now().Format("15:04:05"), c.Workload.Name, c.Target.Name, fmt.Sprintf(format, args...))
}
