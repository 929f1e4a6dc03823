package broker_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestGroupAdmin drives the group admin APIs with kadm: DescribeGroups,
// ListGroups with state filters, FetchManyOffsets (OffsetFetch v8+ with
// several groups), DeleteOffsets and DeleteGroups, including their
// refusals for live groups.
func TestGroupAdmin(t *testing.T) {
	b := startGroupBroker(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	ctx := ctxT(t)
	const topic, other = "admin", "admin-other"
	createTopic(t, adm, topic, 3, nil)
	createTopic(t, adm, other, 1, nil)
	produceKeyed(t, newClient(t, b.Addr()), topic, 30)

	// "live": one consumer, Stable. "offline": offsets only, Empty.
	tr := newTracker()
	live := startConsumer(t, b.Addr(), "live-1", groupOpts{group: "live", topic: topic, balancer: kgo.RangeBalancer()}, tr)
	waitAssignment(t, adm, "live", []*gconsumer{live}, 3, []int{3})
	waitFor(t, 10*time.Second, "records", func() bool { return tr.count() == 30 })
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: topic, Partition: 0, At: 3, LeaderEpoch: -1, Metadata: "m0"})
	offsets.Add(kadm.Offset{Topic: other, Partition: 0, At: 9, LeaderEpoch: -1})
	if r, err := adm.CommitOffsets(ctx, "offline", offsets); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}
	// An admin commit (generation -1, no member) into a live group is
	// refused, as Kafka does.
	liveOther := kadm.Offsets{}
	liveOther.Add(kadm.Offset{Topic: other, Partition: 0, At: 4, LeaderEpoch: -1})
	if r, err := adm.CommitOffsets(ctx, "live", liveOther); err != nil || !errors.Is(r.Error(), kerr.UnknownMemberID) {
		t.Fatalf("admin commit into a live group: %v %v", err, r.Error())
	}
	if err := live.cl.CommitMarkedOffsets(ctx); err != nil {
		t.Fatal(err)
	}

	ds, err := adm.DescribeGroups(ctx, "live", "offline", "missing")
	if err != nil {
		t.Fatal(err)
	}
	if d := ds["live"]; d.State != "Stable" || d.Protocol != "range" || d.ProtocolType != "consumer" || len(d.Members) != 1 ||
		d.Members[0].ClientID != "live-1" || d.Members[0].ClientHost == "" {
		t.Fatalf("describe live: %+v", d)
	} else if c, ok := d.Members[0].Assigned.AsConsumer(); !ok || len(c.Topics) != 1 || len(c.Topics[0].Partitions) != 3 {
		t.Fatalf("describe live: assignment %+v", d.Members[0].Assigned)
	}
	if d := ds["offline"]; d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("describe offline: %+v", d)
	}
	if d := ds["missing"]; d.State != "Dead" {
		t.Fatalf("describe missing: %+v", d)
	}

	listed := func(states ...string) []string {
		ls, err := adm.ListGroups(ctx, states...)
		if err != nil {
			t.Fatal(err)
		}
		groups := ls.Groups()
		slices.Sort(groups)
		return groups
	}
	if got := listed(); !slices.Equal(got, []string{"live", "offline"}) {
		t.Fatalf("list: %v", got)
	}
	if got := listed("Stable"); !slices.Equal(got, []string{"live"}) {
		t.Fatalf("list Stable: %v", got)
	}
	if got := listed("Empty"); !slices.Equal(got, []string{"offline"}) {
		t.Fatalf("list Empty: %v", got)
	}
	if got := listed("PreparingRebalance", "CompletingRebalance"); len(got) != 0 {
		t.Fatalf("list rebalancing: %v", got)
	}

	// OffsetFetch with several groups in one request (v8+).
	fetched := adm.FetchManyOffsets(ctx, "live", "offline", "missing")
	if err := fetched.Error(); err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	lo := fetched["live"].Fetched
	for p := int32(0); p < 3; p++ {
		end, _ := ends.Lookup(topic, p)
		if o, ok := lo.Lookup(topic, p); !ok || o.At != end.Offset {
			t.Fatalf("live %s/%d: %+v, want the end offset %d", topic, p, o, end.Offset)
		}
	}
	if o, ok := fetched["offline"].Fetched.Lookup(topic, 0); !ok || o.At != 3 || o.Metadata != "m0" {
		t.Fatalf("offline %s/0: %+v", topic, o)
	}
	if o, ok := fetched["offline"].Fetched.Lookup(other, 0); !ok || o.At != 9 {
		t.Fatalf("offline %s/0: %+v", other, o)
	}
	if len(fetched["missing"].Fetched) != 0 {
		t.Fatalf("missing group offsets: %+v", fetched["missing"].Fetched)
	}

	// The same over the wire: one OffsetFetch v8 naming both groups.
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	for _, g := range []string{"live", "offline"} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		rg.Topics = append(rg.Topics, rt)
		req.Groups = append(req.Groups, rg)
	}
	resp := dialRaw(t, b.Addr()).must(req).(*kmsg.OffsetFetchResponse)
	end0, _ := ends.Lookup(topic, 0)
	if len(resp.Groups) != 2 || resp.Groups[0].Group != "live" || resp.Groups[0].Topics[0].Partitions[0].Offset != end0.Offset ||
		resp.Groups[1].Group != "offline" || resp.Groups[1].Topics[0].Partitions[0].Offset != 3 {
		t.Fatalf("OffsetFetch v8: %+v", resp.Groups)
	}

	// OffsetDelete: refused for a topic the live group consumes.
	dr, err := adm.DeleteOffsets(ctx, "live", kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := dr.Lookup(topic, 0); !errors.Is(e, kerr.GroupSubscribedToTopic) {
		t.Fatalf("delete offsets of a subscribed topic: %v", e)
	}
	dr, err = adm.DeleteOffsets(ctx, "offline", kadm.TopicsSet{other: {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := dr.Lookup(other, 0); e != nil {
		t.Fatalf("delete offsets of an empty group: %v", e)
	}
	if os, _ := adm.FetchOffsets(ctx, "offline"); func() bool { _, ok := os.Lookup(other, 0); return ok }() {
		t.Fatal("deleted offset still fetched")
	}

	// DeleteGroups: NON_EMPTY_GROUP while a member is in; fine once it
	// left. The live group's commits are gone with it.
	del, err := adm.DeleteGroups(ctx, "live", "offline", "missing")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(del["live"].Err, kerr.NonEmptyGroup) || del["offline"].Err != nil || !errors.Is(del["missing"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("delete groups: live %v, offline %v, missing %v", del["live"].Err, del["offline"].Err, del["missing"].Err)
	}
	if d := describe(t, adm, "live"); d.State != "Stable" || len(d.Members) != 1 {
		t.Fatalf("live group after a refused delete: %s, %d members", d.State, len(d.Members))
	}
	live.Close()
	waitFor(t, 10*time.Second, "the group to empty", func() bool { return describe(t, adm, "live").State == "Empty" })
	del, err = adm.DeleteGroups(ctx, "live")
	if err != nil || del["live"].Err != nil {
		t.Fatalf("delete emptied group: %v %v", err, del["live"].Err)
	}
	if got := listed(); len(got) != 0 {
		t.Fatalf("groups left: %v", got)
	}
	if os, err := adm.FetchOffsets(ctx, "live"); err != nil || len(os) != 0 {
		t.Fatalf("deleted group's offsets: %v %+v", err, os)
	}
	// Deletion survives a restart.
	b.Restart()
	adm = kadm.NewClient(newClient(t, b.Addr()))
	if got := listed(); len(got) != 0 {
		t.Fatalf("groups back after restart: %v", got)
	}
}
