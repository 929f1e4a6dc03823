package coord

import (
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/batch"
)

// record is a key and value for __consumer_offsets (nil value: tombstone).
type record struct {
	key, value []byte
}

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: 1, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func offsetValue(e offsetEntry) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = 3
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = e.offset, e.leaderEpoch, e.metadata, e.commitTime
	return v.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: 2, Group: group}
	return k.AppendTo(nil)
}

func groupValue(g *group, now time.Time) []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		v.Protocol = ptr(g.protocol)
	}
	if g.leader != "" {
		v.Leader = ptr(g.leader)
	}
	v.CurrentStateTimestamp = now.UnixMilli()
	for _, id := range g.order {
		m := g.members[id]
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID = m.id
		if m.instanceID != "" {
			vm.InstanceID = ptr(m.instanceID)
		}
		vm.ClientID, vm.ClientHost = m.clientID, m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout.Milliseconds())
		vm.SessionTimeoutMillis = int32(m.sessionTimeout.Milliseconds())
		vm.Subscription = m.metadataFor(g.protocol)
		vm.Assignment = m.assignment
		v.Members = append(v.Members, vm)
	}
	return v.AppendTo(nil)
}

// inflightAppend is an append to the offsets log whose records are not
// known to be durable yet. Guarded by Coordinator.mu.
type inflightAppend struct {
	// last is the log offset of the append's last record.
	last int64
	// recs are its records: a compaction that starts before they are
	// applied writes them again after its snapshot (see
	// maybeCompactLocked).
	recs []record
	// fn applies the append's effect and answers its requests; nil for
	// none.
	fn func(err error, cb *callbacks)
}

// appendLocked writes records to the offsets log and calls fn, with c.mu
// held, once they are durable (or failed). The fn of successive appends
// run in log order, whichever goroutine learns of their durability first,
// so a later commit of a partition is never overwritten by an earlier one.
func (c *Coordinator) appendLocked(now time.Time, recs []record, fn func(err error, cb *callbacks)) {
	c.now = now
	if len(recs) == 0 {
		// Nothing to write; still answer after every earlier append.
		c.inflight = append(c.inflight, inflightAppend{last: -1, fn: fn})
		go c.durable(nil)
		return
	}
	// Batches of at most ~256 KiB, all written with one append.
	var b batch.Builder
	var buf []byte
	for _, r := range recs {
		if err := b.Append(r.key, r.value, nil, now.UnixMilli()); err != nil {
			c.failAsync(fn, err)
			return
		}
		if b.Size() > 256<<10 {
			buf = b.AppendTo(buf)
			b.Reset()
		}
	}
	buf = b.AppendTo(buf)
	res, err := c.l.Append(buf)
	if err != nil {
		c.cfg.Logger.Error("coord: writing __consumer_offsets", "err", err)
		c.failAsync(fn, err)
		return
	}
	c.inflight = append(c.inflight, inflightAppend{last: res.LastOffset, recs: recs, fn: fn})
	// With the "always" flush policy the callback can fire at once, on
	// this goroutine, which holds c.mu: hand it to another goroutine.
	var registering atomic.Bool
	registering.Store(true)
	c.l.OnDurable(res.LastOffset, func(err error) {
		if registering.Load() {
			go c.durable(err)
			return
		}
		c.durable(err)
	})
	registering.Store(false)
}

// durable completes, in log order, the in-flight appends that are now
// durable; with err (the log failed or closed) it fails the rest.
func (c *Coordinator) durable(err error) {
	var cb callbacks
	c.mu.Lock()
	end := c.l.DurableOffset() // offsets below are durable
	n := 0
	for ; n < len(c.inflight); n++ {
		a := c.inflight[n]
		var aerr error
		if a.last >= end {
			if err == nil {
				break // a later notification covers it
			}
			aerr = fmt.Errorf("%w: %w", errNotDurable, err)
		}
		if a.fn != nil {
			a.fn(aerr, &cb)
		}
	}
	clear(c.inflight[:n])
	c.inflight = c.inflight[n:]
	if n > 0 {
		c.maybeCompactLocked(c.now)
	}
	c.mu.Unlock()
	cb.run()
}

func (c *Coordinator) failAsync(fn func(error, *callbacks), err error) {
	if fn == nil {
		return
	}
	go func() {
		var cb callbacks
		c.mu.Lock()
		fn(fmt.Errorf("%w: %w", errNotDurable, err), &cb)
		c.mu.Unlock()
		cb.run()
	}()
}

