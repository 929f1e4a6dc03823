package goclients

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// groupMember is one sarama ConsumerGroup member running Consume in a loop
// and recording what it is assigned and what it reads.
type groupMember struct {
	name   string
	group  sarama.ConsumerGroup
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	claims   []int32 // partitions of the current session
	gen      int32   // its generation
	sessions int     // sessions begun
	records  []record
	errs     []error
}

func (m *groupMember) Setup(s sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.claims = slices.Clone(s.Claims()[saramaGroupTopic])
	slices.Sort(m.claims)
	m.gen = s.GenerationID()
	m.sessions++
	return nil
}

// session returns the member's current claims, generation and the number
// of sessions it has begun.
func (m *groupMember) session() (claims []int32, gen int32, sessions int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.claims), m.gen, m.sessions
}

func (m *groupMember) Cleanup(s sarama.ConsumerGroupSession) error {
	s.Commit()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.claims = nil
	return nil
}

func (m *groupMember) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-c.Messages():
			if !ok {
				return nil
			}
			m.mu.Lock()
			m.records = append(m.records, record{Partition: msg.Partition, Offset: msg.Offset, Key: string(msg.Key), Value: string(msg.Value), Headers: saramaHeaders(msg.Headers)})
			m.mu.Unlock()
			s.MarkMessage(msg, "")
		case <-s.Context().Done():
			return nil
		}
	}
}

func (m *groupMember) state() (claims []int32, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.claims), len(m.records)
}

func (m *groupMember) read() []record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.records)
}

const saramaGroupTopic = "sarama-group"

// startGroupMember starts a member of groupID, consuming saramaGroupTopic
// from the oldest offset; opts change its config.
func startGroupMember(t *testing.T, addr string, v sarama.KafkaVersion, groupID, name string, opts ...func(*sarama.Config)) *groupMember {
	t.Helper()
	cfg := saramaConfig(v)
	cfg.ClientID = name
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 100 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	cfg.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond
	for _, o := range opts {
		o(cfg)
	}
	g, err := sarama.NewConsumerGroup([]string{addr}, groupID, cfg)
	if err != nil {
		t.Fatalf("NewConsumerGroup %s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &groupMember{name: name, group: g, cancel: cancel, done: make(chan struct{})}
	go func() {
		for err := range g.Errors() {
			m.mu.Lock()
			m.errs = append(m.errs, err)
			m.mu.Unlock()
		}
	}()
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{saramaGroupTopic}, m); err != nil {
				if errors.Is(err, sarama.ErrClosedConsumerGroup) {
					return
				}
				m.mu.Lock()
				m.errs = append(m.errs, err)
				m.mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		}
	}()
	t.Cleanup(func() { m.stop(t) })
	return m
}

// stop ends the member's session (committing) and closes its group,
// leaving the consumer group.
func (m *groupMember) stop(t *testing.T) {
	if m.cancel == nil {
		return
	}
	m.cancel()
	m.cancel = nil
	within(t, 20*time.Second, "closing "+m.name, func() {
		<-m.done
		if err := m.group.Close(); err != nil {
			t.Errorf("%s: Close: %v", m.name, err)
		}
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, err := range m.errs {
		t.Errorf("%s: consumer group error: %v", m.name, err)
	}
}

// saramaProduceN produces n keyed records with a header to topic with a
// SyncProducer (acks=all) and returns them with their offsets.
func saramaProduceN(t *testing.T, addr string, v sarama.KafkaVersion, topic string, from, n int) []record {
	t.Helper()
	cfg := saramaConfig(v)
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{
			Topic:   topic,
			Key:     sarama.StringEncoder(fmt.Sprintf("key-%d", (from+i)%13)),
			Value:   sarama.StringEncoder(fmt.Sprintf("value-%d", from+i)),
			Headers: []sarama.RecordHeader{{Key: []byte("n"), Value: []byte(fmt.Sprint(from + i))}},
		}
	}
	var acked []*sarama.ProducerMessage
	within(t, 30*time.Second, "producing", func() { acked = saramaSyncProduce(t, addr, cfg, msgs) })
	if t.Failed() {
		t.FailNow()
	}
	out := make([]record, len(acked))
	for i, m := range acked {
		out[i] = record{Partition: m.Partition, Offset: m.Offset, Key: fmt.Sprintf("key-%d", (from+i)%13), Value: fmt.Sprintf("value-%d", from+i), Headers: joinHeaders("n", fmt.Sprint(from+i))}
	}
	return out
}

// sortRecords orders records by partition, then offset.
func sortRecords(rs []record) []record {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b record) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	return rs
}

func equalRecords(t *testing.T, what string, want, got []record) {
	t.Helper()
	want, got = sortRecords(want), sortRecords(got)
	if !slices.Equal(want, got) {
		t.Errorf("%s: read %d records, want %d", what, len(got), len(want))
		for i := range max(len(want), len(got)) {
			var w, g record
			if i < len(want) {
				w = want[i]
			}
			if i < len(got) {
				g = got[i]
			}
			if w != g {
				t.Errorf("  [%d] read %v, want %v", i, g, w)
			}
			if i > 10 {
				break
			}
		}
	}
}

