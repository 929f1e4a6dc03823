package goclients

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// saramaConsumePartition reads n records of topic/partition from offset.
func saramaConsumePartition(t *testing.T, addr string, cfg *sarama.Config, topic string, partition int32, offset int64, n int) []*sarama.ConsumerMessage {
	t.Helper()
	c := saramaConsumer(t, addr, cfg)
	defer c.Close()
	pc, err := c.ConsumePartition(topic, partition, offset)
	if err != nil {
		t.Fatalf("ConsumePartition(%s, %d, %d): %v", topic, partition, offset, err)
	}
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	timeout := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, m)
		case err := <-pc.Errors():
			t.Fatalf("consuming %s/%d: %v", topic, partition, err)
		case <-timeout:
			t.Fatalf("read %d of %d records of %s/%d within 20s", len(out), n, topic, partition)
		}
	}
	return out
}

// TestSaramaRecordShapes produces records of unusual shapes (null and
// empty keys and values, headers with empty and null values, a record much
// larger than the consumer's fetch size, many records in one compressed
// batch) and reads them back exactly, null and empty told apart.
func TestSaramaRecordShapes(t *testing.T) {
	b := startBroker(t)
	v := sarama.DefaultVersion
	const topic = "sarama-shapes"
	saramaCreateTopic(t, b.Addr(), v, topic, 1)
	big := strings.Repeat("0123456789abcdef", 50000) // 800 kB
	type shape struct {
		key, value []byte
		headers    []sarama.RecordHeader
	}
	shapes := []shape{
		{nil, []byte("null key"), nil},
		{[]byte{}, []byte("empty key"), nil},
		{[]byte("tombstone"), nil, nil},
		{[]byte("empty value"), []byte{}, nil},
		{[]byte("headers"), []byte("v"), []sarama.RecordHeader{{Key: []byte("empty"), Value: []byte{}}, {Key: []byte("null"), Value: nil}, {Key: []byte(""), Value: []byte("empty key")}, {Key: []byte("dup"), Value: []byte("1")}, {Key: []byte("dup"), Value: []byte("2")}}},
		{[]byte("big"), []byte(big), nil},
		{[]byte("ünïcødé ✓"), []byte("\x00\xff binary \x01"), nil},
	}
	var msgs []*sarama.ProducerMessage
	for _, s := range shapes {
		m := &sarama.ProducerMessage{Topic: topic, Headers: s.headers}
		if s.key != nil {
			m.Key = sarama.ByteEncoder(s.key)
		}
		if s.value != nil {
			m.Value = sarama.ByteEncoder(s.value)
		}
		msgs = append(msgs, m)
	}
	cfg := saramaConfig(v)
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.MaxMessageBytes = 1 << 20
	within(t, 30*time.Second, "producing shapes", func() { saramaSyncProduce(t, b.Addr(), cfg, msgs) })
	// 1000 small records in few zstd batches.
	cfg.Producer.Compression = sarama.CompressionZSTD
	cfg.Producer.Flush.Messages = 500
	cfg.Producer.Flush.Frequency = 50 * time.Millisecond
	var many []*sarama.ProducerMessage
	for i := range 1000 {
		many = append(many, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprint(i % 10)), Value: sarama.StringEncoder(fmt.Sprintf("many %d", i))})
	}
	within(t, 30*time.Second, "producing many", func() { saramaAsyncProduce(t, b.Addr(), cfg, many) })
	if t.Failed() {
		t.FailNow()
	}

	ccfg := saramaConfig(v)
	ccfg.Consumer.Fetch.Default = 1024 // smaller than the big record
	got := saramaConsumePartition(t, b.Addr(), ccfg, topic, 0, sarama.OffsetOldest, len(shapes)+len(many))
	for i, s := range shapes {
		m := got[i]
		if m.Offset != int64(i) {
			t.Errorf("shape %d: offset %d", i, m.Offset)
		}
		if (m.Key == nil) != (s.key == nil) || !bytes.Equal(m.Key, s.key) {
			t.Errorf("shape %d: key %q (nil %v), want %q (nil %v)", i, m.Key, m.Key == nil, s.key, s.key == nil)
		}
		if (m.Value == nil) != (s.value == nil) || !bytes.Equal(m.Value, s.value) {
			t.Errorf("shape %d: value of %d bytes (nil %v), want %d bytes (nil %v)", i, len(m.Value), m.Value == nil, len(s.value), s.value == nil)
		}
		if len(m.Headers) != len(s.headers) {
			t.Errorf("shape %d: %d headers, want %d", i, len(m.Headers), len(s.headers))
			continue
		}
		for j, h := range s.headers {
			g := m.Headers[j]
			if string(g.Key) != string(h.Key) || (g.Value == nil) != (h.Value == nil) || !bytes.Equal(g.Value, h.Value) {
				t.Errorf("shape %d header %d: %q=%q (nil %v), want %q=%q (nil %v)", i, j, g.Key, g.Value, g.Value == nil, h.Key, h.Value, h.Value == nil)
			}
		}
	}
	for i, m := range got[len(shapes):] {
		if m.Offset != int64(len(shapes)+i) || string(m.Value) != fmt.Sprintf("many %d", i) || string(m.Key) != fmt.Sprint(i%10) {
			t.Fatalf("record %d of the batch: offset %d %q=%q", i, m.Offset, m.Key, m.Value)
		}
	}
}

