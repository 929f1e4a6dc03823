package goclients

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// kafka-go's codecs by name; 0 is no compression.
var kafkaGoCodecs = []struct {
	name  string
	codec kafka.Compression
}{
	{"none", 0},
	{"gzip", kafka.Gzip},
	{"snappy", kafka.Snappy},
	{"lz4", kafka.Lz4},
	{"zstd", kafka.Zstd},
}

var kafkaGoAcks = []struct {
	name string
	acks kafka.RequiredAcks
}{
	{"all", kafka.RequireAll},
	{"one", kafka.RequireOne},
	{"none", kafka.RequireNone},
}

// kafkaGoTransport is a Transport of the test's own (kafka-go's default
// one is shared and caches metadata across tests).
func kafkaGoTransport(t *testing.T) *kafka.Transport {
	tr := &kafka.Transport{ClientID: "weir-compat-kafka-go", DialTimeout: 5 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// kafkaGoClient is a Client with a Transport of its own: its Metadata
// answers come from the transport's cache, refreshed every 6 s.
func kafkaGoClient(t *testing.T, b *testBroker) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(b.Addr()), Timeout: 10 * time.Second, Transport: kafkaGoTransport(t)}
}

// kafkaGoCreateTopic creates topic with n partitions with Client.CreateTopics.
func kafkaGoCreateTopic(t *testing.T, b *testBroker, topic string, n int, configs ...kafka.ConfigEntry) {
	t.Helper()
	resp, err := kafkaGoClient(t, b).CreateTopics(testContext(t, 15*time.Second), &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: n, ReplicationFactor: 1, ConfigEntries: configs}},
	})
	if err != nil {
		t.Fatalf("CreateTopics %s: %v", topic, err)
	}
	if err := resp.Errors[topic]; err != nil {
		t.Fatalf("CreateTopics %s: %v", topic, err)
	}
}

func kafkaGoHeaders(hs []kafka.Header) string {
	var kv []string
	for _, h := range hs {
		kv = append(kv, h.Key, string(h.Value))
	}
	return joinHeaders(kv...)
}

func kafkaGoRecord(m kafka.Message) record {
	return record{Partition: int32(m.Partition), Offset: m.Offset, Key: string(m.Key), Value: string(m.Value), Headers: kafkaGoHeaders(m.Headers)}
}

// kafkaGoReadPartition reads partition p of topic from its first offset
// with a partition Reader (no group) until n records were read, then a
// little longer to catch extra ones.
func kafkaGoReadPartition(t *testing.T, b *testBroker, topic string, p, n int) []record {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   []string{b.Addr()},
		Topic:     topic,
		Partition: p,
		MaxWait:   100 * time.Millisecond,
		MaxBytes:  1 << 20,
	})
	defer r.Close()
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		t.Fatalf("SetOffset: %v", err)
	}
	var got []record
	ctx := testContext(t, 30*time.Second)
	for len(got) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("partition %d: read %d of %d records: %v", p, len(got), n, err)
		}
		got = append(got, kafkaGoRecord(m))
	}
	extra, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if m, err := r.ReadMessage(extra); err == nil {
		got = append(got, kafkaGoRecord(m))
	}
	return got
}

// kafkaGoReadAll reads every partition of topic: want says how many
// records each holds (from the test's own bookkeeping).
func kafkaGoReadAll(t *testing.T, b *testBroker, topic string, partitions, n int) []record {
	t.Helper()
	// Per partition counts come from the last offsets.
	conn := kafkaGoDialLeader(t, b, topic, 0)
	defer conn.Close()
	var got []record
	for p := range partitions {
		c := kafkaGoDialLeader(t, b, topic, p)
		first, last, err := c.ReadOffsets()
		c.Close()
		if err != nil {
			t.Fatalf("ReadOffsets partition %d: %v", p, err)
		}
		if first != 0 {
			t.Errorf("partition %d: first offset %d", p, first)
		}
		got = append(got, kafkaGoReadPartition(t, b, topic, p, int(last))...)
	}
	if len(got) != n {
		t.Errorf("partitions hold %d records, want %d", len(got), n)
	}
	return got
}

