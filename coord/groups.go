package coord

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/batch"
)

// DescribeGroups handles a DescribeGroups request.
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		g := c.groups[id]
		if g == nil {
			dg.State = stateDead.String()
			if id == "" {
				dg.ErrorCode = kerr.InvalidGroupID.Code
			}
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		dg.State = g.state.String()
		dg.ProtocolType = g.protocolType
		if g.state == stateStable {
			dg.Protocol = g.protocol
		}
		for _, mid := range g.order {
			m := g.members[mid]
			dm := kmsg.NewDescribeGroupsResponseGroupMember()
			dm.MemberID = m.id
			if m.instanceID != "" {
				dm.InstanceID = ptr(m.instanceID)
			}
			dm.ClientID, dm.ClientHost = m.clientID, m.clientHost
			if g.state == stateStable {
				dm.ProtocolMetadata = m.metadataFor(g.protocol)
				dm.MemberAssignment = m.assignment
			}
			dg.Members = append(dg.Members, dm)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// ListGroups handles a ListGroups request (state filter v4+, type filter
// v5+; Weir's groups are all of type "classic").
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	states := map[state]bool{}
	for _, s := range req.StatesFilter {
		if st, ok := parseState(s); ok {
			states[st] = true
		} else {
			return resp // unknown state: nothing matches
		}
	}
	if len(req.TypesFilter) > 0 && !slices.ContainsFunc(req.TypesFilter, func(t string) bool { return equalFold(t, "classic") }) {
		return resp
	}
	ids := make([]string, 0, len(c.groups))
	for id := range c.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		g := c.groups[id]
		if len(states) > 0 && !states[g.state] {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = id
		lg.ProtocolType = g.protocolType
		lg.GroupState = g.state.String()
		lg.GroupType = "classic"
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// DeleteGroups handles a DeleteGroups request: only empty groups can go.
func (c *Coordinator) DeleteGroups(now time.Time, req *kmsg.DeleteGroupsRequest, respond func(*kmsg.DeleteGroupsResponse)) {
	c.mu.Lock()
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	var recs []record
	for _, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		g := c.groups[id]
		switch {
		case id == "":
			dg.ErrorCode = kerr.InvalidGroupID.Code
		case g == nil || g.state == stateDead:
			dg.ErrorCode = kerr.GroupIDNotFound.Code
		case g.state != stateEmpty || len(g.members) > 0:
			dg.ErrorCode = kerr.NonEmptyGroup.Code
		default:
			for k := range g.offsets {
				recs = append(recs, record{key: offsetKey(id, k.topic, k.partition)})
			}
			recs = append(recs, record{key: groupKey(id)})
			g.setState(stateDead, now)
			delete(c.groups, id)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	if len(recs) == 0 {
		c.mu.Unlock()
		respond(resp)
		return
	}
	c.appendLocked(now, recs, func(err error, cb *callbacks) {
		if err != nil {
			for i := range resp.Groups {
				if resp.Groups[i].ErrorCode == 0 {
					resp.Groups[i].ErrorCode = kerr.CoordinatorNotAvailable.Code
				}
			}
		}
		cb.add(func() { respond(resp) })
	})
	c.mu.Unlock()
}

// replay rebuilds the groups from the offsets log.
func (c *Coordinator) replay(now time.Time) error {
	n := 0
	err := c.forEachRecord(c.l.StartOffset(), func(key, value []byte) {
		n++
		c.applyRecord(now, key, value)
	})
	if err != nil {
		return fmt.Errorf("coord: replaying __consumer_offsets: %w", err)
	}
	if n > 0 {
		c.cfg.Logger.Info("coord: loaded groups", "groups", len(c.groups), "records", n)
	}
	return nil
}

// forEachRecord calls fn for every record from offset on.
func (c *Coordinator) forEachRecord(from int64, fn func(key, value []byte)) error {
	var it batch.Iter
	var r batch.Record
	off := from
	for off < c.l.EndOffset() {
		v, err := c.l.Read(off, 1<<20)
		if err != nil {
			return err
		}
		data, next, err := v.Batches()
		if err != nil {
			v.Release()
			return err
		}
		for len(data) > 0 {
			size := batch.Size0(data)
			if err := it.Reset(data[:size]); err != nil {
				v.Release()
				return err
			}
			for it.Next(&r) {
				if r.Offset >= off {
					fn(r.Key, r.Value)
				}
			}
			if err := it.Err(); err != nil {
				v.Release()
				return err
			}
			data = data[size:]
		}
		v.Release()
		if next <= off {
			return fmt.Errorf("read stuck at offset %d", off)
		}
		off = next
	}
	return nil
}

// applyRecord applies one __consumer_offsets record to the in-memory
// state.
func (c *Coordinator) applyRecord(now time.Time, key, value []byte) {
	if len(key) < 2 {
		return
	}
	version := int16(key[0])<<8 | int16(key[1])
	switch version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if k.ReadFrom(key) != nil {
			return
		}
		g := c.groups[k.Group]
		if value == nil {
			if g != nil {
				delete(g.offsets, tp{k.Topic, k.Partition})
			}
			return
		}
		var v kmsg.OffsetCommitValue
		if v.ReadFrom(value) != nil {
			return
		}
		if g == nil {
			g = newGroup(k.Group, now)
			c.groups[k.Group] = g
		}
		g.offsets[tp{k.Topic, k.Partition}] = offsetEntry{v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp}
	case 2:
		var k kmsg.GroupMetadataKey
		if k.ReadFrom(key) != nil {
			return
		}
		if value == nil {
			delete(c.groups, k.Group)
			return
		}
		var v kmsg.GroupMetadataValue
		if v.ReadFrom(value) != nil {
			return
		}
		g := c.groups[k.Group]
		if g == nil {
			g = newGroup(k.Group, now)
			c.groups[k.Group] = g
		}
		// Replayed bytes alias the log's memory map: keep copies.
		g.persisted = bytes.Clone(value)
		g.members, g.order, g.static = map[string]*member{}, nil, map[string]string{}
		g.protocolType, g.generation, g.leader, g.protocol = v.ProtocolType, v.Generation, "", ""
		if v.Protocol != nil {
			g.protocol = *v.Protocol
		}
		for _, vm := range v.Members {
			m := &member{id: vm.MemberID, clientID: vm.ClientID, clientHost: vm.ClientHost,
				sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
				rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
				protocolType:     v.ProtocolType, assignment: bytes.Clone(vm.Assignment), synced: true}
			if vm.InstanceID != nil {
				m.instanceID = *vm.InstanceID
			}
			m.protocols = []protocol{{g.protocol, bytes.Clone(vm.Subscription)}}
			// Members get a full session to come back after a restart.
			m.deadline = now.Add(m.sessionTimeout)
			g.addMember(m)
		}
		if v.Leader != nil && g.members[*v.Leader] != nil {
			g.leader = *v.Leader
		}
		if len(g.members) > 0 {
			g.setState(stateStable, now)
		} else {
			g.setState(stateEmpty, now)
		}
	}
}

// maybeCompactLocked rewrites the live state when the log has grown past
// CompactBytes, then drops the prefix: what Kafka's log cleaner achieves
// for this topic.
//
// The rewrite must hold the effect of every record below its start. The
// in-memory offsets are those of durable commits only, so the records of
// appends still in flight are written again after the snapshot, in their
// order; a group's metadata is its last persisted record (never a
// rebalance in progress), so replay restores what Kafka would.
func (c *Coordinator) maybeCompactLocked(now time.Time) {
	if c.compacting || c.l.Size() < max(c.cfg.CompactBytes, 2*c.compactedSize) {
		return
	}
	c.compacting = true
	ids := make([]string, 0, len(c.groups))
	for id := range c.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var recs []record
	for _, id := range ids {
		g := c.groups[id]
		keys := make([]tp, 0, len(g.offsets))
		for k := range g.offsets {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b tp) int {
			if a.topic != b.topic {
				return strings.Compare(a.topic, b.topic)
			}
			return int(a.partition - b.partition)
		})
		for _, k := range keys {
			recs = append(recs, record{offsetKey(id, k.topic, k.partition), offsetValue(g.offsets[k])})
		}
		if g.persisted != nil {
			recs = append(recs, record{groupKey(id), g.persisted})
		}
	}
	for _, a := range c.inflight {
		recs = append(recs, a.recs...)
	}
	start := c.l.EndOffset()
	c.appendLocked(now, recs, func(err error, cb *callbacks) {
		if err != nil {
			c.compacting = false
			return
		}
		// Deleting the prefix writes and fsyncs the log's checkpoint and
		// unlinks segments: not under c.mu, and not on the flusher
		// goroutine that delivered this notification.
		cb.add(func() {
			go func() {
				derr := c.l.DeleteRecordsBefore(start)
				c.mu.Lock()
				defer c.mu.Unlock()
				c.compacting = false
				if derr != nil {
					c.cfg.Logger.Warn("coord: compacting __consumer_offsets", "err", derr)
					return
				}
				c.compactedSize = c.l.Size()
				c.cfg.Logger.Info("coord: compacted __consumer_offsets", "records", len(recs), "new_start", start)
			}()
		})
	})
}

// Run ticks the coordinator every interval until ctx is done.
func (c *Coordinator) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			c.Tick(now)
		}
	}
}
