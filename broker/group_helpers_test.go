package broker_test

// Helpers for the consumer-group integration tests: kgo group consumers
// that record their assignments and every record they process, a producer
// that trickles records while groups change, and raw group requests.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/broker"
	"github.com/weirhq/weir/weirtest"
)

// Group timing for the tests: the broker accepts 1 s sessions (Kafka's
// minimum is 6 s) and members heartbeat every 100 ms, so rebalances and
// expiries take well under the default seconds.
const (
	testSession   = 2 * time.Second
	testHeartbeat = 100 * time.Millisecond
)

// startGroupBroker starts a broker whose group coordinator accepts short
// sessions.
func startGroupBroker(t *testing.T) *weirtest.Broker {
	t.Helper()
	return weirtest.Start(t, weirtest.WithConfig(func(c *broker.Config) {
		c.GroupMinSessionTimeout = time.Second
	}))
}

// waitFor polls cond every 10 ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// tracker counts, per record value, the consumers that processed it.
type tracker struct {
	mu   sync.Mutex
	seen map[string][]string
}

func newTracker() *tracker { return &tracker{seen: map[string][]string{}} }

func (tr *tracker) add(consumer string, r *kgo.Record) {
	tr.mu.Lock()
	tr.seen[string(r.Value)] = append(tr.seen[string(r.Value)], fmt.Sprintf("%s@%d/%d", consumer, r.Partition, r.Offset))
	tr.mu.Unlock()
}

func (tr *tracker) count() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.seen)
}

// check fails the test unless every value in want was processed exactly
// once and nothing else was.
func (tr *tracker) check(t testing.TB, want []string) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var lost, dup []string
	for _, v := range want {
		switch n := len(tr.seen[v]); {
		case n == 0:
			lost = append(lost, v)
		case n > 1:
			dup = append(dup, fmt.Sprintf("%s by %v", v, tr.seen[v]))
		}
	}
	if len(tr.seen) != len(want) {
		t.Errorf("processed %d distinct records, produced %d", len(tr.seen), len(want))
	}
	if len(lost) > 0 {
		t.Errorf("%d records lost, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
	if len(dup) > 0 {
		t.Errorf("%d records processed twice, e.g. %v", len(dup), dup[:min(5, len(dup))])
	}
}

// waitAll waits until every value in want was processed.
func (tr *tracker) waitAll(t testing.TB, want []string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%d records to be consumed", len(want)), func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		for _, v := range want {
			if len(tr.seen[v]) == 0 {
				return false
			}
		}
		return true
	})
}

// trickles numbers the trickles, so that their values differ.
var trickles atomic.Int64

// trickle produces one record every `every` (round robin over the
// partitions) until stopped, and remembers what was acknowledged.
type trickle struct {
	stop  chan struct{}
	done  chan struct{}
	acked []string
	err   error
}

func startTrickle(t *testing.T, addr, topic string, every time.Duration) *trickle {
	t.Helper()
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	p := &trickle{stop: make(chan struct{}), done: make(chan struct{})}
	id := trickles.Add(1)
	go func() {
		defer close(p.done)
		tk := time.NewTicker(every)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-tk.C:
			}
			v := fmt.Sprintf("%s-%d-%06d", topic, id, i)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr()
			cancel()
			if err != nil {
				p.err = err
				return
			}
			p.acked = append(p.acked, v)
		}
	}()
	t.Cleanup(func() { p.Stop(t) })
	return p
}

// Stop stops the producer and returns the acknowledged values.
func (p *trickle) Stop(t testing.TB) []string {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	if p.err != nil {
		t.Errorf("trickle produce: %v", p.err)
	}
	return p.acked
}

// gevent is one rebalance callback a consumer saw.
type gevent struct {
	at    time.Time
	kind  string // assigned, revoked, lost
	parts []int32
}

func (e gevent) String() string { return fmt.Sprintf("%s%v", e.kind, e.parts) }

// gconsumer is a kgo group consumer under test. It polls in a goroutine
// with BlockRebalanceOnPoll, hands each record to its tracker and marks it
// for commit; OnPartitionsRevoked commits the marks, so every processed
// record is committed before its partition moves (no loss, no double
// processing).
type gconsumer struct {
	name   string
	cl     *kgo.Client
	tr     *tracker
	cancel context.CancelFunc
	done   chan struct{}

	mu         sync.Mutex
	owned      map[int32]bool
	events     []gevent
	commitErrs []error
	firstFetch map[int32]time.Time // first record processed per partition since it was assigned
}

type groupOpts struct {
	group, topic string
	balancer     kgo.GroupBalancer // nil: kgo's default (cooperative-sticky)
	session      time.Duration     // default testSession
	instance     string            // static membership
	noCommit     bool              // never commit: new owners restart from the log start
	extra        []kgo.Opt
}

