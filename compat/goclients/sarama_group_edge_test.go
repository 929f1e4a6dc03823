package goclients

import (
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func withStrategies(bs ...sarama.BalanceStrategy) func(*sarama.Config) {
	return func(c *sarama.Config) { c.Consumer.Group.Rebalance.GroupStrategies = bs }
}

func withInstanceID(id string) func(*sarama.Config) {
	return func(c *sarama.Config) { c.Consumer.Group.InstanceId = id }
}

// splitInTwo waits until members a and b hold two of the four partitions
// each.
func splitInTwo(t *testing.T, a, b *groupMember) (ca, cb []int32) {
	t.Helper()
	waitFor(t, 30*time.Second, "the two members to split the partitions", func() bool {
		ca, _ = a.state()
		cb, _ = b.state()
		return len(ca) == 2 && len(cb) == 2 && !slices.Contains(ca, cb[0]) && !slices.Contains(ca, cb[1])
	})
	return ca, cb
}

func describeGroup(t *testing.T, adm sarama.ClusterAdmin, group string) *sarama.GroupDescription {
	t.Helper()
	d, err := adm.DescribeConsumerGroups([]string{group})
	if err != nil || len(d) != 1 || d[0].Err != sarama.ErrNoError {
		t.Fatalf("DescribeConsumerGroups %s: %v, %+v", group, err, d)
	}
	return d[0]
}

// TestSaramaGroupStrategies checks the coordinator's choice of assignor
// among the members' lists (Kafka's vote: each member's first choice among
// those every member supports) and that each choice assigns every
// partition once.
func TestSaramaGroupStrategies(t *testing.T) {
	b := startBroker(t)
	v := sarama.DefaultVersion
	saramaCreateTopic(t, b.Addr(), v, saramaGroupTopic, 4)
	adm := saramaAdmin(t, b.Addr(), v)
	rr, rng, sticky := sarama.NewBalanceStrategyRoundRobin, sarama.NewBalanceStrategyRange, sarama.NewBalanceStrategySticky
	for _, c := range []struct {
		group string
		a, b  []sarama.BalanceStrategy
		want  string
	}{
		{"g-common-first", []sarama.BalanceStrategy{rr(), rng()}, []sarama.BalanceStrategy{rr(), rng()}, "roundrobin"},
		{"g-only-common", []sarama.BalanceStrategy{rr(), rng()}, []sarama.BalanceStrategy{rng()}, "range"},
		{"g-sticky", []sarama.BalanceStrategy{sticky()}, []sarama.BalanceStrategy{sticky(), rng()}, "sticky"},
	} {
		ma := startGroupMember(t, b.Addr(), v, c.group, "member-a", withStrategies(c.a...))
		waitFor(t, 20*time.Second, "member-a to own all 4 partitions", func() bool {
			ca, _ := ma.state()
			return len(ca) == 4
		})
		mb := startGroupMember(t, b.Addr(), v, c.group, "member-b", withStrategies(c.b...))
		splitInTwo(t, ma, mb)
		if d := describeGroup(t, adm, c.group); d.Protocol != c.want || d.State != "Stable" || len(d.Members) != 2 {
			t.Errorf("%s: protocol %q, state %s, %d members; want %q, Stable, 2", c.group, d.Protocol, d.State, len(d.Members), c.want)
		}
		ma.stop(t)
		mb.stop(t)
	}
}

// TestSaramaCooperativeSticky runs two members with the cooperative-sticky
// assignor (incremental rebalances: the first member keeps consuming the
// partitions it is not asked to give up) and checks that together they
// read every record exactly once.
func TestSaramaCooperativeSticky(t *testing.T) {
	b := startBroker(t)
	v := sarama.DefaultVersion
	saramaCreateTopic(t, b.Addr(), v, saramaGroupTopic, 4)
	coop := withStrategies(sarama.NewBalanceStrategyCooperativeSticky())
	ma := startGroupMember(t, b.Addr(), v, "g-coop", "member-a", coop)
	waitFor(t, 20*time.Second, "member-a to own all 4 partitions", func() bool {
		ca, _ := ma.state()
		return len(ca) == 4
	})
	want := saramaProduceN(t, b.Addr(), v, saramaGroupTopic, 0, 100)
	waitFor(t, 20*time.Second, "member-a to read 100 records", func() bool {
		_, n := ma.state()
		return n >= 100
	})
	mb := startGroupMember(t, b.Addr(), v, "g-coop", "member-b", coop)
	// sarama keeps one session across cooperative rebalances (Setup runs
	// once), so the split is read from the coordinator.
	adm := saramaAdmin(t, b.Addr(), v)
	var assigned map[string][]int32
	waitFor(t, 30*time.Second, "the two members to split the partitions", func() bool {
		d := describeGroup(t, adm, "g-coop")
		if d.State != "Stable" || len(d.Members) != 2 || d.Protocol != "cooperative-sticky" {
			return false
		}
		assigned = map[string][]int32{}
		for _, m := range d.Members {
			as, err := m.GetMemberAssignment()
			if err != nil {
				t.Fatalf("member assignment: %v", err)
			}
			assigned[m.ClientId] = as.Topics[saramaGroupTopic]
		}
		return len(assigned["member-a"]) == 2 && len(assigned["member-b"]) == 2
	})
	readA := len(ma.read())
	more := saramaProduceN(t, b.Addr(), v, saramaGroupTopic, 100, 100)
	want = append(want, more...)
	waitFor(t, 20*time.Second, "the members to read 200 records", func() bool {
		_, na := ma.state()
		_, nb := mb.state()
		return na+nb >= 200
	})
	time.Sleep(200 * time.Millisecond)
	equalRecords(t, "both members", want, append(ma.read(), mb.read()...))
	for name, rs := range map[string][]record{"member-a": ma.read()[readA:], "member-b": mb.read()} {
		for _, r := range rs {
			if !slices.Contains(assigned[name], r.Partition) {
				t.Errorf("%s read %v, not of its partitions %v", name, r, assigned[name])
				break
			}
		}
	}
}

// TestSaramaStaticMembership checks KIP-345 static members: a member that
// closes does not leave, and when it comes back under the same instance
// id it takes its partitions back without a rebalance (the other member
// keeps its session and the generation does not move). Removing it with
// RemoveMemberFromConsumerGroup (LeaveGroup v3+ by instance id) rebalances
// everything onto the other member.
func TestSaramaStaticMembership(t *testing.T) {
	b := startBroker(t)
	v := sarama.DefaultVersion
	saramaCreateTopic(t, b.Addr(), v, saramaGroupTopic, 4)
	adm := saramaAdmin(t, b.Addr(), v)
	const group = "g-static"
	ma := startGroupMember(t, b.Addr(), v, group, "member-a", withInstanceID("static-a"))
	waitFor(t, 20*time.Second, "member-a to own all 4 partitions", func() bool {
		ca, _ := ma.state()
		return len(ca) == 4
	})
	mb := startGroupMember(t, b.Addr(), v, group, "member-b", withInstanceID("static-b"))
	ca, cb := splitInTwo(t, ma, mb)
	_, gen, _ := mb.session()
	_, genA, _ := ma.session()
	if gen != genA {
		t.Fatalf("members in generations %d and %d", genA, gen)
	}
	d := describeGroup(t, adm, group)
	ids := map[string]bool{}
	for _, m := range d.Members {
		if m.GroupInstanceId != nil {
			ids[*m.GroupInstanceId] = true
		}
	}
	if !ids["static-a"] || !ids["static-b"] {
		t.Errorf("DescribeConsumerGroups: instance ids %v, want static-a and static-b", ids)
	}

	ma.stop(t)
	time.Sleep(500 * time.Millisecond) // a LeaveGroup would have rebalanced by now
	if d := describeGroup(t, adm, group); len(d.Members) != 2 {
		t.Errorf("after static member-a closed: %d members, want 2 (it does not leave)", len(d.Members))
	}
	ma2 := startGroupMember(t, b.Addr(), v, group, "member-a", withInstanceID("static-a"))
	waitFor(t, 20*time.Second, "member-a to come back", func() bool {
		c, _ := ma2.state()
		return len(c) > 0
	})
	ca2, genA2, _ := ma2.session()
	cb2, genB2, sessionsB := mb.session()
	if !slices.Equal(ca2, ca) || !slices.Equal(cb2, cb) {
		t.Errorf("after member-a's return: a %v b %v, before a %v b %v", ca2, cb2, ca, cb)
	}
	if genA2 != gen || genB2 != gen || sessionsB != 1 {
		t.Errorf("after member-a's return: generations a %d b %d (were %d), member-b sessions %d; want no rebalance", genA2, genB2, gen, sessionsB)
	}

	// Produced records reach both, each its own partitions.
	want := saramaProduceN(t, b.Addr(), v, saramaGroupTopic, 0, 60)
	waitFor(t, 20*time.Second, "60 records read", func() bool {
		_, na := ma2.state()
		_, nb := mb.state()
		return na+nb >= 60
	})
	equalRecords(t, "static members", want, append(ma2.read(), mb.read()...))

	ma2.stop(t)
	resp, err := adm.RemoveMemberFromConsumerGroup(group, []string{"static-a"})
	if err != nil || resp.Err != sarama.ErrNoError || len(resp.Members) != 1 || resp.Members[0].Err != sarama.ErrNoError {
		t.Fatalf("RemoveMemberFromConsumerGroup: %v, %+v", err, resp)
	}
	waitFor(t, 20*time.Second, "member-b to own all 4 partitions", func() bool {
		c, _ := mb.state()
		return len(c) == 4
	})
	if d := describeGroup(t, adm, group); len(d.Members) != 1 {
		t.Errorf("after RemoveMemberFromConsumerGroup: %d members, want 1", len(d.Members))
	}
}
