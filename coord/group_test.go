package coord

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestStateMachine walks a group through Empty → PreparingRebalance →
// CompletingRebalance → Stable twice (one member, then two), checking the
// generation, the leader, who gets the member list, when pending joins and
// syncs are answered, and heartbeats in each state.
func TestStateMachine(t *testing.T) {
	h := newHarness(t, Config{})
	const g = "sm"

	// First member: the MEMBER_ID_REQUIRED round trip creates the group
	// (Empty) without adding a member.
	first := now(t, h.join(joinReq(g, "", "")))
	wantErr(t, "first join", first.ErrorCode, kerr.MemberIDRequired)
	if h.state(g) != "Empty" || len(h.group(g).members) != 0 {
		t.Fatalf("after MEMBER_ID_REQUIRED: state %s, %d members", h.state(g), len(h.group(g).members))
	}
	m1 := first.MemberID

	// Joining with the id: Empty → PreparingRebalance → (everyone joined)
	// CompletingRebalance in one step, generation 1, m1 leads.
	j1 := now(t, h.join(joinReq(g, m1, "")))
	wantErr(t, "join m1", j1.ErrorCode, nil)
	if j1.Generation != 1 || j1.LeaderID != m1 || j1.MemberID != m1 || *j1.Protocol != "range" || len(j1.Members) != 1 {
		t.Fatalf("join m1: %+v", j1)
	}
	if h.state(g) != "CompletingRebalance" {
		t.Fatalf("state %s, want CompletingRebalance", h.state(g))
	}
	// Heartbeats are fine while the assignment is awaited.
	wantErr(t, "heartbeat while completing", h.heartbeat(g, m1, 1), nil)

	s1 := get(t, h.sync(syncReq(g, m1, 1, map[string][]byte{m1: consumerAssign("t", 0, 1)})))
	wantErr(t, "sync m1", s1.ErrorCode, nil)
	if string(s1.MemberAssignment) != string(consumerAssign("t", 0, 1)) {
		t.Fatalf("sync m1 assignment %x", s1.MemberAssignment)
	}
	if h.state(g) != "Stable" {
		t.Fatalf("state %s, want Stable", h.state(g))
	}
	wantErr(t, "heartbeat stable", h.heartbeat(g, m1, 1), nil)
	wantErr(t, "heartbeat old generation", h.heartbeat(g, m1, 0), kerr.IllegalGeneration)

	// A second member: Stable → PreparingRebalance. Its join waits for
	// m1, whose heartbeat now says REBALANCE_IN_PROGRESS.
	m2, j2ch := h.joinNew(g)
	pendingNow(t, "m2's join", j2ch)
	if h.state(g) != "PreparingRebalance" {
		t.Fatalf("state %s, want PreparingRebalance", h.state(g))
	}
	wantErr(t, "heartbeat preparing", h.heartbeat(g, m1, 1), kerr.RebalanceInProgress)
	h.advance(time.Second) // Tick does not complete the join early
	pendingNow(t, "m2's join after a tick", j2ch)

	// m1 rejoins: everyone has joined, both are answered, generation 2.
	j1ch := h.join(joinReq(g, m1, ""))
	j1 = now(t, j1ch)
	j2 := now(t, j2ch)
	for _, r := range []*kmsg.JoinGroupResponse{j1, j2} {
		wantErr(t, "rejoin", r.ErrorCode, nil)
		if r.Generation != 2 || r.LeaderID != m1 {
			t.Fatalf("rejoin: generation %d leader %s, want 2 %s", r.Generation, r.LeaderID, m1)
		}
	}
	if len(j1.Members) != 2 || len(j2.Members) != 0 {
		t.Fatalf("member lists: leader %d, follower %d; want 2, 0", len(j1.Members), len(j2.Members))
	}
	if j1.Members[0].MemberID != m1 || j1.Members[1].MemberID != m2 {
		t.Fatalf("leader's member list not in join order: %+v", j1.Members)
	}

	// The follower's sync waits for the leader's; the leader's answers
	// both once the group record is durable.
	s2ch := h.sync(syncReq(g, m2, 2, nil))
	pendingNow(t, "follower sync", s2ch)
	wantErr(t, "heartbeat completing, old generation", h.heartbeat(g, m1, 1), kerr.IllegalGeneration)
	assign := map[string][]byte{m1: consumerAssign("t", 0), m2: consumerAssign("t", 1)}
	s1 = get(t, h.sync(syncReq(g, m1, 2, assign)))
	s2 := get(t, s2ch)
	wantErr(t, "sync leader", s1.ErrorCode, nil)
	wantErr(t, "sync follower", s2.ErrorCode, nil)
	if string(s2.MemberAssignment) != string(assign[m2]) || string(s1.MemberAssignment) != string(assign[m1]) {
		t.Fatal("assignments not delivered to their members")
	}
	if h.state(g) != "Stable" || h.generation(g) != 2 {
		t.Fatalf("state %s generation %d, want Stable 2", h.state(g), h.generation(g))
	}
	// A late sync in Stable gets the stored assignment at once.
	s2 = now(t, h.sync(syncReq(g, m2, 2, nil)))
	if string(s2.MemberAssignment) != string(assign[m2]) {
		t.Fatal("late sync lost the assignment")
	}
	wantErr(t, "heartbeat m2", h.heartbeat(g, m2, 2), nil)

	// A follower rejoining a Stable group with unchanged metadata gets
	// the current generation and no rebalance (kgo does this after a
	// missed heartbeat response).
	j2 = now(t, h.join(joinReq(g, m2, "")))
	if j2.ErrorCode != 0 || j2.Generation != 2 || h.state(g) != "Stable" {
		t.Fatalf("follower rejoin: %s gen %d state %s", errName(j2.ErrorCode), j2.Generation, h.state(g))
	}
	// The leader rejoining starts a rebalance (it may want to reassign).
	j1ch = h.join(joinReq(g, m1, ""))
	pendingNow(t, "leader rejoin", j1ch)
	if h.state(g) != "PreparingRebalance" {
		t.Fatalf("leader rejoin: state %s", h.state(g))
	}
}

