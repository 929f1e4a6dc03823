package coord

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/log"
)

// TestOffsetCommitValidation checks who may commit, with Kafka's error
// codes, and that refused commits leave the group and its offsets alone.
func TestOffsetCommitValidation(t *testing.T) {
	h := newHarness(t, Config{PartitionExists: func(topic string, p int32) bool { return topic == "t" && p < 3 }})
	const g = "oc"
	ids, gen := h.stableGroup(g, 2)
	m1, m2 := ids[0], ids[1]

	wantErr(t, "member commit", h.commit(commitReq(g, m1, gen, 10, 0)), nil)
	if got := h.fetched(g, 0); got != 10 {
		t.Fatalf("fetched %d, want 10", got)
	}
	for _, tc := range []struct {
		name string
		req  *kmsg.OffsetCommitRequest
		want *kerr.Error
	}{
		{"stale generation", commitReq(g, m1, gen-1, 99, 0), kerr.IllegalGeneration},
		{"future generation", commitReq(g, m1, gen+1, 99, 0), kerr.IllegalGeneration},
		{"unknown member", commitReq(g, "nobody", gen, 99, 0), kerr.UnknownMemberID},
		{"simple commit to a non-empty group", commitReq(g, "", -1, 99, 0), kerr.UnknownMemberID},
		{"unknown group, generation set", commitReq("nope", "x", 1, 99, 0), kerr.IllegalGeneration},
		{"empty group id", commitReq("", "", -1, 99, 0), kerr.InvalidGroupID},
		{"unknown partition", commitReq(g, m1, gen, 99, 7), kerr.UnknownTopicOrPartition},
	} {
		wantErr(t, tc.name, h.commit(tc.req), tc.want)
	}
	big := commitReq(g, m1, gen, 99, 0, 1)
	big.Topics[0].Partitions[0].Metadata = kmsg.StringPtr(strings.Repeat("x", 4097))
	r := get(t, h.commitAsync(big))
	wantErr(t, "oversized metadata", r.Topics[0].Partitions[0].ErrorCode, kerr.OffsetMetadataTooLarge)
	wantErr(t, "other partition of the same request", r.Topics[0].Partitions[1].ErrorCode, nil)
	if h.fetched(g, 0) != 10 || h.fetched(g, 1) != 99 {
		t.Fatalf("offsets after refused commits: p0 %d (want 10) p1 %d (want 99)", h.fetched(g, 0), h.fetched(g, 1))
	}
	exact := commitReq(g, m1, gen, 11, 0)
	exact.Topics[0].Partitions[0].Metadata = kmsg.StringPtr(strings.Repeat("x", 4096))
	wantErr(t, "metadata at the limit", h.commit(exact), nil)

	// PreparingRebalance: members commit with the current generation
	// (the eager protocol's commit on revoke).
	m3, j3 := h.joinNew(g)
	wantErr(t, "commit while preparing", h.commit(commitReq(g, m2, gen, 20, 1)), nil)
	j1 := h.join(joinReq(g, m1, ""))
	now(t, h.join(joinReq(g, m2, "")))
	now(t, j1)
	now(t, j3)
	// CompletingRebalance: REBALANCE_IN_PROGRESS until the assignment.
	wantErr(t, "commit while completing", h.commit(commitReq(g, m3, gen+1, 30, 2)), kerr.RebalanceInProgress)
	wantErr(t, "old generation after the rebalance", h.commit(commitReq(g, m2, gen, 30, 1)), kerr.IllegalGeneration)
	assign := map[string][]byte{m1: consumerAssign("t", 0), m2: consumerAssign("t", 1), m3: consumerAssign("t", 2)}
	get(t, h.sync(syncReq(g, m1, gen+1, assign)))
	wantErr(t, "commit when stable again", h.commit(commitReq(g, m3, gen+1, 30, 2)), nil)
	for p, want := range []int64{11, 20, 30} {
		if got := h.fetched(g, int32(p)); got != want {
			t.Fatalf("partition %d: committed %d, want %d", p, got, want)
		}
	}
	for _, id := range ids {
		wantErr(t, "heartbeat after bad commits", h.heartbeat(g, id, gen+1), nil)
	}

	// Simple (standalone) commits: a new group, then an empty one.
	wantErr(t, "simple commit, new group", h.commit(commitReq("simple", "", -1, 5, 0)), nil)
	if h.state("simple") != "Empty" || h.fetched("simple", 0) != 5 {
		t.Fatalf("simple commit: state %s offset %d", h.state("simple"), h.fetched("simple", 0))
	}
}

