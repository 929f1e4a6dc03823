package broker

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/weirhq/weir/internal/vfs"
	"github.com/weirhq/weir/log"
)

// metaFile holds the broker's metadata: cluster id, and each topic's id,
// partition count and config overrides. Partition data lives in
// <DataDir>/<topic>-<partition>/. Replaced atomically on every change.
const metaFile = "weir-meta.json"

type metaJSON struct {
	Version   int                  `json:"version"`
	ClusterID string               `json:"cluster_id"`
	Topics    map[string]topicJSON `json:"topics"`
}

type topicJSON struct {
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

// topic is a topic and its partitions. Fields other than parts and configs
// are immutable; parts only grows (CreatePartitions) and is replaced, not
// mutated, under Broker.mu.
type topic struct {
	name     string
	id       [16]byte
	internal bool
	parts    []*partition
	cfg      topicConfig
	configs  map[string]string // explicit overrides, Kafka names
}

// topicConfig is the effective config of a topic.
type topicConfig struct {
	segmentBytes    int64
	segmentMs       time.Duration
	retentionBytes  int64
	retentionMs     time.Duration
	maxMessageBytes int
	logAppendTime   bool
	cleanupPolicy   string
	minInsyncRepl   int
}

// registry is a copy-on-write view of the topics, read without locks.
type registry struct {
	byName map[string]*topic
	byID   map[[16]byte]*topic
}

func newTopicID() [16]byte {
	var id [16]byte
	for id == ([16]byte{}) {
		rand.Read(id[:])
	}
	return id
}

// legalTopic is Kafka's topic name rule.
var legalTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// validateTopicName returns a Kafka error for an illegal topic name.
func validateTopicName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("%w: topic name %q is illegal", kerr.InvalidTopicException, name)
	case len(name) > 249:
		return fmt.Errorf("%w: topic name is longer than 249 characters", kerr.InvalidTopicException)
	case !legalTopic.MatchString(name):
		return fmt.Errorf("%w: topic name %q contains characters other than ASCII alphanumerics, '.', '_' and '-'", kerr.InvalidTopicException, name)
	}
	return nil
}

// Topic config keys Weir understands, with their defaults taken from the
// broker config.
var topicConfigKeys = []string{
	"cleanup.policy", "max.message.bytes", "message.timestamp.type", "min.insync.replicas",
	"retention.bytes", "retention.ms", "segment.bytes", "segment.ms",
}

// effectiveConfig computes a topic's config from broker defaults and
// overrides, validating every override.
func (b *Broker) effectiveConfig(overrides map[string]string) (topicConfig, error) {
	c := topicConfig{
		segmentBytes:    b.cfg.SegmentBytes,
		segmentMs:       b.cfg.SegmentMs,
		retentionBytes:  b.cfg.RetentionBytes,
		retentionMs:     b.cfg.RetentionMs,
		maxMessageBytes: b.cfg.MessageMaxBytes,
		cleanupPolicy:   "delete",
		minInsyncRepl:   1,
	}
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := overrides[k]
		bad := func(why string) error {
			return fmt.Errorf("%w: invalid value %q for %s: %s", kerr.InvalidConfig, v, k, why)
		}
		num := func(min int64) (int64, error) {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, bad("not an integer")
			}
			if n < min {
				return 0, bad(fmt.Sprintf("below %d", min))
			}
			return n, nil
		}
		var err error
		var n int64
		switch k {
		case "cleanup.policy":
			parts := strings.Split(strings.ReplaceAll(v, " ", ""), ",")
			for _, p := range parts {
				if p != "delete" && p != "compact" {
					return c, bad("want delete, compact or both")
				}
			}
			c.cleanupPolicy = strings.Join(parts, ",")
		case "max.message.bytes":
			if n, err = num(0); err == nil {
				if n > 1<<30 {
					return c, bad("above 1 GiB")
				}
				c.maxMessageBytes = int(n)
			}
		case "message.timestamp.type":
			switch v {
			case "CreateTime":
				c.logAppendTime = false
			case "LogAppendTime":
				c.logAppendTime = true
			default:
				return c, bad("want CreateTime or LogAppendTime")
			}
		case "min.insync.replicas":
			if n, err = num(1); err == nil {
				c.minInsyncRepl = int(n)
			}
		case "retention.bytes":
			if n, err = num(-1); err == nil {
				c.retentionBytes = n
			}
		case "retention.ms":
			if n, err = num(-1); err == nil {
				if n == -1 {
					c.retentionMs = -1
				} else {
					c.retentionMs = time.Duration(n) * time.Millisecond
				}
			}
		case "segment.bytes":
			if n, err = num(14); err == nil {
				if n > 1<<31-1 {
					return c, bad("above 2147483647")
				}
				c.segmentBytes = n
			}
		case "segment.ms":
			if n, err = num(1); err == nil {
				c.segmentMs = time.Duration(n) * time.Millisecond
			}
		default:
			// Kafka accepts many more topic configs; Weir stores those
			// it does not act on only if they are known Kafka names.
			if !knownIgnoredConfig[k] {
				return c, fmt.Errorf("%w: unknown topic config %q", kerr.InvalidConfig, k)
			}
		}
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