// TestMemberIDRequired covers KIP-394: JoinGroup v4+ hands out a member id
// first; v3 joins directly; an unused pending id expires after the session
// timeout.
func TestMemberIDRequired(t *testing.T) {
	h := newHarness(t, Config{})
	const g = "mid"
	r := now(t, h.join(joinReq(g, "", "")))
	wantErr(t, "v9 join without id", r.ErrorCode, kerr.MemberIDRequired)
	if r.MemberID == "" || r.Generation != -1 {
		t.Fatalf("MEMBER_ID_REQUIRED response: %+v", r)
	}
	pending := r.MemberID

	// v3: no round trip.
	old := joinReq(g, "", "")
	old.Version = 3
	r3 := now(t, h.join(old))
	wantErr(t, "v3 join", r3.ErrorCode, nil)
	if r3.MemberID == "" || r3.Generation != 1 {
		t.Fatalf("v3 join: %+v", r3)
	}

	// A made-up id is refused.
	wantErr(t, "made-up id", now(t, h.join(joinReq(g, "made-up", ""))).ErrorCode, kerr.UnknownMemberID)
	// Unknown group with an id.
	wantErr(t, "unknown group with id", now(t, h.join(joinReq("nope", "x", ""))).ErrorCode, kerr.UnknownMemberID)

	// The pending id expires at its session timeout, not before.
	h.advance(testSession - time.Millisecond)
	if _, ok := h.group(g).pending[pending]; !ok {
		t.Fatal("pending member id expired early")
	}
	h.advance(time.Millisecond)
	if _, ok := h.group(g).pending[pending]; ok {
		t.Fatal("pending member id did not expire at the session timeout")
	}
	wantErr(t, "expired pending id", now(t, h.join(joinReq(g, pending, ""))).ErrorCode, kerr.UnknownMemberID)
}

