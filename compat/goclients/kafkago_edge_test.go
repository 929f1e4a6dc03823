package goclients

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestKafkaGoAdminMore uses the rest of kafka-go's admin Client on a
// topic: CreatePartitions, AlterConfigs, IncrementalAlterConfigs (checked
// with DescribeConfigs), and the group calls: OffsetCommit of a group with
// no members, OffsetFetch, ListGroups, OffsetDelete, DeleteGroups; and
// Conn.CreateTopics / Conn.DeleteTopics as kafka-go's README uses them.
func TestKafkaGoAdminMore(t *testing.T) {
	b := startBroker(t)
	cl := kafkaGoClient(t, b)
	ctx := testContext(t, 60*time.Second)
	const topic = "kafkago-more"
	kafkaGoCreateTopic(t, b, topic, 2)

	cp, err := cl.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{Topics: []kafka.TopicPartitionsConfig{{Name: topic, Count: 4}}})
	if err != nil || cp.Errors[topic] != nil {
		t.Fatalf("CreatePartitions: %v, %+v", err, cp)
	}
	conn := kafkaGoDialLeader(t, b, topic, 0)
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil || len(parts) != 4 {
		t.Fatalf("ReadPartitions after CreatePartitions: %v, %d partitions", err, len(parts))
	}

	configs := func() map[string]string {
		t.Helper()
		dc, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
		}}})
		if err != nil || len(dc.Resources) != 1 || dc.Resources[0].Error != nil {
			t.Fatalf("DescribeConfigs: %v, %+v", err, dc)
		}
		m := map[string]string{}
		for _, e := range dc.Resources[0].ConfigEntries {
			if e.ConfigSource == 1 { // the topic's own
				m[e.ConfigName] = e.ConfigValue
			}
		}
		return m
	}
	ac, err := cl.AlterConfigs(ctx, &kafka.AlterConfigsRequest{Resources: []kafka.AlterConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
		Configs: []kafka.AlterConfigRequestConfig{{Name: "retention.ms", Value: "100000"}, {Name: "segment.ms", Value: "200000"}},
	}}})
	if err != nil {
		t.Fatalf("AlterConfigs: %v", err)
	}
	for r, e := range ac.Errors {
		if e != nil {
			t.Fatalf("AlterConfigs %v: %v", r, e)
		}
	}
	if got, want := configs(), map[string]string{"retention.ms": "100000", "segment.ms": "200000"}; !maps.Equal(got, want) {
		t.Errorf("after AlterConfigs: %v, want %v", got, want)
	}
	ic, err := cl.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{Resources: []kafka.IncrementalAlterConfigsRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
		Configs: []kafka.IncrementalAlterConfigsRequestConfig{
			{Name: "segment.ms", ConfigOperation: kafka.ConfigOperationDelete},
			{Name: "max.message.bytes", Value: "12345", ConfigOperation: kafka.ConfigOperationSet},
		},
	}}})
	if err != nil || len(ic.Resources) != 1 || ic.Resources[0].Error != nil {
		t.Fatalf("IncrementalAlterConfigs: %v, %+v", err, ic)
	}
	if got, want := configs(), map[string]string{"retention.ms": "100000", "max.message.bytes": "12345"}; !maps.Equal(got, want) {
		t.Errorf("after IncrementalAlterConfigs: %v, want %v", got, want)
	}

	// Offsets of a group that has no members (generation -1).
	const group = "kafkago-offsets-only"
	oc, err := cl.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{
		topic: {{Partition: 0, Offset: 5, Metadata: "five"}, {Partition: 3, Offset: 0}},
	}})
	if err != nil {
		t.Fatalf("OffsetCommit: %v", err)
	}
	for _, p := range oc.Topics[topic] {
		if p.Error != nil {
			t.Errorf("OffsetCommit partition %d: %v", p.Partition, p.Error)
		}
	}
	fetch := func() map[int]string {
		t.Helper()
		of, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0, 1, 3}}})
		if err != nil || of.Error != nil {
			t.Fatalf("OffsetFetch: %v, %v", err, of.Error)
		}
		m := map[int]string{}
		for _, p := range of.Topics[topic] {
			if p.Error != nil {
				t.Errorf("OffsetFetch partition %d: %v", p.Partition, p.Error)
			}
			m[p.Partition] = fmt.Sprintf("%d %s", p.CommittedOffset, p.Metadata)
		}
		return m
	}
	if got, want := fetch(), map[int]string{0: "5 five", 1: "-1 ", 3: "0 "}; !maps.Equal(got, want) {
		t.Errorf("OffsetFetch: %v, want %v", got, want)
	}
	lg, err := cl.ListGroups(ctx, &kafka.ListGroupsRequest{})
	if err != nil || lg.Error != nil || !slices.ContainsFunc(lg.Groups, func(g kafka.ListGroupsResponseGroup) bool { return g.GroupID == group && g.Coordinator == 1 }) {
		t.Errorf("ListGroups: %v, %+v", err, lg)
	}
	od, err := cl.OffsetDelete(ctx, &kafka.OffsetDeleteRequest{GroupID: group, Topics: map[string][]int{topic: {3}}})
	if err != nil || od.Error != nil || len(od.Topics[topic]) != 1 || od.Topics[topic][0].Error != nil {
		t.Fatalf("OffsetDelete: %v, %+v", err, od)
	}
	if got, want := fetch(), map[int]string{0: "5 five", 1: "-1 ", 3: "-1 "}; !maps.Equal(got, want) {
		t.Errorf("OffsetFetch after OffsetDelete: %v, want %v", got, want)
	}
	dg, err := cl.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{group}})
	if err != nil || dg.Errors[group] != nil {
		t.Fatalf("DeleteGroups: %v, %+v", err, dg)
	}
	if got, want := fetch(), map[int]string{0: "-1 ", 1: "-1 ", 3: "-1 "}; !maps.Equal(got, want) {
		t.Errorf("OffsetFetch after DeleteGroups: %v, want %v", got, want)
	}

	// Conn.CreateTopics and Conn.DeleteTopics, on the controller.
	c, err := kafka.DialContext(ctx, "tcp", b.Addr())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	ctl, err := c.Controller()
	if err != nil {
		t.Fatalf("Controller: %v", err)
	}
	cc, err := kafka.DialContext(ctx, "tcp", fmt.Sprintf("%s:%d", ctl.Host, ctl.Port))
	if err != nil {
		t.Fatalf("Dial controller: %v", err)
	}
	defer cc.Close()
	cc.SetDeadline(time.Now().Add(20 * time.Second))
	if err := cc.CreateTopics(kafka.TopicConfig{Topic: "kafkago-conn-created", NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}}); err != nil {
		t.Fatalf("Conn.CreateTopics: %v", err)
	}
	// kafka-go's Conn.CreateTopics passes over TOPIC_ALREADY_EXISTS.
	if err := cc.CreateTopics(kafka.TopicConfig{Topic: "kafkago-conn-created", NumPartitions: 3, ReplicationFactor: 1}); err != nil {
		t.Errorf("Conn.CreateTopics of an existing topic: %v", err)
	}
	if ps, err := cc.ReadPartitions("kafkago-conn-created"); err != nil || len(ps) != 3 {
		t.Errorf("ReadPartitions of the created topic: %v, %d partitions", err, len(ps))
	}
	if err := cc.DeleteTopics("kafkago-conn-created"); err != nil {
		t.Fatalf("Conn.DeleteTopics: %v", err)
	}
	// (Conn.ReadPartitions would create it again: its Metadata request
	// allows auto-creation, as Kafka's default auto.create.topics.enable
	// does.) A new Client's Metadata, which does not, no longer has it.
	md, err := kafkaGoClient(t, b).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{"kafkago-conn-created"}})
	if err != nil || len(md.Topics) != 1 || !errors.Is(md.Topics[0].Error, kafka.UnknownTopicOrPartition) {
		t.Errorf("Metadata of the deleted topic: %v, %+v; want %v", err, md, kafka.UnknownTopicOrPartition)
	}
}