// persistGroupLocked writes g's metadata record and remembers it as the
// group's persisted state (what a compaction rewrites).
func (c *Coordinator) persistGroupLocked(now time.Time, g *group, fn func(err error, cb *callbacks)) {
	v := groupValue(g, now)
	g.persisted = v
	c.appendLocked(now, []record{{groupKey(g.id), v}}, fn)
}

// OffsetCommit handles an OffsetCommit request; respond is called once the
// offsets are durable.
func (c *Coordinator) OffsetCommit(now time.Time, req *kmsg.OffsetCommitRequest, respond func(*kmsg.OffsetCommitResponse)) {
	c.mu.Lock()
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	code := c.validateCommitLocked(now, req)
	type pending struct {
		t, p int
		key  tp
		e    offsetEntry
	}
	var recs []record
	var ps []pending
	g := c.groups[req.Group]
	for ti, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = code
			if code == 0 {
				md := ""
				if rp.Metadata != nil {
					md = *rp.Metadata
				}
				switch {
				case len(md) > c.cfg.MaxMetadataBytes:
					sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				case c.cfg.PartitionExists != nil && !c.cfg.PartitionExists(rt.Topic, rp.Partition):
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				default:
					e := offsetEntry{offset: rp.Offset, leaderEpoch: rp.LeaderEpoch, metadata: md, commitTime: now.UnixMilli()}
					recs = append(recs, record{offsetKey(req.Group, rt.Topic, rp.Partition), offsetValue(e)})
					ps = append(ps, pending{ti, len(st.Partitions), tp{rt.Topic, rp.Partition}, e})
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(recs) == 0 {
		c.mu.Unlock()
		respond(resp)
		return
	}
	if g == nil {
		g = newGroup(req.Group, now)
		c.groups[req.Group] = g
	}
	if m := g.members[req.MemberID]; m != nil {
		m.deadline = now.Add(m.sessionTimeout)
	}
	c.appendLocked(now, recs, func(err error, cb *callbacks) {
		if err != nil {
			for _, p := range ps {
				resp.Topics[p.t].Partitions[p.p].ErrorCode = kerr.CoordinatorNotAvailable.Code
			}
		} else {
			for _, p := range ps {
				g.offsets[p.key] = p.e
			}
		}
		cb.add(func() { respond(resp) })
	})
	c.mu.Unlock()
}

// validateCommitLocked applies Kafka's rules for who may commit.
func (c *Coordinator) validateCommitLocked(now time.Time, req *kmsg.OffsetCommitRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g := c.groups[req.Group]
	if g == nil {
		if req.Generation < 0 {
			return 0 // a simple (standalone) commit creates the group
		}
		return kerr.IllegalGeneration.Code
	}
	if req.Generation < 0 && g.state == stateEmpty {
		return 0
	}
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if code := validateMemberLocked(g, req.MemberID, req.InstanceID); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	if g.state == stateCompleting {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// OffsetFetch handles an OffsetFetch request (one group before v8, many
// after).
func (c *Coordinator) OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version < 8 {
		var topics []string
		var parts [][]int32
		if req.Topics != nil {
			for _, t := range req.Topics {
				topics = append(topics, t.Topic)
				parts = append(parts, t.Partitions)
			}
		}
		for _, t := range c.fetchOffsetsLocked(req.Group, req.Topics == nil, topics, parts) {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.topic
			for _, p := range t.parts {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p.partition, p.e.offset, p.e.leaderEpoch, ptr(p.e.metadata)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, rg := range req.Groups {
		gr := kmsg.NewOffsetFetchResponseGroup()
		gr.Group = rg.Group
		var topics []string
		var parts [][]int32
		for _, t := range rg.Topics {
			topics = append(topics, t.Topic)
			parts = append(parts, t.Partitions)
		}
		for _, t := range c.fetchOffsetsLocked(rg.Group, rg.Topics == nil, topics, parts) {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = t.topic
			for _, p := range t.parts {
				rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p.partition, p.e.offset, p.e.leaderEpoch, ptr(p.e.metadata)
				rt.Partitions = append(rt.Partitions, rp)
			}
			gr.Topics = append(gr.Topics, rt)
		}
		resp.Groups = append(resp.Groups, gr)
	}
	return resp
}

type fetchedTopic struct {
	topic string
	parts []fetchedPart
}

type fetchedPart struct {
	partition int32
	e         offsetEntry
}

// fetchOffsetsLocked returns committed offsets: all of the group's when
// all, else the asked partitions (-1 for those without a commit).
func (c *Coordinator) fetchOffsetsLocked(group string, all bool, topics []string, parts [][]int32) []fetchedTopic {
	g := c.groups[group]
	none := offsetEntry{offset: -1, leaderEpoch: -1}
	if all {
		if g == nil {
			return nil
		}
		byTopic := map[string][]fetchedPart{}
		for k, e := range g.offsets {
			byTopic[k.topic] = append(byTopic[k.topic], fetchedPart{k.partition, e})
		}
		var out []fetchedTopic
		for t, ps := range byTopic {
			sort.Slice(ps, func(i, j int) bool { return ps[i].partition < ps[j].partition })
			out = append(out, fetchedTopic{t, ps})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].topic < out[j].topic })
		return out
	}
	var out []fetchedTopic
	for i, t := range topics {
		ft := fetchedTopic{topic: t}
		for _, p := range parts[i] {
			e := none
			if g != nil {
				if got, ok := g.offsets[tp{t, p}]; ok {
					e = got
				}
			}
			ft.parts = append(ft.parts, fetchedPart{p, e})
		}
		out = append(out, ft)
	}
	return out
}

// OffsetDelete handles an OffsetDelete request: only for partitions of
// topics the group is not subscribed to.
func (c *Coordinator) OffsetDelete(now time.Time, req *kmsg.OffsetDeleteRequest, respond func(*kmsg.OffsetDeleteResponse)) {
	c.mu.Lock()
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	g := c.groups[req.Group]
	if g == nil || g.state == stateDead {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		c.mu.Unlock()
		respond(resp)
		return
	}
	subscribed := c.subscribedTopicsLocked(g)
	var recs []record
	var dels []tp
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			if subscribed[rt.Topic] {
				sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			} else if _, ok := g.offsets[tp{rt.Topic, rp.Partition}]; ok {
				recs = append(recs, record{key: offsetKey(req.Group, rt.Topic, rp.Partition)})
				dels = append(dels, tp{rt.Topic, rp.Partition})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(recs) == 0 {
		c.mu.Unlock()
		respond(resp)
		return
	}
	c.appendLocked(now, recs, func(err error, cb *callbacks) {
		if err != nil {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		} else {
			for _, k := range dels {
				delete(g.offsets, k)
			}
		}
		cb.add(func() { respond(resp) })
	})
	c.mu.Unlock()
}

// subscribedTopicsLocked decodes the consumer-protocol subscriptions of a
// group's members.
func (c *Coordinator) subscribedTopicsLocked(g *group) map[string]bool {
	out := map[string]bool{}
	if g.protocolType != "consumer" {
		return out
	}
	for _, m := range g.members {
		var s kmsg.ConsumerMemberMetadata
		if err := s.ReadFrom(m.metadataFor(g.protocol)); err == nil {
			for _, t := range s.Topics {
				out[t] = true
			}
		}
		var a kmsg.ConsumerMemberAssignment
		if err := a.ReadFrom(m.assignment); err == nil {
			for _, t := range a.Topics {
				out[t.Topic] = true
			}
		}
	}
	return out
}

// expireOffsetsLocked removes the offsets of groups that have been empty
// for the retention period (and each offset at least that long after its
// commit), and then groups left with nothing.
func (c *Coordinator) expireOffsetsLocked(now time.Time) {
	var recs []record
	for id, g := range c.groups {
		if g.state != stateEmpty || len(g.members) > 0 {
			continue
		}
		for k, e := range g.offsets {
			since := max(g.emptySince.UnixMilli(), e.commitTime)
			if now.UnixMilli()-since > c.cfg.OffsetsRetention.Milliseconds() {
				recs = append(recs, record{key: offsetKey(id, k.topic, k.partition)})
				delete(g.offsets, k)
			}
		}
		if len(g.offsets) == 0 && now.Sub(g.emptySince) > c.cfg.OffsetsRetention {
			recs = append(recs, record{key: groupKey(id)})
			g.setState(stateDead, now)
			delete(c.groups, id)
			c.cfg.Logger.Info("coord: expired empty group", "group", id)
		}
	}
	if len(recs) > 0 {
		c.appendLocked(now, recs, nil)
	}
}
