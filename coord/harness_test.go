package coord

// The test harness: a Coordinator over a real __consumer_offsets log in
// t.TempDir(), driven with explicit times (h.now) and Tick, its responses
// captured through callbacks into channels.

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/log"
)

// t0 is the harness's starting time; any fixed instant works.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	testSession   = 10 * time.Second
	testRebalance = 30 * time.Second
	// asyncWait bounds the wait for responses that come after an fsync.
	asyncWait = 10 * time.Second
)

type harness struct {
	t     *testing.T
	dir   string
	cfg   Config
	lopts log.Options
	l     *log.Log
	c     *Coordinator
	now   time.Time
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(&tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tlogWriter struct{ t testing.TB }

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// newHarness opens a fresh offsets log and a coordinator over it at t0.
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), cfg: cfg, now: t0}
	if h.cfg.Logger == nil {
		h.cfg.Logger = testLogger(t)
	}
	h.lopts = log.Options{SegmentBytes: 1 << 20, MaxIndexBytes: 64 << 10, NoPreallocate: true, Logger: h.cfg.Logger}
	h.open()
	t.Cleanup(h.closeLog)
	return h
}

func (h *harness) open() {
	h.t.Helper()
	l, err := log.Open(h.dir, &h.lopts)
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := New(h.cfg, l, h.now)
	if err != nil {
		l.Close()
		h.t.Fatal(err)
	}
	h.l, h.c = l, c
}

func (h *harness) closeLog() {
	if h.l != nil {
		if err := h.l.Close(); err != nil {
			h.t.Errorf("closing offsets log: %v", err)
		}
		h.l = nil
	}
}

// reopen closes the log (as a broker shutdown does) and replays it into a
// new coordinator at h.now.
func (h *harness) reopen() {
	h.t.Helper()
	h.closeLog()
	h.open()
}

// advance moves the clock by d and ticks.
func (h *harness) advance(d time.Duration) {
	h.now = h.now.Add(d)
	h.c.Tick(h.now)
}

// group returns the coordinator's group (nil if none). Tests read it only
// while no callback can run.
func (h *harness) group(id string) *group {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return h.c.groups[id]
}

func (h *harness) state(id string) string {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	g := h.c.groups[id]
	if g == nil {
		return "none"
	}
	return g.state.String()
}

func (h *harness) generation(id string) int32 {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return h.c.groups[id].generation
}

// describe renders DescribeGroups for groups canonically (pointers
// followed) for comparisons.
func (h *harness) describe(groups ...string) string {
	var sb strings.Builder
	for _, g := range h.c.DescribeGroups(&kmsg.DescribeGroupsRequest{Version: 5, Groups: groups}).Groups {
		fmt.Fprintf(&sb, "%s err=%d state=%s type=%s protocol=%s\n", g.Group, g.ErrorCode, g.State, g.ProtocolType, g.Protocol)
		for _, m := range g.Members {
			inst := "<nil>"
			if m.InstanceID != nil {
				inst = *m.InstanceID
			}
			fmt.Fprintf(&sb, "  %s instance=%s client=%s host=%s meta=%x assign=%x\n", m.MemberID, inst, m.ClientID, m.ClientHost, m.ProtocolMetadata, m.MemberAssignment)
		}
	}
	return sb.String()
}

// consumerMeta encodes a consumer-protocol subscription.
func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

// consumerAssign encodes a consumer-protocol assignment.
func consumerAssign(topic string, parts ...int32) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	at := kmsg.NewConsumerMemberAssignmentTopic()
	at.Topic = topic
	at.Partitions = parts
	a.Topics = append(a.Topics, at)
	return a.AppendTo(nil)
}

// joinReq is a JoinGroup v9 for a "consumer" group subscribed to topic
// "t" with the given protocols (default "range").
func joinReq(group, memberID, instance string, protocols ...string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9
	req.Group = group
	req.MemberID = memberID
	if instance != "" {
		req.InstanceID = kmsg.StringPtr(instance)
	}
	req.SessionTimeoutMillis = int32(testSession.Milliseconds())
	req.RebalanceTimeoutMillis = int32(testRebalance.Milliseconds())
	req.ProtocolType = "consumer"
	if len(protocols) == 0 {
		protocols = []string{"range"}
	}
	for _, p := range protocols {
		rp := kmsg.NewJoinGroupRequestProtocol()
		rp.Name = p
		rp.Metadata = consumerMeta("t")
		req.Protocols = append(req.Protocols, rp)
	}
	return req
}

var client = ClientInfo{ID: "test-client", Host: "/127.0.0.1"}

// join sends req and returns the channel its response will arrive on.
func (h *harness) join(req *kmsg.JoinGroupRequest) chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 2)
	h.c.JoinGroup(h.now, req, client, func(r *kmsg.JoinGroupResponse) { ch <- r })
	return ch
}

// joinNew joins as a new dynamic member through the MEMBER_ID_REQUIRED
// round trip (JoinGroup v4+) and returns the pending second join.
func (h *harness) joinNew(group string, protocols ...string) (string, chan *kmsg.JoinGroupResponse) {
	h.t.Helper()
	first := now(h.t, h.join(joinReq(group, "", "", protocols...)))
	wantErr(h.t, "first join", first.ErrorCode, kerr.MemberIDRequired)
	if first.MemberID == "" {
		h.t.Fatal("MEMBER_ID_REQUIRED without a member id")
	}
	return first.MemberID, h.join(joinReq(group, first.MemberID, "", protocols...))
}