// TestSaramaConsumerGroup runs two ConsumerGroup members that split four
// partitions between them, reads every record exactly once, commits, and
// checks that a restarted member resumes from the commit. The group admin
// APIs are checked along the way: ListConsumerGroups,
// DescribeConsumerGroups (members and their assignments),
// ListConsumerGroupOffsets and DeleteConsumerGroup.
func TestSaramaConsumerGroup(t *testing.T) {
	forSaramaVersions(t, func(t *testing.T, v sarama.KafkaVersion) {
		b := startBroker(t)
		saramaCreateTopic(t, b.Addr(), v, saramaGroupTopic, 4)
		adm := saramaAdmin(t, b.Addr(), v)
		const group = "sarama-g"

		a := startGroupMember(t, b.Addr(), v, group, "member-a")
		waitFor(t, 20*time.Second, "member-a to own all 4 partitions", func() bool {
			c, _ := a.state()
			return len(c) == 4
		})
		bm := startGroupMember(t, b.Addr(), v, group, "member-b")
		waitFor(t, 30*time.Second, "the two members to split the partitions", func() bool {
			ca, _ := a.state()
			cb, _ := bm.state()
			return len(ca) == 2 && len(cb) == 2 && !slices.Contains(ca, cb[0]) && !slices.Contains(ca, cb[1])
		})

		// The group as the admin API sees it, while both members are in.
		groups, err := adm.ListConsumerGroups()
		if err != nil || groups[group] != "consumer" {
			t.Fatalf("ListConsumerGroups: %v, %v (want %s: consumer)", err, groups, group)
		}
		desc, err := adm.DescribeConsumerGroups([]string{group})
		if err != nil || len(desc) != 1 {
			t.Fatalf("DescribeConsumerGroups: %v, %v", err, desc)
		}
		d := desc[0]
		if d.Err != sarama.ErrNoError || d.GroupId != group || d.State != "Stable" || d.ProtocolType != "consumer" || d.Protocol != "range" || len(d.Members) != 2 {
			t.Fatalf("DescribeConsumerGroups: %+v", d)
		}
		assigned := map[string][]int32{}
		for id, md := range d.Members {
			as, err := md.GetMemberAssignment()
			if err != nil {
				t.Fatalf("member %s assignment: %v", id, err)
			}
			if md.ClientId != "member-a" && md.ClientId != "member-b" || md.ClientHost != "/127.0.0.1" {
				t.Errorf("member %s: client id %q host %q", id, md.ClientId, md.ClientHost)
			}
			ps := slices.Clone(as.Topics[saramaGroupTopic])
			slices.Sort(ps)
			assigned[md.ClientId] = ps
		}
		ca, _ := a.state()
		cb, _ := bm.state()
		if !slices.Equal(assigned["member-a"], ca) || !slices.Equal(assigned["member-b"], cb) {
			t.Errorf("described assignments %v, members hold a=%v b=%v", assigned, ca, cb)
		}

		// Records produced now go to both members, each reading exactly
		// its own partitions.
		want := saramaProduceN(t, b.Addr(), v, saramaGroupTopic, 0, 200)
		waitFor(t, 30*time.Second, "the members to read 200 records", func() bool {
			_, na := a.state()
			_, nb := bm.state()
			return na+nb >= 200
		})
		time.Sleep(200 * time.Millisecond) // anything extra would show now
		ra, rb := a.read(), bm.read()
		equalRecords(t, "both members", want, append(ra, rb...))
		for _, r := range ra {
			if !slices.Contains(ca, r.Partition) {
				t.Errorf("member-a read %v, not of its partitions %v", r, ca)
			}
		}
		if len(ra) == 0 || len(rb) == 0 {
			t.Errorf("member-a read %d records, member-b %d: both should have some", len(ra), len(rb))
		}
		a.stop(t)
		bm.stop(t)

		// Every partition's commit is its end offset.
		ends := map[int32]int64{}
		for _, r := range want {
			ends[r.Partition] = max(ends[r.Partition], r.Offset+1)
		}
		checkCommits := func(what string, want map[int32]int64) {
			t.Helper()
			offs, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{saramaGroupTopic: {0, 1, 2, 3}})
			if err != nil {
				t.Fatalf("%s: ListConsumerGroupOffsets: %v", what, err)
			}
			for p := int32(0); p < 4; p++ {
				blk := offs.GetBlock(saramaGroupTopic, p)
				if blk == nil || blk.Err != sarama.ErrNoError || blk.Offset != want[p] {
					t.Errorf("%s: partition %d commit %+v, want offset %d", what, p, blk, want[p])
				}
			}
		}
		checkCommits("after both members left", ends)
		desc, err = adm.DescribeConsumerGroups([]string{group})
		if err != nil || len(desc) != 1 || desc[0].State != "Empty" || len(desc[0].Members) != 0 {
			t.Fatalf("DescribeConsumerGroups after leaving: %v, %+v", err, desc)
		}

		// A restarted member resumes from the commit: it reads exactly the
		// records produced since.
		more := saramaProduceN(t, b.Addr(), v, saramaGroupTopic, 200, 40)
		c := startGroupMember(t, b.Addr(), v, group, "member-c")
		waitFor(t, 30*time.Second, "member-c to read 40 records", func() bool {
			_, n := c.state()
			return n >= 40
		})
		time.Sleep(300 * time.Millisecond)
		equalRecords(t, "restarted member", more, c.read())
		c.stop(t)
		for _, r := range more {
			ends[r.Partition] = max(ends[r.Partition], r.Offset+1)
		}
		checkCommits("after the restarted member left", ends)

		if !v.IsAtLeast(sarama.V1_1_0_0) {
			return // sarama has DeleteConsumerGroup from 1.1
		}
		if err := adm.DeleteConsumerGroup(group); err != nil {
			t.Fatalf("DeleteConsumerGroup: %v", err)
		}
		groups, err = adm.ListConsumerGroups()
		if err != nil {
			t.Fatalf("ListConsumerGroups after delete: %v", err)
		}
		if _, ok := groups[group]; ok {
			t.Errorf("ListConsumerGroups after delete still lists %s", group)
		}
		checkCommits("after DeleteConsumerGroup", map[int32]int64{0: -1, 1: -1, 2: -1, 3: -1})
	})
}
