package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// admin is a kadm client on the test broker, to check what the commands
// did independently of them.
func (c *cli) admin() *kadm.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// committed is the group's committed offsets of topic, by partition.
func committed(t *testing.T, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	os, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	m := map[int32]int64{}
	for p, o := range os[topic] {
		if o.Err != nil {
			t.Fatalf("fetch offsets of %s: %s/%d: %v", group, topic, p, o.Err)
		}
		m[p] = o.At
	}
	return m
}

// wantCommitted checks the group's committed offsets of topic "two".
func wantCommitted(t *testing.T, adm *kadm.Client, group string, p0, p1 int64) {
	t.Helper()
	got := committed(t, adm, group, "two")
	if want := map[int32]int64{0: p0, 1: p1}; !maps.Equal(got, want) {
		t.Fatalf("group %s committed %v, want %v", group, got, want)
	}
}

// waitGroup polls until the group's description satisfies ok.
func waitGroup(t *testing.T, adm *kadm.Client, group string, what string, ok func(kadm.DescribedGroup) bool) kadm.DescribedGroup {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ds, err := adm.DescribeGroups(ctx, group)
		cancel()
		if err == nil {
			if d, err := ds.On(group, nil); err == nil && d.Err == nil && ok(d) {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s: not %s after 20s: %+v, %v", group, what, ds, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// member starts a consumer that joins group and consumes "two" without
// committing.
func (c *cli) member(group, clientID string, opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.addr), kgo.ClientID(clientID),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics("two"), kgo.DisableAutoCommit()}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// wantLines checks that out has a line matching each regexp.
func wantLines(t *testing.T, what, out string, res ...string) {
	t.Helper()
	for _, re := range res {
		if !hasLine(out, re) {
			t.Errorf("%s: no line matching %s", what, re)
		}
	}
	if t.Failed() {
		t.Fatalf("%s:\n%s", what, out)
	}
}

// resetPlan runs reset-offsets and checks its plan table (rows as
// "TOPIC PARTITION CURRENT NEW") and that stderr mentions note.
func (c *cli) resetPlan(note string, rows []string, args ...string) {
	c.t.Helper()
	r := c.run("", append([]string{"group", "reset-offsets"}, args...)...)
	if r.code != 0 {
		c.t.Fatalf("reset-offsets %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	var got []string
	for i, l := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		if i == 0 {
			if !hasLine(l, `TOPIC\s+PARTITION\s+CURRENT-OFFSET\s+NEW-OFFSET`) {
				c.t.Fatalf("reset-offsets %v: header %q", args, l)
			}
			continue
		}
		got = append(got, strings.Join(strings.Fields(l), " "))
	}
	if !slices.Equal(got, rows) || !strings.Contains(r.stderr, note) {
		c.t.Fatalf("reset-offsets %v:\ngot  %q\nwant %q\nstderr (want %q):\n%s", args, got, rows, note, r.stderr)
	}
}

func TestGroupOffsets(t *testing.T) {
	c := newCLI(t)
	adm := c.admin()
	twoPartitions(c) // partition 0: offsets 0-9, partition 1: 0-4
	// "weir consume --group" joins the group, reads everything and
	// commits 10 and 5.
	if out := c.ok("", "consume", "two", "--group", "g1", "-e", "-q"); len(sortedLines(out)) != 15 {
		t.Fatalf("consume --group: %q", out)
	}
	wantCommitted(t, adm, "g1", 10, 5)
	time.Sleep(20 * time.Millisecond)
	mid := time.Now()
	time.Sleep(20 * time.Millisecond)
	c.ok("late0\nlate1\nlate2\n", "produce", "two", "--partition", "0", "-q") // partition 0 ends at 13

	// An empty group keeps its protocol type in Kafka ("consumer"); Weir's
	// coordinator currently clears it when the last member leaves ("-").
	out := c.ok("", "group", "list")
	wantLines(t, "list", out, `GROUP\s+STATE\s+PROTOCOL-TYPE`, `g1\s+Empty\s+(consumer|-)`)
	wantLines(t, "list --state", c.ok("", "group", "list", "--state", "stable,EMPTY"), `g1\s+Empty\s+(consumer|-)`)
	if out := c.ok("", "group", "list", "--state", "Stable"); strings.Contains(out, "g1") {
		t.Fatalf("list --state Stable:\n%s", out)
	}

	describe := func(total string, p0, p1 string) {
		t.Helper()
		wantLines(t, "describe", c.ok("", "group", "describe", "g1"),
			`Group:\s+g1`, `State:\s+Empty`, `Protocol type:\s+(consumer|-)`, `Protocol:\s+-`,
			`Coordinator:\s+1 \(127\.0\.0\.1:\d+\)`, `Members:\s+0`, `Total lag:\s+`+total,
			`TOPIC\s+PARTITION\s+CURRENT-OFFSET\s+LOG-END-OFFSET\s+LAG\s+MEMBER-ID\s+ERROR`,
			`two\s+0\s+`+p0+`\s+-\s+-`, `two\s+1\s+`+p1+`\s+-\s+-`)
	}
	describe("3", `10\s+13\s+3`, `5\s+5\s+0`)

	// Dry run by default: the plan, and nothing changes.
	c.resetPlan("dry run, nothing committed", []string{"two 0 10 0", "two 1 5 0"},
		"g1", "--topic", "two", "--to-earliest")
	c.resetPlan("dry run", []string{"two 0 10 0", "two 1 5 0"}, "g1", "--all-topics", "--to-earliest", "--dry-run")
	wantCommitted(t, adm, "g1", 10, 5)
	describe("3", `10\s+13\s+3`, `5\s+5\s+0`)

	c.resetPlan("committed the new offsets of 2 partitions", []string{"two 0 10 0", "two 1 5 0"},
		"g1", "--topic", "two", "--to-earliest", "--execute")
	wantCommitted(t, adm, "g1", 0, 0)
	describe("18", `0\s+13\s+13`, `0\s+5\s+5`)
	// The group's consumers start from the reset offsets.
	if out := c.ok("", "consume", "two", "--group", "g1", "-e", "-q"); len(sortedLines(out)) != 18 {
		t.Fatalf("consume --group after reset: %q", out)
	}
	describe("0", `13\s+13\s+0`, `5\s+5\s+0`)

	// Some partitions; offsets out of range are clamped, with a warning.
	c.resetPlan("committed the new offsets of 1 partition\n", []string{"two 1 5 4"}, "g1", "--topic", "two:1", "--to-offset", "4", "--execute")
	wantCommitted(t, adm, "g1", 13, 4)
	c.resetPlan("offset 100 is past the log end offset; using 5", []string{"two 1 4 5"}, "g1", "--topic", "two:1", "--to-offset", "100", "--execute")
	wantCommitted(t, adm, "g1", 13, 5)

	// By time: the first record at or after mid (partition 1 has none:
	// its end offset).
	for _, ts := range []string{mid.UTC().Format(time.RFC3339Nano), mid.Format(time.RFC3339Nano)} {
		c.resetPlan("dry run", []string{"two 0 13 10", "two 1 5 5"}, "g1", "--topic", "two", "--to-timestamp", ts)
	}
	c.resetPlan("committed", []string{"two 0 13 10", "two 1 5 5"}, "g1", "--topic", "two:1,0", "--to-timestamp", fmt.Sprint(mid.UnixMilli()), "--execute")
	wantCommitted(t, adm, "g1", 10, 5)
	c.resetPlan("dry run", []string{"two 0 10 0", "two 1 5 0"}, "g1", "--topic", "two", "--to-timestamp", "0")

	c.resetPlan("committed", []string{"two 0 10 7", "two 1 5 2"}, "g1", "--all-topics", "--shift-by", "-3", "--execute")
	wantCommitted(t, adm, "g1", 7, 2)
	c.resetPlan("offset -98 is before the log start offset; using 0", []string{"two 0 7 0", "two 1 2 0"}, "g1", "--all-topics", "--shift-by", "-100")
	wantCommitted(t, adm, "g1", 7, 2)
	c.resetPlan("committed", []string{"two 0 7 13", "two 1 2 5"}, "g1", "--all-topics", "--to-latest", "--execute")
	wantCommitted(t, adm, "g1", 13, 5)

	// A group that does not exist yet is created by the reset.
	c.resetPlan("committed", []string{"two 0 - 3", "two 1 - 3"}, "fresh", "--topic", "two", "--to-offset", "3", "--execute")
	wantCommitted(t, adm, "fresh", 3, 3)
	wantLines(t, "list", c.ok("", "group", "list"), `fresh\s+Empty\s+-`, `g1\s+Empty\s+(consumer|-)`)
	wantLines(t, "describe fresh", c.ok("", "group", "describe", "fresh"),
		`State:\s+Empty`, `Protocol type:\s+-`, `Total lag:\s+12`, `two\s+0\s+3\s+13\s+10\s+-\s+-`, `two\s+1\s+3\s+5\s+2\s+-\s+-`)
	c.fails(1, "no committed offset to shift", "group", "reset-offsets", "nobody", "--topic", "two", "--shift-by", "1")
	c.fails(1, "no committed offsets to reset", "group", "reset-offsets", "nobody", "--all-topics", "--to-earliest")
	c.fails(1, "UNKNOWN_TOPIC_OR_PARTITION", "group", "reset-offsets", "g1", "--topic", "missing", "--to-earliest")
	c.fails(1, "topic two has no partition 7", "group", "reset-offsets", "g1", "--topic", "two:0,7", "--to-earliest")
	wantCommitted(t, adm, "g1", 13, 5)

	// The reset offsets are durable.
	c.b.Restart()
	wantCommitted(t, adm, "g1", 13, 5)
	wantCommitted(t, adm, "fresh", 3, 3)
	describe("0", `13\s+13\s+0`, `5\s+5\s+0`)
}

func TestGroupActiveMembers(t *testing.T) {
	c := newCLI(t)
	adm := c.admin()
	twoPartitions(c)
	c.ok("", "consume", "two", "--group", "g1", "-e", "-q")    // commits 10 and 5
	c.ok("x\ny\n", "produce", "two", "--partition", "1", "-q") // partition 1 ends at 7
	wantCommitted(t, adm, "g1", 10, 5)

	a := c.member("g1", "member-a")
	b := c.member("g1", "member-b", kgo.InstanceID("static-b"))
	d := waitGroup(t, adm, "g1", "stable with both partitions assigned", func(d kadm.DescribedGroup) bool {
		return d.State == "Stable" && len(d.Members) == 2 && len(d.AssignedPartitions()["two"]) == 2
	})
	owner := map[int32]string{}
	for _, m := range d.Members {
		ca, _ := m.Assigned.AsConsumer()
		for _, t := range ca.Topics {
			for _, p := range t.Partitions {
				owner[p] = m.MemberID
			}
		}
	}
	var ma, mb kadm.DescribedGroupMember
	for _, m := range d.Members {
		if m.InstanceID != nil {
			mb = m
		} else {
			ma = m
		}
	}

	wantLines(t, "list", c.ok("", "group", "list", "--state", "Stable"), `g1\s+Stable\s+consumer`)
	out := c.ok("", "group", "describe", "g1")
	wantLines(t, "describe", out,
		`State:\s+Stable`, `Protocol type:\s+consumer`, `Protocol:\s+cooperative-sticky`, `Members:\s+2`, `Total lag:\s+2`,
		`MEMBER-ID\s+INSTANCE-ID\s+CLIENT-ID\s+HOST\s+ASSIGNMENT`,
		// Static members sort first.
		ma.MemberID+`\s+-\s+member-a\s+/127\.0\.0\.1\s+two\(\d\)`,
		mb.MemberID+`\s+static-b\s+member-b\s+/127\.0\.0\.1\s+two\(\d\)`,
		`two\s+0\s+10\s+10\s+0\s+`+owner[0]+`\s+-`,
		`two\s+1\s+5\s+7\s+2\s+`+owner[1]+`\s+-`)
	if owner[0] == owner[1] {
		t.Fatalf("both partitions owned by %s", owner[0])
	}
	if i, j := strings.Index(out, mb.MemberID), strings.Index(out, ma.MemberID); i > j {
		t.Errorf("static member listed after the dynamic one:\n%s", out)
	}

	// Offsets cannot be reset, nor the group deleted, under live members.
	for _, extra := range []string{"--dry-run", "--execute"} {
		c.fails(1, "offsets can only be reset while the group is inactive (Empty), but it is Stable with 2 members",
			"group", "reset-offsets", "g1", "--topic", "two", "--to-earliest", extra)
	}
	// Were a member to join between reset-offsets' state check and its
	// commit, the coordinator would refuse the commit (commitHint).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var offs kadm.Offsets
	offs.AddOffset("two", 0, 0, -1)
	if resps, err := adm.CommitOffsets(ctx, "g1", offs); err != nil || !errors.Is(resps.Error(), kerr.UnknownMemberID) {
		t.Fatalf("admin commit to a live group: %v, %v", resps, err)
	}
	c.fails(1, "NON_EMPTY_GROUP", "group", "delete", "g1")
	c.fails(1, "stop its consumers first", "group", "delete", "g1")
	wantCommitted(t, adm, "g1", 10, 5)

	// The dynamic member leaves on close; the static one stays until
	// removed (or its session times out).
	a.Close()
	waitGroup(t, adm, "g1", "down to the static member", func(d kadm.DescribedGroup) bool {
		return d.State == "Stable" && len(d.Members) == 1
	})
	c.fails(1, "but it is Stable with 1 member:", "group", "reset-offsets", "g1", "--topic", "two", "--to-earliest")
	b.Close()
	if _, err := adm.LeaveGroup(ctx, kadm.LeaveGroup("g1").InstanceIDs("static-b")); err != nil {
		t.Fatal(err)
	}
	waitGroup(t, adm, "g1", "empty", func(d kadm.DescribedGroup) bool { return d.State == "Empty" })
	c.resetPlan("committed", []string{"two 0 10 0", "two 1 5 0"}, "g1", "--topic", "two", "--to-earliest", "--execute")
	wantCommitted(t, adm, "g1", 0, 0)

	// Deleting several groups: each is reported.
	c.ok("", "group", "reset-offsets", "g2", "--topic", "two", "--to-latest", "--execute")
	if out := c.ok("", "group", "delete", "g1", "g2"); out != "deleted group g1\ndeleted group g2\n" {
		t.Fatalf("delete: %q", out)
	}
	if out := c.ok("", "group", "list"); strings.Contains(out, "g1") || strings.Contains(out, "g2") {
		t.Fatalf("list after delete:\n%s", out)
	}
	if got := committed(t, adm, "g1", "two"); len(got) != 0 {
		t.Fatalf("offsets after delete: %v", got)
	}
	c.fails(1, "g1: GROUP_ID_NOT_FOUND", "group", "describe", "g1")
	c.fails(1, "g1: GROUP_ID_NOT_FOUND", "group", "delete", "g1")
}

func TestGroupErrors(t *testing.T) {
	c := newCLI(t)
	c.ok("", "topic", "create", "t")
	for _, tc := range []struct {
		code int
		want string
		args []string
	}{
		{2, "usage: weir group", []string{"group"}},
		{2, `unknown subcommand "bogus"`, []string{"group", "bogus"}},
		{2, "takes no arguments", []string{"group", "list", "x"}},
		{2, `--state "bogus": want one of Stable, PreparingRebalance`, []string{"group", "list", "--state", "Empty,bogus"}},
		{2, "want at least one GROUP", []string{"group", "describe"}},
		{2, "want at least one GROUP", []string{"group", "delete"}},
		{2, "want exactly one GROUP", []string{"group", "reset-offsets", "--topic", "t", "--to-earliest"}},
		{2, "want exactly one GROUP", []string{"group", "reset-offsets", "a", "b", "--topic", "t", "--to-earliest"}},
		{2, "say where to", []string{"group", "reset-offsets", "g", "--topic", "t"}},
		{2, "say where to", []string{"group", "reset-offsets", "g", "--topic", "t", "--to-earliest=false"}},
		{2, "--to-earliest, --to-offset: give only one", []string{"group", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--to-offset", "3"}},
		{2, "say which partitions", []string{"group", "reset-offsets", "g", "--to-latest"}},
		{2, "--topic and --all-topics", []string{"group", "reset-offsets", "g", "--topic", "t", "--all-topics", "--to-latest"}},
		{2, "--execute and --dry-run", []string{"group", "reset-offsets", "g", "--topic", "t", "--to-latest", "--execute", "--dry-run"}},
		{2, `"x" is not a partition number`, []string{"group", "reset-offsets", "g", "--topic", "t:0,x", "--to-latest"}},
		{2, "want TOPIC or TOPIC:PARTITION", []string{"group", "reset-offsets", "g", "--topic", ":0", "--to-latest"}},
		{2, "--to-offset -1", []string{"group", "reset-offsets", "g", "--topic", "t", "--to-offset", "-1"}},
		{2, `--to-timestamp "yesterday"`, []string{"group", "reset-offsets", "g", "--topic", "t", "--to-timestamp", "yesterday"}},
		{2, "invalid value", []string{"group", "reset-offsets", "g", "--topic", "t", "--shift-by", "x"}},
		{1, "GROUP_ID_NOT_FOUND", []string{"group", "describe", "nope"}},
		{1, "GROUP_ID_NOT_FOUND", []string{"group", "delete", "nope"}},
		{1, "INVALID_GROUP_ID", []string{"group", "delete", ""}},
	} {
		c.fails(tc.code, tc.want, tc.args...)
	}
	// A failed group among several: the others are still described.
	c.ok("", "group", "reset-offsets", "g", "--topic", "t", "--to-latest", "--execute")
	r := c.run("", "group", "describe", "nope", "g")
	if r.code != 1 || !hasLine(r.stdout, `Group:\s+g`) || !strings.Contains(r.stderr, "nope: GROUP_ID_NOT_FOUND") || strings.HasPrefix(r.stdout, "\n") {
		t.Fatalf("describe nope g: %+v", r)
	}
	if code := run([]string{"group", "help"}, nil, &strings.Builder{}, &strings.Builder{}); code != 0 {
		t.Fatalf("group help: exit %d", code)
	}
	d := &cli{t: t, addr: deadAddr(t)}
	d.fails(1, "connection refused", "group", "list", "--timeout", "1s")
	d.fails(1, "connection refused", "group", "describe", "g", "--timeout", "1s")
}