// TestSaramaConsumeNewest starts partition consumers at OffsetNewest (and
// at a given offset), then produces: the waiting fetches must return the
// new records.
func TestSaramaConsumeNewest(t *testing.T) {
	b := startBroker(t)
	v := sarama.DefaultVersion
	const topic = "sarama-newest"
	saramaCreateTopic(t, b.Addr(), v, topic, 1)
	saramaProduceN(t, b.Addr(), v, topic, 0, 5)
	cfg := saramaConfig(v)
	cfg.Consumer.MaxWaitTime = 2 * time.Second // the long poll must be woken, not time out
	consumer := func() sarama.Consumer {
		t.Helper()
		c := saramaConsumer(t, b.Addr(), cfg)
		t.Cleanup(func() { c.Close() })
		return c
	}
	newest, err := consumer().ConsumePartition(topic, 0, sarama.OffsetNewest)
	if err != nil {
		t.Fatalf("ConsumePartition newest: %v", err)
	}
	defer newest.Close()
	at3, err := consumer().ConsumePartition(topic, 0, 3)
	if err != nil {
		t.Fatalf("ConsumePartition at 3: %v", err)
	}
	defer at3.Close()
	time.Sleep(300 * time.Millisecond) // let the fetch wait
	start := time.Now()
	saramaProduceN(t, b.Addr(), v, topic, 5, 3)
	read := func(pc sarama.PartitionConsumer, from, n int) {
		t.Helper()
		for i := range n {
			select {
			case m := <-pc.Messages():
				if m.Offset != int64(from+i) || string(m.Value) != fmt.Sprintf("value-%d", from+i) {
					t.Fatalf("read offset %d %q, want %d value-%d", m.Offset, m.Value, from+i, from+i)
				}
			case err := <-pc.Errors():
				t.Fatalf("consume: %v", err)
			case <-time.After(15 * time.Second):
				t.Fatalf("no record %d within 15s", from+i)
			}
		}
	}
	read(newest, 5, 3)
	read(at3, 3, 5)
	t.Logf("new records read %v after producing began", time.Since(start))
	if hwm := newest.HighWaterMarkOffset(); hwm != 8 {
		t.Errorf("HighWaterMarkOffset %d, want 8", hwm)
	}
}

// TestSaramaOffsetOutOfRange asks for offsets outside the log: past the
// end, and below the start after DeleteRecords.
func TestSaramaOffsetOutOfRange(t *testing.T) {
	b := startBroker(t)
	v := sarama.DefaultVersion
	const topic = "sarama-range"
	saramaCreateTopic(t, b.Addr(), v, topic, 1)
	saramaProduceN(t, b.Addr(), v, topic, 0, 10)
	if err := saramaAdmin(t, b.Addr(), v).DeleteRecords(topic, map[int32]int64{0: 5}); err != nil {
		t.Fatalf("DeleteRecords: %v", err)
	}
	c := saramaConsumer(t, b.Addr(), saramaConfig(v))
	defer c.Close()
	for _, off := range []int64{11, 1000, 0, 4} {
		pc, err := c.ConsumePartition(topic, 0, off)
		if !errors.Is(err, sarama.ErrOffsetOutOfRange) {
			t.Errorf("ConsumePartition at %d: %v, want %v", off, err, sarama.ErrOffsetOutOfRange)
		}
		if pc != nil {
			pc.Close()
		}
	}
	// The end itself is in range (the next record's offset).
	pc, err := c.ConsumePartition(topic, 0, 10)
	if err != nil {
		t.Fatalf("ConsumePartition at the end: %v", err)
	}
	pc.Close()
	got := saramaConsumePartition(t, b.Addr(), saramaConfig(v), topic, 0, sarama.OffsetOldest, 5)
	if got[0].Offset != 5 || string(got[0].Value) != "value-5" {
		t.Errorf("oldest after DeleteRecords: offset %d %q", got[0].Offset, got[0].Value)
	}
}