// TestKafkaGoWriterEdges: a Writer creating its topic
// (AllowAutoTopicCreation), an asynchronous Writer reporting through
// Completion, a record over the topic's max.message.bytes, and Reader
// positioning: SetOffsetAt (by time), ReadLag, and a Reader waiting at
// the end that new records wake.
func TestKafkaGoWriterEdges(t *testing.T) {
	b := startBroker(t)
	ctx := testContext(t, 60*time.Second)

	// (Each Writer gets a new Transport: a Transport caches metadata for
	// 6 s, and a Writer fails on a topic its cache does not know.)
	auto := &kafka.Writer{Addr: kafka.TCP(b.Addr()), Topic: "kafkago-auto", AllowAutoTopicCreation: true, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, WriteTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second, Transport: kafkaGoTransport(t)}
	if err := auto.WriteMessages(ctx, kafka.Message{Value: []byte("first")}); err != nil {
		t.Fatalf("WriteMessages to a new topic with AllowAutoTopicCreation: %v", err)
	}
	auto.Close()
	if got := kafkaGoReadPartition(t, b, "kafkago-auto", 0, 1); len(got) != 1 || got[0].Value != "first" {
		t.Errorf("auto-created topic holds %v", got)
	}

	const topic = "kafkago-edges"
	kafkaGoCreateTopic(t, b, topic, 1, kafka.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: "3000"})
	var mu sync.Mutex
	var completed []string
	var completionErrs []error
	async := &kafka.Writer{Addr: kafka.TCP(b.Addr()), Topic: topic, Async: true, RequiredAcks: kafka.RequireAll, BatchSize: 10,
		BatchTimeout: 5 * time.Millisecond, WriteTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second, Transport: kafkaGoTransport(t),
		Completion: func(msgs []kafka.Message, err error) {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				completed = append(completed, string(m.Value))
			}
			if err != nil {
				completionErrs = append(completionErrs, err)
			}
		}}
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var want []string
	for i := range 40 {
		want = append(want, "async-"+strconv.Itoa(i))
		if err := async.WriteMessages(ctx, kafka.Message{Value: []byte(want[i]), Time: base.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatalf("async WriteMessages: %v", err)
		}
	}
	if err := async.Close(); err != nil {
		t.Fatalf("async Writer.Close: %v", err)
	}
	mu.Lock()
	slices.Sort(completed)
	sortedWant := slices.Clone(want)
	slices.Sort(sortedWant)
	if !slices.Equal(completed, sortedWant) || len(completionErrs) != 0 {
		t.Errorf("Completion reported %d records (errors %v), want the 40 written", len(completed), completionErrs)
	}
	mu.Unlock()

	sync := &kafka.Writer{Addr: kafka.TCP(b.Addr()), Topic: topic, RequiredAcks: kafka.RequireAll, MaxAttempts: 1,
		BatchTimeout: time.Millisecond, WriteTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second, Transport: kafkaGoTransport(t)}
	err := sync.WriteMessages(ctx, kafka.Message{Value: []byte(strings.Repeat("x", 5000))})
	var we kafka.WriteErrors
	if !errors.As(err, &we) || len(we) != 1 || !errors.Is(we[0], kafka.MessageSizeTooLarge) {
		t.Errorf("a record over max.message.bytes: %v, want %v", err, kafka.MessageSizeTooLarge)
	}
	sync.Close()

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b.Addr()}, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffsetAt(ctx, base.Add(25500*time.Millisecond)); err != nil {
		t.Fatalf("SetOffsetAt: %v", err)
	}
	m, err := r.ReadMessage(ctx)
	if err != nil || m.Offset != 26 || string(m.Value) != "async-26" {
		t.Fatalf("after SetOffsetAt(base+25.5s): offset %d %q, %v; want 26 async-26", m.Offset, m.Value, err)
	}
	if lag, err := r.ReadLag(ctx); err != nil || lag != 13 {
		t.Errorf("ReadLag after reading offset 26 of 40: %d, %v; want 13", lag, err)
	}
	for i := 27; i < 40; i++ {
		if m, err := r.ReadMessage(ctx); err != nil || m.Offset != int64(i) {
			t.Fatalf("offset %d: %d, %v", i, m.Offset, err)
		}
	}
	// Waiting at the end: a new record wakes the reader.
	got := make(chan kafka.Message, 1)
	go func() {
		m, err := r.ReadMessage(ctx)
		if err == nil {
			got <- m
		}
	}()
	time.Sleep(300 * time.Millisecond)
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr()), Topic: topic, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, WriteTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second, Transport: kafkaGoTransport(t)}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("late")}); err != nil {
		t.Fatalf("WriteMessages: %v", err)
	}
	select {
	case m := <-got:
		if m.Offset != 40 || string(m.Value) != "late" {
			t.Errorf("woken reader read offset %d %q, want 40 late", m.Offset, m.Value)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the waiting reader read nothing within 15s of a write")
	}
}

