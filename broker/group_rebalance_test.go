package broker_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

var balancers = []struct {
	name string
	b    kgo.GroupBalancer
}{
	{"eager-range", kgo.RangeBalancer()},
	{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
}

// TestGroupGrow: a group on a 3-partition topic grows 1 → 2 → 3 → 4
// consumers while a producer trickles records. Assignments go 3, 2+1,
// 1+1+1, then 1+1+1 with one idle member; with commits on revoke, no
// record is lost or processed twice. Both the classic eager protocol
// (range) and cooperative (incremental) rebalancing.
func TestGroupGrow(t *testing.T) {
	for _, bal := range balancers {
		t.Run(bal.name, func(t *testing.T) {
			b := startGroupBroker(t)
			adm := kadm.NewClient(newClient(t, b.Addr()))
			const topic, group = "grow", "grow-group"
			createTopic(t, adm, topic, 3, nil)
			tr := newTracker()
			prod := startTrickle(t, b.Addr(), topic, 2*time.Millisecond)
			o := groupOpts{group: group, topic: topic, balancer: bal.b}
			var cs []*gconsumer
			for n, want := range [][]int{{3}, {1, 2}, {1, 1, 1}, {0, 1, 1, 1}} {
				cs = append(cs, startConsumer(t, b.Addr(), fmt.Sprintf("c%d", n+1), o, tr))
				took := waitAssignment(t, adm, group, cs, 3, want)
				var owned []string
				for _, c := range cs {
					owned = append(owned, fmt.Sprintf("%s%v", c.name, c.Owned()))
				}
				t.Logf("%d consumers: settled in %v: %s", len(cs), took.Round(time.Millisecond), strings.Join(owned, " "))
				// Consumption goes on between the changes.
				before := tr.count()
				waitFor(t, 10*time.Second, "progress", func() bool { return tr.count() > before+20 })
			}
			// The idle member stays idle and healthy.
			time.Sleep(300 * time.Millisecond)
			if counts, ok := assignmentCounts(cs, 3); !ok || !slices.Equal(counts, []int{0, 1, 1, 1}) {
				t.Fatalf("assignment drifted: %v", counts)
			}
			acked := prod.Stop(t)
			tr.waitAll(t, acked, 20*time.Second)
			time.Sleep(200 * time.Millisecond) // let any duplicate arrive
			tr.check(t, acked)
			for _, c := range cs {
				c.Close()
				if errs := c.CommitErrors(); len(errs) > 0 {
					t.Errorf("%s: commits on revoke failed: %v", c.name, errs)
				}
				for _, e := range c.Events() {
					if e.kind == "lost" {
						t.Errorf("%s lost partitions: %s", c.name, eventsString(c.Events()))
					}
				}
				t.Logf("%s: %s", c.name, eventsString(c.Events()))
			}
			// Everything processed was committed: no lag.
			lags, err := adm.Lag(ctxT(t), group)
			if err != nil {
				t.Fatal(err)
			}
			if l := lags[group]; l.Error() != nil || l.Lag.Total() != 0 || l.State != "Empty" {
				t.Fatalf("after closing every consumer: state %s lag %d err %v", l.State, l.Lag.Total(), l.Error())
			}
			t.Logf("%d records, each processed once", len(acked))
		})
	}
}

// TestGroupCleanLeave: a member that closes (commit on revoke, then
// LeaveGroup) has its partition moved to the others at once, long before
// its session timeout.
func TestGroupCleanLeave(t *testing.T) {
	for _, bal := range balancers {
		t.Run(bal.name, func(t *testing.T) {
			b := startGroupBroker(t)
			adm := kadm.NewClient(newClient(t, b.Addr()))
			const topic, group = "leave", "leave-group"
			createTopic(t, adm, topic, 3, nil)
			tr := newTracker()
			prod := startTrickle(t, b.Addr(), topic, 2*time.Millisecond)
			const session = 6 * time.Second // Kafka's minimum; a leave must not wait for it
			o := groupOpts{group: group, topic: topic, balancer: bal.b, session: session}
			var cs []*gconsumer
			for i := 0; i < 3; i++ {
				cs = append(cs, startConsumer(t, b.Addr(), fmt.Sprintf("c%d", i+1), o, tr))
			}
			waitAssignment(t, adm, group, cs, 3, []int{1, 1, 1})
			leaving := cs[2]
			moved := leaving.Owned()[0]
			start := time.Now()
			leaving.Close()
			closed := time.Since(start)
			took := waitAssignment(t, adm, group, cs[:2], 3, []int{1, 2}) + closed
			var fetched time.Duration
			waitFor(t, 10*time.Second, "first fetch of the moved partition", func() bool {
				for _, c := range cs[:2] {
					if at, ok := c.FirstFetch(moved); ok && slices.Contains(c.Owned(), moved) {
						fetched = at.Sub(start)
						return true
					}
				}
				return false
			})
			t.Logf("clean leave: Close returned in %v, survivors own partition %d after %v, first record from it after %v (session timeout %v)",
				closed.Round(time.Millisecond), moved, took.Round(time.Millisecond), fetched.Round(time.Millisecond), session)
			if took >= session/2 {
				t.Fatalf("rebalance after a clean leave took %v, session timeout %v", took, session)
			}
			acked := prod.Stop(t)
			tr.waitAll(t, acked, 20*time.Second)
			time.Sleep(200 * time.Millisecond)
			tr.check(t, acked)
		})
	}
}

// TestGroupKilledMember: a member whose process is killed (no LeaveGroup)
// keeps its partitions until its session times out, then they move to the
// survivor. The member is a child process running a kgo consumer
// (TestGroupHelperProcess), SIGKILLed.
func TestGroupKilledMember(t *testing.T) {
	b := startGroupBroker(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	const topic, group = "killed", "killed-group"
	createTopic(t, adm, topic, 3, nil)
	o := groupOpts{group: group, topic: topic, balancer: kgo.RangeBalancer()}
	survivor := startConsumer(t, b.Addr(), "survivor", o, nil)
	waitAssignment(t, adm, group, []*gconsumer{survivor}, 3, []int{3})

	cmd := exec.Command(os.Args[0], "-test.run=^TestGroupHelperProcess$")
	cmd.Env = append(os.Environ(), "WEIR_GROUP_HELPER="+strings.Join([]string{b.Addr(), group, topic, testSession.String()}, ","))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	childOwned := make(chan []int32, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "ASSIGNED "); ok {
				var ps []int32
				for _, f := range strings.Fields(rest) {
					n, _ := strconv.Atoi(f)
					ps = append(ps, int32(n))
				}
				childOwned <- ps
			}
		}
	}()
	var child []int32
	waitFor(t, 20*time.Second, "the child to join", func() bool {
		select {
		case child = <-childOwned:
		default:
		}
		d := describe(t, adm, group)
		return len(child) > 0 && len(survivor.Owned())+len(child) == 3 && d.State == "Stable" && len(d.Members) == 2
	})
	t.Logf("child owns %v, survivor %v", child, survivor.Owned())
	time.Sleep(3 * testHeartbeat) // the child is heartbeating

	killed := time.Now()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Not before the session timeout, less some slack: the child's last
	// heartbeat precedes the kill by up to a heartbeat interval, more if
	// the machine is busy. (coord's unit tests pin the exact boundary.)
	earliest := testSession * 3 / 4
	var removed time.Duration
	waitFor(t, 3*testSession, "the killed member to be removed", func() bool {
		d := describe(t, adm, group)
		if len(d.Members) == 1 {
			removed = time.Since(killed)
			return true
		}
		return false
	})
	took := waitAssignment(t, adm, group, []*gconsumer{survivor}, 3, []int{3}) + removed
	t.Logf("killed member: removed after %v, its partitions %v moved to the survivor after %v (session timeout %v)",
		removed.Round(time.Millisecond), child, took.Round(time.Millisecond), testSession)
	if removed < earliest {
		t.Fatalf("member removed %v after the kill, before its session timeout %v", removed, testSession)
	}
	for _, e := range survivor.Events() {
		if e.kind == "assigned" && e.at.Sub(killed) > 0 && e.at.Sub(killed) < earliest {
			t.Fatalf("survivor assigned %v only %v after the kill", e.parts, e.at.Sub(killed))
		}
	}
}