// knownIgnoredConfig are Kafka topic configs accepted and stored, with no
// effect in Weir (documented in docs/DECISIONS.md).
var knownIgnoredConfig = map[string]bool{
	"compression.type": true, "delete.retention.ms": true, "file.delete.delay.ms": true,
	"flush.messages": true, "flush.ms": true, "index.interval.bytes": true,
	"max.compaction.lag.ms": true, "message.downconversion.enable": true,
	"message.timestamp.after.max.ms": true, "message.timestamp.before.max.ms": true,
	"message.timestamp.difference.max.ms": true, "min.cleanable.dirty.ratio": true,
	"min.compaction.lag.ms": true, "preallocate": true, "segment.index.bytes": true,
	"segment.jitter.ms": true, "unclean.leader.election.enable": true,
	"local.retention.bytes": true, "local.retention.ms": true, "remote.storage.enable": true,
	"follower.replication.throttled.replicas": true, "leader.replication.throttled.replicas": true,
	"message.format.version": true,
}

// logOptions returns the log options for a partition of a topic with cfg.
func (b *Broker) logOptions(cfg topicConfig) *log.Options {
	return &log.Options{
		SegmentBytes:   cfg.segmentBytes,
		SegmentMs:      cfg.segmentMs,
		RetentionBytes: nonZero(cfg.retentionBytes, 1),
		RetentionMs:    nonZero(cfg.retentionMs, time.Nanosecond),
		// Batches over max.message.bytes are refused by the broker with
		// MESSAGE_TOO_LARGE before they reach the log.
		MaxBatchBytes:    max(cfg.maxMessageBytes, 64<<20),
		FlushPolicy:      b.cfg.FlushPolicy,
		PatchLeaderEpoch: true,
		FlushMaxDelay:    b.cfg.FlushMaxDelay,
		Flusher:          b.flusher,
		Logger:           b.log,
	}
}

// nonZero maps Kafka's 0 (keep nothing but the active segment) to the
// smallest positive value, since log.Options reads 0 as "default".
func nonZero[T int64 | time.Duration](v, smallest T) T {
	if v == 0 {
		return smallest
	}
	return v
}

func partitionDir(dataDir, topic string, p int32) string {
	return filepath.Join(dataDir, topic+"-"+strconv.Itoa(int(p)))
}