// TestProtocolSelection checks Kafka's vote: the protocol every member
// supports with the most first-choice votes, ties broken by the leader's
// preference.
func TestProtocolSelection(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members [][]string
		want    string
	}{
		{"one member, first choice", [][]string{{"cooperative-sticky", "range"}}, "cooperative-sticky"},
		{"only common protocol", [][]string{{"range", "roundrobin"}, {"roundrobin", "range"}, {"roundrobin"}}, "roundrobin"},
		{"majority of first choices", [][]string{{"a", "b"}, {"b", "a"}, {"b", "a"}}, "b"},
		{"first choice of a non-candidate counts for the next", [][]string{{"x", "a", "b"}, {"b", "a"}, {"a", "b"}}, "a"},
		{"tie: leader's preference", [][]string{{"a", "b"}, {"b", "a"}}, "a"},
		{"rolling upgrade range → cooperative", [][]string{{"range"}, {"cooperative-sticky", "range"}, {"cooperative-sticky", "range"}}, "range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			const g = "votes"
			var ids []string
			var chans []chan *kmsg.JoinGroupResponse
			for i, ps := range tc.members {
				req := joinReq(g, "", "", ps...)
				req.Version = 3 // no MEMBER_ID_REQUIRED round trip
				ch := h.join(req)
				if i == 0 {
					r := now(t, ch)
					ids = append(ids, r.MemberID)
					chans = append(chans, nil)
					continue
				}
				// Later members wait for the first to rejoin.
				ids = append(ids, "")
				chans = append(chans, ch)
			}
			rejoin := joinReq(g, ids[0], "", tc.members[0]...)
			rejoin.Version = 3
			chans[0] = h.join(rejoin)
			for i, ch := range chans {
				r := now(t, ch)
				wantErr(t, "join", r.ErrorCode, nil)
				if *r.Protocol != tc.want {
					t.Fatalf("member %d: protocol %q, want %q", i, *r.Protocol, tc.want)
				}
				if r.MemberID == r.LeaderID {
					// The leader gets each member's metadata for the
					// chosen protocol.
					for _, m := range r.Members {
						if string(m.ProtocolMetadata) != string(consumerMeta("t")) {
							t.Fatalf("leader got metadata %x for %s", m.ProtocolMetadata, m.MemberID)
						}
					}
				}
			}
		})
	}
}

// TestJoinBadInput checks JoinGroup's validation errors and that the
// group is unharmed by them.
func TestJoinBadInput(t *testing.T) {
	h := newHarness(t, Config{MinSessionTimeout: time.Second, MaxSessionTimeout: time.Minute})
	const g = "bad"
	ids, gen := h.stableGroup(g, 2)

	short := joinReq(g, "", "")
	short.SessionTimeoutMillis = 999
	wantErr(t, "session below min", now(t, h.join(short)).ErrorCode, kerr.InvalidSessionTimeout)
	long := joinReq(g, "", "")
	long.SessionTimeoutMillis = 60001
	wantErr(t, "session above max", now(t, h.join(long)).ErrorCode, kerr.InvalidSessionTimeout)

	other := joinReq(g, "", "", "roundrobin") // members only speak range
	other.Version = 3
	wantErr(t, "no common protocol", now(t, h.join(other)).ErrorCode, kerr.InconsistentGroupProtocol)
	wrongType := joinReq(g, "", "")
	wrongType.Version = 3
	wrongType.ProtocolType = "connect"
	wantErr(t, "other protocol type", now(t, h.join(wrongType)).ErrorCode, kerr.InconsistentGroupProtocol)
	noType := joinReq("fresh", "", "")
	noType.ProtocolType = ""
	wantErr(t, "empty protocol type", now(t, h.join(noType)).ErrorCode, kerr.InconsistentGroupProtocol)
	noProtocols := joinReq("fresh", "", "")
	noProtocols.Protocols = nil
	wantErr(t, "no protocols", now(t, h.join(noProtocols)).ErrorCode, kerr.InconsistentGroupProtocol)
	wantErr(t, "empty group id", now(t, h.join(joinReq("", "", ""))).ErrorCode, kerr.InvalidGroupID)

	// Nothing above changed the group.
	if h.state(g) != "Stable" || h.generation(g) != gen || len(h.group(g).members) != 2 {
		t.Fatalf("group after bad joins: %s", fmtGroup(h.group(g)))
	}
	for _, id := range ids {
		wantErr(t, "heartbeat after bad joins", h.heartbeat(g, id, gen), nil)
	}
}