func kafkaGoDialLeader(t *testing.T, b *testBroker, topic string, p int) *kafka.Conn {
	t.Helper()
	c, err := kafka.DialLeader(testContext(t, 10*time.Second), "tcp", b.Addr(), topic, p)
	if err != nil {
		t.Fatalf("DialLeader %s/%d: %v", topic, p, err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// checkKeyedRecords checks records read against those written by a Writer
// with the Hash balancer (which reports no offsets): per partition dense
// offsets from 0, the same multiset of records, and each key's records in
// the order written (a key always maps to one partition).
func checkKeyedRecords(t *testing.T, want []record, got []record) {
	t.Helper()
	next := map[int32]int64{}
	for _, g := range sortRecords(got) {
		if g.Offset != next[g.Partition] {
			t.Errorf("partition %d: offset %d, want %d", g.Partition, g.Offset, next[g.Partition])
		}
		next[g.Partition] = g.Offset + 1
	}
	byKey := func(rs []record) map[string][]record {
		m := map[string][]record{}
		for _, r := range rs {
			r.Offset = 0
			m[r.Key] = append(m[r.Key], r)
		}
		return m
	}
	wk, gk := byKey(want), byKey(sortRecords(got))
	if len(want) != len(got) {
		t.Errorf("read %d records, wrote %d", len(got), len(want))
	}
	for k, ws := range wk {
		gs := gk[k]
		parts := map[int32]bool{}
		for _, g := range gs {
			parts[g.Partition] = true
		}
		if len(parts) != 1 {
			t.Errorf("key %q: records in %d partitions", k, len(parts))
			continue
		}
		for i := range gs {
			gs[i].Partition = 0
		}
		if !slices.Equal(ws, gs) {
			t.Errorf("key %q: read %v, want %v", k, gs, ws)
		}
	}
}

// TestKafkaGoWriterReader writes keyed records with headers through
// kafka-go's Writer with every acks level and codec, in batches, then
// reads every partition back with a partition Reader from the first
// offset, and checks offsets with Conn.ReadOffsets.
func TestKafkaGoWriterReader(t *testing.T) {
	b := startBroker(t)
	const topic = "kafkago-writer"
	kafkaGoCreateTopic(t, b, topic, 3)
	var want []record
	tr := kafkaGoTransport(t)
	for _, a := range kafkaGoAcks {
		for _, c := range kafkaGoCodecs {
			run := a.name + "-" + c.name
			w := &kafka.Writer{
				Addr:         kafka.TCP(b.Addr()),
				Topic:        topic,
				Balancer:     &kafka.Hash{},
				RequiredAcks: a.acks,
				Compression:  c.codec,
				BatchSize:    8,
				BatchTimeout: 5 * time.Millisecond,
				ReadTimeout:  10 * time.Second,
				WriteTimeout: 10 * time.Second,
				MaxAttempts:  3,
				Transport:    tr,
			}
			var msgs []kafka.Message
			for i := range 30 {
				m := kafka.Message{
					Key:     []byte(fmt.Sprintf("%s-key-%d", run, i%4)),
					Value:   []byte(fmt.Sprintf("%s value %d %0*d", run, i, i*5, 0)),
					Headers: []kafka.Header{{Key: "run", Value: []byte(run)}, {Key: "i", Value: []byte(strconv.Itoa(i))}},
				}
				msgs = append(msgs, m)
				want = append(want, record{Offset: -1, Key: string(m.Key), Value: string(m.Value), Headers: kafkaGoHeaders(m.Headers)})
			}
			ctx := testContext(t, 30*time.Second)
			// One call with many records (batched by the writer), then
			// single records.
			if err := w.WriteMessages(ctx, msgs[:20]...); err != nil {
				t.Fatalf("%s: WriteMessages: %v", run, err)
			}
			for _, m := range msgs[20:] {
				if err := w.WriteMessages(ctx, m); err != nil {
					t.Fatalf("%s: WriteMessages: %v", run, err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatalf("%s: Writer.Close: %v", run, err)
			}
			if st := w.Stats(); st.Errors != 0 || st.Messages != 30 {
				t.Errorf("%s: writer stats: %d errors, %d messages", run, st.Errors, st.Messages)
			}
		}
	}
	// acks=0 records may still be in flight: wait for the last offsets to
	// add up before reading.
	waitFor(t, 10*time.Second, "every record to be in the log", func() bool {
		n := int64(0)
		for p := range 3 {
			c := kafkaGoDialLeader(t, b, topic, p)
			last, err := c.ReadLastOffset()
			c.Close()
			if err != nil {
				t.Fatalf("ReadLastOffset: %v", err)
			}
			n += last
		}
		return n >= int64(len(want))
	})
	checkKeyedRecords(t, want, kafkaGoReadAll(t, b, topic, 3, len(want)))
}

// TestKafkaGoConn uses kafka-go's Conn directly, as its README does:
// ReadPartitions, Brokers, Controller, WriteMessages and
// WriteCompressedMessages on a leader connection, ReadBatch,
// ReadOffsets, ReadFirstOffset/ReadLastOffset and ReadOffset by time.
func TestKafkaGoConn(t *testing.T) {
	b := startBroker(t)
	const topic = "kafkago-conn"
	kafkaGoCreateTopic(t, b, topic, 2)

	conn, err := kafka.DialContext(testContext(t, 10*time.Second), "tcp", b.Addr())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	parts, err := conn.ReadPartitions(topic)
	if err != nil || len(parts) != 2 {
		t.Fatalf("ReadPartitions: %v, %+v", err, parts)
	}
	slices.SortFunc(parts, func(a, b kafka.Partition) int { return a.ID - b.ID })
	for i, p := range parts {
		if p.Topic != topic || p.ID != i || p.Leader.ID != 1 || len(p.Replicas) != 1 || p.Replicas[0].ID != 1 || len(p.Isr) != 1 || p.Isr[0].ID != 1 || p.Error != nil {
			t.Errorf("ReadPartitions: %+v", p)
		}
		if addr := fmt.Sprintf("%s:%d", p.Leader.Host, p.Leader.Port); addr != b.Addr() {
			t.Errorf("ReadPartitions: leader at %s, want %s", addr, b.Addr())
		}
	}
	all, err := conn.ReadPartitions()
	if err != nil || !slices.ContainsFunc(all, func(p kafka.Partition) bool { return p.Topic == topic && p.ID == 1 }) {
		t.Errorf("ReadPartitions(): %v, %d partitions", err, len(all))
	}
	brokers, err := conn.Brokers()
	if err != nil || len(brokers) != 1 || brokers[0].ID != 1 {
		t.Errorf("Brokers: %v, %+v", err, brokers)
	}
	ctl, err := conn.Controller()
	if err != nil || ctl.ID != 1 {
		t.Errorf("Controller: %v, %+v", err, ctl)
	}

	// Write on the leader connection of partition 1, with explicit
	// timestamps, plainly and compressed.
	lc := kafkaGoDialLeader(t, b, topic, 1)
	defer lc.Close()
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var want []record
	var batch []kafka.Message
	for i := range 10 {
		m := kafka.Message{Key: []byte("k" + strconv.Itoa(i)), Value: []byte("v" + strconv.Itoa(i)), Time: base.Add(time.Duration(i) * time.Second),
			Headers: []kafka.Header{{Key: "h", Value: []byte(strconv.Itoa(i))}}}
		batch = append(batch, m)
		want = append(want, record{Partition: 1, Offset: int64(i), Key: string(m.Key), Value: string(m.Value), Headers: kafkaGoHeaders(m.Headers)})
	}
	if _, err := lc.WriteMessages(batch[:5]...); err != nil {
		t.Fatalf("Conn.WriteMessages: %v", err)
	}
	if _, part, off, _, err := lc.WriteCompressedMessagesAt(kafka.Snappy.Codec(), batch[5:]...); err != nil || part != 1 || off != 5 {
		t.Fatalf("Conn.WriteCompressedMessagesAt: partition %d offset %d, %v; want 1, 5", part, off, err)
	}

	first, last, err := lc.ReadOffsets()
	if err != nil || first != 0 || last != 10 {
		t.Errorf("ReadOffsets: %d, %d, %v; want 0, 10", first, last, err)
	}
	for _, c := range []struct {
		at   time.Time
		want int64
	}{{base.Add(-time.Minute), 0}, {base.Add(3500 * time.Millisecond), 4}, {base.Add(9 * time.Second), 9}} {
		if off, err := lc.ReadOffset(c.at); err != nil || off != c.want {
			t.Errorf("ReadOffset(%v): %d, %v; want %d", c.at.Sub(base), off, err, c.want)
		}
	}

	// Read back with ReadBatch from offset 0.
	if _, err := lc.Seek(0, kafka.SeekAbsolute); err != nil {
		t.Fatalf("Seek: %v", err)
	}
	var got []record
	for len(got) < 10 {
		rb := lc.ReadBatch(1, 1<<20)
		for {
			m, err := rb.ReadMessage()
			if err != nil {
				break
			}
			got = append(got, kafkaGoRecord(m))
			if !m.Time.Equal(base.Add(time.Duration(m.Offset) * time.Second)) {
				t.Errorf("offset %d: time %v, want %v", m.Offset, m.Time, base.Add(time.Duration(m.Offset)*time.Second))
			}
		}
		if err := rb.Close(); err != nil {
			t.Fatalf("ReadBatch: %v (after %d records)", err, len(got))
		}
	}
	equalRecords(t, "Conn.ReadBatch", want, got)
}

// TestKafkaGoAdmin uses kafka-go's Client: CreateTopics (with configs, and
// a duplicate), Metadata, DescribeConfigs, ListOffsets (first, last, by
// time) and DeleteTopics.
func TestKafkaGoAdmin(t *testing.T) {
	b := startBroker(t)
	cl := kafkaGoClient(t, b)
	ctx := testContext(t, 60*time.Second)
	const topic = "kafkago-admin"
	kafkaGoCreateTopic(t, b, topic, 3, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: "3600000"}, kafka.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: "500000"})

	resp, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 3, ReplicationFactor: 1}}})
	if err != nil || !errors.Is(resp.Errors[topic], kafka.TopicAlreadyExists) {
		t.Errorf("CreateTopics of an existing topic: %v, %v; want %v", err, resp, kafka.TopicAlreadyExists)
	}

	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].ID != 1 || md.Controller.ID != 1 || len(md.Topics) != 1 {
		t.Fatalf("Metadata: %+v", md)
	}
	mt := md.Topics[0]
	if mt.Name != topic || mt.Internal || mt.Error != nil || len(mt.Partitions) != 3 {
		t.Fatalf("Metadata topic: %+v", mt)
	}
	for _, p := range mt.Partitions {
		if p.Topic != topic || p.Leader.ID != 1 || len(p.Replicas) != 1 || len(p.Isr) != 1 || p.Error != nil {
			t.Errorf("Metadata partition: %+v", p)
		}
	}

	dc, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
		ConfigNames: []string{"retention.ms", "max.message.bytes", "segment.bytes"},
	}}})
	if err != nil || len(dc.Resources) != 1 || dc.Resources[0].Error != nil {
		t.Fatalf("DescribeConfigs: %v, %+v", err, dc)
	}
	got := map[string]string{}
	for _, e := range dc.Resources[0].ConfigEntries {
		src := "topic"
		if e.ConfigSource == 5 {
			src = "default"
		} else if e.ConfigSource != 1 {
			src = strconv.Itoa(int(e.ConfigSource))
		}
		got[e.ConfigName] = e.ConfigValue + " " + src
	}
	wantCfg := map[string]string{"retention.ms": "3600000 topic", "max.message.bytes": "500000 topic", "segment.bytes": "1073741824 default"}
	if !maps.Equal(got, wantCfg) {
		t.Errorf("DescribeConfigs: %v, want %v", got, wantCfg)
	}

	// ListOffsets on records written with known timestamps. (kafka-go
	// sends one request per entry and reports each offset found by time
	// with the time asked, not the record's.)
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr()), Topic: topic, Balancer: kafka.BalancerFunc(func(kafka.Message, ...int) int { return 2 }),
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, WriteTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second,
		Transport: kafkaGoTransport(t)}
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var msgs []kafka.Message
	for i := range 8 {
		msgs = append(msgs, kafka.Message{Value: []byte(strconv.Itoa(i)), Time: base.Add(time.Duration(i) * time.Second)})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("WriteMessages: %v", err)
	}
	w.Close()
	lo, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: {
		kafka.FirstOffsetOf(2), kafka.LastOffsetOf(2), kafka.TimeOffsetOf(2, base.Add(2500*time.Millisecond)),
		kafka.FirstOffsetOf(0), kafka.LastOffsetOf(0),
	}}})
	if err != nil {
		t.Fatalf("ListOffsets: %v", err)
	}
	offs := map[int]kafka.PartitionOffsets{}
	for _, po := range lo.Topics[topic] {
		if po.Error != nil {
			t.Errorf("ListOffsets partition %d: %v", po.Partition, po.Error)
		}
		offs[po.Partition] = po
	}
	if p := offs[2]; p.FirstOffset != 0 || p.LastOffset != 8 || len(p.Offsets) != 1 || p.Offsets[3].IsZero() {
		t.Errorf("ListOffsets partition 2: %+v, want first 0, last 8, offset 3 by time", p)
	}
	if p := offs[0]; p.FirstOffset != 0 || p.LastOffset != 0 {
		t.Errorf("ListOffsets partition 0: %+v, want first 0, last 0", p)
	}

	dr, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err != nil || dr.Errors[topic] != nil {
		t.Fatalf("DeleteTopics: %v, %+v", err, dr)
	}
	md, err = kafkaGoClient(t, b).Metadata(ctx, &kafka.MetadataRequest{}) // a new client: no cache
	if err != nil {
		t.Fatalf("Metadata after DeleteTopics: %v", err)
	}
	for _, mt := range md.Topics {
		if mt.Name == topic {
			t.Errorf("Metadata after DeleteTopics lists %s", topic)
		}
	}
	dr, err = cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err != nil || !errors.Is(dr.Errors[topic], kafka.UnknownTopicOrPartition) {
		t.Errorf("DeleteTopics of a deleted topic: %v, %+v; want %v", err, dr, kafka.UnknownTopicOrPartition)
	}
}

