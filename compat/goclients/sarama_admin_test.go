package goclients

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func strp(s string) *string { return &s }

// TestSaramaAdmin drives sarama's ClusterAdmin through a topic's life:
// CreateTopic with configs (and validate-only, and a duplicate),
// ListTopics, DescribeTopics, DescribeCluster, DescribeConfig,
// AlterConfig (which replaces every override), IncrementalAlterConfig,
// CreatePartitions, DeleteRecords and DeleteTopic, checking each result
// exactly.
func TestSaramaAdmin(t *testing.T) {
	forSaramaVersions(t, func(t *testing.T, v sarama.KafkaVersion) {
		b := startBroker(t)
		adm := saramaAdmin(t, b.Addr(), v)
		const topic = "sarama-admin"

		// CreateTopic: validate only creates nothing; then for real, with
		// configs; then again, which fails.
		detail := &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1, ConfigEntries: map[string]*string{
			"retention.ms":   strp("3600000"),
			"cleanup.policy": strp("compact"),
		}}
		if err := adm.CreateTopic(topic, detail, true); err != nil {
			t.Fatalf("CreateTopic validateOnly: %v", err)
		}
		topics, err := adm.ListTopics()
		if err != nil {
			t.Fatalf("ListTopics: %v", err)
		}
		if _, ok := topics[topic]; ok {
			t.Fatalf("validate-only CreateTopic created %s", topic)
		}
		if err := adm.CreateTopic(topic, detail, false); err != nil {
			t.Fatalf("CreateTopic: %v", err)
		}
		if err := adm.CreateTopic(topic, detail, false); !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			t.Fatalf("CreateTopic of an existing topic: %v, want %v", err, sarama.ErrTopicAlreadyExists)
		}

		// ListTopics: partitions, replicas and exactly the overrides.
		overrides := func() map[string]string {
			t.Helper()
			topics, err := adm.ListTopics()
			if err != nil {
				t.Fatalf("ListTopics: %v", err)
			}
			td, ok := topics[topic]
			if !ok {
				t.Fatalf("ListTopics: no %s in %v", topic, slices.Collect(maps.Keys(topics)))
			}
			if td.ReplicationFactor != 1 {
				t.Errorf("ListTopics: replication factor %d", td.ReplicationFactor)
			}
			for p := range td.NumPartitions {
				if !slices.Equal(td.ReplicaAssignment[p], []int32{1}) {
					t.Errorf("ListTopics: partition %d replicas %v", p, td.ReplicaAssignment[p])
				}
			}
			out := map[string]string{}
			for k, v := range td.ConfigEntries {
				out[k] = *v
			}
			out["#partitions"] = fmt.Sprint(td.NumPartitions)
			return out
		}
		if got, want := overrides(), map[string]string{"#partitions": "3", "retention.ms": "3600000", "cleanup.policy": "compact"}; !maps.Equal(got, want) {
			t.Errorf("ListTopics after CreateTopic: %v, want %v", got, want)
		}

		// DescribeTopics: one leader (broker 1) per partition.
		describe := func(n int) {
			t.Helper()
			md, err := adm.DescribeTopics([]string{topic})
			if err != nil || len(md) != 1 {
				t.Fatalf("DescribeTopics: %v, %v", err, md)
			}
			if md[0].Err != sarama.ErrNoError || md[0].Name != topic || md[0].IsInternal || len(md[0].Partitions) != n {
				t.Fatalf("DescribeTopics: %+v, want %d partitions", md[0], n)
			}
			ps := slices.Clone(md[0].Partitions)
			slices.SortFunc(ps, func(a, b *sarama.PartitionMetadata) int { return int(a.ID - b.ID) })
			for i, p := range ps {
				if p.Err != sarama.ErrNoError || p.ID != int32(i) || p.Leader != 1 || !slices.Equal(p.Replicas, []int32{1}) || !slices.Equal(p.Isr, []int32{1}) {
					t.Errorf("DescribeTopics: partition %+v", p)
				}
			}
		}
		describe(3)

		brokers, controller, err := adm.DescribeCluster()
		if err != nil || len(brokers) != 1 || brokers[0].ID() != 1 || brokers[0].Addr() != b.Addr() || controller != 1 {
			var addrs []string
			for _, br := range brokers {
				addrs = append(addrs, fmt.Sprintf("%d@%s", br.ID(), br.Addr()))
			}
			t.Errorf("DescribeCluster: %v, brokers %v, controller %d", err, addrs, controller)
		}

		// DescribeConfig: an override and a default.
		config := func(name string) sarama.ConfigEntry {
			t.Helper()
			ents, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{name}})
			if err != nil || len(ents) != 1 || ents[0].Name != name {
				t.Fatalf("DescribeConfig %s: %v, %+v", name, err, ents)
			}
			return ents[0]
		}
		checkConfig := func(what, name, value string, isDefault bool) {
			t.Helper()
			e := config(name)
			source := sarama.SourceTopic
			if isDefault {
				source = sarama.SourceDefault
			}
			if !v.IsAtLeast(sarama.V1_1_0_0) && !isDefault {
				// DescribeConfigs v0 has no sources: sarama makes
				// IsDefault entries SourceDefault, others SourceUnknown.
				source = sarama.SourceUnknown
			}
			if e.Value != value || e.Default != isDefault || e.Source != source || e.ReadOnly || e.Sensitive {
				t.Errorf("%s: DescribeConfig %s: %+v, want value %s, default %v, source %v", what, name, e, value, isDefault, source)
			}
		}
		checkConfig("after CreateTopic", "retention.ms", "3600000", false)
		checkConfig("after CreateTopic", "segment.bytes", "1073741824", true)

		// AlterConfig replaces the topic's whole set of overrides.
		if err := adm.AlterConfig(sarama.TopicResource, topic, map[string]*string{"retention.ms": strp("7200000")}, false); err != nil {
			t.Fatalf("AlterConfig: %v", err)
		}
		checkConfig("after AlterConfig", "retention.ms", "7200000", false)
		checkConfig("after AlterConfig", "cleanup.policy", "delete", true)
		if err := adm.AlterConfig(sarama.TopicResource, topic, map[string]*string{"retention.ms": strp("60000")}, true); err != nil {
			t.Fatalf("AlterConfig validateOnly: %v", err)
		}
		checkConfig("after AlterConfig validateOnly", "retention.ms", "7200000", false)

		// IncrementalAlterConfig sets and deletes single keys (sarama has
		// it from 2.3; older levels use AlterConfig for the same result).
		if v.IsAtLeast(sarama.V2_3_0_0) {
			if err := adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
				"max.message.bytes": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: strp("2000000")},
				"cleanup.policy":    {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: strp("compact")},
			}, false); err != nil {
				t.Fatalf("IncrementalAlterConfig set: %v", err)
			}
			if err := adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
				"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationDelete},
			}, false); err != nil {
				t.Fatalf("IncrementalAlterConfig delete: %v", err)
			}
		} else if err := adm.AlterConfig(sarama.TopicResource, topic, map[string]*string{"max.message.bytes": strp("2000000"), "cleanup.policy": strp("compact")}, false); err != nil {
			t.Fatalf("AlterConfig: %v", err)
		}
		checkConfig("after IncrementalAlterConfig", "max.message.bytes", "2000000", false)
		checkConfig("after IncrementalAlterConfig", "cleanup.policy", "compact", false)
		checkConfig("after IncrementalAlterConfig", "retention.ms", "604800000", true)
		if got, want := overrides(), map[string]string{"#partitions": "3", "max.message.bytes": "2000000", "cleanup.policy": "compact"}; !maps.Equal(got, want) {
			t.Errorf("ListTopics after the alters: %v, want %v", got, want)
		}
		if err := adm.AlterConfig(sarama.TopicResource, topic, map[string]*string{"no.such.config": strp("1")}, false); err == nil {
			t.Errorf("AlterConfig of an unknown config: no error")
		}

		// CreatePartitions (sarama has it from 1.0): 3 to 5; the new ones
		// take records.
		last := int32(2) // the last partition
		if v.IsAtLeast(sarama.V1_0_0_0) {
			if err := adm.CreatePartitions(topic, 5, nil, false); err != nil {
				t.Fatalf("CreatePartitions: %v", err)
			}
			describe(5)
			if err := adm.CreatePartitions(topic, 4, nil, false); !errors.Is(err, sarama.ErrInvalidPartitions) {
				t.Errorf("CreatePartitions to fewer: %v, want %v", err, sarama.ErrInvalidPartitions)
			}
			last = 4
		}

		// DeleteRecords, then offsets and a consumer see the new start.
		// (acks=all: Weir's high watermark is the durable offset, which an
		// acks=1 answer may precede by a group commit window.)
		cfg := saramaConfig(v)
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		cfg.Producer.Partitioner = sarama.NewManualPartitioner
		pcl := saramaConnectedClient(t, b.Addr(), cfg, topic)
		if pcl == nil {
			t.FailNow()
		}
		defer pcl.Close()
		p, err := sarama.NewSyncProducerFromClient(pcl)
		if err != nil {
			t.Fatalf("NewSyncProducer: %v", err)
		}
		for _, part := range []int32{0, last} {
			for i := range 10 {
				if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: part, Value: sarama.StringEncoder(fmt.Sprintf("p%d-%d", part, i))}); err != nil {
					t.Fatalf("SendMessage to partition %d: %v", part, err)
				}
			}
		}
		p.Close()
		if err := adm.DeleteRecords(topic, map[int32]int64{0: 4, last: -1}); err != nil {
			t.Fatalf("DeleteRecords: %v", err)
		}
		if err := adm.DeleteRecords(topic, map[int32]int64{0: 11}); err == nil {
			t.Errorf("DeleteRecords beyond the high watermark: no error")
		}
		cl, err := sarama.NewClient([]string{b.Addr()}, saramaConfig(v))
		if err != nil {
			t.Fatalf("NewClient: %v", err)
		}
		defer cl.Close()
		for _, c := range []struct {
			part         int32
			oldest, newe int64
		}{{0, 4, 10}, {last, 10, 10}, {1, 0, 0}} {
			oldest, err1 := cl.GetOffset(topic, c.part, sarama.OffsetOldest)
			newest, err2 := cl.GetOffset(topic, c.part, sarama.OffsetNewest)
			if err1 != nil || err2 != nil || oldest != c.oldest || newest != c.newe {
				t.Errorf("partition %d after DeleteRecords: oldest %d (%v), newest %d (%v), want %d, %d", c.part, oldest, err1, newest, err2, c.oldest, c.newe)
			}
		}
		cons := saramaConsumer(t, b.Addr(), saramaConfig(v))
		defer cons.Close()
		pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("ConsumePartition after DeleteRecords: %v", err)
		}
		select {
		case m := <-pc.Messages():
			if m.Offset != 4 || string(m.Value) != "p0-4" {
				t.Errorf("first record after DeleteRecords: offset %d %q, want 4 p0-4", m.Offset, m.Value)
			}
		case err := <-pc.Errors():
			t.Errorf("consume after DeleteRecords: %v", err)
		case <-time.After(10 * time.Second):
			t.Errorf("no record after DeleteRecords within 10s")
		}
		pc.Close()

		// DeleteTopic: gone from ListTopics and DescribeTopics.
		if err := adm.DeleteTopic(topic); err != nil {
			t.Fatalf("DeleteTopic: %v", err)
		}
		topics, err = adm.ListTopics()
		if err != nil {
			t.Fatalf("ListTopics after DeleteTopic: %v", err)
		}
		if _, ok := topics[topic]; ok {
			t.Errorf("ListTopics after DeleteTopic still lists %s", topic)
		}
		md, err := adm.DescribeTopics([]string{topic})
		if err != nil || len(md) != 1 || md[0].Err != sarama.ErrUnknownTopicOrPartition {
			t.Errorf("DescribeTopics after DeleteTopic: %v, %+v, want %v", err, md, sarama.ErrUnknownTopicOrPartition)
		}
		if err := adm.DeleteTopic(topic); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			t.Errorf("DeleteTopic of a deleted topic: %v, want %v", err, sarama.ErrUnknownTopicOrPartition)
		}
	})
}