// TestHeartbeatErrors: unknown group, unknown member, stale generation.
func TestHeartbeatErrors(t *testing.T) {
	h := newHarness(t, Config{})
	ids, gen := h.stableGroup("hb", 1)
	wantErr(t, "unknown group", h.heartbeat("nope", ids[0], gen), kerr.UnknownMemberID)
	wantErr(t, "unknown member", h.heartbeat("hb", "nobody", gen), kerr.UnknownMemberID)
	wantErr(t, "stale generation", h.heartbeat("hb", ids[0], gen-1), kerr.IllegalGeneration)
	wantErr(t, "future generation", h.heartbeat("hb", ids[0], gen+1), kerr.IllegalGeneration)
	wantErr(t, "good", h.heartbeat("hb", ids[0], gen), nil)

	s := now(t, h.sync(syncReq("nope", ids[0], gen, nil)))
	wantErr(t, "sync unknown group", s.ErrorCode, kerr.UnknownMemberID)
	s = now(t, h.sync(syncReq("hb", "nobody", gen, nil)))
	wantErr(t, "sync unknown member", s.ErrorCode, kerr.UnknownMemberID)
	s = now(t, h.sync(syncReq("hb", ids[0], gen+1, nil)))
	wantErr(t, "sync wrong generation", s.ErrorCode, kerr.IllegalGeneration)
	bad := syncReq("hb", ids[0], gen, nil)
	bad.Protocol = kmsg.StringPtr("roundrobin")
	wantErr(t, "sync wrong protocol", now(t, h.sync(bad)).ErrorCode, kerr.InconsistentGroupProtocol)
}

// TestSessionExpiry: a member that stops heartbeating is removed when its
// session timeout has passed since its last heartbeat — exactly then, not
// a tick before — and the group rebalances among the others.
func TestSessionExpiry(t *testing.T) {
	h := newHarness(t, Config{})
	const g = "exp"
	ids, gen := h.stableGroup(g, 2)
	leader, silent := ids[0], ids[1]

	last := h.now
	for h.now.Sub(last) < testSession-time.Second {
		h.advance(time.Second)
		wantErr(t, "leader heartbeat", h.heartbeat(g, leader, gen), nil)
	}
	// silent's last contact was its sync at `last`.
	h.now = last.Add(testSession - time.Millisecond)
	h.c.Tick(h.now)
	if h.group(g).members[silent] == nil || h.state(g) != "Stable" {
		t.Fatalf("member expired 1ms before its session timeout: %s", fmtGroup(h.group(g)))
	}
	h.now = last.Add(testSession)
	h.c.Tick(h.now)
	if h.group(g).members[silent] != nil {
		t.Fatalf("member not expired at its session timeout: %s", fmtGroup(h.group(g)))
	}
	// The survivor learns of the rebalance from its heartbeat and
	// rejoins; the rebalance completes with it alone.
	if h.state(g) != "PreparingRebalance" {
		t.Fatalf("state %s after expiry, want PreparingRebalance", h.state(g))
	}
	wantErr(t, "survivor heartbeat", h.heartbeat(g, leader, gen), kerr.RebalanceInProgress)
	r := now(t, h.join(joinReq(g, leader, "")))
	if r.ErrorCode != 0 || r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("survivor rejoin: %+v", r)
	}
	wantErr(t, "expired member heartbeat", h.heartbeat(g, silent, gen), kerr.UnknownMemberID)

	// The last member expiring empties the group (generation bumps, as
	// in Kafka).
	get(t, h.sync(syncReq(g, leader, gen+1, map[string][]byte{leader: consumerAssign("t", 0, 1)})))
	h.advance(testSession)
	if h.state(g) != "Empty" || h.generation(g) != gen+2 || len(h.group(g).members) != 0 {
		t.Fatalf("after last member expired: %s", fmtGroup(h.group(g)))
	}
}