// TestOffsetFetch checks the single-group (v7) and multi-group (v8+)
// forms, all partitions (null topics) and unknown groups.
func TestOffsetFetch(t *testing.T) {
	h := newHarness(t, Config{})
	for i, g := range []string{"a", "b"} {
		req := commitReq(g, "", -1, int64(100*(i+1)), 0, 1)
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "u"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = 4, 7, 3
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		wantErr(t, "commit", h.commit(req), nil)
	}
	if got := h.fetched("a", 1); got != 100 {
		t.Fatalf("v7 fetch: %d", got)
	}
	if got := h.fetched("a", 2); got != -1 {
		t.Fatalf("v7 fetch of an uncommitted partition: %d", got)
	}
	if got := h.fetched("nope", 0); got != -1 {
		t.Fatalf("v7 fetch of an unknown group: %d", got)
	}

	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	for _, g := range []string{"a", "b", "nope"} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g // null topics: everything
		req.Groups = append(req.Groups, rg)
	}
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = "b"
	rgt := kmsg.NewOffsetFetchRequestGroupTopic()
	rgt.Topic, rgt.Partitions = "u", []int32{4, 5}
	rg.Topics = append(rg.Topics, rgt)
	req.Groups = append(req.Groups, rg)
	resp := h.c.OffsetFetch(req)
	got := map[string]string{}
	for _, gr := range resp.Groups {
		var sb strings.Builder
		for _, tt := range gr.Topics {
			for _, p := range tt.Partitions {
				fmt.Fprintf(&sb, "%s/%d=%d@%d ", tt.Topic, p.Partition, p.Offset, p.LeaderEpoch)
			}
		}
		got[gr.Group] += sb.String() + "|"
	}
	want := map[string]string{
		"a":    "t/0=100@-1 t/1=100@-1 u/4=7@3 |",
		"b":    "t/0=200@-1 t/1=200@-1 u/4=7@3 |u/4=7@3 u/5=-1@-1 |",
		"nope": "|",
	}
	for g, w := range want {
		if got[g] != w {
			t.Errorf("v8 fetch of %s: %q, want %q", g, got[g], w)
		}
	}
}

// TestOffsetDelete: only offsets of topics no member is subscribed to can
// be deleted.
func TestOffsetDelete(t *testing.T) {
	h := newHarness(t, Config{})
	const g = "od"
	ids, gen := h.stableGroup(g, 1) // subscribed to "t"
	other := commitReq(g, ids[0], gen, 8, 0)
	other.Topics[0].Topic = "old"
	wantErr(t, "commit old", h.commit(other), nil)
	wantErr(t, "commit t", h.commit(commitReq(g, ids[0], gen, 9, 0)), nil)

	del := func(group, topic string) *kmsg.OffsetDeleteResponse {
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = group
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = topic
		rt.Partitions = append(rt.Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: 0})
		req.Topics = append(req.Topics, rt)
		ch := make(chan *kmsg.OffsetDeleteResponse, 1)
		h.c.OffsetDelete(h.now, req, func(r *kmsg.OffsetDeleteResponse) { ch <- r })
		return get(t, ch)
	}
	r := del(g, "t")
	wantErr(t, "delete subscribed", r.Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic)
	r = del(g, "old")
	wantErr(t, "delete unsubscribed", r.ErrorCode, nil)
	wantErr(t, "delete unsubscribed partition", r.Topics[0].Partitions[0].ErrorCode, nil)
	wantErr(t, "delete unknown group", del("nope", "t").ErrorCode, kerr.GroupIDNotFound)

	fetch := func(topic string) int64 {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 7
		req.Group = g
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		req.Topics = append(req.Topics, rt)
		return h.c.OffsetFetch(req).Topics[0].Partitions[0].Offset
	}
	if fetch("old") != -1 || fetch("t") != 9 {
		t.Fatalf("after delete: old %d (want -1), t %d (want 9)", fetch("old"), fetch("t"))
	}
	// Once the member is gone, "t" may go too; the deletion survives a
	// restart.
	h.leave(g, ids[0])
	wantErr(t, "delete after the group emptied", del(g, "t").Topics[0].Partitions[0].ErrorCode, nil)
	h.reopen()
	if fetch("old") != -1 || fetch("t") != -1 {
		t.Fatalf("deleted offsets back after reopen: old %d t %d", fetch("old"), fetch("t"))
	}
}

