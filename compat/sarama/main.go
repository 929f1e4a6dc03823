// Command sarama checks Weir against IBM/sarama, a Go client with its own
// protocol code, at three protocol levels (sarama.V2_1_0_0, V3_6_0_0 and
// the newest it knows): admin APIs, produce with every codec and the
// idempotent producer, partition consumers reading every record back
// exactly, a two-member consumer group, offsets by time, DeleteRecords.
// Run by scripts/compat.sh: go run . HOST:PORT. It is a module of its own
// so that Weir's module does not depend on sarama.
package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "compat sarama: FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 2 {
		fail("usage: sarama HOST:PORT")
	}
	time.AfterFunc(3*time.Minute, func() { fail("did not finish within 3 minutes") })
	for _, v := range []sarama.KafkaVersion{sarama.V2_1_0_0, sarama.V3_6_0_0, sarama.MaxVersion} {
		check([]string{os.Args[1]}, v)
	}
	fmt.Println("compat sarama: PASS")
}

func check(addr []string, ver sarama.KafkaVersion) {
	ok := func(format string, args ...any) {
		fmt.Printf("ok: sarama %s: "+format+"\n", append([]any{ver}, args...)...)
	}
	cfg := sarama.NewConfig()
	cfg.Version = ver
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 15 * time.Second
	adm, err := sarama.NewClusterAdmin(addr, cfg)
	if err != nil {
		fail("%s: cluster admin: %v", ver, err)
	}
	defer adm.Close()
	topic := fmt.Sprintf("sarama-%s-%d", ver, time.Now().UnixNano())
	ret := "3600000"
	if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1, ConfigEntries: map[string]*string{"retention.ms": &ret}}, false); err != nil {
		fail("%s: CreateTopic: %v", ver, err)
	}
	if ts, err := adm.ListTopics(); err != nil || ts[topic].NumPartitions != 3 {
		fail("%s: ListTopics: %v, %+v", ver, err, ts[topic])
	}
	if md, err := adm.DescribeTopics([]string{topic}); err != nil || len(md) != 1 || len(md[0].Partitions) != 3 {
		fail("%s: DescribeTopics: %v", ver, err)
	}
	retention := func() string {
		ents, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"retention.ms"}})
		if err != nil || len(ents) != 1 {
			fail("%s: DescribeConfig: %v, %+v", ver, err, ents)
		}
		return ents[0].Value
	}
	if v := retention(); v != "3600000" {
		fail("%s: retention.ms %s after CreateTopic", ver, v)
	}
	v2 := "7200000"
	if err := adm.AlterConfig(sarama.TopicResource, topic, map[string]*string{"retention.ms": &v2}, false); err != nil {
		fail("%s: AlterConfig: %v", ver, err)
	}
	if v := retention(); v != v2 {
		fail("%s: retention.ms %s after AlterConfig", ver, v)
	}
	if ver.IsAtLeast(sarama.V2_3_0_0) { // sarama sends IncrementalAlterConfigs from 2.3
		v3 := "10800000"
		if err := adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
			"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &v3}}, false); err != nil {
			fail("%s: IncrementalAlterConfig: %v", ver, err)
		}
		if v := retention(); v != v3 {
			fail("%s: retention.ms %s after IncrementalAlterConfig", ver, v)
		}
	}
	if err := adm.CreatePartitions(topic, 4, nil, false); err != nil {
		fail("%s: CreatePartitions: %v", ver, err)
	}
	ok("admin: create, list, describe, configs, partitions")

	var want []string
	for _, codec := range []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy, sarama.CompressionLZ4, sarama.CompressionZSTD} {
		pc := *cfg
		pc.Producer.Compression = codec
		p, err := sarama.NewSyncProducer(addr, &pc)
		if err != nil {
			fail("%s: producer: %v", ver, err)
		}
		var msgs []*sarama.ProducerMessage
		for i := range 20 {
			v := fmt.Sprintf("%s-%d", codec, i)
			want = append(want, v)
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprint("k", i%5)),
				Value: sarama.StringEncoder(v), Headers: []sarama.RecordHeader{{Key: []byte("h"), Value: []byte(v)}}})
		}
		if err := p.SendMessages(msgs); err != nil {
			fail("%s: SendMessages with %s: %v", ver, codec, err)
		}
		p.Close()
	}
	ic := *cfg
	ic.Producer.Idempotent = true
	ic.Net.MaxOpenRequests = 1
	ip, err := sarama.NewSyncProducer(addr, &ic)
	if err != nil {
		fail("%s: idempotent producer: %v", ver, err)
	}
	for i := range 5 {
		v := fmt.Sprintf("idem-%d", i)
		want = append(want, v)
		if _, _, err := ip.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(v),
			Headers: []sarama.RecordHeader{{Key: []byte("h"), Value: []byte(v)}}}); err != nil {
			fail("%s: idempotent SendMessage: %v", ver, err)
		}
	}
	ip.Close()
	ok("produced %d records with every codec and the idempotent producer", len(want))

	cl, err := sarama.NewClient(addr, cfg)
	if err != nil {
		fail("%s: client: %v", ver, err)
	}
	defer cl.Close()
	cons, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		fail("%s: consumer: %v", ver, err)
	}
	var got []string
	for p := range int32(4) {
		lo, err1 := cl.GetOffset(topic, p, sarama.OffsetOldest)
		hi, err2 := cl.GetOffset(topic, p, sarama.OffsetNewest)
		byTime, err3 := cl.GetOffset(topic, p, time.Now().Add(-time.Minute).UnixMilli())
		if err1 != nil || err2 != nil || err3 != nil || lo != 0 || (hi > 0 && byTime != 0) {
			fail("%s: partition %d offsets: oldest %d (%v), newest %d (%v), a minute ago %d (%v)", ver, p, lo, err1, hi, err2, byTime, err3)
		}
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			fail("%s: ConsumePartition %d: %v", ver, p, err)
		}
		for off := lo; off < hi; off++ {
			select {
			case m := <-pc.Messages():
				if m.Offset != off || len(m.Headers) != 1 || string(m.Headers[0].Value) != string(m.Value) {
					fail("%s: partition %d: offset %d (want %d), headers %v", ver, p, m.Offset, off, m.Headers)
				}
				got = append(got, string(m.Value))
			case err := <-pc.Errors():
				fail("%s: partition %d: %v", ver, p, err)
			case <-time.After(15 * time.Second):
				fail("%s: partition %d: no record at offset %d", ver, p, off)
			}
		}
		pc.Close()
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		fail("%s: read %d records, not the %d produced", ver, len(got), len(want))
	}
	ok("read every record back exactly; offsets oldest, newest, by time")

	// Two members of one group split the partitions and commit.
	gc := *cfg
	gc.Consumer.Offsets.Initial = sarama.OffsetOldest
	gc.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	group := "g-" + topic
	var mu sync.Mutex
	seen := map[string]bool{}
	members := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 2 {
		g, err := sarama.NewConsumerGroup(addr, group, &gc)
		if err != nil {
			fail("%s: consumer group: %v", ver, err)
		}
		wg.Go(func() {
			defer g.Close()
			for ctx.Err() == nil {
				err := g.Consume(ctx, []string{topic}, handler(func(m *sarama.ConsumerMessage) {
					mu.Lock()
					defer mu.Unlock()
					seen[string(m.Value)] = true
					members[fmt.Sprint(i)] = true
					if len(seen) == len(want) && len(members) == 2 {
						cancel()
					}
				}))
				if err != nil && ctx.Err() == nil {
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != len(want) || len(members) != 2 {
		fail("%s: group read %d of %d records with %d members", ver, len(seen), len(want), len(members))
	}
	offs, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2, 3}})
	if err != nil {
		fail("%s: ListConsumerGroupOffsets: %v", ver, err)
	}
	var committed int64
	for _, b := range offs.Blocks[topic] {
		committed += b.Offset
	}
	if committed != int64(len(want)) {
		fail("%s: group committed %d records, want %d", ver, committed, len(want))
	}
	if gs, err := adm.ListConsumerGroups(); err != nil || gs[group] != "consumer" {
		fail("%s: ListConsumerGroups: %v, %v", ver, err, gs)
	}
	if dg, err := adm.DescribeConsumerGroups([]string{group}); err != nil || len(dg) != 1 || dg[0].State != "Empty" {
		fail("%s: DescribeConsumerGroups: %v", ver, err)
	}
	ok("two-member group read everything and committed it")

	if err := adm.DeleteRecords(topic, map[int32]int64{0: 1}); err != nil {
		fail("%s: DeleteRecords: %v", ver, err)
	}
	if lo, err := cl.GetOffset(topic, 0, sarama.OffsetOldest); err != nil || lo != 1 {
		fail("%s: oldest offset after DeleteRecords: %d, %v", ver, lo, err)
	}
	if err := adm.DeleteConsumerGroup(group); err != nil {
		fail("%s: DeleteConsumerGroup: %v", ver, err)
	}
	if err := adm.DeleteTopic(topic); err != nil {
		fail("%s: DeleteTopic: %v", ver, err)
	}
	ok("DeleteRecords, DeleteConsumerGroup, DeleteTopic")
}

type handler func(*sarama.ConsumerMessage)

func (handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h(m)
		s.MarkMessage(m, "")
	}
	return nil
}