// kafkaGoMember is a group Reader reading in a goroutine.
type kafkaGoMember struct {
	r      *kafka.Reader
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	records []record
	err     error
}

// startKafkaGoMember starts a Reader in group groupID. With explicit set it
// commits with FetchMessage + CommitMessages, otherwise ReadMessage
// commits each record itself.
func startKafkaGoMember(t *testing.T, b *testBroker, topic, groupID, name string, explicit bool) *kafkaGoMember {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{b.Addr()},
		GroupID:           groupID,
		Topic:             topic,
		Dialer:            &kafka.Dialer{ClientID: name, Timeout: 10 * time.Second},
		MaxWait:           100 * time.Millisecond,
		MaxBytes:          1 << 20,
		HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  100 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    200 * time.Millisecond,
		StartOffset:       kafka.FirstOffset,
	})
	ctx, cancel := context.WithCancel(context.Background())
	m := &kafkaGoMember{r: r, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			var msg kafka.Message
			var err error
			if explicit {
				msg, err = r.FetchMessage(ctx)
				if err == nil {
					err = r.CommitMessages(ctx, msg)
				}
			} else {
				msg, err = r.ReadMessage(ctx)
			}
			if err != nil {
				if ctx.Err() == nil {
					m.mu.Lock()
					m.err = err
					m.mu.Unlock()
				}
				return
			}
			m.mu.Lock()
			m.records = append(m.records, kafkaGoRecord(msg))
			m.mu.Unlock()
		}
	}()
	t.Cleanup(func() { m.stop(t) })
	return m
}

