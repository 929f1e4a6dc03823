package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Workload describes the load. The standard ones are returned by
// StandardWorkload; any field may be changed.
type Workload struct {
	// Name labels the workload in reports ("W1", …).
	Name string
	// Partitions of the topic (subjects of the NATS stream). Default 4.
	Partitions int
	// RecordBytes is each record's value size, at least 16 (a send
	// timestamp and a sequence number lead the value). Default 1024.
	RecordBytes int
	// Rate is the produce rate in value bytes per second; 0 produces as
	// fast as the client can. A fixed rate is paced from intended send
	// times: each record carries the time it was due, not the time it left,
	// so a stall of the client or broker shows in the latency of every
	// record it delayed (no coordinated omission).
	Rate float64
	// Duration of the produce phase (default 20 s). With BacklogBytes set it
	// is the most the fill may take.
	Duration time.Duration
	// Consume runs one consumer reading the topic from offset 0 while the
	// producer runs, recording end-to-end latency.
	Consume bool
	// BacklogBytes, when positive, turns the workload into a catch-up
	// read: produce this many value bytes with no consumer, then measure a
	// fresh consumer reading them all from offset 0.
	BacklogBytes int64
	// Linger is the producer's linger (kgo.ProducerLinger). Default 0:
	// batches form from back-pressure alone, as a latency-minded client is
	// configured; franz-go's own default is 10 ms.
	Linger time.Duration
	// MaxBufferedBytes bounds the producer's buffer (kgo.MaxBufferedBytes;
	// NATS: max pending publishes × RecordBytes). A record's end-to-end
	// latency starts when it enters this buffer, so at max rate it bounds
	// the client-side queueing in the latency. Default 16 MiB.
	MaxBufferedBytes int
	// DrainTimeout bounds the wait, after the produce phase, for the
	// consumer to read everything acknowledged. Default 15 s.
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

// Standard workload names.
const (
	W1    = "W1"    // max produce, 4 partitions, 1 KiB, acks=all, one producer + one consumer
	W2    = "W2"    // fixed 20 MB/s, 1 KiB, acks=all, one consumer: end-to-end latency
	W3    = "W3"    // max produce of 100-byte records, one consumer: records/s, CPU per GB
	W4    = "W4"    // catch-up read of a 2 GB backlog by a fresh consumer
	Conns = "CONNS" // 10,000 mostly idle connections with a trickle of requests
)

// StandardWorkloads lists the standard workload names in report order.
var StandardWorkloads = []string{W1, W2, W3, W4, Conns}

// StandardWorkload returns a standard workload by name (case-insensitive).
func StandardWorkload(name string) (Workload, error) {
	w := Workload{Name: strings.ToUpper(name), Partitions: 4, RecordBytes: 1024, Duration: 20 * time.Second}
	switch w.Name {
	case W1:
		w.Consume = true
	case W2:
		w.Consume = true
		w.Rate = 20e6
	case W3:
		w.Consume = true
		w.RecordBytes = 100
	case W4:
		w.BacklogBytes = 2e9
		w.Duration = 120 * time.Second
	case Conns:
		w.Conns = 10000
		w.ConnRate = 200
		w.Duration = 10 * time.Second
	default:
		return Workload{}, fmt.Errorf("bench: unknown workload %q (want one of %s)", name, strings.Join(StandardWorkloads, ", "))
	}
	return w, nil
}

func (w *Workload) ensureDefaults() {
	if w.Name == "" {
		w.Name = "custom"
	}
	if w.Partitions == 0 {
		w.Partitions = 4
	}
	if w.RecordBytes == 0 {
		w.RecordBytes = 1024
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

func (w *Workload) validate() error {
	switch {
	case w.Partitions < 1 || w.Partitions > 10000:
		return fmt.Errorf("bench: Partitions %d not in [1, 10000]", w.Partitions)
	case w.RecordBytes < recordHeader || w.RecordBytes > 1<<20:
		return fmt.Errorf("bench: RecordBytes %d not in [%d, 1 MiB]", w.RecordBytes, recordHeader)
	case w.Rate < 0:
		return fmt.Errorf("bench: Rate %v is negative", w.Rate)
	case w.Duration <= 0:
		return fmt.Errorf("bench: Duration %v must be positive", w.Duration)
	case w.MaxBufferedBytes < w.RecordBytes:
		return fmt.Errorf("bench: MaxBufferedBytes %d below RecordBytes %d", w.MaxBufferedBytes, w.RecordBytes)
	case w.Conns < 0 || w.ConnRate < 0:
		return errors.New("bench: Conns and ConnRate must not be negative")
	case w.BacklogBytes > 0 && (w.Consume || w.Rate > 0):
		return errors.New("bench: a backlog workload produces at max rate with no concurrent consumer")
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
	// Log receives progress lines. Default: discarded.
	Log io.Writer
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

func (c *Config) validate() error {
	if err := c.Workload.validate(); err != nil {
		return err
	}
	if err := c.Target.validate(); err != nil {
		return err
	}
	if c.Workload.Conns > 0 && c.Target.Kind == KindNATS {
		return errors.New("bench: the connections workload speaks the Kafka protocol; NATS is not a target for it")
	}
	return nil
}

func (c *Config) logf(format string, args ...any) {
	fmt.Fprintf(c.Log, "%s %s/%s: %s\n", time.Now().Format("15:04:05"), c.Workload.Name, c.Target.Name, fmt.Sprintf(format, args...))
}