// TestRebalanceTimeout: during PreparingRebalance, a member that keeps
// heartbeating but does not rejoin within the rebalance timeout is
// dropped, and the rebalance completes with the others; in
// CompletingRebalance, members that do not sync in time are dropped.
func TestRebalanceTimeout(t *testing.T) {
	h := newHarness(t, Config{})
	const g = "rt"
	ids, gen := h.stableGroup(g, 2)
	m1, slow := ids[0], ids[1]

	m3, j3 := h.joinNew(g)
	start := h.now
	j1 := h.join(joinReq(g, m1, ""))
	for h.now.Sub(start) < testRebalance-time.Second {
		h.advance(time.Second)
		wantErr(t, "slow member heartbeat", h.heartbeat(g, slow, gen), kerr.RebalanceInProgress)
	}
	h.now = start.Add(testRebalance - time.Millisecond)
	h.c.Tick(h.now)
	pendingNow(t, "join before the rebalance timeout", j1)
	h.now = start.Add(testRebalance)
	h.c.Tick(h.now)
	r1, r3 := now(t, j1), now(t, j3)
	if r1.ErrorCode != 0 || r1.Generation != gen+1 || len(r1.Members) != 2 || r3.ErrorCode != 0 {
		t.Fatalf("join after rebalance timeout: %+v / %+v", r1, r3)
	}
	if h.group(g).members[slow] != nil {
		t.Fatal("member that did not rejoin is still in the group")
	}
	wantErr(t, "dropped member heartbeat", h.heartbeat(g, slow, gen), kerr.UnknownMemberID)

	// CompletingRebalance: m3 syncs, the leader keeps heartbeating but
	// never syncs.
	s3 := h.sync(syncReq(g, m3, gen+1, nil))
	start = h.now
	for h.now.Sub(start) < testRebalance-time.Second {
		h.advance(time.Second)
		wantErr(t, "leader heartbeat while completing", h.heartbeat(g, m1, gen+1), nil)
	}
	h.now = start.Add(testRebalance - time.Millisecond)
	h.c.Tick(h.now)
	pendingNow(t, "follower sync", s3)
	h.now = start.Add(testRebalance)
	h.c.Tick(h.now)
	// The leader is dropped; the waiting follower is told to rejoin.
	wantErr(t, "follower sync after leader timeout", get(t, s3).ErrorCode, kerr.RebalanceInProgress)
	if h.group(g).members[m1] != nil {
		t.Fatal("leader that never synced is still in the group")
	}
	r3 = now(t, h.join(joinReq(g, m3, "")))
	if r3.ErrorCode != 0 || r3.LeaderID != m3 || r3.Generation != gen+2 {
		t.Fatalf("m3 rejoin: %+v", r3)
	}
}

// TestLeaveGroup: a leave rebalances at once; v3+ batches report each
// member; the last leave empties the group.
func TestLeaveGroup(t *testing.T) {
	h := newHarness(t, Config{})
	const g = "lv"
	ids, gen := h.stableGroup(g, 3)
	resp := h.leave(g, ids[2], "nobody")
	wantErr(t, "leave top-level", resp.ErrorCode, nil)
	wantErr(t, "leave member", resp.Members[0].ErrorCode, nil)
	wantErr(t, "leave unknown member", resp.Members[1].ErrorCode, kerr.UnknownMemberID)
	if h.state(g) != "PreparingRebalance" {
		t.Fatalf("state after leave %s", h.state(g))
	}
	// The rebalance completes as soon as the remaining members rejoin.
	j0 := h.join(joinReq(g, ids[0], ""))
	pendingNow(t, "first rejoin", j0)
	j1 := now(t, h.join(joinReq(g, ids[1], "")))
	if r := now(t, j0); r.Generation != gen+1 || len(r.Members) != 2 || j1.Generation != gen+1 {
		t.Fatalf("after leave: %+v", r)
	}

	// Stable again, then a new member: while the others wait in
	// PreparingRebalance, a member that leaves instead of rejoining
	// completes the join for them.
	assign := map[string][]byte{ids[0]: consumerAssign("t", 0), ids[1]: consumerAssign("t", 1)}
	s1 := h.sync(syncReq(g, ids[1], gen+1, nil))
	get(t, h.sync(syncReq(g, ids[0], gen+1, assign)))
	get(t, s1)
	m4, j4 := h.joinNew(g)
	j0 = h.join(joinReq(g, ids[0], ""))
	h.advance(0)
	pendingNow(t, "rejoin", j0)
	wantErr(t, "leave", h.leave(g, ids[1]).Members[0].ErrorCode, nil)
	if r := now(t, j0); r.ErrorCode != 0 || r.Generation != gen+2 || len(r.Members) != 2 {
		t.Fatalf("join completed by a leave: %+v", r)
	}
	now(t, j4)
	// The last members leave (v5, then v0): Empty.
	wantErr(t, "leave", h.leave(g, m4).Members[0].ErrorCode, nil)
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = 0
	req.Group, req.MemberID = g, ids[0]
	wantErr(t, "v0 leave", h.c.LeaveGroup(h.now, req).ErrorCode, nil)
	if h.state(g) != "Empty" {
		t.Fatalf("state after last leave %s", h.state(g))
	}
	req.Group = "nope"
	wantErr(t, "v0 leave unknown group", h.c.LeaveGroup(h.now, req).ErrorCode, kerr.UnknownMemberID)
}

