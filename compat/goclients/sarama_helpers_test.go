package goclients

import (
	"log"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// saramaVersions are the protocol levels every sarama test runs at:
// sarama's default (which is what most users leave), a recent 3.x, the
// newest level this sarama knows, and 1.0, sarama's default until 1.41
// (2023) and still pinned by many programs: older request versions, some
// of which Kafka 4 removed.
var saramaVersions = []struct {
	name string
	v    sarama.KafkaVersion
}{
	{"default", sarama.DefaultVersion},
	{"3.6", sarama.V3_6_0_0},
	{"newest", sarama.MaxVersion},
	{"old", sarama.V1_0_0_0},
}

// forSaramaVersions runs fn as a subtest at each protocol level, or at
// those listed in WEIR_COMPAT_SARAMA_VERSIONS (comma-separated, e.g.
// "1.0.0,2.1.0").
func forSaramaVersions(t *testing.T, fn func(t *testing.T, v sarama.KafkaVersion)) {
	versions := saramaVersions
	if env := os.Getenv("WEIR_COMPAT_SARAMA_VERSIONS"); env != "" {
		versions = nil
		for _, s := range strings.Split(env, ",") {
			v, err := sarama.ParseKafkaVersion(s)
			if err != nil {
				t.Fatalf("WEIR_COMPAT_SARAMA_VERSIONS: %v", err)
			}
			versions = append(versions, struct {
				name string
				v    sarama.KafkaVersion
			}{"env", v})
		}
	}
	for _, sv := range versions {
		t.Run(sv.name+"="+sv.v.String(), func(t *testing.T) { fn(t, sv.v) })
	}
}

// With WEIR_COMPAT_LOG set, sarama logs to stderr too.
func init() {
	if os.Getenv("WEIR_COMPAT_LOG") != "" {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.Lmicroseconds)
	}
}

// saramaConfig is a sarama config at protocol level v whose every network
// wait is bounded, with short backoffs so that tests stay quick.
func saramaConfig(v sarama.KafkaVersion) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = v
	cfg.ClientID = "weir-compat-sarama"
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 15 * time.Second
	cfg.Net.WriteTimeout = 10 * time.Second
	cfg.Metadata.Retry.Max = 5
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	cfg.Metadata.Timeout = 15 * time.Second
	cfg.Producer.Return.Successes = true
	cfg.Producer.Retry.Backoff = 50 * time.Millisecond
	cfg.Producer.Timeout = 10 * time.Second
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Retry.Backoff = 50 * time.Millisecond
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	cfg.Admin.Timeout = 10 * time.Second
	cfg.Admin.Retry.Backoff = 50 * time.Millisecond
	return cfg
}

func saramaAdmin(t *testing.T, addr string, v sarama.KafkaVersion) sarama.ClusterAdmin {
	t.Helper()
	adm, err := sarama.NewClusterAdmin([]string{addr}, saramaConfig(v))
	if err != nil {
		t.Fatalf("sarama.NewClusterAdmin: %v", err)
	}
	t.Cleanup(func() { adm.Close() })
	return adm
}

// saramaCreateTopic creates topic with n partitions through sarama's
// ClusterAdmin.
func saramaCreateTopic(t *testing.T, addr string, v sarama.KafkaVersion, topic string, n int32) {
	t.Helper()
	adm := saramaAdmin(t, addr, v)
	if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: n, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("CreateTopic %s: %v", topic, err)
	}
}

func saramaHeaders(hs []*sarama.RecordHeader) string {
	var kv []string
	for _, h := range hs {
		kv = append(kv, string(h.Key), string(h.Value))
	}
	return joinHeaders(kv...)
}

// saramaConsumer connects a sarama Consumer, failing the test if it cannot.
func saramaConsumer(t *testing.T, addr string, cfg *sarama.Config) sarama.Consumer {
	t.Helper()
	c, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	return c
}

// saramaReadAll reads every partition of topic from the oldest offset
// with a sarama Consumer until n records in all were read (and then a
// little longer, to catch extra ones), failing after a bounded time.
func saramaReadAll(t *testing.T, addr string, v sarama.KafkaVersion, topic string, n int) []record {
	t.Helper()
	c := saramaConsumer(t, addr, saramaConfig(v))
	defer c.Close()
	parts, err := c.Partitions(topic)
	if err != nil {
		t.Fatalf("Partitions(%s): %v", topic, err)
	}
	out := make(chan record, n+100)
	errs := make(chan error, len(parts))
	var pcs []sarama.PartitionConsumer
	for _, p := range parts {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("ConsumePartition(%s, %d): %v", topic, p, err)
		}
		pcs = append(pcs, pc)
		go func() {
			for m := range pc.Messages() {
				out <- record{Partition: m.Partition, Offset: m.Offset, Key: string(m.Key), Value: string(m.Value), Headers: saramaHeaders(m.Headers)}
			}
		}()
		go func() {
			for err := range pc.Errors() {
				errs <- err
			}
		}()
	}
	defer func() {
		for _, pc := range pcs {
			pc.AsyncClose()
		}
	}()
	var got []record
	timeout := time.After(30 * time.Second)
	var grace <-chan time.Time
	for {
		select {
		case r := <-out:
			got = append(got, r)
			if len(got) == n {
				grace = time.After(300 * time.Millisecond)
			}
		case err := <-errs:
			t.Fatalf("partition consumer of %s: %v", topic, err)
		case <-grace:
			return got
		case <-timeout:
			t.Fatalf("read %d of %d records of %s within 30s", len(got), n, topic)
		}
	}
}