// TestSaramaProduceErrors checks the errors a producer gets: a record
// larger than the topic's max.message.bytes, and a partition that does
// not exist.
func TestSaramaProduceErrors(t *testing.T) {
	b := startBroker(t)
	v := sarama.DefaultVersion
	const topic = "sarama-limits"
	adm := saramaAdmin(t, b.Addr(), v)
	if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1, ConfigEntries: map[string]*string{"max.message.bytes": strp("2000")}}, false); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	cfg := saramaConfig(v)
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Retry.Max = 0
	p, err := sarama.NewSyncProducer([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatalf("NewSyncProducer: %v", err)
	}
	defer p.Close()
	_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(strings.Repeat("x", 5000))})
	if !errors.Is(err, sarama.ErrMessageSizeTooLarge) {
		t.Errorf("record over max.message.bytes: %v, want %v", err, sarama.ErrMessageSizeTooLarge)
	}
	if _, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("small")}); err != nil || off != 0 {
		t.Errorf("small record after a rejected one: offset %d, %v; want 0", off, err)
	}
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	mp, err := sarama.NewSyncProducer([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatalf("NewSyncProducer: %v", err)
	}
	defer mp.Close()
	if _, _, err := mp.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 7, Value: sarama.StringEncoder("x")}); !errors.Is(err, sarama.ErrInvalidPartition) {
		t.Errorf("partition 7 of 1: %v, want %v", err, sarama.ErrInvalidPartition)
	}
}

// TestSaramaAutoCreate produces to a topic that does not exist: Metadata
// creates it (auto.create.topics.enable) with one partition.
func TestSaramaAutoCreate(t *testing.T) {
	forSaramaVersions(t, func(t *testing.T, v sarama.KafkaVersion) {
		b := startBroker(t)
		cfg := saramaConfig(v)
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		p, err := sarama.NewSyncProducer([]string{b.Addr()}, cfg)
		if err != nil {
			t.Fatalf("NewSyncProducer: %v", err)
		}
		defer p.Close()
		part, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: "auto-created", Value: sarama.StringEncoder("first")})
		if err != nil || part != 0 || off != 0 {
			t.Fatalf("SendMessage to a new topic: partition %d offset %d, %v", part, off, err)
		}
		md, err := saramaAdmin(t, b.Addr(), v).DescribeTopics([]string{"auto-created"})
		if err != nil || len(md) != 1 || md[0].Err != sarama.ErrNoError || len(md[0].Partitions) != 1 {
			t.Fatalf("DescribeTopics: %v, %+v", err, md)
		}
	})
}