// TestStaticMember (KIP-345): a static member restarting within its
// session keeps its assignment with no rebalance and no generation
// change; its old member id is fenced.
func TestStaticMember(t *testing.T) {
	h := newHarness(t, Config{})
	const g = "static"
	// A dynamic leader and a static follower.
	dyn, jd := h.joinNew(g)
	now(t, jd)
	js := h.join(joinReq(g, "", "inst-1")) // static: no MEMBER_ID_REQUIRED
	pendingNow(t, "static join", js)
	jd = h.join(joinReq(g, dyn, ""))
	rd, rs := now(t, jd), now(t, js)
	wantErr(t, "static join", rs.ErrorCode, nil)
	gen, static := rs.Generation, rs.MemberID
	if rd.LeaderID != dyn {
		t.Fatalf("leader %s, want %s", rd.LeaderID, dyn)
	}
	var sawInstance bool
	for _, m := range rd.Members {
		if m.MemberID == static && m.InstanceID != nil && *m.InstanceID == "inst-1" {
			sawInstance = true
		}
	}
	if !sawInstance {
		t.Fatal("leader's member list lacks the instance id")
	}
	assign := map[string][]byte{dyn: consumerAssign("t", 0), static: consumerAssign("t", 1)}
	ss := h.sync(syncReq(g, static, gen, nil))
	get(t, h.sync(syncReq(g, dyn, gen, assign)))
	get(t, ss)

	// Restart: a join with no member id and the same instance id.
	h.advance(testSession / 2)
	wantErr(t, "dyn heartbeat", h.heartbeat(g, dyn, gen), nil)
	r := get(t, h.join(joinReq(g, "", "inst-1"))) // answered once durable
	wantErr(t, "static rejoin", r.ErrorCode, nil)
	if r.Generation != gen || r.MemberID == static || r.LeaderID != dyn {
		t.Fatalf("static rejoin: generation %d (want %d), member %s (old %s), leader %s", r.Generation, gen, r.MemberID, static, r.LeaderID)
	}
	if h.state(g) != "Stable" || h.generation(g) != gen {
		t.Fatalf("static rejoin rebalanced: %s", fmtGroup(h.group(g)))
	}
	newID := r.MemberID
	wantErr(t, "other member heartbeat", h.heartbeat(g, dyn, gen), nil)
	s := now(t, h.sync(syncReq(g, newID, gen, nil)))
	if s.ErrorCode != 0 || string(s.MemberAssignment) != string(assign[static]) {
		t.Fatalf("static member's assignment after restart: %s %x", errName(s.ErrorCode), s.MemberAssignment)
	}

	// The old incarnation is fenced everywhere it names its instance id.
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version = 4
	hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = g, static, gen, kmsg.StringPtr("inst-1")
	wantErr(t, "old incarnation heartbeat", h.c.Heartbeat(h.now, hb).ErrorCode, kerr.FencedInstanceID)
	sr := syncReq(g, static, gen, nil)
	sr.InstanceID = kmsg.StringPtr("inst-1")
	wantErr(t, "old incarnation sync", now(t, h.sync(sr)).ErrorCode, kerr.FencedInstanceID)
	cr := commitReq(g, static, gen, 5, 1)
	cr.InstanceID = kmsg.StringPtr("inst-1")
	wantErr(t, "old incarnation commit", h.commit(cr), kerr.FencedInstanceID)
	wantErr(t, "old incarnation join", now(t, h.join(joinReq(g, static, "inst-1"))).ErrorCode, kerr.FencedInstanceID)
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.Version = 5
	lr.Group = g
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID, lm.InstanceID = static, kmsg.StringPtr("inst-1")
	lr.Members = append(lr.Members, lm)
	wantErr(t, "old incarnation leave", h.c.LeaveGroup(h.now, lr).Members[0].ErrorCode, kerr.FencedInstanceID)
	// None of that disturbed the group.
	if h.state(g) != "Stable" || h.generation(g) != gen {
		t.Fatalf("fenced requests changed the group: %s", fmtGroup(h.group(g)))
	}
	cr = commitReq(g, newID, gen, 5, 1)
	cr.InstanceID = kmsg.StringPtr("inst-1")
	wantErr(t, "new incarnation commit", h.commit(cr), nil)

	// A static member that stays away past its session is removed.
	last := h.now
	for h.now.Sub(last) < testSession {
		h.advance(time.Second)
		h.heartbeat(g, dyn, gen)
	}
	if h.group(g).members[newID] != nil || h.state(g) != "PreparingRebalance" {
		t.Fatalf("static member not expired: %s", fmtGroup(h.group(g)))
	}
	if _, ok := h.group(g).static["inst-1"]; ok {
		t.Fatal("expired static member's instance id still mapped")
	}

	// Leaving by instance id alone (as admin tools do).
	r = now(t, h.join(joinReq(g, dyn, "")))
	get(t, h.sync(syncReq(g, dyn, r.Generation, map[string][]byte{dyn: consumerAssign("t", 0, 1)})))
	js = h.join(joinReq(g, "", "inst-2"))
	now(t, h.join(joinReq(g, dyn, "")))
	rs = now(t, js)
	lm.MemberID, lm.InstanceID = "", kmsg.StringPtr("inst-2")
	lr.Members = []kmsg.LeaveGroupRequestMember{lm}
	wantErr(t, "leave by instance id", h.c.LeaveGroup(h.now, lr).Members[0].ErrorCode, nil)
	if h.group(g).members[rs.MemberID] != nil {
		t.Fatal("leave by instance id did not remove the member")
	}
}

