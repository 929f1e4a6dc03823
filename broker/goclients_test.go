package broker_test

// Regression tests for what the Go clients with protocol code of their own
// (IBM/sarama, segmentio/kafka-go) found, at the wire level with the
// request versions those clients send, so that make test guards them
// without the clients (compat/goclients runs the clients themselves).

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/weirtest"
)

// sarama below protocol level 1.1 sends DescribeConfigs v0 (for
// ClusterAdmin.DescribeConfig, and ListTopics, which describes every
// topic): the broker must answer it, with IsDefault in place of sources,
// instead of closing the connection.
func TestDescribeConfigsV0(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	createTopic(t, adm, "old-sarama", 2, map[string]*string{"retention.ms": sp("3600000")})

	c := dialRaw(t, b.Addr())
	av := kmsg.NewPtrApiVersionsRequest()
	for _, k := range c.must(av).(*kmsg.ApiVersionsResponse).ApiKeys {
		if k.ApiKey == 32 && k.MinVersion != 0 {
			t.Fatalf("DescribeConfigs advertised from v%d, want v0", k.MinVersion)
		}
	}

	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = 0
	all := kmsg.NewDescribeConfigsRequestResource() // every config (null names)
	all.ResourceType = kmsg.ConfigResourceTypeTopic
	all.ResourceName = "old-sarama"
	named := all
	named.ConfigNames = []string{"retention.ms", "segment.bytes"}
	unknown := all
	unknown.ResourceName = "no-such-topic"
	req.Resources = []kmsg.DescribeConfigsRequestResource{all, named, unknown}
	resp := c.must(req).(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 3 {
		t.Fatalf("%d resources in the response, want 3", len(resp.Resources))
	}
	type entry struct {
		value              string
		isDefault, ro, sen bool
	}
	entries := func(r kmsg.DescribeConfigsResponseResource) map[string]entry {
		t.Helper()
		if r.ErrorCode != 0 || r.ResourceName != "old-sarama" || r.ResourceType != kmsg.ConfigResourceTypeTopic {
			t.Fatalf("resource %s: %s", r.ResourceName, errName(r.ErrorCode))
		}
		m := map[string]entry{}
		for _, c := range r.Configs {
			if c.Value == nil {
				t.Fatalf("config %s: null value", c.Name)
			}
			m[c.Name] = entry{*c.Value, c.IsDefault, c.ReadOnly, c.IsSensitive}
		}
		return m
	}
	got := entries(resp.Resources[0])
	if e := got["retention.ms"]; e != (entry{value: "3600000"}) {
		t.Errorf("all configs: retention.ms %+v, want 3600000, not default", e)
	}
	if e := got["segment.bytes"]; e != (entry{value: "1073741824", isDefault: true}) {
		t.Errorf("all configs: segment.bytes %+v, want 1073741824, default", e)
	}
	if e := got["cleanup.policy"]; e != (entry{value: "delete", isDefault: true}) {
		t.Errorf("all configs: cleanup.policy %+v, want delete, default", e)
	}
	got = entries(resp.Resources[1])
	want := map[string]entry{"retention.ms": {value: "3600000"}, "segment.bytes": {value: "1073741824", isDefault: true}}
	if len(got) != len(want) || got["retention.ms"] != want["retention.ms"] || got["segment.bytes"] != want["segment.bytes"] {
		t.Errorf("named configs: %+v, want %+v", got, want)
	}
	wantCode(t, "v0 describe of an unknown topic", resp.Resources[2].ErrorCode, kerr.UnknownTopicOrPartition)

	// The connection is still open and usable.
	m := kmsg.NewPtrMetadataRequest()
	m.Version = 5
	c.must(m)
}

// sarama (JoinGroup v7 at its default protocol level 2.8, v8 at most)
// restarts a static member (Consumer.Group.InstanceId) with an empty
// member id. When that member was the leader, Kafka answers it without a
// rebalance, as a follower: same generation, no members, the old member id
// as the leader's (KIP-814 keeps SkipAssignment for v9+). Weir rebalanced
// the group instead, which is what static membership exists to avoid.
func TestStaticLeaderRejoinV7(t *testing.T) {
	b := startGroupBroker(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	createTopic(t, adm, "static-v7", 2, nil)
	const group = "static-v7-group"
	member := func(instance string) *rawMember {
		m := newRawMember(t, b.Addr(), group)
		m.instance = &instance
		return m
	}
	join := func(m *rawMember) *kmsg.JoinGroupRequest {
		req := m.joinRequest("static-v7", 10*time.Second, 10*time.Second)
		req.Version = 7
		return req
	}
	recvJoin := func(m *rawMember, req *kmsg.JoinGroupRequest, corr int32) *kmsg.JoinGroupResponse {
		t.Helper()
		resp, err := m.rc.recv(req, corr, 10*time.Second)
		if err != nil {
			t.Fatalf("join: %v", err)
		}
		r := resp.(*kmsg.JoinGroupResponse)
		wantNone(t, "join", r.ErrorCode)
		m.id, m.generation = r.MemberID, r.Generation
		return r
	}

	// A alone, then A and B: A leads, each gets one partition.
	a, bm := member("a"), member("b")
	req := join(a)
	corr, _ := a.rc.send(req)
	recvJoin(a, req, corr)
	a.sync(t, map[string][]byte{a.id: assignment("static-v7", 0, 1)})
	reqB := join(bm)
	corrB, _ := bm.rc.send(reqB)
	waitFor(t, 5*time.Second, "the rebalance B's join starts", func() bool { return a.heartbeat(t) != 0 })
	req = join(a)
	corr, _ = a.rc.send(req)
	ra := recvJoin(a, req, corr)
	recvJoin(bm, reqB, corrB)
	if ra.LeaderID != a.id {
		t.Fatalf("leader %s, want member a %s", ra.LeaderID, a.id)
	}
	syncB := kmsg.NewPtrSyncGroupRequest()
	syncB.Version = 5
	syncB.Group, syncB.MemberID, syncB.Generation, syncB.InstanceID = group, bm.id, bm.generation, bm.instance
	syncB.ProtocolType, syncB.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	corrSB, _ := bm.rc.send(syncB)
	a.sync(t, map[string][]byte{a.id: assignment("static-v7", 0), bm.id: assignment("static-v7", 1)})
	if _, err := bm.rc.recv(syncB, corrSB, 10*time.Second); err != nil {
		t.Fatalf("sync b: %v", err)
	}
	gen, oldA := a.generation, a.id

	// A restarts: a new connection, an empty member id, its instance id.
	a2 := member("a")
	req = join(a2)
	corr, _ = a2.rc.send(req)
	r := recvJoin(a2, req, corr)
	if r.Generation != gen || r.MemberID == oldA || r.LeaderID != oldA || len(r.Members) != 0 || r.SkipAssignment {
		t.Fatalf("restarted static leader (v7): generation %d (was %d), member %s, leader %s (old id %s), %d members, skip %v; want the same generation, answered as a follower naming the old id",
			r.Generation, gen, r.MemberID, r.LeaderID, oldA, len(r.Members), r.SkipAssignment)
	}
	if code := bm.heartbeat(t); code != 0 {
		t.Fatalf("member b's heartbeat after a's restart: %s, want none (no rebalance)", errName(code))
	}
	if st := dialRaw(t, b.Addr()).describeRaw(group).State; st != "Stable" {
		t.Fatalf("group state %s after the static leader's restart", st)
	}
	s := a2.sync(t, nil) // a follower's sync: the stored assignment
	if s.ErrorCode != 0 || string(s.MemberAssignment) != string(assignment("static-v7", 0)) {
		t.Fatalf("restarted leader's sync: %s %x", errName(s.ErrorCode), s.MemberAssignment)
	}
	a.id = oldA
	if code := a.heartbeat(t); code != kerr.FencedInstanceID.Code {
		t.Fatalf("heartbeat with the old member id: %s, want FENCED_INSTANCE_ID", errName(code))
	}
}