// TestDescribeListDelete covers DescribeGroups, ListGroups with state
// filters and DeleteGroups.
func TestDescribeListDelete(t *testing.T) {
	h := newHarness(t, Config{})
	ids, gen := h.stableGroup("stable", 2)
	h.joinNew("preparing")                     // Completing: a group of one that has not synced
	_, _ = h.joinNew("preparing")              // now PreparingRebalance (the first must rejoin)
	h.commit(commitReq("empty", "", -1, 1, 0)) // Empty, with offsets

	d := h.c.DescribeGroups(&kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"stable", "preparing", "empty", "nope"}})
	byID := map[string]kmsg.DescribeGroupsResponseGroup{}
	for _, g := range d.Groups {
		byID[g.Group] = g
	}
	st := byID["stable"]
	if st.State != "Stable" || st.Protocol != "range" || st.ProtocolType != "consumer" || len(st.Members) != 2 ||
		st.Members[0].MemberID != ids[0] || string(st.Members[1].MemberAssignment) != string(consumerAssign("t", 1)) ||
		st.Members[0].ClientID != client.ID || st.Members[0].ClientHost != client.Host {
		t.Fatalf("describe stable: %+v", st)
	}
	if p := byID["preparing"]; p.State != "PreparingRebalance" || p.Protocol != "" || len(p.Members) != 2 || p.Members[0].MemberAssignment != nil {
		t.Fatalf("describe preparing: %+v", p)
	}
	if e := byID["empty"]; e.State != "Empty" || len(e.Members) != 0 || e.ErrorCode != 0 {
		t.Fatalf("describe empty: %+v", e)
	}
	if n := byID["nope"]; n.State != "Dead" || n.ErrorCode != 0 {
		t.Fatalf("describe unknown: %+v", n)
	}

	list := func(states ...string) string {
		r := h.c.ListGroups(&kmsg.ListGroupsRequest{Version: 5, StatesFilter: states})
		var out []string
		for _, g := range r.Groups {
			out = append(out, g.Group+":"+g.GroupState)
		}
		return strings.Join(out, ",")
	}
	if got := list(); got != "empty:Empty,preparing:PreparingRebalance,stable:Stable" {
		t.Fatalf("list all: %s", got)
	}
	if got := list("stable", "Empty"); got != "empty:Empty,stable:Stable" {
		t.Fatalf("list stable+empty: %s", got)
	}
	if got := list("Bogus"); got != "" {
		t.Fatalf("list with an unknown state: %s", got)
	}
	if r := h.c.ListGroups(&kmsg.ListGroupsRequest{Version: 5, TypesFilter: []string{"consumer"}}); len(r.Groups) != 0 {
		t.Fatalf("type filter consumer (KIP-848 groups): %+v", r.Groups)
	}

	delGroups := func(groups ...string) map[string]int16 {
		ch := make(chan *kmsg.DeleteGroupsResponse, 1)
		h.c.DeleteGroups(h.now, &kmsg.DeleteGroupsRequest{Version: 2, Groups: groups}, func(r *kmsg.DeleteGroupsResponse) { ch <- r })
		out := map[string]int16{}
		for _, g := range get(t, ch).Groups {
			out[g.Group] = g.ErrorCode
		}
		return out
	}
	codes := delGroups("stable", "empty", "nope", "")
	wantErr(t, "delete stable", codes["stable"], kerr.NonEmptyGroup)
	wantErr(t, "delete empty", codes["empty"], nil)
	wantErr(t, "delete unknown", codes["nope"], kerr.GroupIDNotFound)
	wantErr(t, "delete empty id", codes[""], kerr.InvalidGroupID)
	if h.state("empty") != "none" || h.fetched("empty", 0) != -1 {
		t.Fatal("deleted group still there")
	}
	for _, id := range ids {
		wantErr(t, "heartbeat after NON_EMPTY_GROUP", h.heartbeat("stable", id, gen), nil)
	}
	h.reopen()
	if h.state("empty") != "none" {
		t.Fatal("deleted group back after reopen")
	}
}

