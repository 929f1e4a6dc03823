package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestGroupBadInput sends the group APIs' bad inputs over the wire and
// checks each gets Kafka's error code and leaves the group healthy.
func TestGroupBadInput(t *testing.T) {
	b := startGroupBroker(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	const topic, group = "bad", "bad-group"
	createTopic(t, adm, topic, 2, nil)

	// MEMBER_ID_REQUIRED (JoinGroup v4+): the first join hands out an id
	// and adds no member.
	m := newRawMember(t, b.Addr(), group)
	first := m.rc.must(m.joinRequest(topic, 10*time.Second, 10*time.Second)).(*kmsg.JoinGroupResponse)
	wantCode(t, "first join", first.ErrorCode, kerr.MemberIDRequired)
	if first.MemberID == "" {
		t.Fatal("MEMBER_ID_REQUIRED without a member id")
	}
	if d := m.rc.describeRaw(group); d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("after MEMBER_ID_REQUIRED: %s with %d members", d.State, len(d.Members))
	}
	m.join(t, topic, 10*time.Second, 10*time.Second)
	wantNone(t, "sync", m.sync(t, map[string][]byte{m.id: assignment(topic, 0, 1)}).ErrorCode)
	wantNone(t, "commit", m.commit(t, topic, 0, 5, "ok"))

	// A static member, restarted: its old incarnation is fenced.
	s := newRawMember(t, b.Addr(), group)
	s.instance = kmsg.StringPtr("static-1")
	sj := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { sj <- s.join(t, topic, 10*time.Second, 10*time.Second) }()
	waitFor(t, 5*time.Second, "the rebalance", func() bool { return m.heartbeat(t) == kerr.RebalanceInProgress.Code })
	m.join(t, topic, 10*time.Second, 10*time.Second)
	<-sj
	ss := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { ss <- s.sync(t, nil) }()
	wantNone(t, "leader sync", m.sync(t, map[string][]byte{m.id: assignment(topic, 0), s.id: assignment(topic, 1)}).ErrorCode)
	wantNone(t, "static sync", (<-ss).ErrorCode)
	gen := m.generation
	old := *s
	old.rc = dialRaw(t, b.Addr())
	s.id = ""
	s.join(t, topic, 10*time.Second, 10*time.Second)
	if s.generation != gen || s.id == old.id {
		t.Fatalf("static rejoin: generation %d (was %d), id %s (was %s)", s.generation, gen, s.id, old.id)
	}
	wantCode(t, "old incarnation heartbeat", old.heartbeat(t), kerr.FencedInstanceID)
	wantCode(t, "old incarnation commit", old.commit(t, topic, 1, 9, ""), kerr.FencedInstanceID)
	wantCode(t, "old incarnation sync", old.sync(t, nil).ErrorCode, kerr.FencedInstanceID)

	c := dialRaw(t, b.Addr())
	commitAs := func(member string, generation int32, metadata string) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = 9
		req.Group, req.MemberID, req.Generation = group, member, generation
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = 0, 99, -1, &metadata
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return c.must(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	wantCode(t, "commit with a stale generation", commitAs(m.id, gen-1, ""), kerr.IllegalGeneration)
	wantCode(t, "commit by an unknown member", commitAs("nobody", gen, ""), kerr.UnknownMemberID)
	wantCode(t, "commit with oversized metadata", commitAs(m.id, gen, strings.Repeat("m", 4097)), kerr.OffsetMetadataTooLarge)
	wantCode(t, "simple commit to a live group", commitAs("", -1, ""), kerr.UnknownMemberID)

	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version = 4
	hb.Group, hb.MemberID, hb.Generation = "no-such-group", m.id, gen
	wantCode(t, "heartbeat, unknown group", c.must(hb).(*kmsg.HeartbeatResponse).ErrorCode, kerr.UnknownMemberID)
	sr := kmsg.NewPtrSyncGroupRequest()
	sr.Version = 5
	sr.Group, sr.MemberID, sr.Generation = "no-such-group", m.id, gen
	wantCode(t, "sync, unknown group", c.must(sr).(*kmsg.SyncGroupResponse).ErrorCode, kerr.UnknownMemberID)

	j := newRawMember(t, b.Addr(), group)
	jr := j.joinRequest(topic, 999*time.Millisecond, time.Second)
	wantCode(t, "session below group.min.session.timeout.ms", j.rc.must(jr).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InvalidSessionTimeout)
	jr = j.joinRequest(topic, 31*time.Minute, time.Second)
	wantCode(t, "session above group.max.session.timeout.ms", j.rc.must(jr).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InvalidSessionTimeout)
	jr = j.joinRequest(topic, 10*time.Second, time.Second)
	jr.ProtocolType = "connect"
	wantCode(t, "other protocol type", j.rc.must(jr).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)
	jr = j.joinRequest(topic, 10*time.Second, time.Second)
	jr.Protocols[0].Name = "roundrobin"
	wantCode(t, "no common protocol", j.rc.must(jr).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)
	jr = j.joinRequest(topic, 10*time.Second, time.Second)
	jr.MemberID = "made-up"
	wantCode(t, "join with an unknown member id", j.rc.must(jr).(*kmsg.JoinGroupResponse).ErrorCode, kerr.UnknownMemberID)

	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Version = 2
	del.Groups = []string{group}
	wantCode(t, "delete a non-empty group", c.must(del).(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode, kerr.NonEmptyGroup)
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = group
	odt := kmsg.NewOffsetDeleteRequestTopic()
	odt.Topic = topic
	odt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}
	od.Topics = append(od.Topics, odt)
	wantCode(t, "delete offsets of a subscribed topic", c.must(od).(*kmsg.OffsetDeleteResponse).Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic)

	// The group is unharmed: same generation, members, assignments and
	// offsets, and it still works.
	d := c.describeRaw(group)
	if d.State != "Stable" || len(d.Members) != 2 {
		t.Fatalf("group after bad input: %s with %d members", d.State, len(d.Members))
	}
	for _, mm := range d.Members {
		want := assignment(topic, 0)
		if mm.MemberID == s.id {
			want = assignment(topic, 1)
		}
		if !bytes.Equal(mm.MemberAssignment, want) {
			t.Fatalf("member %s assignment %x after bad input", mm.MemberID, mm.MemberAssignment)
		}
	}
	wantNone(t, "heartbeat", m.heartbeat(t))
	wantNone(t, "static heartbeat", s.heartbeat(t))
	if m.generation != gen || s.generation != gen {
		t.Fatal("generation moved")
	}
	if got := c.fetchCommitted(group, topic, 0); got != 5 {
		t.Fatalf("committed offset %d after refused commits, want 5", got)
	}
	wantNone(t, "commit", m.commit(t, topic, 0, 6, "ok"))
	if got := c.fetchCommitted(group, topic, 0); got != 6 {
		t.Fatalf("committed offset %d, want 6", got)
	}
}

// TestGroupRequestBuffersReused: the broker decodes requests in place
// from its network read buffer, which the next read reuses; the
// coordinator must keep copies of join metadata and sync assignments.
// After many more requests through the same loop, the group still
// describes the bytes the member sent.
func TestGroupRequestBuffersReused(t *testing.T) {
	b := startGroupBroker(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	const topic, group = "bufs", "bufs-group"
	createTopic(t, adm, topic, 3, nil)
	m := newRawMember(t, b.Addr(), group)
	m.join(t, topic, 10*time.Second, 10*time.Second)
	want := assignment(topic, 0, 1, 2)
	s := m.sync(t, map[string][]byte{m.id: want})
	if !bytes.Equal(s.MemberAssignment, want) {
		t.Fatalf("sync returned %x", s.MemberAssignment)
	}
	// Same-shaped requests with other bytes, on the same connection and
	// on others.
	for i := 0; i < 50; i++ {
		other := newRawMember(t, b.Addr(), fmt.Sprintf("other-group-%d", i))
		if i%2 == 0 {
			other.rc = m.rc
		}
		req := other.joinRequest(strings.Repeat("z", len(topic)), 10*time.Second, 10*time.Second)
		req.Version = 3
		req.Protocols[0].Metadata = bytes.Repeat([]byte{0xee}, 1000) // covers the whole earlier frames
		other.rc.must(req)
	}
	d := m.rc.describeRaw(group)
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{topic}
	if len(d.Members) != 1 || !bytes.Equal(d.Members[0].MemberAssignment, want) || !bytes.Equal(d.Members[0].ProtocolMetadata, meta.AppendTo(nil)) {
		t.Fatalf("group's bytes changed by later requests: %+v", d.Members)
	}
}

// TestGroupRebalanceTimeout: a member that keeps heartbeating but does not
// rejoin within the rebalance timeout is dropped, and the rebalance
// completes without it.
func TestGroupRebalanceTimeout(t *testing.T) {
	b := startGroupBroker(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	const topic, group = "rt", "rt-group"
	createTopic(t, adm, topic, 2, nil)
	const rebalance = time.Second
	slow := newRawMember(t, b.Addr(), group)
	slow.join(t, topic, 10*time.Second, rebalance)
	wantNone(t, "sync", slow.sync(t, map[string][]byte{slow.id: assignment(topic, 0, 1)}).ErrorCode)

	joiner := newRawMember(t, b.Addr(), group)
	joined := make(chan *kmsg.JoinGroupResponse, 1)
	start := time.Now()
	go func() { joined <- joiner.join(t, topic, 10*time.Second, rebalance) }()
	// The slow member hears of the rebalance, keeps its session alive,
	// and never rejoins.
	var r *kmsg.JoinGroupResponse
	for r == nil {
		select {
		case r = <-joined:
		case <-time.After(100 * time.Millisecond):
			if code := slow.heartbeat(t); code != kerr.RebalanceInProgress.Code && code != kerr.UnknownMemberID.Code {
				t.Fatalf("slow member heartbeat: %s", errName(code))
			}
		}
	}
	took := time.Since(start)
	t.Logf("rebalance completed without the slow member after %v (rebalance timeout %v)", took.Round(time.Millisecond), rebalance)
	if took < rebalance-100*time.Millisecond || took > rebalance+2*time.Second {
		t.Fatalf("join answered after %v, rebalance timeout %v", took, rebalance)
	}
	if r.LeaderID != joiner.id || len(r.Members) != 1 || r.Generation != slow.generation+1 {
		t.Fatalf("join: %+v", r)
	}
	wantCode(t, "dropped member heartbeat", slow.heartbeat(t), kerr.UnknownMemberID)
	wantNone(t, "sync", joiner.sync(t, map[string][]byte{joiner.id: assignment(topic, 0, 1)}).ErrorCode)
	if d := joiner.rc.describeRaw(group); d.State != "Stable" || len(d.Members) != 1 {
		t.Fatalf("group: %s with %d members", d.State, len(d.Members))
	}
}

// TestGroupReplayAfterRestart: group metadata and offsets are replayed
// from __consumer_offsets: after a broker restart a live group is Stable
// with the same members, generation and assignments, and its members
// carry on (heartbeats and commits with their generation) without
// rejoining.
func TestGroupReplayAfterRestart(t *testing.T) {
	b := startGroupBroker(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	const topic, group = "replay", "replay-group"
	createTopic(t, adm, topic, 2, nil)
	m := newRawMember(t, b.Addr(), group)
	m.join(t, topic, 30*time.Second, 30*time.Second)
	wantNone(t, "sync", m.sync(t, map[string][]byte{m.id: assignment(topic, 0, 1)}).ErrorCode)
	wantNone(t, "commit", m.commit(t, topic, 0, 41, "meta-0"))
	wantNone(t, "commit", m.commit(t, topic, 1, 42, "meta-1"))
	simple := dialRaw(t, b.Addr())
	sc := kmsg.NewPtrOffsetCommitRequest()
	sc.Version = 2
	sc.Group, sc.Generation = "simple-group", -1
	sct := kmsg.NewOffsetCommitRequestTopic()
	sct.Topic = topic
	sct.Partitions = []kmsg.OffsetCommitRequestTopicPartition{{Partition: 1, Offset: 7}}
	sc.Topics = append(sc.Topics, sct)
	wantNone(t, "simple commit", simple.must(sc).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode)
	before := m.rc.describeRaw(group)

	b.Restart()
	m.rc = dialRaw(t, b.Addr())
	after := m.rc.describeRaw(group)
	if after.State != "Stable" || after.Protocol != before.Protocol || len(after.Members) != 1 ||
		after.Members[0].MemberID != m.id || !bytes.Equal(after.Members[0].MemberAssignment, before.Members[0].MemberAssignment) ||
		!bytes.Equal(after.Members[0].ProtocolMetadata, before.Members[0].ProtocolMetadata) {
		t.Fatalf("group after restart:\nbefore %+v\nafter  %+v", before, after)
	}
	wantNone(t, "heartbeat after restart", m.heartbeat(t))
	if got := m.rc.fetchCommitted(group, topic, 0); got != 41 {
		t.Fatalf("offset after restart %d, want 41", got)
	}
	if got := m.rc.fetchCommitted("simple-group", topic, 1); got != 7 {
		t.Fatalf("simple group's offset after restart %d, want 7", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm = kadm.NewClient(newClient(t, b.Addr()))
	os, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := os.Lookup(topic, 1); o.At != 42 || o.Metadata != "meta-1" {
		t.Fatalf("offset after restart: %+v", o)
	}
	wantNone(t, "commit after restart", m.commit(t, topic, 1, 43, ""))
}