// saveMetaLocked writes the metadata file. b.mu must be held.
func (b *Broker) saveMetaLocked() error {
	m := metaJSON{Version: 1, ClusterID: b.clusterID, Topics: map[string]topicJSON{}}
	for name, t := range b.reg().byName {
		m.Topics[name] = topicJSON{ID: hex.EncodeToString(t.id[:]), Partitions: int32(len(t.parts)), Configs: t.configs}
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return vfs.WriteFileAtomic(vfs.OS, filepath.Join(b.cfg.DataDir, metaFile), data)
}

func loadMeta(dataDir string) (metaJSON, bool, error) {
	var m metaJSON
	data, err := os.ReadFile(filepath.Join(dataDir, metaFile))
	if errors.Is(err, os.ErrNotExist) {
		return m, false, nil
	}
	if err != nil {
		return m, false, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, false, fmt.Errorf("broker: %s: %w", metaFile, err)
	}
	return m, true, nil
}

// reg returns the current registry.
func (b *Broker) reg() *registry { return b.topics.Load() }

// topicByName returns a topic, or nil. A deleted topic leaves the
// registry at once (its partitions are closed after).
func (b *Broker) topicByName(name string) *topic {
	return b.reg().byName[name]
}

// publishLocked installs a new registry built by fn from a copy of the
// current one. b.mu must be held.
func (b *Broker) publishLocked(fn func(r *registry)) {
	old := b.reg()
	r := &registry{byName: make(map[string]*topic, len(old.byName)+1), byID: make(map[[16]byte]*topic, len(old.byID)+1)}
	for k, v := range old.byName {
		r.byName[k] = v
	}
	for k, v := range old.byID {
		r.byID[k] = v
	}
	fn(r)
	b.topics.Store(r)
}

// createTopic creates a topic with n partitions and config overrides.
// validateOnly checks without creating.
func (b *Broker) createTopic(name string, n int32, configs map[string]string, validateOnly bool) (*topic, error) {
	if err := validateTopicName(name); err != nil {
		return nil, err
	}
	if n == -1 {
		n = b.cfg.DefaultPartitions
	}
	if n < 1 {
		return nil, fmt.Errorf("%w: partition count %d must be at least 1", kerr.InvalidPartitions, n)
	}
	if n > 100000 {
		return nil, fmt.Errorf("%w: partition count %d above 100000", kerr.InvalidPartitions, n)
	}
	cfg, err := b.effectiveConfig(configs)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.removing[name] {
		return nil, fmt.Errorf("%w: topic %q is marked for deletion", kerr.TopicAlreadyExists, name)
	}
	if t := b.reg().byName[name]; t != nil {
		return t, fmt.Errorf("%w: topic %q already exists", kerr.TopicAlreadyExists, name)
	}
	// Kafka refuses names that collide once '.' and '_' are equated
	// (metric names).
	norm := strings.ReplaceAll(name, ".", "_")
	for other := range b.reg().byName {
		if other != name && strings.ReplaceAll(other, ".", "_") == norm {
			return nil, fmt.Errorf("%w: topic %q collides with existing topic %q", kerr.InvalidTopicException, name, other)
		}
	}
	if validateOnly {
		return &topic{name: name, cfg: cfg, configs: configs, parts: make([]*partition, n)}, nil
	}
	t := &topic{name: name, id: newTopicID(), cfg: cfg, configs: cloneMap(configs), internal: strings.HasPrefix(name, "__")}
	for i := int32(0); i < n; i++ {
		p, err := b.openPartition(t, i)
		if err != nil {
			for _, q := range t.parts {
				q.close()
			}
			return nil, fmt.Errorf("%w: %v", kerr.KafkaStorageError, err)
		}
		t.parts = append(t.parts, p)
	}
	b.publishLocked(func(r *registry) {
		r.byName[name] = t
		r.byID[t.id] = t
	})
	if err := b.saveMetaLocked(); err != nil {
		b.log.Error("broker: saving metadata", "err", err)
		return nil, fmt.Errorf("%w: %v", kerr.KafkaStorageError, err)
	}
	b.log.Info("created topic", "topic", name, "partitions", n, "configs", configs)
	return t, nil
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// deleteTopic removes a topic and its data.
func (b *Broker) deleteTopic(t *topic) error {
	b.mu.Lock()
	// t may be stale: CreatePartitions and config changes replace the
	// topic value.
	cur := b.reg().byName[t.name]
	if cur == nil || cur.id != t.id {
		b.mu.Unlock()
		return fmt.Errorf("%w: topic %q", kerr.UnknownTopicOrPartition, t.name)
	}
	t = cur
	if b.removing == nil {
		b.removing = map[string]bool{}
	}
	b.removing[t.name] = true
	b.publishLocked(func(r *registry) {
		delete(r.byName, t.name)
		delete(r.byID, t.id)
	})
	err := b.saveMetaLocked()
	b.mu.Unlock()
	for _, p := range t.parts {
		p.close()
		p.wake() // waiting fetches answer now, not at max.wait.ms
		if rerr := os.RemoveAll(p.dir); rerr != nil && err == nil {
			err = rerr
		}
	}
	b.mu.Lock()
	delete(b.removing, t.name)
	b.mu.Unlock()
	b.log.Info("deleted topic", "topic", t.name)
	return err
}

// createPartitions grows a topic to n partitions.
func (b *Broker) createPartitions(t *topic, n int32, validateOnly bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t = b.currentLocked(t); t == nil {
		return kerr.UnknownTopicOrPartition
	}
	cur := int32(len(t.parts))
	if n <= cur {
		return fmt.Errorf("%w: topic %q has %d partitions; the count can only grow", kerr.InvalidPartitions, t.name, cur)
	}
	if n > 100000 {
		return fmt.Errorf("%w: partition count %d above 100000", kerr.InvalidPartitions, n)
	}
	if validateOnly {
		return nil
	}
	parts := slices.Clone(t.parts)
	for i := cur; i < n; i++ {
		p, err := b.openPartition(t, i)
		if err != nil {
			return fmt.Errorf("%w: %v", kerr.KafkaStorageError, err)
		}
		parts = append(parts, p)
	}
	nt := *t
	nt.parts = parts
	b.replaceTopicLocked(&nt)
	return b.saveMetaLocked()
}

// currentLocked returns the registered value of topic t, which a
// concurrent change may have replaced since t was looked up, or nil if t
// was deleted. b.mu must be held.
func (b *Broker) currentLocked(t *topic) *topic {
	cur := b.reg().byName[t.name]
	if cur == nil || cur.id != t.id {
		return nil
	}
	return cur
}

// replaceTopicLocked swaps in a new topic value (partitions keep pointing
// at the shared partition objects).
func (b *Broker) replaceTopicLocked(nt *topic) {
	for _, p := range nt.parts {
		p.topic.Store(nt)
	}
	b.publishLocked(func(r *registry) {
		r.byName[nt.name] = nt
		r.byID[nt.id] = nt
	})
}

// alterTopicConfigs applies new overrides to a topic.
func (b *Broker) alterTopicConfigs(t *topic, overrides map[string]string, validateOnly bool) error {
	cfg, err := b.effectiveConfig(overrides)
	if err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if t = b.currentLocked(t); t == nil {
		return kerr.UnknownTopicOrPartition
	}
	nt := *t
	nt.cfg = cfg
	nt.configs = cloneMap(overrides)
	for _, p := range nt.parts {
		if err := p.log.Reconfigure(*b.logOptions(cfg)); err != nil {
			return fmt.Errorf("%w: %v", kerr.InvalidConfig, err)
		}
	}
	b.replaceTopicLocked(&nt)
	return b.saveMetaLocked()
}