// TestOffsetsRetention: the offsets of a group that has been empty for
// OffsetsRetention expire (and the group with them); a group with members
// keeps its offsets however old.
func TestOffsetsRetention(t *testing.T) {
	const retention = time.Hour
	h := newHarness(t, Config{OffsetsRetention: retention})
	h.commit(commitReq("idle", "", -1, 5, 0))
	ids, gen := h.stableGroup("busy", 1)
	h.commit(commitReq("busy", ids[0], gen, 6, 0))
	start := h.now
	for h.now.Sub(start) < retention {
		h.advance(time.Second)
		h.heartbeat("busy", ids[0], gen)
	}
	if h.fetched("idle", 0) != 5 {
		t.Fatal("offsets expired at (not after) the retention")
	}
	h.advance(time.Millisecond)
	if h.fetched("idle", 0) != -1 || h.state("idle") != "none" {
		t.Fatalf("offsets of an empty group not expired after the retention: %d, %s", h.fetched("idle", 0), h.state("idle"))
	}
	if h.fetched("busy", 0) != 6 {
		t.Fatal("offsets of a group with members expired")
	}
	// The expiry is persisted: gone after a reopen. The tombstones are
	// appended by Tick without a waiter, so wait for them to be durable.
	waitDurable(t, h.l)
	h.reopen()
	if h.fetched("idle", 0) != -1 || h.fetched("busy", 0) != 6 {
		t.Fatalf("after reopen: idle %d busy %d", h.fetched("idle", 0), h.fetched("busy", 0))
	}

	// The retention counts from when the group became empty, and from the
	// commit if later.
	h.leave("busy", ids[0])
	emptied := h.now
	h.advance(retention / 2)
	h.commit(commitReq("busy", "", -1, 7, 0))
	h.now = emptied.Add(retention + time.Millisecond)
	h.c.Tick(h.now)
	if h.fetched("busy", 0) != 7 {
		t.Fatal("offset committed after the group emptied expired early")
	}
	h.advance(retention / 2)
	if h.fetched("busy", 0) != -1 {
		t.Fatal("offset did not expire a retention after its commit")
	}
}