func syncReq(group, member string, gen int32, assign map[string][]byte) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group = group
	req.MemberID = member
	req.Generation = gen
	req.ProtocolType = kmsg.StringPtr("consumer")
	for id, a := range assign {
		sa := kmsg.NewSyncGroupRequestGroupAssignment()
		sa.MemberID = id
		sa.MemberAssignment = a
		req.GroupAssignment = append(req.GroupAssignment, sa)
	}
	return req
}

func (h *harness) sync(req *kmsg.SyncGroupRequest) chan *kmsg.SyncGroupResponse {
	ch := make(chan *kmsg.SyncGroupResponse, 2)
	h.c.SyncGroup(h.now, req, func(r *kmsg.SyncGroupResponse) { ch <- r })
	return ch
}

func (h *harness) heartbeat(group, member string, gen int32) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation = group, member, gen
	return h.c.Heartbeat(h.now, req).ErrorCode
}

func (h *harness) leave(group string, members ...string) *kmsg.LeaveGroupResponse {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = 5
	req.Group = group
	for _, m := range members {
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = m
		req.Members = append(req.Members, lm)
	}
	return h.c.LeaveGroup(h.now, req)
}

// commitReq commits offset for partitions of topic "t".
func commitReq(group, member string, gen int32, offset int64, parts ...int32) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 9
	req.Group, req.MemberID, req.Generation = group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	for _, p := range parts {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition = p
		rp.Offset = offset
		rp.LeaderEpoch = -1
		rp.Metadata = kmsg.StringPtr("md")
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

func (h *harness) commitAsync(req *kmsg.OffsetCommitRequest) chan *kmsg.OffsetCommitResponse {
	ch := make(chan *kmsg.OffsetCommitResponse, 1)
	h.c.OffsetCommit(h.now, req, func(r *kmsg.OffsetCommitResponse) { ch <- r })
	return ch
}

// commit commits and waits for the (durable) answer; it returns the first
// partition's error code.
func (h *harness) commit(req *kmsg.OffsetCommitRequest) int16 {
	h.t.Helper()
	r := get(h.t, h.commitAsync(req))
	return r.Topics[0].Partitions[0].ErrorCode
}

// fetched returns the committed offset of t/p for group (-1: none).
func (h *harness) fetched(group string, p int32) int64 {
	h.t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 7
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = "t"
	rt.Partitions = []int32{p}
	req.Topics = append(req.Topics, rt)
	resp := h.c.OffsetFetch(req)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		h.t.Fatalf("offset fetch: %+v", resp)
	}
	return resp.Topics[0].Partitions[0].Offset
}

// get waits for a response that may come after an fsync.
func get[T any](t testing.TB, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(asyncWait):
		t.Fatalf("no response within %v", asyncWait)
	}
	panic("unreachable")
}

// now returns a response that must already have been delivered (joins and
// heartbeats are answered before the call returns).
func now[T any](t testing.TB, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	default:
		t.Fatal("request not answered synchronously")
	}
	panic("unreachable")
}

// pendingNow checks that no response was delivered yet.
func pendingNow[T any](t testing.TB, what string, ch chan T) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s answered early: %+v", what, v)
	default:
	}
}

func errName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return e.Message
	}
	return kerr.ErrorForCode(code).Error()
}

func wantErr(t testing.TB, what string, got int16, want *kerr.Error) {
	t.Helper()
	if want == nil {
		if got != 0 {
			t.Fatalf("%s: error %s, want NONE", what, errName(got))
		}
		return
	}
	if got != want.Code {
		t.Fatalf("%s: error %s, want %s", what, errName(got), want.Message)
	}
}

// stableGroup forms a Stable group of n dynamic members (join, leader's
// sync with a one-partition-each assignment, followers' syncs) and returns
// the member ids in join order (the first is the leader) and the
// generation.
func (h *harness) stableGroup(group string, n int) ([]string, int32) {
	h.t.Helper()
	var ids []string
	var chans []chan *kmsg.JoinGroupResponse
	for i := 0; i < n; i++ {
		id, ch := h.joinNew(group)
		ids = append(ids, id)
		chans = append(chans, ch)
		if i == 0 && n > 1 {
			// The first member's join completes at once (a group of
			// one); the others join the next rebalance.
			r := now(h.t, ch)
			wantErr(h.t, "join", r.ErrorCode, nil)
			chans[0] = nil
		}
	}
	if n > 1 {
		// Everyone (the first member included) rejoins the rebalance
		// the later members started.
		chans[0] = h.join(joinReq(group, ids[0], ""))
	}
	var gen int32
	for i, ch := range chans {
		r := now(h.t, ch)
		wantErr(h.t, "join", r.ErrorCode, nil)
		gen = r.Generation
		if (i == 0) != (r.LeaderID == ids[i]) {
			h.t.Fatalf("member %d: leader %s, members %v", i, r.LeaderID, ids)
		}
	}
	assign := map[string][]byte{}
	for i, id := range ids {
		assign[id] = consumerAssign("t", int32(i))
	}
	var syncs []chan *kmsg.SyncGroupResponse
	for i := n - 1; i >= 0; i-- { // followers first: they wait for the leader
		syncs = append(syncs, h.sync(syncReq(group, ids[i], gen, assign)))
	}
	for _, ch := range syncs {
		wantErr(h.t, "sync", get(h.t, ch).ErrorCode, nil)
	}
	if s := h.state(group); s != "Stable" {
		h.t.Fatalf("group %s after sync, want Stable", s)
	}
	return ids, gen
}