func startConsumer(t testing.TB, addr, name string, o groupOpts, tr *tracker) *gconsumer {
	t.Helper()
	c := &gconsumer{name: name, tr: tr, owned: map[int32]bool{}, done: make(chan struct{}), firstFetch: map[int32]time.Time{}}
	session := o.session
	if session == 0 {
		session = testSession
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ClientID(name),
		kgo.ConsumerGroup(o.group),
		kgo.ConsumeTopics(o.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(session),
		kgo.HeartbeatInterval(testHeartbeat),
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.event("assigned", m[o.topic])
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
			if o.noCommit {
				c.event("revoked", m[o.topic])
				return
			}
			if err := cl.CommitMarkedOffsets(ctx); err != nil {
				c.mu.Lock()
				c.commitErrs = append(c.commitErrs, err)
				c.mu.Unlock()
			}
			c.event("revoked", m[o.topic])
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.event("lost", m[o.topic])
		}),
	}
	if o.noCommit {
		opts = append(opts, kgo.DisableAutoCommit())
	} else {
		opts = append(opts, kgo.AutoCommitMarks(), kgo.AutoCommitInterval(500*time.Millisecond))
	}
	if o.balancer != nil {
		opts = append(opts, kgo.Balancers(o.balancer))
	}
	if o.instance != "" {
		opts = append(opts, kgo.InstanceID(o.instance))
	}
	cl, err := kgo.NewClient(append(opts, o.extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	c.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.poll(ctx)
	t.Cleanup(c.Close)
	return c
}

func (c *gconsumer) event(kind string, parts []int32) {
	parts = slices.Clone(parts)
	slices.Sort(parts)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, gevent{time.Now(), kind, parts})
	for _, p := range parts {
		switch kind {
		case "assigned":
			c.owned[p] = true
			delete(c.firstFetch, p)
		default:
			delete(c.owned, p)
		}
	}
}

func (c *gconsumer) poll(ctx context.Context) {
	defer close(c.done)
	for {
		fs := c.cl.PollRecords(ctx, 1000)
		if fs.IsClientClosed() || ctx.Err() != nil {
			c.cl.AllowRebalance()
			return
		}
		var recs []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
		now := time.Now()
		c.mu.Lock()
		for _, r := range recs {
			if _, ok := c.firstFetch[r.Partition]; !ok {
				c.firstFetch[r.Partition] = now
			}
		}
		c.mu.Unlock()
		for _, r := range recs {
			if c.tr != nil {
				c.tr.add(c.name, r)
			}
		}
		c.cl.MarkCommitRecords(recs...)
		c.cl.AllowRebalance()
	}
}

// Owned returns the partitions the consumer owns, sorted.
func (c *gconsumer) Owned() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int32
	for p := range c.owned {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Events returns the rebalance callbacks seen so far.
func (c *gconsumer) Events() []gevent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

// FirstFetch returns when the first record of p was processed since p
// was last assigned.
func (c *gconsumer) FirstFetch(p int32) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.firstFetch[p]
	return at, ok
}

// CommitErrors returns the errors of commits made on revoke.
func (c *gconsumer) CommitErrors() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.commitErrs)
}

// Close stops polling and closes the client, which commits on revoke and
// leaves the group (a static member does not leave). Safe to call twice.
func (c *gconsumer) Close() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	<-c.done
	c.cl.CloseAllowingRebalance()
	c.cancel = nil
}

// assignmentCounts returns the sorted numbers of partitions owned by the
// consumers, and whether their partitions are disjoint and cover 0..n-1.
func assignmentCounts(cs []*gconsumer, n int) ([]int, bool) {
	var counts []int
	seen := map[int32]int{}
	for _, c := range cs {
		o := c.Owned()
		counts = append(counts, len(o))
		for _, p := range o {
			seen[p]++
		}
	}
	sort.Ints(counts)
	ok := len(seen) == n
	for p, k := range seen {
		if k != 1 || p < 0 || int(p) >= n {
			ok = false
		}
	}
	return counts, ok
}

// describe returns the group's description from the broker.
func describe(t testing.TB, adm *kadm.Client, group string) kadm.DescribedGroup {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ds, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	d := ds[group]
	if d.Err != nil {
		t.Fatalf("describe %s: %v", group, d.Err)
	}
	return d
}

// waitAssignment waits until the consumers own the partitions 0..n-1
// disjointly with the given sorted counts and the group is Stable with
// len(cs) members; it returns how long that took.
func waitAssignment(t testing.TB, adm *kadm.Client, group string, cs []*gconsumer, n int, want []int) time.Duration {
	t.Helper()
	return waitFor(t, 20*time.Second, fmt.Sprintf("assignment %v over %d members", want, len(cs)), func() bool {
		counts, ok := assignmentCounts(cs, n)
		if !ok || !slices.Equal(counts, want) {
			return false
		}
		d := describe(t, adm, group)
		return d.State == "Stable" && len(d.Members) == len(cs)
	})
}