// TestGroupHelperProcess is the child of TestGroupKilledMember: a kgo
// group consumer that prints its assignments and runs until killed.
func TestGroupHelperProcess(t *testing.T) {
	spec := os.Getenv("WEIR_GROUP_HELPER")
	if spec == "" {
		t.Skip("helper process for TestGroupKilledMember")
	}
	f := strings.Split(spec, ",")
	session, _ := time.ParseDuration(f[3])
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(f[0]), kgo.ClientID("child"),
		kgo.ConsumerGroup(f[1]), kgo.ConsumeTopics(f[2]),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.SessionTimeout(session), kgo.HeartbeatInterval(testHeartbeat),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			var s []string
			for _, p := range m[f[2]] {
				s = append(s, strconv.Itoa(int(p)))
			}
			fmt.Printf("ASSIGNED %s\n", strings.Join(s, " "))
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	for {
		cl.PollFetches(context.Background())
	}
}

// TestGroupStaticRestart (KIP-345): a static member (kgo.InstanceID)
// restarted within its session timeout gets its partitions back with no
// rebalance: the other member sees no revoke or assign, the generation
// stays, the group stays Stable.
func TestGroupStaticRestart(t *testing.T) {
	for _, bal := range balancers {
		t.Run(bal.name, func(t *testing.T) {
			b := startGroupBroker(t)
			adm := kadm.NewClient(newClient(t, b.Addr()))
			const topic, group = "static", "static-group"
			createTopic(t, adm, topic, 3, nil)
			tr := newTracker()
			prod := startTrickle(t, b.Addr(), topic, 2*time.Millisecond)
			o := groupOpts{group: group, topic: topic, balancer: bal.b, session: 6 * time.Second}
			dyn := startConsumer(t, b.Addr(), "dynamic", o, tr)
			waitAssignment(t, adm, group, []*gconsumer{dyn}, 3, []int{3})
			so := o
			so.instance = "static-1"
			st := startConsumer(t, b.Addr(), "static", so, tr)
			waitAssignment(t, adm, group, []*gconsumer{dyn, st}, 3, []int{1, 2})
			before := describe(t, adm, group)
			_, gen := dyn.cl.GroupMetadata()
			dynEvents := len(dyn.Events())
			owned := st.Owned()
			var oldID string
			for _, m := range before.Members {
				if m.InstanceID != nil && *m.InstanceID == "static-1" {
					oldID = m.MemberID
				}
			}

			restart := time.Now()
			st.Close() // a static member does not leave
			st2 := startConsumer(t, b.Addr(), "static-restarted", so, tr)
			waitFor(t, 10*time.Second, "the restarted static member's assignment", func() bool { return len(st2.Owned()) > 0 })
			took := time.Since(restart)
			// Give a rebalance, if one were coming, time to show.
			time.Sleep(5 * testHeartbeat)
			after := describe(t, adm, group)
			_, gen2 := dyn.cl.GroupMetadata()
			_, stGen := st2.cl.GroupMetadata()
			t.Logf("static restart: partitions %v back after %v; generation %d → %d", st2.Owned(), took.Round(time.Millisecond), gen, gen2)
			if !slices.Equal(st2.Owned(), owned) {
				t.Fatalf("restarted static member owns %v, had %v", st2.Owned(), owned)
			}
			if gen2 != gen || stGen != gen {
				t.Fatalf("generation changed: %d → %d (static member in %d)", gen, gen2, stGen)
			}
			if es := dyn.Events(); len(es) != dynEvents {
				t.Fatalf("the other member saw a rebalance: %s", eventsString(es[dynEvents:]))
			}
			if after.State != "Stable" || len(after.Members) != 2 {
				t.Fatalf("group after static restart: %s with %d members", after.State, len(after.Members))
			}
			for _, m := range after.Members {
				if m.InstanceID != nil && m.MemberID == oldID {
					t.Fatal("static member kept its old member id")
				}
			}
			acked := prod.Stop(t)
			tr.waitAll(t, acked, 20*time.Second)
		})
	}
}