// TestSaramaOffsetManager commits offsets with metadata through sarama's
// OffsetManager, reads them back in a new one, and moves one back with
// ResetOffset; DeleteConsumerGroupOffset removes one.
func TestSaramaOffsetManager(t *testing.T) {
	forSaramaVersions(t, func(t *testing.T, v sarama.KafkaVersion) {
		b := startBroker(t)
		const topic, group = "sarama-om", "sarama-om-group"
		saramaCreateTopic(t, b.Addr(), v, topic, 2)
		saramaProduceN(t, b.Addr(), v, topic, 0, 20)
		cfg := saramaConfig(v)
		cfg.Consumer.Offsets.AutoCommit.Enable = false
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		manage := func(fn func(pom [2]sarama.PartitionOffsetManager)) {
			t.Helper()
			cl, err := sarama.NewClient([]string{b.Addr()}, cfg)
			if err != nil {
				t.Fatalf("NewClient: %v", err)
			}
			defer cl.Close()
			om, err := sarama.NewOffsetManagerFromClient(group, cl)
			if err != nil {
				t.Fatalf("NewOffsetManagerFromClient: %v", err)
			}
			var poms [2]sarama.PartitionOffsetManager
			for p := range int32(2) {
				if poms[p], err = om.ManagePartition(topic, p); err != nil {
					t.Fatalf("ManagePartition %d: %v", p, err)
				}
			}
			fn(poms)
			om.Commit()
			for _, pom := range poms {
				pom.AsyncClose()
			}
			// With auto commit off, the offset manager releases (and
			// closes the error channels of) its partitions when it closes.
			within(t, 20*time.Second, "closing the offset manager", func() {
				if err := om.Close(); err != nil {
					t.Errorf("OffsetManager.Close: %v", err)
				}
				for _, pom := range poms {
					for err := range pom.Errors() {
						t.Errorf("partition offset manager: %v", err)
					}
				}
			})
		}
		manage(func(poms [2]sarama.PartitionOffsetManager) {
			for p, pom := range poms {
				if off, md := pom.NextOffset(); off != sarama.OffsetOldest || md != "" {
					t.Errorf("partition %d before any commit: %d %q, want OffsetOldest", p, off, md)
				}
			}
			poms[0].MarkOffset(7, "seven")
			poms[1].MarkOffset(3, "")
		})
		manage(func(poms [2]sarama.PartitionOffsetManager) {
			if off, md := poms[0].NextOffset(); off != 7 || md != "seven" {
				t.Errorf("partition 0: next offset %d %q, want 7 seven", off, md)
			}
			if off, md := poms[1].NextOffset(); off != 3 || md != "" {
				t.Errorf("partition 1: next offset %d %q, want 3", off, md)
			}
			poms[0].ResetOffset(2, "back")
		})
		manage(func(poms [2]sarama.PartitionOffsetManager) {
			if off, md := poms[0].NextOffset(); off != 2 || md != "back" {
				t.Errorf("partition 0 after ResetOffset: %d %q, want 2 back", off, md)
			}
		})
		if !v.IsAtLeast(sarama.V2_4_0_0) {
			return // OffsetDelete from 2.4
		}
		adm := saramaAdmin(t, b.Addr(), v)
		if err := adm.DeleteConsumerGroupOffset(group, topic, 1); err != nil {
			t.Fatalf("DeleteConsumerGroupOffset: %v", err)
		}
		offs, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1}})
		if err != nil {
			t.Fatalf("ListConsumerGroupOffsets: %v", err)
		}
		if b0, b1 := offs.GetBlock(topic, 0), offs.GetBlock(topic, 1); b0 == nil || b0.Offset != 2 || b0.Metadata != "back" || b1 == nil || b1.Offset != -1 {
			t.Errorf("after DeleteConsumerGroupOffset: partition 0 %+v, partition 1 %+v", b0, b1)
		}
	})
}

// TestSaramaBrokerRestart keeps a producer (idempotent) and a consumer
// across a broker restart on the same address and data.
func TestSaramaBrokerRestart(t *testing.T) {
	b := startBroker(t)
	v := sarama.DefaultVersion
	const topic = "sarama-restart"
	saramaCreateTopic(t, b.Addr(), v, topic, 1)
	cfg := saramaConfig(v)
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Retry.Max = 20
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Metadata.Retry.Max = 20
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	p, err := sarama.NewSyncProducer([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatalf("NewSyncProducer: %v", err)
	}
	defer p.Close()
	ccfg := saramaConfig(v)
	c := saramaConsumer(t, b.Addr(), ccfg)
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("ConsumePartition: %v", err)
	}
	defer pc.Close()
	send := func(i int) {
		t.Helper()
		if _, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprint(i))}); err != nil || off != int64(i) {
			t.Fatalf("SendMessage %d: offset %d, %v", i, off, err)
		}
	}
	for i := range 5 {
		send(i)
	}
	b.Restart()
	for i := 5; i < 10; i++ {
		send(i)
	}
	var got []string
	timeout := time.After(30 * time.Second)
	for len(got) < 10 {
		select {
		case m := <-pc.Messages():
			got = append(got, string(m.Value))
		case err := <-pc.Errors():
			t.Logf("consumer error across the restart (retried): %v", err)
		case <-timeout:
			t.Fatalf("read %v within 30s", got)
		}
	}
	if want := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}; !slices.Equal(got, want) {
		t.Errorf("read %v, want %v", got, want)
	}
}

