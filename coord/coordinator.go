package coord

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/log"
)

// Config configures a Coordinator. Zero fields take Kafka's defaults.
type Config struct {
	// MinSessionTimeout and MaxSessionTimeout bound the session timeouts
	// members may ask for (group.min.session.timeout.ms, default 6 s;
	// group.max.session.timeout.ms, default 30 min).
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// InitialRebalanceDelay holds the first rebalance of an empty group
	// open for more members (group.initial.rebalance.delay.ms). Default 0
	// (Kafka's shipped server.properties also sets 0); negative means 0.
	InitialRebalanceDelay time.Duration
	// OffsetsRetention expires the committed offsets of a group that has
	// been empty this long (offsets.retention.minutes, default 7 days).
	OffsetsRetention time.Duration
	// MaxMetadataBytes bounds a committed offset's metadata string
	// (offset.metadata.max.bytes, default 4096).
	MaxMetadataBytes int
	// MaxGroupSize bounds a group's members (group.max.size, default
	// unlimited).
	MaxGroupSize int
	// CompactBytes: when the offsets log grows past this, the live state
	// is rewritten and the prefix deleted. Default 64 MiB.
	CompactBytes int64
	// PartitionExists reports whether a topic partition exists, for
	// OffsetCommit validation. Nil accepts every partition.
	PartitionExists func(topic string, partition int32) bool
	// Logger receives the coordinator's logs. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) ensureDefaults() {
	if c.MinSessionTimeout == 0 {
		c.MinSessionTimeout = 6 * time.Second
	}
	if c.MaxSessionTimeout == 0 {
		c.MaxSessionTimeout = 30 * time.Minute
	}
	if c.InitialRebalanceDelay < 0 {
		c.InitialRebalanceDelay = 0
	}
	if c.OffsetsRetention == 0 {
		c.OffsetsRetention = 7 * 24 * time.Hour
	}
	if c.MaxMetadataBytes == 0 {
		c.MaxMetadataBytes = 4096
	}
	if c.CompactBytes == 0 {
		c.CompactBytes = 64 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// ClientInfo identifies the connection a request came from.
type ClientInfo struct {
	ID   string // client.id
	Host string // remote host, as Kafka shows it ("/127.0.0.1")
}

// Coordinator is the group coordinator. See the package doc.
type Coordinator struct {
	cfg Config
	l   *log.Log // __consumer_offsets

	mu     sync.Mutex
	groups map[string]*group
	// compacting is set while a compaction rewrite is in progress;
	// compactedSize is the log size after the last one.
	compacting    bool
	compactedSize int64
	// inflight are the appends to the offsets log not yet known durable,
	// in log order.
	inflight []inflightAppend
	// now is the latest time the coordinator was given (Tick, appends):
	// the clock for work started by a durability notification.
	now time.Time
}

// New creates a coordinator over the __consumer_offsets log l, replaying
// it.
func New(cfg Config, l *log.Log, now time.Time) (*Coordinator, error) {
	cfg.ensureDefaults()
	c := &Coordinator{cfg: cfg, l: l, groups: map[string]*group{}, now: now}
	if err := c.replay(now); err != nil {
		return nil, err
	}
	return c, nil
}

// callbacks collects responses to deliver after the mutex is released.
type callbacks []func()

func (cb *callbacks) add(f func()) { *cb = append(*cb, f) }

func (cb callbacks) run() {
	for _, f := range cb {
		f()
	}
}

func newMemberID(clientID string) string {
	var b [16]byte
	rand.Read(b[:])
	if clientID == "" {
		clientID = "member"
	}
	return clientID + "-" + hex.EncodeToString(b[:4]) + "-" + hex.EncodeToString(b[4:6]) + "-" + hex.EncodeToString(b[6:8]) + "-" + hex.EncodeToString(b[8:10]) + "-" + hex.EncodeToString(b[10:])
}

func ptr[T any](v T) *T { return &v }

// JoinGroup handles a JoinGroup request; respond is called once, maybe
// later (when the rebalance completes).
func (c *Coordinator) JoinGroup(now time.Time, req *kmsg.JoinGroupRequest, ci ClientInfo, respond func(*kmsg.JoinGroupResponse)) {
	var cb callbacks
	c.mu.Lock()
	c.joinLocked(now, req, ci, respond, &cb)
	c.mu.Unlock()
	cb.run()
}

func joinError(req *kmsg.JoinGroupRequest, code int16, memberID string) *kmsg.JoinGroupResponse {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.ErrorCode = code
	resp.MemberID = memberID
	resp.Generation = -1
	return resp
}

func (c *Coordinator) joinLocked(now time.Time, req *kmsg.JoinGroupRequest, ci ClientInfo, respond func(*kmsg.JoinGroupResponse), cb *callbacks) {
	fail := func(code int16) {
		r := joinError(req, code, req.MemberID)
		cb.add(func() { respond(r) })
	}
	if req.Group == "" {
		fail(kerr.InvalidGroupID.Code)
		return
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		fail(kerr.InvalidSessionTimeout.Code)
		return
	}
	rebalance := session
	if req.Version >= 1 {
		rebalance = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	ps := make([]protocol, 0, len(req.Protocols))
	for _, p := range req.Protocols {
		// Copied: the request may alias a buffer the caller reuses.
		ps = append(ps, protocol{p.Name, bytes.Clone(p.Metadata)})
	}
	if req.ProtocolType == "" || len(ps) == 0 {
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	g := c.groups[req.Group]
	if g == nil {
		if req.MemberID != "" {
			fail(kerr.UnknownMemberID.Code)
			return
		}
		g = newGroup(req.Group, now)
		c.groups[req.Group] = g
	}
	if g.state == stateDead {
		fail(kerr.CoordinatorNotAvailable.Code)
		return
	}
	if !g.supportsProtocols(req.ProtocolType, ps) && !(len(g.members) == 1 && g.members[req.MemberID] != nil) {
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	instance := ""
	if req.InstanceID != nil {
		instance = *req.InstanceID
	}

	if req.MemberID == "" {
		// A new member, or a static member restarting.
		if instance != "" {
			if oldID, ok := g.static[instance]; ok {
				c.rejoinStaticLocked(now, g, oldID, req, ci, ps, session, rebalance, respond, cb)
				return
			}
		}
		if c.cfg.MaxGroupSize > 0 && len(g.members)+len(g.pending) >= c.cfg.MaxGroupSize {
			fail(kerr.GroupMaxSizeReached.Code)
			return
		}
		id := newMemberID(ci.ID)
		if req.Version >= 4 && instance == "" {
			// KIP-394: hand out the id first; the member joins again
			// with it.
			g.pending[id] = now.Add(session)
			r := joinError(req, kerr.MemberIDRequired.Code, id)
			cb.add(func() { respond(r) })
			return
		}
		req.MemberID = id
	} else if _, ok := g.pending[req.MemberID]; ok {
		delete(g.pending, req.MemberID)
	} else if code := validateMemberLocked(g, req.MemberID, req.InstanceID); code != 0 {
		fail(code)
		return
	}

	m := g.members[req.MemberID]
	isNew := m == nil
	if isNew {
		if c.cfg.MaxGroupSize > 0 && len(g.members) >= c.cfg.MaxGroupSize {
			fail(kerr.GroupMaxSizeReached.Code)
			return
		}
		m = &member{id: req.MemberID, instanceID: instance}
		if len(g.members) == 0 {
			g.protocolType = req.ProtocolType
		}
		g.addMember(m)
	}
	changed := !sameProtocols(m.protocols, ps)
	m.clientID, m.clientHost = ci.ID, ci.Host
	m.sessionTimeout, m.rebalanceTimeout = session, rebalance
	m.protocolType = req.ProtocolType
	m.protocols = ps
	m.deadline = now.Add(session)
	if m.join != nil {
		// A repeated join replaces the pending one; the old request
		// gets an error so the client does not wait forever.
		old := m.join
		r := joinError(req, kerr.RebalanceInProgress.Code, m.id)
		cb.add(func() { old(r) })
	}
	m.join, m.joinVersion = respond, req.Version

	switch g.state {
	case stateEmpty, stateStable:
		if g.state == stateStable && !isNew && !changed && m.id != g.leader {
			// A follower rejoining with unchanged metadata in a stable
			// group: answer with the current generation, no rebalance.
			c.answerJoinLocked(g, m, cb)
			return
		}
		c.prepareRebalanceLocked(now, g, cb)
	case stateCompleting:
		if !isNew && !changed {
			c.answerJoinLocked(g, m, cb)
			return
		}
		c.prepareRebalanceLocked(now, g, cb)
	case statePreparing:
		// Wait for the others; Tick completes the join.
	}
	c.maybeCompleteJoinLocked(now, g, cb)
}

// rejoinStaticLocked handles a static member that restarted (known
// instance id, empty member id): it takes over the old member's place under
// a new member id, without a rebalance when nothing changed.
func (c *Coordinator) rejoinStaticLocked(now time.Time, g *group, oldID string, req *kmsg.JoinGroupRequest, ci ClientInfo, ps []protocol, session, rebalance time.Duration, respond func(*kmsg.JoinGroupResponse), cb *callbacks) {
	old := g.members[oldID]
	newID := newMemberID(ci.ID)
	if old.join != nil {
		prev := old.join
		r := joinError(req, kerr.FencedInstanceID.Code, oldID)
		cb.add(func() { prev(r) })
		old.join = nil
	}
	if old.sync != nil {
		prev := old.sync
		r := &kmsg.SyncGroupResponse{ErrorCode: kerr.FencedInstanceID.Code}
		cb.add(func() { prev(r) })
		old.sync = nil
	}
	// Move the member to its new id, keeping its join position.
	delete(g.members, oldID)
	old.id = newID
	g.members[newID] = old
	for i, id := range g.order {
		if id == oldID {
			g.order[i] = newID
		}
	}
	g.static[old.instanceID] = newID
	wasLeader := g.leader == oldID
	if wasLeader {
		g.leader = newID
	}
	old.clientID, old.clientHost = ci.ID, ci.Host
	old.sessionTimeout, old.rebalanceTimeout = session, rebalance
	old.protocols = ps
	old.deadline = now.Add(session)
	old.join, old.joinVersion = respond, req.Version
	// KIP-345, as Kafka decides it: in a Stable group the restarted member
	// keeps the generation and its assignment unless the protocol the
	// group would select changes (its metadata may differ: cooperative
	// assignors put owned partitions in it, which a restarted client has
	// lost). A restarted leader is told to skip the assignment (JoinGroup
	// v9+, KIP-814); before v9 Kafka answers it as a follower, naming the
	// old member id as leader, so that it runs no assignment the Stable
	// group would ignore, and does not rebalance either.
	if g.state == stateStable && g.selectProtocol() == g.protocol {
		// Answered once the new member id is durable.
		gen := g.generation
		asFollower := wasLeader && req.Version < 9
		c.persistGroupLocked(now, g, func(err error, cb *callbacks) {
			if old.join == nil || g.members[newID] != old {
				return // answered or removed meanwhile
			}
			if err != nil {
				failJoin(old, kerr.CoordinatorNotAvailable.Code, cb)
				return
			}
			if g.generation == gen && g.state == stateStable {
				if asFollower {
					c.answerJoinAsFollowerLocked(g, old, oldID, cb)
				} else {
					c.answerJoinLocked(g, old, cb)
				}
			}
			// Otherwise a rebalance started and will answer it.
		})
		return
	}
	if g.state == stateStable || g.state == stateCompleting || g.state == stateEmpty {
		c.prepareRebalanceLocked(now, g, cb)
	}
	c.maybeCompleteJoinLocked(now, g, cb)
}

// validateMemberLocked checks that memberID is a member of g and, for a
// static member, the current incarnation of its instance id, with Kafka's
// codes: an instance id mapped to another member id is FENCED_INSTANCE_ID
// (an old incarnation must stop, not rejoin and fence the new one), an
// unknown instance id or member id UNKNOWN_MEMBER_ID.
func validateMemberLocked(g *group, memberID string, instanceID *string) int16 {
	if instanceID != nil {
		cur, ok := g.static[*instanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID.Code
		case cur != memberID:
			return kerr.FencedInstanceID.Code
		}
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// answerJoinLocked answers m's pending join with the current generation.
func (c *Coordinator) answerJoinLocked(g *group, m *member, cb *callbacks) {
	respond, v := m.join, m.joinVersion
	m.join = nil
	r := c.joinResponse(g, m, v)
	if g.leader == m.id && g.state == stateStable && v >= 9 {
		r.SkipAssignment = true
	}
	cb.add(func() { respond(r) })
}

// answerJoinAsFollowerLocked answers the pending join of m, a restarted
// static leader on JoinGroup < v9, as Kafka does: the current generation,
// no members, and its old member id as the leader's, so that the client
// takes itself for a follower and syncs without assigning.
func (c *Coordinator) answerJoinAsFollowerLocked(g *group, m *member, oldID string, cb *callbacks) {
	respond, v := m.join, m.joinVersion
	m.join = nil
	r := c.joinResponse(g, m, v)
	r.LeaderID, r.Members = oldID, nil
	cb.add(func() { respond(r) })
}

func (c *Coordinator) joinResponse(g *group, m *member, v int16) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = v
	r.Generation = g.generation
	pt := g.protocolType
	r.ProtocolType = &pt
	p := g.protocol
	r.Protocol = &p
	r.LeaderID = g.leader
	r.MemberID = m.id
	if m.id == g.leader {
		for _, id := range g.order {
			o := g.members[id]
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID = o.id
			if o.instanceID != "" {
				jm.InstanceID = ptr(o.instanceID)
			}
			jm.ProtocolMetadata = o.metadataFor(g.protocol)
			r.Members = append(r.Members, jm)
		}
	}
	return r
}

// prepareRebalanceLocked moves g to PreparingRebalance.
func (c *Coordinator) prepareRebalanceLocked(now time.Time, g *group, cb *callbacks) {
	if g.state == statePreparing {
		return
	}
	// Members waiting for an assignment of the old generation learn of
	// the rebalance now.
	for _, m := range g.members {
		if m.sync != nil {
			s := m.sync
			m.sync = nil
			cb.add(func() { s(&kmsg.SyncGroupResponse{ErrorCode: kerr.RebalanceInProgress.Code}) })
		}
	}
	wasEmpty := g.state == stateEmpty
	g.setState(statePreparing, now)
	g.rebalanceDeadline = now.Add(g.maxRebalanceTimeout())
	g.joinDelayUntil = time.Time{}
	if wasEmpty && c.cfg.InitialRebalanceDelay > 0 {
		g.joinDelayUntil = now.Add(min(c.cfg.InitialRebalanceDelay, g.maxRebalanceTimeout()))
	}
}

// maybeCompleteJoinLocked completes the join phase when every member has
// rejoined (and the initial delay passed) or the rebalance timeout expired.
func (c *Coordinator) maybeCompleteJoinLocked(now time.Time, g *group, cb *callbacks) {
	if g.state != statePreparing {
		return
	}
	if now.Before(g.rebalanceDeadline) && (!g.allJoined() || now.Before(g.joinDelayUntil)) {
		return
	}
	// Drop members that did not rejoin in time.
	for _, id := range slices.Clone(g.order) {
		if m := g.members[id]; m.join == nil {
			c.cfg.Logger.Info("coord: member did not rejoin within the rebalance timeout; removing", "group", g.id, "member", id)
			g.removeMember(id)
		}
	}
	g.generation++
	if len(g.members) == 0 {
		// Kafka keeps the protocol type of an empty group; only the
		// protocol name goes.
		g.protocol = ""
		g.leader = ""
		g.setState(stateEmpty, now)
		c.persistGroupLocked(now, g, nil)
		return
	}
	g.protocol = g.selectProtocol()
	if g.members[g.leader] == nil {
		g.leader = g.order[0]
	}
	g.setState(stateCompleting, now)
	g.rebalanceDeadline = now.Add(g.maxRebalanceTimeout())
	for _, m := range g.members {
		m.synced = false
		m.assignment = nil
		m.deadline = now.Add(m.sessionTimeout)
		c.answerJoinLocked(g, m, cb)
	}
	c.cfg.Logger.Debug("coord: join complete", "group", g.id, "generation", g.generation, "members", len(g.members), "protocol", g.protocol, "leader", g.leader)
}

// SyncGroup handles a SyncGroup request.
func (c *Coordinator) SyncGroup(now time.Time, req *kmsg.SyncGroupRequest, respond func(*kmsg.SyncGroupResponse)) {
	var cb callbacks
	c.mu.Lock()
	c.syncLocked(now, req, respond, &cb)
	c.mu.Unlock()
	cb.run()
}

func (c *Coordinator) syncLocked(now time.Time, req *kmsg.SyncGroupRequest, respond func(*kmsg.SyncGroupResponse), cb *callbacks) {
	fail := func(code int16) {
		r := req.ResponseKind().(*kmsg.SyncGroupResponse)
		r.ErrorCode = code
		cb.add(func() { respond(r) })
	}
	g := c.groups[req.Group]
	if g == nil || g.state == stateDead {
		fail(kerr.UnknownMemberID.Code)
		return
	}
	m := g.members[req.MemberID]
	switch code := validateMemberLocked(g, req.MemberID, req.InstanceID); {
	case code != 0:
		fail(code)
		return
	case req.Generation != g.generation:
		fail(kerr.IllegalGeneration.Code)
		return
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.Protocol != nil && *req.Protocol != g.protocol:
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	m.deadline = now.Add(m.sessionTimeout)
	switch g.state {
	case statePreparing, stateEmpty:
		fail(kerr.RebalanceInProgress.Code)
	case stateStable:
		r := c.syncResponse(req, g, m)
		cb.add(func() { respond(r) })
	case stateCompleting:
		if prev := m.sync; prev != nil {
			// A repeated SyncGroup replaces the pending one; the old
			// request is answered so that its connection, whose
			// responses go out in order, is not stuck behind it.
			cb.add(func() { prev(&kmsg.SyncGroupResponse{ErrorCode: kerr.RebalanceInProgress.Code}) })
		}
		m.synced = true
		m.sync = respond
		if m.id != g.leader {
			return
		}
		assign := map[string][]byte{}
		for _, a := range req.GroupAssignment {
			assign[a.MemberID] = bytes.Clone(a.MemberAssignment)
		}
		for _, o := range g.members {
			o.assignment = assign[o.id]
		}
		gen := g.generation
		c.persistGroupLocked(now, g, func(err error, cb *callbacks) {
			// Runs with c.mu held (see persistGroupLocked).
			if g.generation != gen || g.state != stateCompleting {
				return
			}
			code := int16(0)
			if err != nil {
				code = kerr.CoordinatorNotAvailable.Code
				c.prepareRebalanceLocked(now, g, cb)
			} else {
				g.setState(stateStable, now)
			}
			for _, o := range g.members {
				if o.sync == nil {
					continue
				}
				s := o.sync
				o.sync = nil
				r := c.syncResponse(req, g, o)
				r.ErrorCode = code
				if code != 0 {
					r.MemberAssignment = nil
				}
				cb.add(func() { s(r) })
			}
		})
	}
}

func (c *Coordinator) syncResponse(req *kmsg.SyncGroupRequest, g *group, m *member) *kmsg.SyncGroupResponse {
	r := req.ResponseKind().(*kmsg.SyncGroupResponse)
	pt, p := g.protocolType, g.protocol
	r.ProtocolType, r.Protocol = &pt, &p
	r.MemberAssignment = m.assignment
	if r.MemberAssignment == nil {
		r.MemberAssignment = []byte{}
	}
	return r
}

// Heartbeat handles a Heartbeat request.
func (c *Coordinator) Heartbeat(now time.Time, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := req.ResponseKind().(*kmsg.HeartbeatResponse)
	g := c.groups[req.Group]
	if g == nil || g.state == stateDead {
		r.ErrorCode = kerr.UnknownMemberID.Code
		return r
	}
	m := g.members[req.MemberID]
	switch code := validateMemberLocked(g, req.MemberID, req.InstanceID); {
	case code != 0:
		r.ErrorCode = code
	case req.Generation != g.generation:
		m.deadline = now.Add(m.sessionTimeout)
		r.ErrorCode = kerr.IllegalGeneration.Code
		if g.state == statePreparing {
			r.ErrorCode = kerr.RebalanceInProgress.Code
		}
	case g.state == statePreparing:
		m.deadline = now.Add(m.sessionTimeout)
		r.ErrorCode = kerr.RebalanceInProgress.Code
	default:
		m.deadline = now.Add(m.sessionTimeout)
	}
	return r
}

// LeaveGroup handles a LeaveGroup request (one member before v3, a batch
// after).
func (c *Coordinator) LeaveGroup(now time.Time, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	var cb callbacks
	c.mu.Lock()
	r := c.leaveLocked(now, req, &cb)
	c.mu.Unlock()
	cb.run()
	return r
}

func (c *Coordinator) leaveLocked(now time.Time, req *kmsg.LeaveGroupRequest, cb *callbacks) *kmsg.LeaveGroupResponse {
	r := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	g := c.groups[req.Group]
	type leaving struct {
		id, instance string
	}
	var ls []leaving
	if req.Version < 3 {
		ls = append(ls, leaving{id: req.MemberID})
	} else {
		for _, m := range req.Members {
			l := leaving{id: m.MemberID}
			if m.InstanceID != nil {
				l.instance = *m.InstanceID
			}
			ls = append(ls, l)
		}
	}
	if g == nil || g.state == stateDead {
		r.ErrorCode = kerr.UnknownMemberID.Code
		if req.Version >= 3 {
			r.ErrorCode = 0
			for _, l := range ls {
				lm := kmsg.NewLeaveGroupResponseMember()
				lm.MemberID = l.id
				if l.instance != "" {
					lm.InstanceID = ptr(l.instance)
				}
				lm.ErrorCode = kerr.UnknownMemberID.Code
				r.Members = append(r.Members, lm)
			}
		}
		return r
	}
	removed := 0
	for _, l := range ls {
		id := l.id
		code := int16(0)
		if l.instance != "" {
			cur, ok := g.static[l.instance]
			switch {
			case !ok:
				code = kerr.UnknownMemberID.Code
			case id != "" && id != cur:
				code = kerr.FencedInstanceID.Code
			default:
				id = cur
			}
		} else if g.members[id] == nil {
			if _, ok := g.pending[id]; ok {
				delete(g.pending, id)
			} else {
				code = kerr.UnknownMemberID.Code
			}
		}
		if code == 0 {
			if m := g.removeMember(id); m != nil {
				c.failPendingLocked(m, cb)
				removed++
				c.cfg.Logger.Debug("coord: member left", "group", g.id, "member", id)
			}
		}
		if req.Version < 3 {
			r.ErrorCode = code
		} else {
			lm := kmsg.NewLeaveGroupResponseMember()
			lm.MemberID = l.id
			if l.instance != "" {
				lm.InstanceID = ptr(l.instance)
			}
			lm.ErrorCode = code
			r.Members = append(r.Members, lm)
		}
	}
	if removed > 0 {
		c.membersChangedLocked(now, g, cb)
	}
	return r
}

// failJoin answers m's pending JoinGroup with the error code.
func failJoin(m *member, code int16, cb *callbacks) {
	j, v := m.join, m.joinVersion
	m.join = nil
	cb.add(func() {
		r := kmsg.NewPtrJoinGroupResponse()
		r.Version = v
		r.ErrorCode = code
		r.Generation = -1
		j(r)
	})
}

// failPendingLocked answers a removed member's pending requests.
func (c *Coordinator) failPendingLocked(m *member, cb *callbacks) {
	if m.join != nil {
		failJoin(m, kerr.UnknownMemberID.Code, cb)
	}
	if m.sync != nil {
		s := m.sync
		m.sync = nil
		cb.add(func() { s(&kmsg.SyncGroupResponse{ErrorCode: kerr.UnknownMemberID.Code}) })
	}
}

// membersChangedLocked rebalances after members left or expired.
func (c *Coordinator) membersChangedLocked(now time.Time, g *group, cb *callbacks) {
	switch g.state {
	case stateStable, stateCompleting:
		c.prepareRebalanceLocked(now, g, cb)
		c.maybeCompleteJoinLocked(now, g, cb)
	case statePreparing:
		c.maybeCompleteJoinLocked(now, g, cb)
	}
}

// Tick expires sessions, pending member ids and rebalance timeouts, and
// completes joins whose delay passed. Call it regularly (Run does, every
// 100 ms).
func (c *Coordinator) Tick(now time.Time) {
	var cb callbacks
	c.mu.Lock()
	c.now = now
	for _, g := range c.groups {
		c.tickGroupLocked(now, g, &cb)
	}
	c.expireOffsetsLocked(now)
	c.mu.Unlock()
	cb.run()
}

func (c *Coordinator) tickGroupLocked(now time.Time, g *group, cb *callbacks) {
	for id, exp := range g.pending {
		if !now.Before(exp) {
			delete(g.pending, id)
		}
	}
	expired := 0
	for _, id := range slices.Clone(g.order) {
		m := g.members[id]
		awaiting := m.join != nil || (m.sync != nil && g.state == stateCompleting)
		if !awaiting && !now.Before(m.deadline) {
			c.cfg.Logger.Info("coord: member session expired; removing", "group", g.id, "member", id,
				"session_timeout", m.sessionTimeout)
			g.removeMember(id)
			c.failPendingLocked(m, cb)
			expired++
		}
	}
	if g.state == stateCompleting && !now.Before(g.rebalanceDeadline) {
		// Members that never sent SyncGroup for this generation are gone.
		for _, id := range slices.Clone(g.order) {
			if m := g.members[id]; !m.synced {
				c.cfg.Logger.Info("coord: member did not sync within the rebalance timeout; removing", "group", g.id, "member", id)
				g.removeMember(id)
				c.failPendingLocked(m, cb)
				expired++
			}
		}
	}
	if expired > 0 {
		c.membersChangedLocked(now, g, cb)
	}
	c.maybeCompleteJoinLocked(now, g, cb)
}

// errNotDurable is returned when an offsets record could not be made
// durable.
var errNotDurable = errors.New("coord: offsets log write failed")

func fmtGroup(g *group) string {
	return fmt.Sprintf("%s[%s gen %d, %d members]", g.id, g.state, g.generation, len(g.members))
}
