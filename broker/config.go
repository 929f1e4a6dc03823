package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/weirhq/weir/log"
	"github.com/weirhq/weir/netpoll"
)

// Config configures a Broker. Zero fields take defaults; New copies it.
type Config struct {
	// DataDir holds one directory per partition and the broker's
	// metadata. Default "./weir-data".
	DataDir string
	// NodeID is the broker's id (node.id). Default 1.
	NodeID int32
	// AdvertisedAddr is the host:port clients are told to connect to
	// (advertised.listeners). Default: the address Serve listens on.
	AdvertisedAddr string
	// NoAutoCreateTopics disables creating topics on Metadata requests
	// for unknown topics (auto.create.topics.enable=false).
	NoAutoCreateTopics bool
	// DefaultPartitions is the partition count of auto-created topics and
	// of CreateTopics with -1 partitions (num.partitions). Default 1.
	DefaultPartitions int32
	// Topic defaults (Kafka broker-level log.* settings); topics override
	// them with configs.
	SegmentBytes    int64         // log.segment.bytes, default 1 GiB
	SegmentMs       time.Duration // log.roll.ms, default 7 days
	RetentionMs     time.Duration // log.retention.ms, default 7 days; -1 unlimited
	RetentionBytes  int64         // log.retention.bytes, default -1
	MessageMaxBytes int           // message.max.bytes, default 1048588
	// RetentionCheckInterval is how often retention and segment.ms rolls
	// run (log.retention.check.interval.ms). Default 5 minutes.
	RetentionCheckInterval time.Duration
	// FlushPolicy and FlushMaxDelay set durability (see log.Options).
	// The broker's group commit window defaults to DefaultFlushMaxDelay,
	// shorter than the log library's: measured with weir bench at 5–50 MB/s
	// of acks=all, 200 µs instead of 1 ms takes end-to-end p50 from about
	// 2.3 to 1.5 ms for 10–35% more CPU per GB (more fsyncs); p99 and max
	// throughput move within noise (docs/DECISIONS.md).
	FlushPolicy   log.FlushPolicy
	FlushMaxDelay time.Duration
	// ReadCacheBytes bounds the page cache kept for partition data that
	// consumers have already fetched (log.FlusherOptions.ReadCacheBytes):
	// past it, the oldest is dropped so that appends reuse its memory.
	// Unread data always stays cached. Default DefaultReadCacheBytes;
	// negative leaves the page cache to the kernel (Kafka's behaviour).
	ReadCacheBytes int64
	// SyncFSMin: when at least this many partitions on one file system
	// are due for their group commit together, one syncfs(2) makes them
	// durable instead of one fdatasync each (log.FlusherOptions.SyncFSMin):
	// one disk cache flush instead of one per partition. Default
	// DefaultSyncFSMin; negative disables. syncfs writes back the whole
	// file system, so the data directory belongs on its own.
	SyncFSMin int
	// FetchSessionSlots is how many incremental fetch sessions (KIP-227)
	// the broker keeps (max.incremental.fetch.session.cache.slots).
	// Default DefaultFetchSessionSlots; negative disables sessions.
	FetchSessionSlots int
	// Group coordinator settings (Kafka's group.* and offsets.* keys);
	// zero takes Kafka's defaults (see coord.Config).
	GroupMinSessionTimeout     time.Duration
	GroupMaxSessionTimeout     time.Duration
	GroupInitialRebalanceDelay time.Duration
	OffsetsRetention           time.Duration

	// Net configures the network layer.
	Net netpoll.Config
	// Logger receives the broker's logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Defaults.
const (
	DefaultDataDir           = "./weir-data"
	DefaultMessageMaxBytes   = 1048588
	DefaultFlushMaxDelay     = 200 * time.Microsecond // group commit window
	DefaultReadCacheBytes    = 1 << 30                // page cache kept for fetched data
	DefaultSyncFSMin         = 2                      // partitions due together that share one syncfs
	DefaultFetchSessionSlots = 1000                   // Kafka's max.incremental.fetch.session.cache.slots
)

func (c *Config) ensureDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.FlushMaxDelay == 0 {
		c.FlushMaxDelay = DefaultFlushMaxDelay
	}
	if c.NodeID == 0 {
		c.NodeID = 1
	}
	if c.ReadCacheBytes == 0 {
		c.ReadCacheBytes = DefaultReadCacheBytes
	}
	if c.SyncFSMin == 0 {
		c.SyncFSMin = DefaultSyncFSMin
	}
	if c.FetchSessionSlots == 0 {
		c.FetchSessionSlots = DefaultFetchSessionSlots
	}
	if c.DefaultPartitions == 0 {
		c.DefaultPartitions = 1
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = log.DefaultSegmentBytes
	}
	if c.SegmentMs == 0 {
		c.SegmentMs = log.DefaultSegmentMs
	}
	if c.RetentionMs == 0 {
		c.RetentionMs = log.DefaultRetentionMs
	}
	if c.RetentionBytes == 0 {
		c.RetentionBytes = -1
	}
	if c.MessageMaxBytes == 0 {
		c.MessageMaxBytes = DefaultMessageMaxBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Net.Logger == nil {
		c.Net.Logger = c.Logger
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.DefaultPartitions < 1 {
		errs = append(errs, fmt.Errorf("DefaultPartitions %d below 1", c.DefaultPartitions))
	}
	if c.MessageMaxBytes < 100 {
		errs = append(errs, fmt.Errorf("MessageMaxBytes %d below 100", c.MessageMaxBytes))
	}
	if len(errs) > 0 {
		return fmt.Errorf("broker: invalid config: %w", errors.Join(errs...))
	}
	return nil
}