// Raw group requests, at explicit versions, for flows kgo does not expose.

// rawMember is a group member driven by hand over its own connection.
type rawMember struct {
	rc         *rawClient
	group      string
	id         string
	instance   *string
	generation int32
}

func newRawMember(t *testing.T, addr, group string) *rawMember {
	return &rawMember{rc: dialRaw(t, addr), group: group}
}

// joinRequest is a JoinGroup v9 for a "consumer" member of topic.
func (m *rawMember) joinRequest(topic string, session, rebalance time.Duration) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9
	req.Group = m.group
	req.MemberID = m.id
	req.InstanceID = m.instance
	req.SessionTimeoutMillis = int32(session.Milliseconds())
	req.RebalanceTimeoutMillis = int32(rebalance.Milliseconds())
	req.ProtocolType = "consumer"
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{topic}
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = "range"
	p.Metadata = meta.AppendTo(nil)
	req.Protocols = append(req.Protocols, p)
	return req
}

// join joins (through MEMBER_ID_REQUIRED for a dynamic member) and waits
// for the join response.
func (m *rawMember) join(t *testing.T, topic string, session, rebalance time.Duration) *kmsg.JoinGroupResponse {
	t.Helper()
	r := m.rc.must(m.joinRequest(topic, session, rebalance)).(*kmsg.JoinGroupResponse)
	if r.ErrorCode == kerr.MemberIDRequired.Code {
		m.id = r.MemberID
		r = m.rc.must(m.joinRequest(topic, session, rebalance)).(*kmsg.JoinGroupResponse)
	}
	wantNone(t, "join", r.ErrorCode)
	m.id, m.generation = r.MemberID, r.Generation
	return r
}

// sync sends SyncGroup (the leader passes the assignment) and returns the
// response.
func (m *rawMember) sync(t *testing.T, assign map[string][]byte) *kmsg.SyncGroupResponse {
	t.Helper()
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation, req.InstanceID = m.group, m.id, m.generation, m.instance
	req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	for id, a := range assign {
		sa := kmsg.NewSyncGroupRequestGroupAssignment()
		sa.MemberID, sa.MemberAssignment = id, a
		req.GroupAssignment = append(req.GroupAssignment, sa)
	}
	return m.rc.must(req).(*kmsg.SyncGroupResponse)
}

func (m *rawMember) heartbeat(t *testing.T) int16 {
	t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation, req.InstanceID = m.group, m.id, m.generation, m.instance
	return m.rc.must(req).(*kmsg.HeartbeatResponse).ErrorCode
}

// commit commits offset for topic/partition with the member's identity.
func (m *rawMember) commit(t *testing.T, topic string, partition int32, offset int64, metadata string) int16 {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group, req.MemberID, req.Generation, req.InstanceID = m.group, m.id, m.generation, m.instance
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = partition, offset, -1, &metadata
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := m.rc.must(req).(*kmsg.OffsetCommitResponse)
	return resp.Topics[0].Partitions[0].ErrorCode
}

// assignment encodes a consumer-protocol assignment of partitions of topic.
func assignment(topic string, parts ...int32) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	at := kmsg.NewConsumerMemberAssignmentTopic()
	at.Topic, at.Partitions = topic, parts
	a.Topics = append(a.Topics, at)
	return a.AppendTo(nil)
}

// fetchCommitted returns the committed offset of topic/partition in group
// (-1: none) with OffsetFetch v7.
func (c *rawClient) fetchCommitted(group, topic string, partition int32) int64 {
	c.t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 7
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	req.Topics = append(req.Topics, rt)
	resp := c.must(req).(*kmsg.OffsetFetchResponse)
	if resp.ErrorCode != 0 {
		c.t.Fatalf("offset fetch: %s", errName(resp.ErrorCode))
	}
	return resp.Topics[0].Partitions[0].Offset
}

// describeRaw returns one group's DescribeGroups v5 entry.
func (c *rawClient) describeRaw(group string) kmsg.DescribeGroupsResponseGroup {
	c.t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version = 5
	req.Groups = []string{group}
	return c.must(req).(*kmsg.DescribeGroupsResponse).Groups[0]
}

func wantNone(t testing.TB, what string, code int16) {
	t.Helper()
	if code != 0 {
		t.Fatalf("%s: error %s", what, errName(code))
	}
}

func eventsString(es []gevent) string {
	var s []string
	for _, e := range es {
		s = append(s, e.String())
	}
	return strings.Join(s, " ")
}