// TestGroupTwoGroups: two groups on one topic each receive every record.
func TestGroupTwoGroups(t *testing.T) {
	b := startGroupBroker(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	const topic = "shared"
	createTopic(t, adm, topic, 3, nil)
	prod := startTrickle(t, b.Addr(), topic, time.Millisecond)
	trA, trB := newTracker(), newTracker()
	oa := groupOpts{group: "group-a", topic: topic}
	ob := groupOpts{group: "group-b", topic: topic, balancer: kgo.RangeBalancer()}
	a1 := startConsumer(t, b.Addr(), "a1", oa, trA)
	a2 := startConsumer(t, b.Addr(), "a2", oa, trA)
	b1 := startConsumer(t, b.Addr(), "b1", ob, trB)
	waitAssignment(t, adm, "group-a", []*gconsumer{a1, a2}, 3, []int{1, 2})
	waitAssignment(t, adm, "group-b", []*gconsumer{b1}, 3, []int{3})
	waitFor(t, 10*time.Second, "records", func() bool { return trA.count() > 200 && trB.count() > 200 })
	acked := prod.Stop(t)
	trA.waitAll(t, acked, 20*time.Second)
	trB.waitAll(t, acked, 20*time.Second)
	time.Sleep(200 * time.Millisecond)
	trA.check(t, acked)
	trB.check(t, acked)
	t.Logf("%d records, each processed once by each group", len(acked))
}

// TestGroupRestartResume: consumers commit and stop, the broker restarts,
// and a new consumer resumes from the committed offsets: nothing
// processed twice, nothing skipped, the offsets unchanged by the restart.
func TestGroupRestartResume(t *testing.T) {
	b := startGroupBroker(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	const topic, group = "resume", "resume-group"
	createTopic(t, adm, topic, 3, nil)
	tr := newTracker()
	prod := startTrickle(t, b.Addr(), topic, time.Millisecond)
	o := groupOpts{group: group, topic: topic}
	c1 := startConsumer(t, b.Addr(), "c1", o, tr)
	c2 := startConsumer(t, b.Addr(), "c2", o, tr)
	waitAssignment(t, adm, group, []*gconsumer{c1, c2}, 3, []int{1, 2})
	waitFor(t, 10*time.Second, "records", func() bool { return tr.count() > 300 })
	first := prod.Stop(t)
	tr.waitAll(t, first, 20*time.Second)
	c1.Close()
	c2.Close()
	committed, err := adm.FetchOffsets(ctxT(t), group)
	if err != nil {
		t.Fatal(err)
	}

	b.Restart()
	adm = kadm.NewClient(newClient(t, b.Addr()))
	after, err := adm.FetchOffsets(ctxT(t), group)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	committed.Each(func(r kadm.OffsetResponse) {
		a, ok := after.Lookup(r.Topic, r.Partition)
		if !ok || a.At != r.At {
			t.Errorf("%s/%d: committed %d before the restart, %d after", r.Topic, r.Partition, r.At, a.At)
		}
		total += r.At
	})
	if total != int64(len(first)) {
		t.Fatalf("committed offsets sum to %d, %d records were processed", total, len(first))
	}
	if d := describe(t, adm, group); d.State != "Empty" {
		t.Fatalf("group after restart: %s", d.State)
	}
	prod = startTrickle(t, b.Addr(), topic, time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	c3 := startConsumer(t, b.Addr(), "c3", o, tr)
	waitFor(t, 10*time.Second, "the resumed consumer's first records", func() bool { return tr.count() > len(first) })
	t.Logf("resumed after the restart: first new record %v after start", time.Since(start).Round(time.Millisecond))
	second := prod.Stop(t)
	all := append(slices.Clone(first), second...)
	tr.waitAll(t, all, 20*time.Second)
	time.Sleep(200 * time.Millisecond)
	tr.check(t, all)
	c3.Close()
}

// TestGroupChurnLong (WEIR_LONG=1): consumers join and leave at random
// for a while under a steady producer; with commits on revoke every
// record is processed exactly once.
func TestGroupChurnLong(t *testing.T) {
	if !longTests() {
		t.Skip("long test: set WEIR_LONG=1")
	}
	for _, bal := range balancers {
		t.Run(bal.name, func(t *testing.T) {
			b := startGroupBroker(t)
			adm := kadm.NewClient(newClient(t, b.Addr()))
			const topic, group = "churn", "churn-group"
			createTopic(t, adm, topic, 6, nil)
			tr := newTracker()
			prod := startTrickle(t, b.Addr(), topic, time.Millisecond)
			o := groupOpts{group: group, topic: topic, balancer: bal.b}
			rng := rand.New(rand.NewPCG(1, 2))
			var cs []*gconsumer
			changes := 0
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); changes++ {
				if len(cs) == 0 || (len(cs) < 5 && rng.IntN(2) == 0) {
					cs = append(cs, startConsumer(t, b.Addr(), fmt.Sprintf("c%d", changes), o, tr))
				} else {
					i := rng.IntN(len(cs))
					cs[i].Close()
					cs = slices.Delete(cs, i, i+1)
				}
				time.Sleep(time.Duration(50+rng.IntN(500)) * time.Millisecond)
			}
			waitAssignment(t, adm, group, cs, 6, func() []int {
				counts := make([]int, len(cs))
				for i := range counts {
					counts[i] = 6 / len(cs)
				}
				for i := 0; i < 6%len(cs); i++ {
					counts[len(cs)-1-i]++
				}
				return counts
			}())
			acked := prod.Stop(t)
			tr.waitAll(t, acked, 30*time.Second)
			time.Sleep(300 * time.Millisecond)
			tr.check(t, acked)
			for _, c := range cs {
				c.Close()
			}
			t.Logf("%d membership changes, %d records, each processed once", changes, len(acked))
		})
	}
}