// TestSaramaManyPartitions produces to 100 partitions at once (each
// Produce request covers many of them) with every acks level, then reads
// them all back, with read_committed, through fetches of many partitions
// whose responses are capped small (Consumer.Fetch.MaxBytes).
func TestSaramaManyPartitions(t *testing.T) {
	b := startBroker(t)
	v := sarama.DefaultVersion
	const topic, parts = "sarama-many", 100
	saramaCreateTopic(t, b.Addr(), v, topic, parts)
	var want []record
	for _, a := range saramaAcks {
		cfg := saramaConfig(v)
		cfg.Producer.RequiredAcks = a.acks
		cfg.Producer.Partitioner = sarama.NewRoundRobinPartitioner
		cfg.Producer.Compression = sarama.CompressionLZ4
		cfg.Producer.Flush.Frequency = 20 * time.Millisecond
		cfg.Producer.Flush.Messages = 1000
		var msgs []*sarama.ProducerMessage
		for i := range 1000 {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(a.name), Value: sarama.StringEncoder(fmt.Sprintf("%s-%d", a.name, i)),
				Headers: []sarama.RecordHeader{{Key: []byte("acks"), Value: []byte(a.name)}}})
		}
		var acked []*sarama.ProducerMessage
		within(t, 60*time.Second, "producing to 100 partitions", func() { acked = saramaAsyncProduce(t, b.Addr(), cfg, msgs) })
		if t.Failed() {
			t.FailNow()
		}
		for i, m := range acked {
			off := m.Offset
			if a.acks == sarama.NoResponse {
				off = -1
			}
			want = append(want, record{Partition: m.Partition, Offset: off, Key: a.name, Value: fmt.Sprintf("%s-%d", a.name, i), Headers: joinHeaders("acks", a.name)})
		}
	}
	// Per partition, the records in the order acked (the round-robin
	// partitioner spreads each run evenly, and runs follow each other).
	slices.SortStableFunc(want, func(x, y record) int { return int(x.Partition - y.Partition) })
	cfg := saramaConfig(v)
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Consumer.Fetch.MaxBytes = 16 << 10 // per response
	cfg.Consumer.Fetch.Default = 4 << 10   // per partition
	c := saramaConsumer(t, b.Addr(), cfg)
	defer c.Close()
	out := make(chan record, 4000)
	for p := range int32(parts) {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("ConsumePartition %d: %v", p, err)
		}
		defer pc.AsyncClose()
		go func() {
			for m := range pc.Messages() {
				out <- record{Partition: m.Partition, Offset: m.Offset, Key: string(m.Key), Value: string(m.Value), Headers: saramaHeaders(m.Headers)}
			}
		}()
	}
	var got []record
	timeout := time.After(60 * time.Second)
	for len(got) < len(want) {
		select {
		case r := <-out:
			got = append(got, r)
		case <-timeout:
			t.Fatalf("read %d of %d records within 60s", len(got), len(want))
		}
	}
	checkRecords(t, want, got)
}

// TestSaramaGroupAcrossRestart: a group member commits, the broker
// restarts, and a new member resumes from the commit.
func TestSaramaGroupAcrossRestart(t *testing.T) {
	b := startBroker(t)
	v := sarama.DefaultVersion
	saramaCreateTopic(t, b.Addr(), v, saramaGroupTopic, 4)
	first := saramaProduceN(t, b.Addr(), v, saramaGroupTopic, 0, 80)
	m := startGroupMember(t, b.Addr(), v, "g-restart", "member-a")
	waitFor(t, 20*time.Second, "80 records read", func() bool {
		_, n := m.state()
		return n >= 80
	})
	m.stop(t)
	equalRecords(t, "before the restart", first, m.read())
	b.Restart()
	more := saramaProduceN(t, b.Addr(), v, saramaGroupTopic, 80, 40)
	m2 := startGroupMember(t, b.Addr(), v, "g-restart", "member-b")
	waitFor(t, 20*time.Second, "40 records read after the restart", func() bool {
		_, n := m2.state()
		return n >= 40
	})
	time.Sleep(200 * time.Millisecond)
	m2.stop(t)
	equalRecords(t, "after the restart", more, m2.read())
}