// TestInitialRebalanceDelay: the first rebalance of an empty group waits
// group.initial.rebalance.delay for more members.
func TestInitialRebalanceDelay(t *testing.T) {
	h := newHarness(t, Config{InitialRebalanceDelay: 3 * time.Second})
	const g = "delay"
	_, j1 := h.joinNew(g)
	pendingNow(t, "join during the delay", j1)
	h.advance(2 * time.Second)
	_, j2 := h.joinNew(g)
	h.advance(999 * time.Millisecond)
	pendingNow(t, "join before the delay ends", j1)
	h.advance(time.Millisecond)
	r1, r2 := now(t, j1), now(t, j2)
	if r1.Generation != 1 || r2.Generation != 1 || len(r1.Members)+len(r2.Members) != 2 {
		t.Fatalf("delayed join: %+v %+v", r1, r2)
	}
}

// TestMaxGroupSize: group.max.size refuses the member beyond it.
func TestMaxGroupSize(t *testing.T) {
	h := newHarness(t, Config{MaxGroupSize: 2})
	h.stableGroup("max", 2)
	wantErr(t, "third member", now(t, h.join(joinReq("max", "", ""))).ErrorCode, kerr.GroupMaxSizeReached)
	if h.state("max") != "Stable" {
		t.Fatal("refused member disturbed the group")
	}
}

// TestRepeatedSync: a second SyncGroup from a member waiting for the
// leader replaces the first, which is answered (not left hanging: the
// broker writes a connection's responses in order).
func TestRepeatedSync(t *testing.T) {
	h := newHarness(t, Config{})
	const g = "rs"
	h.stableGroup(g, 1)
	m2, j2 := h.joinNew(g)
	ids := []string{h.group(g).order[0], m2}
	j1 := h.join(joinReq(g, ids[0], ""))
	gen := now(t, j1).Generation
	now(t, j2)
	first := h.sync(syncReq(g, m2, gen, nil))
	second := h.sync(syncReq(g, m2, gen, nil))
	wantErr(t, "replaced sync", now(t, first).ErrorCode, kerr.RebalanceInProgress)
	pendingNow(t, "second sync", second)
	get(t, h.sync(syncReq(g, ids[0], gen, map[string][]byte{m2: consumerAssign("t", 1)})))
	if r := get(t, second); r.ErrorCode != 0 || string(r.MemberAssignment) != string(consumerAssign("t", 1)) {
		t.Fatalf("second sync: %+v", r)
	}
}