func waitDurable(t *testing.T, l *log.Log) {
	t.Helper()
	deadline := time.Now().Add(asyncWait)
	for l.DurableOffset() < l.EndOffset() {
		if time.Now().After(deadline) {
			t.Fatal("offsets log not durable")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestReplay: after a restart the offsets and the group metadata
// (generation, protocol, leader, members, assignments, static ids) are
// restored, members keep their session, and deletions stay deleted.
func TestReplay(t *testing.T) {
	h := newHarness(t, Config{})
	ids, gen := h.stableGroup("g", 3)
	for p := int32(0); p < 3; p++ {
		h.commit(commitReq("g", ids[p], gen, int64(100+p), p))
	}
	// A static member in another group.
	rs := now(t, h.join(joinReq("s", "", "inst")))
	get(t, h.sync(syncReq("s", rs.MemberID, rs.Generation, map[string][]byte{rs.MemberID: consumerAssign("t", 0, 1, 2)})))
	h.commit(commitReq("gone", "", -1, 1, 0))
	ch := make(chan *kmsg.DeleteGroupsResponse, 1)
	h.c.DeleteGroups(h.now, &kmsg.DeleteGroupsRequest{Groups: []string{"gone"}}, func(r *kmsg.DeleteGroupsResponse) { ch <- r })
	get(t, ch)

	before := h.describe("g", "s")
	h.advance(time.Second)
	h.reopen()
	if after := h.describe("g", "s"); before != after {
		t.Fatalf("groups changed across reopen:\nbefore %s\nafter  %s", before, after)
	}
	if h.generation("g") != gen {
		t.Fatalf("generation %d after reopen, want %d", h.generation("g"), gen)
	}
	for p := int32(0); p < 3; p++ {
		if got := h.fetched("g", p); got != int64(100+p) {
			t.Fatalf("partition %d: %d after reopen", p, got)
		}
	}
	if h.state("gone") != "none" {
		t.Fatal("deleted group back after reopen")
	}
	// Members carry on with their generation: heartbeats, commits, and a
	// static restart without a rebalance.
	for _, id := range ids {
		wantErr(t, "heartbeat after reopen", h.heartbeat("g", id, gen), nil)
	}
	wantErr(t, "commit after reopen", h.commit(commitReq("g", ids[1], gen, 200, 1)), nil)
	r := get(t, h.join(joinReq("s", "", "inst")))
	if r.ErrorCode != 0 || r.MemberID == rs.MemberID {
		t.Fatalf("static rejoin after reopen: %+v", r)
	}
	// A member that does not come back expires a session after the
	// restart.
	h.advance(testSession)
	if len(h.group("g").members) != 0 || h.state("g") != "Empty" {
		t.Fatalf("members not expired after restart: %s", fmtGroup(h.group("g")))
	}
}

// TestCompaction: with a tiny CompactBytes the offsets log is rewritten and
// its prefix deleted over and over; the log start offset moves, the log
// stays small, and the state survives reopening.
func TestCompaction(t *testing.T) {
	const commits = 400
	h := newHarness(t, Config{CompactBytes: 4 << 10})
	h.lopts.SegmentBytes = 1 << 10 // segments roll, so the prefix can be deleted
	h.reopen()
	ids, gen := h.stableGroup("g", 2)
	// Four committers, one partition each, share the group commits.
	var last [4]int64
	var wg sync.WaitGroup
	for p := int32(0); p < 4; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(p); i < commits; i += 4 {
				if code := h.commit(commitReq("g", ids[p%2], gen, int64(i), p)); code != 0 {
					t.Errorf("commit: %s", errName(code))
					return
				}
				last[p] = int64(i)
				if i%100 == 0 {
					h.commit(commitReq(fmt.Sprintf("simple-%d", i), "", -1, int64(i), 0))
				}
			}
		}()
	}
	wg.Wait()
	waitCompacted(t, h)
	if h.l.StartOffset() == 0 {
		t.Fatal("log start offset did not move")
	}
	if sz := h.l.Size(); sz > 32<<10 {
		t.Fatalf("offsets log is %d bytes after compactions", sz)
	}
	t.Logf("after %d commits: start offset %d, end %d, %d bytes, %d segments",
		commits, h.l.StartOffset(), h.l.EndOffset(), h.l.Size(), h.l.NumSegments())
	before := h.describe("g")
	h.reopen()
	if after := h.describe("g"); before != after {
		t.Fatalf("group changed across compaction and reopen:\nbefore %s\nafter  %s", before, after)
	}
	for p := int32(0); p < 4; p++ {
		if got := h.fetched("g", p); got != last[p] {
			t.Fatalf("partition %d: %d after compaction and reopen, want %d", p, got, last[p])
		}
	}
	for i := 0; i < commits; i += 100 {
		if got := h.fetched(fmt.Sprintf("simple-%d", i), 0); got != int64(i) {
			t.Fatalf("simple-%d: %d after compaction and reopen", i, got)
		}
	}
	for _, id := range ids {
		wantErr(t, "heartbeat after reopen", h.heartbeat("g", id, gen), nil)
	}
}

// waitCompacted waits until no compaction is running and every append is
// durable.
func waitCompacted(t *testing.T, h *harness) {
	t.Helper()
	deadline := time.Now().Add(asyncWait)
	for {
		h.c.mu.Lock()
		busy := h.c.compacting
		h.c.mu.Unlock()
		if !busy && h.l.DurableOffset() == h.l.EndOffset() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("compaction did not finish")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCompactionKeepsInFlightCommits: commits appended but not yet durable
// when a compaction snapshots the state must survive the deletion of the
// prefix they sit in. Many committers share each group commit (fsync)
// window, so a compaction triggered by the first durable commit of a
// window sees the others still in flight.
func TestCompactionKeepsInFlightCommits(t *testing.T) {
	h := newHarness(t, Config{CompactBytes: 1})
	h.lopts.FlushMaxDelay = 20 * time.Millisecond // wide group-commit windows
	h.lopts.SegmentBytes = 1 << 10                // compacted prefixes are deleted
	h.reopen()
	const committers, rounds = 8, 25
	var wg sync.WaitGroup
	for w := 0; w < committers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= rounds; i++ {
				if code := h.commit(commitReq("g", "", -1, int64(i), int32(w))); code != 0 {
					t.Errorf("commit: %s", errName(code))
					return
				}
			}
		}()
	}
	wg.Wait()
	waitCompacted(t, h)
	if h.l.StartOffset() == 0 {
		t.Fatal("no compaction happened")
	}
	h.reopen()
	for w := int32(0); w < committers; w++ {
		if got := h.fetched("g", w); got != rounds {
			t.Errorf("partition %d: %d after compaction and reopen, want %d (an acknowledged commit was lost)", w, got, rounds)
		}
	}
}

// TestReplayedBytesOutliveTheLog: replayed member assignments and
// subscriptions must not alias the log's memory map, which goes away when
// compaction deletes the segment (or the log closes).
func TestReplayedBytesOutliveTheLog(t *testing.T) {
	h := newHarness(t, Config{CompactBytes: 8 << 10})
	h.lopts.SegmentBytes = 2 << 10
	h.reopen()
	ids, gen := h.stableGroup("g", 2)
	want := h.describe("g")
	h.reopen()
	// Enough commits to compact several times and delete every segment
	// the group record was replayed from.
	first := h.l.EndOffset()
	for i := 0; h.l.StartOffset() <= first; i++ {
		if i > 5000 {
			t.Fatal("log start offset never passed the replayed records")
		}
		h.commit(commitReq("g", ids[0], gen, int64(i), 0))
	}
	waitCompacted(t, h)
	if got := h.describe("g"); want != got {
		t.Fatalf("replayed group changed after its segment was deleted:\nwant %s\ngot  %s", want, got)
	}
}

// TestRetainedRequestBytes: the coordinator keeps join metadata and sync
// assignments after the call; the caller may reuse the request's buffers
// (the broker decodes requests in place from a network buffer).
func TestRetainedRequestBytes(t *testing.T) {
	h := newHarness(t, Config{})
	req := joinReq("g", "", "")
	req.Version = 3
	r := now(t, h.join(req))
	clear(req.Protocols[0].Metadata)
	assign := consumerAssign("t", 0, 1, 2)
	sr := syncReq("g", r.MemberID, r.Generation, map[string][]byte{r.MemberID: assign})
	s := h.sync(sr)
	clear(sr.GroupAssignment[0].MemberAssignment) // before the fsync answers
	resp := get(t, s)
	d := h.c.DescribeGroups(&kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"g"}}).Groups[0]
	if string(resp.MemberAssignment) != string(consumerAssign("t", 0, 1, 2)) ||
		string(d.Members[0].MemberAssignment) != string(consumerAssign("t", 0, 1, 2)) {
		t.Fatalf("assignment aliases the SyncGroup request: %x / %x", resp.MemberAssignment, d.Members[0].MemberAssignment)
	}
	if string(d.Members[0].ProtocolMetadata) != string(consumerMeta("t")) {
		t.Fatalf("subscription aliases the JoinGroup request: %x", d.Members[0].ProtocolMetadata)
	}
}