func (m *kafkaGoMember) read() []record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.records)
}

func (m *kafkaGoMember) stop(t *testing.T) {
	if m.cancel == nil {
		return
	}
	m.cancel()
	m.cancel = nil
	within(t, 20*time.Second, "closing a group reader", func() {
		<-m.done
		if err := m.r.Close(); err != nil {
			t.Errorf("Reader.Close: %v", err)
		}
	})
	if m.err != nil {
		t.Errorf("group reader: %v", m.err)
	}
}

// kafkaGoWrite writes n keyed records with acks=all and returns them.
func kafkaGoWrite(t *testing.T, b *testBroker, topic string, from, n int) []record {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr()), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchSize: 20, BatchTimeout: 2 * time.Millisecond, WriteTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second,
		Transport: kafkaGoTransport(t)}
	defer w.Close()
	var msgs []kafka.Message
	var out []record
	for i := from; i < from+n; i++ {
		m := kafka.Message{Key: []byte(fmt.Sprintf("key-%d", i%11)), Value: []byte(fmt.Sprintf("value-%d", i)), Headers: []kafka.Header{{Key: "n", Value: []byte(strconv.Itoa(i))}}}
		msgs = append(msgs, m)
		out = append(out, record{Offset: -1, Key: string(m.Key), Value: string(m.Value), Headers: kafkaGoHeaders(m.Headers)})
	}
	if err := w.WriteMessages(testContext(t, 30*time.Second), msgs...); err != nil {
		t.Fatalf("WriteMessages: %v", err)
	}
	return out
}