// TestStaticRejoinRules: whether a restarted static member rebalances the
// group follows Kafka: not when only its metadata changed (cooperative
// assignors encode owned partitions in it), yes when the protocol the
// group would select changes. A restarted leader does not rebalance
// either: on v9 it gets SkipAssignment, before v9 it is answered as a
// follower with its old member id as the leader's.
func TestStaticRejoinRules(t *testing.T) {
	protocols := []string{"cooperative-sticky", "range"}
	withMeta := func(req *kmsg.JoinGroupRequest, meta string) *kmsg.JoinGroupRequest {
		for i := range req.Protocols {
			req.Protocols[i].Metadata = []byte(meta)
		}
		return req
	}
	// setup forms a Stable group: static leader "lead", static follower
	// "follow", both speaking protocols.
	setup := func(t *testing.T) (*harness, int32) {
		h := newHarness(t, Config{})
		r := now(t, h.join(withMeta(joinReq("g", "", "lead", protocols...), "m1")))
		jf := h.join(withMeta(joinReq("g", "", "follow", protocols...), "m2"))
		jl := h.join(withMeta(joinReq("g", r.MemberID, "lead", protocols...), "m1"))
		rl, rf := now(t, jl), now(t, jf)
		if rl.LeaderID != rl.MemberID || *rl.Protocol != "cooperative-sticky" {
			t.Fatalf("setup: %+v", rl)
		}
		sf := h.sync(syncReq("g", rf.MemberID, rf.Generation, nil))
		get(t, h.sync(syncReq("g", rl.MemberID, rl.Generation, map[string][]byte{rl.MemberID: consumerAssign("t", 0), rf.MemberID: consumerAssign("t", 1)})))
		get(t, sf)
		return h, rl.Generation
	}

	t.Run("metadata changed", func(t *testing.T) {
		h, gen := setup(t)
		r := get(t, h.join(withMeta(joinReq("g", "", "follow", protocols...), "m2-restarted")))
		if r.ErrorCode != 0 || r.Generation != gen || h.state("g") != "Stable" {
			t.Fatalf("rejoin with new metadata: %s gen %d state %s", errName(r.ErrorCode), r.Generation, h.state("g"))
		}
		if !strings.Contains(h.describe("g"), hex.EncodeToString([]byte("m2-restarted"))) {
			t.Fatalf("member metadata not updated: %s", h.describe("g"))
		}
	})
	t.Run("selected protocol changes", func(t *testing.T) {
		h, gen := setup(t)
		ch := h.join(withMeta(joinReq("g", "", "follow", "range"), "m2"))
		pendingNow(t, "rejoin that changes the protocol", ch)
		if h.state("g") != "PreparingRebalance" {
			t.Fatalf("state %s", h.state("g"))
		}
		lead := h.group("g").leader
		now(t, h.join(withMeta(joinReq("g", lead, "lead", protocols...), "m1")))
		if r := now(t, ch); r.Generation != gen+1 || *r.Protocol != "range" {
			t.Fatalf("rebalance: %+v", r)
		}
	})
	t.Run("leader v8", func(t *testing.T) {
		h, gen := setup(t)
		oldLeader := h.group("g").leader
		req := withMeta(joinReq("g", "", "lead", protocols...), "m1")
		req.Version = 8
		r := get(t, h.join(req))
		if r.ErrorCode != 0 || r.Generation != gen || r.LeaderID != oldLeader || r.MemberID == oldLeader || len(r.Members) != 0 || r.SkipAssignment {
			t.Fatalf("v8 leader rejoin: %+v (old leader id %s)", r, oldLeader)
		}
		if h.state("g") != "Stable" || h.generation("g") != gen || h.group("g").leader != r.MemberID {
			t.Fatalf("v8 leader rejoin: %s", fmtGroup(h.group("g")))
		}
		// It syncs as a follower and gets its stored assignment.
		s := now(t, h.sync(syncReq("g", r.MemberID, gen, nil)))
		if s.ErrorCode != 0 || string(s.MemberAssignment) != string(consumerAssign("t", 0)) {
			t.Fatalf("leader's sync after a v8 rejoin: %s %x", errName(s.ErrorCode), s.MemberAssignment)
		}
	})
	t.Run("leader v9", func(t *testing.T) {
		h, gen := setup(t)
		r := get(t, h.join(withMeta(joinReq("g", "", "lead", protocols...), "m1")))
		if r.ErrorCode != 0 || r.Generation != gen || !r.SkipAssignment || r.LeaderID != r.MemberID || len(r.Members) != 2 {
			t.Fatalf("v9 leader rejoin: %+v", r)
		}
		if h.state("g") != "Stable" {
			t.Fatalf("state %s", h.state("g"))
		}
		// Its SyncGroup (kgo sends one, with the assignment it did not
		// compute) returns the stored assignment.
		s := now(t, h.sync(syncReq("g", r.MemberID, gen, nil)))
		if string(s.MemberAssignment) != string(consumerAssign("t", 0)) {
			t.Fatalf("leader's assignment after rejoin: %x", s.MemberAssignment)
		}
	})
}