// TestSaramaOffsets checks Client.GetOffset by OffsetOldest, OffsetNewest
// and timestamps against records produced with explicit timestamps.
func TestSaramaOffsets(t *testing.T) {
	forSaramaVersions(t, func(t *testing.T, v sarama.KafkaVersion) {
		b := startBroker(t)
		const topic = "sarama-offsets"
		saramaCreateTopic(t, b.Addr(), v, topic, 1)
		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		cfg := saramaConfig(v)
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		cfg.Producer.Flush.Messages = 5
		cfg.Producer.Flush.Frequency = 5 * time.Millisecond
		msgs := make([]*sarama.ProducerMessage, 20)
		for i := range msgs {
			// Timestamps base, base+1s, ... and two records sharing one.
			ts := base.Add(time.Duration(i) * time.Second)
			if i == 11 {
				ts = base.Add(10 * time.Second)
			}
			msgs[i] = &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprint(i)), Timestamp: ts}
		}
		within(t, 30*time.Second, "producing", func() { saramaAsyncProduce(t, b.Addr(), cfg, msgs) })
		cl, err := sarama.NewClient([]string{b.Addr()}, saramaConfig(v))
		if err != nil {
			t.Fatalf("NewClient: %v", err)
		}
		defer cl.Close()
		ms := func(d time.Duration) int64 { return base.Add(d).UnixMilli() }
		for _, c := range []struct {
			what string
			ts   int64
			want int64
		}{
			{"oldest", sarama.OffsetOldest, 0},
			{"newest", sarama.OffsetNewest, 20},
			{"before the first record", ms(-time.Minute), 0},
			{"the first record's timestamp", ms(0), 0},
			{"between records", ms(4500 * time.Millisecond), 5},
			{"a timestamp two records share", ms(10 * time.Second), 10},
			{"after the shared timestamp", ms(10*time.Second + time.Millisecond), 12},
			{"the last record's timestamp", ms(19 * time.Second), 19},
			{"after every record", ms(time.Minute), -1},
		} {
			got, err := cl.GetOffset(topic, 0, c.ts)
			if err != nil || got != c.want {
				t.Errorf("GetOffset %s (%d): %d, %v; want %d", c.what, c.ts, got, err, c.want)
			}
		}
	})
}