// TestKafkaGoConsumerGroup runs two group Readers (one committing through
// ReadMessage, one with FetchMessage + CommitMessages) that split four
// partitions, checks with DescribeGroups and that together they read
// every record exactly once, checks the commits with OffsetFetch, and
// that a new Reader in the group resumes from them.
func TestKafkaGoConsumerGroup(t *testing.T) {
	b := startBroker(t)
	cl := kafkaGoClient(t, b)
	const topic, group = "kafkago-group", "kafkago-g"
	kafkaGoCreateTopic(t, b, topic, 4)

	a := startKafkaGoMember(t, b, topic, group, "reader-a", false)
	bm := startKafkaGoMember(t, b, topic, group, "reader-b", true)
	var assigned map[string][]int
	waitFor(t, 30*time.Second, "two readers to split the partitions", func() bool {
		resp, err := cl.DescribeGroups(testContext(t, 10*time.Second), &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err != nil {
			t.Fatalf("DescribeGroups: %v", err)
		}
		if len(resp.Groups) != 1 || resp.Groups[0].GroupState != "Stable" || len(resp.Groups[0].Members) != 2 {
			return false
		}
		assigned = map[string][]int{}
		n := 0
		for _, m := range resp.Groups[0].Members {
			for _, at := range m.MemberAssignments.Topics {
				if at.Topic == topic {
					assigned[m.ClientID] = append(assigned[m.ClientID], at.Partitions...)
					n += len(at.Partitions)
				}
			}
		}
		return n == 4 && len(assigned["reader-a"]) == 2 && len(assigned["reader-b"]) == 2
	})

	want := kafkaGoWrite(t, b, topic, 0, 200)
	waitFor(t, 30*time.Second, "the readers to read 200 records", func() bool { return len(a.read())+len(bm.read()) >= 200 })
	time.Sleep(200 * time.Millisecond)
	ra, rb := a.read(), bm.read()
	checkKeyedRecords(t, want, append(ra, rb...))
	for _, c := range []struct {
		name string
		rs   []record
	}{{"reader-a", ra}, {"reader-b", rb}} {
		for _, r := range c.rs {
			if !slices.Contains(assigned[c.name], int(r.Partition)) {
				t.Errorf("%s read %v, not of its partitions %v", c.name, r, assigned[c.name])
				break
			}
		}
	}
	a.stop(t)
	bm.stop(t)

	ends := map[int]int64{}
	for _, r := range append(ra, rb...) {
		ends[int(r.Partition)] = max(ends[int(r.Partition)], r.Offset+1)
	}
	checkCommits := func(what string) {
		t.Helper()
		of, err := cl.OffsetFetch(testContext(t, 10*time.Second), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0, 1, 2, 3}}})
		if err != nil || of.Error != nil {
			t.Fatalf("%s: OffsetFetch: %v, %v", what, err, of.Error)
		}
		got := map[int]int64{}
		for _, p := range of.Topics[topic] {
			if p.Error != nil {
				t.Errorf("%s: OffsetFetch partition %d: %v", what, p.Partition, p.Error)
			}
			got[p.Partition] = p.CommittedOffset
		}
		for p := range 4 {
			if got[p] != ends[p] {
				t.Errorf("%s: partition %d committed %d, want %d", what, p, got[p], ends[p])
			}
		}
	}
	checkCommits("after both readers closed")

	more := kafkaGoWrite(t, b, topic, 200, 40)
	c := startKafkaGoMember(t, b, topic, group, "reader-c", false)
	waitFor(t, 30*time.Second, "reader-c to read 40 records", func() bool { return len(c.read()) >= 40 })
	time.Sleep(300 * time.Millisecond)
	rc := c.read()
	c.stop(t)
	for _, r := range rc {
		if r.Offset < ends[int(r.Partition)] {
			t.Errorf("reader-c read %v, below the commit %d", r, ends[int(r.Partition)])
		}
	}
	checkKeyedRecords(t, more, offsetsFromZero(rc, ends))
	for _, r := range rc {
		ends[int(r.Partition)] = max(ends[int(r.Partition)], r.Offset+1)
	}
	checkCommits("after the restarted reader closed")
}

// offsetsFromZero shifts each record's offset down by its partition's base
// so that checkKeyedRecords (dense from 0) applies to a resumed read.
func offsetsFromZero(rs []record, base map[int]int64) []record {
	out := slices.Clone(rs)
	for i := range out {
		out[i].Offset -= base[int(out[i].Partition)]
	}
	return out
}