// TestKafkaGoGroupTopics runs two group Readers over two topics
// (GroupTopics) with the round-robin balancer and asynchronous commits
// (CommitInterval): together they read every record once, and the commits
// flushed by Close are the end offsets.
func TestKafkaGoGroupTopics(t *testing.T) {
	b := startBroker(t)
	cl := kafkaGoClient(t, b)
	const group = "kafkago-multi"
	topics := []string{"kafkago-t1", "kafkago-t2"}
	for _, tp := range topics {
		kafkaGoCreateTopic(t, b, tp, 3)
	}
	newReader := func(name string) *kafka.Reader {
		return kafka.NewReader(kafka.ReaderConfig{
			Brokers: []string{b.Addr()}, GroupID: group, GroupTopics: topics,
			GroupBalancers:    []kafka.GroupBalancer{kafka.RoundRobinGroupBalancer{}},
			Dialer:            &kafka.Dialer{ClientID: name, Timeout: 10 * time.Second},
			MaxWait:           100 * time.Millisecond,
			HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: 10 * time.Second, RebalanceTimeout: 10 * time.Second,
			JoinGroupBackoff: 100 * time.Millisecond, CommitInterval: 50 * time.Millisecond, StartOffset: kafka.FirstOffset,
		})
	}
	ctx := testContext(t, 60*time.Second)
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	readers := []*kafka.Reader{newReader("r1"), newReader("r2")}
	rctx, cancel := testContextCancel(ctx)
	for _, r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := r.ReadMessage(rctx)
				if err != nil {
					return
				}
				mu.Lock()
				seen[fmt.Sprintf("%s/%d/%d %s", m.Topic, m.Partition, m.Offset, m.Value)]++
				mu.Unlock()
			}
		}()
	}
	waitFor(t, 30*time.Second, "both readers in a stable group", func() bool {
		resp, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err != nil {
			t.Fatalf("DescribeGroups: %v", err)
		}
		if len(resp.Groups) != 1 || resp.Groups[0].GroupState != "Stable" || len(resp.Groups[0].Members) != 2 {
			return false
		}
		n := 0
		for _, m := range resp.Groups[0].Members {
			for _, at := range m.MemberAssignments.Topics {
				n += len(at.Partitions)
			}
		}
		return n == 6
	})
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr()), Balancer: &kafka.RoundRobin{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 2 * time.Millisecond, WriteTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second, Transport: kafkaGoTransport(t)}
	var msgs []kafka.Message
	for i := range 120 {
		msgs = append(msgs, kafka.Message{Topic: topics[i%2], Value: []byte("m" + strconv.Itoa(i))})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("WriteMessages: %v", err)
	}
	w.Close()
	waitFor(t, 30*time.Second, "120 records read", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) >= 120
	})
	time.Sleep(200 * time.Millisecond)
	cancel()
	wg.Wait()
	for _, r := range readers {
		if err := r.Close(); err != nil {
			t.Errorf("Reader.Close: %v", err)
		}
	}
	mu.Lock()
	ends := map[string]int64{}
	values := map[string]bool{}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s read %d times", k, n)
		}
		var tp, v string
		var p, off int64
		fmt.Sscanf(strings.ReplaceAll(k, "/", " "), "%s %d %d %s", &tp, &p, &off, &v)
		key := fmt.Sprintf("%s/%d", tp, p)
		ends[key] = max(ends[key], off+1)
		values[v] = true
	}
	mu.Unlock()
	if len(values) != 120 {
		t.Errorf("%d distinct records read, want 120", len(values))
	}
	of, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topics[0]: {0, 1, 2}, topics[1]: {0, 1, 2}}})
	if err != nil || of.Error != nil {
		t.Fatalf("OffsetFetch: %v, %v", err, of.Error)
	}
	for tp, ps := range of.Topics {
		for _, p := range ps {
			if want := ends[fmt.Sprintf("%s/%d", tp, p.Partition)]; p.CommittedOffset != want {
				t.Errorf("%s/%d committed %d, want %d", tp, p.Partition, p.CommittedOffset, want)
			}
		}
	}
}
