package broker

// Group coordination APIs, served by coord.Coordinator:
//
//	FindCoordinator (10) 0-5    this broker, for groups (transactions: not available)
//	JoinGroup       (11) 2-9    delayed until the rebalance completes
//	Heartbeat       (12) 0-4
//	LeaveGroup      (13) 0-5    batched members from v3
//	SyncGroup       (14) 0-5    delayed until the leader's assignment is durable
//	DescribeGroups  (15) 0-5
//	ListGroups      (16) 0-5    state filter v4, type filter v5
//	OffsetCommit    (8)  2-9    answered once durable in __consumer_offsets
//	OffsetFetch     (9)  1-9    multiple groups from v8
//	DeleteGroups    (42) 0-2
//	OffsetDelete    (47) 0

import (
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/coord"
)

func init() {
	register(10, 0, 5, (*Broker).handleFindCoordinator)
	registerAsync(11, 2, 9, (*Broker).handleJoinGroup)
	register(12, 0, 4, (*Broker).handleHeartbeat)
	register(13, 0, 5, (*Broker).handleLeaveGroup)
	registerAsync(14, 0, 5, (*Broker).handleSyncGroup)
	register(15, 0, 5, (*Broker).handleDescribeGroups)
	register(16, 0, 5, (*Broker).handleListGroups)
	registerAsync(8, 2, 9, (*Broker).handleOffsetCommit)
	register(9, 1, 9, (*Broker).handleOffsetFetch)
	registerAsync(42, 0, 2, (*Broker).handleDeleteGroups)
	registerAsync(47, 0, 0, (*Broker).handleOffsetDelete)
}

func (b *Broker) clientInfo(cs *conn) coord.ClientInfo {
	host := ""
	if a := cs.c.RemoteAddr(); a != nil {
		host = a.String()
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = "/" + host
	}
	return coord.ClientInfo{ID: cs.clientID, Host: host}
}

func (b *Broker) handleFindCoordinator(cs *conn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := b.advertised()
	answer := func(keyType int8) (int16, *string) {
		if keyType != 0 {
			msg := "Weir has no transaction coordinator yet"
			return kerr.CoordinatorNotAvailable.Code, &msg
		}
		return 0, nil
	}
	if req.Version < 4 {
		resp.ErrorCode, resp.ErrorMessage = answer(req.CoordinatorType)
		if resp.ErrorCode == 0 {
			resp.NodeID, resp.Host, resp.Port = b.cfg.NodeID, host, port
		} else {
			resp.NodeID, resp.Port = -1, -1
		}
		return resp
	}
	for _, key := range req.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.ErrorCode, c.ErrorMessage = answer(req.CoordinatorType)
		if c.ErrorCode == 0 {
			c.NodeID, c.Host, c.Port = b.cfg.NodeID, host, port
		} else {
			c.NodeID, c.Port = -1, -1
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return resp
}

func (b *Broker) handleJoinGroup(cs *conn, kreq kmsg.Request, respond func(kmsg.Response)) {
	req := kreq.(*kmsg.JoinGroupRequest)
	b.coord.JoinGroup(b.cfg.Now(), req, b.clientInfo(cs), func(r *kmsg.JoinGroupResponse) { respond(r) })
}

func (b *Broker) handleSyncGroup(cs *conn, kreq kmsg.Request, respond func(kmsg.Response)) {
	req := kreq.(*kmsg.SyncGroupRequest)
	b.coord.SyncGroup(b.cfg.Now(), req, func(r *kmsg.SyncGroupResponse) { respond(r) })
}

func (b *Broker) handleHeartbeat(cs *conn, kreq kmsg.Request) kmsg.Response {
	return b.coord.Heartbeat(b.cfg.Now(), kreq.(*kmsg.HeartbeatRequest))
}

func (b *Broker) handleLeaveGroup(cs *conn, kreq kmsg.Request) kmsg.Response {
	return b.coord.LeaveGroup(b.cfg.Now(), kreq.(*kmsg.LeaveGroupRequest))
}

func (b *Broker) handleDescribeGroups(cs *conn, kreq kmsg.Request) kmsg.Response {
	return b.coord.DescribeGroups(kreq.(*kmsg.DescribeGroupsRequest))
}

func (b *Broker) handleListGroups(cs *conn, kreq kmsg.Request) kmsg.Response {
	return b.coord.ListGroups(kreq.(*kmsg.ListGroupsRequest))
}

func (b *Broker) handleOffsetCommit(cs *conn, kreq kmsg.Request, respond func(kmsg.Response)) {
	b.coord.OffsetCommit(b.cfg.Now(), kreq.(*kmsg.OffsetCommitRequest), func(r *kmsg.OffsetCommitResponse) { respond(r) })
}

func (b *Broker) handleOffsetFetch(cs *conn, kreq kmsg.Request) kmsg.Response {
	return b.coord.OffsetFetch(kreq.(*kmsg.OffsetFetchRequest))
}

func (b *Broker) handleDeleteGroups(cs *conn, kreq kmsg.Request, respond func(kmsg.Response)) {
	b.coord.DeleteGroups(b.cfg.Now(), kreq.(*kmsg.DeleteGroupsRequest), func(r *kmsg.DeleteGroupsResponse) { respond(r) })
}

func (b *Broker) handleOffsetDelete(cs *conn, kreq kmsg.Request, respond func(kmsg.Response)) {
	b.coord.OffsetDelete(b.cfg.Now(), kreq.(*kmsg.OffsetDeleteRequest), func(r *kmsg.OffsetDeleteResponse) { respond(r) })
}

// offsetsTopic is Kafka's internal topic for group state.
const offsetsTopic = "__consumer_offsets"

// startCoordinator opens __consumer_offsets (creating it on first start:
// one partition, compacted by the coordinator's rewrite, small segments)
// and the coordinator over it.
func (b *Broker) startCoordinator() error {
	t := b.topicByName(offsetsTopic)
	if t == nil {
		var err error
		t, err = b.createTopic(offsetsTopic, 1, map[string]string{
			"cleanup.policy": "compact", "segment.bytes": "16777216", "retention.ms": "-1",
		}, false)
		if err != nil {
			return err
		}
	}
	c, err := coord.New(coord.Config{
		Logger: b.log,
		PartitionExists: func(topic string, p int32) bool {
			t := b.topicByName(topic)
			return t != nil && p >= 0 && int(p) < len(t.parts)
		},
		MinSessionTimeout:     b.cfg.GroupMinSessionTimeout,
		MaxSessionTimeout:     b.cfg.GroupMaxSessionTimeout,
		InitialRebalanceDelay: b.cfg.GroupInitialRebalanceDelay,
		OffsetsRetention:      b.cfg.OffsetsRetention,
	}, t.parts[0].log, b.cfg.Now())
	if err != nil {
		return err
	}
	b.coord = c
	return nil
}
