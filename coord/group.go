package coord

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// state is a group's state.
type state int8

const (
	stateEmpty state = iota
	statePreparing
	stateCompleting
	stateStable
	stateDead
)

func (s state) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparing:
		return "PreparingRebalance"
	case stateCompleting:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	}
	return "Dead"
}

// ParseState parses a Kafka group state name (case-insensitive match as
// ListGroups filters do).
func parseState(s string) (state, bool) {
	for st := stateEmpty; st <= stateDead; st++ {
		if equalFold(st.String(), s) {
			return st, true
		}
	}
	return 0, false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

type protocol struct {
	name     string
	metadata []byte
}

type member struct {
	id               string
	instanceID       string // "" for dynamic members
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []protocol
	assignment       []byte
	// deadline is when the session expires without a heartbeat.
	deadline time.Time
	// joinVersion and join are the pending JoinGroup response, if any.
	joinVersion int16
	join        func(*kmsg.JoinGroupResponse)
	// sync is the pending SyncGroup response, if any.
	sync func(*kmsg.SyncGroupResponse)
	// synced is set when the member sent SyncGroup for the current
	// generation.
	synced bool
}

func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

func sameProtocols(a, b []protocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].name != b[i].name || string(a[i].metadata) != string(b[i].metadata) {
			return false
		}
	}
	return true
}

type tp struct {
	topic     string
	partition int32
}

type offsetEntry struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitTime  int64 // ms
}

// group is one consumer group. Guarded by Coordinator.mu.
type group struct {
	id           string
	state        state
	protocolType string
	protocol     string
	generation   int32
	leader       string
	members      map[string]*member
	order        []string             // member ids in join order (leader choice)
	pending      map[string]time.Time // member ids handed out by MEMBER_ID_REQUIRED -> expiry
	static       map[string]string    // instance id -> member id
	// rebalanceDeadline ends PreparingRebalance (members not rejoined are
	// dropped) or CompletingRebalance (members not synced are dropped).
	rebalanceDeadline time.Time
	// joinDelayUntil holds the first rebalance of an empty group open for
	// more members (group.initial.rebalance.delay.ms).
	joinDelayUntil time.Time
	stateTime      time.Time
	emptySince     time.Time
	offsets        map[tp]offsetEntry
	// persisted is the group's last metadata record value written to (or
	// replayed from) the offsets log; nil if none.
	persisted []byte
}

func newGroup(id string, now time.Time) *group {
	return &group{
		id: id, state: stateEmpty, members: map[string]*member{}, pending: map[string]time.Time{},
		static: map[string]string{}, offsets: map[tp]offsetEntry{}, stateTime: now, emptySince: now,
	}
}

func (g *group) setState(s state, now time.Time) {
	g.state = s
	g.stateTime = now
	if s == stateEmpty {
		g.emptySince = now
	}
}

func (g *group) addMember(m *member) {
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	if m.instanceID != "" {
		g.static[m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
}

func (g *group) removeMember(id string) *member {
	m := g.members[id]
	if m == nil {
		return nil
	}
	delete(g.members, id)
	for i, o := range g.order {
		if o == id {
			g.order = append(g.order[:i], g.order[i+1:]...)
			break
		}
	}
	if m.instanceID != "" && g.static[m.instanceID] == id {
		delete(g.static, m.instanceID)
	}
	if g.leader == id {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
	return m
}

// maxRebalanceTimeout is the largest rebalance timeout of the members.
func (g *group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// allJoined reports whether every member has a pending join.
func (g *group) allJoined() bool {
	for _, m := range g.members {
		if m.join == nil {
			return false
		}
	}
	return true
}

// supportsProtocols reports whether a joining member's protocols fit the
// group's (type and at least one common protocol with every member).
func (g *group) supportsProtocols(protocolType string, ps []protocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(ps) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range ps {
		ok := true
		for _, m := range g.members {
			if m.metadataFor(p.name) == nil && !hasProtocol(m.protocols, p.name) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func hasProtocol(ps []protocol, name string) bool {
	for _, p := range ps {
		if p.name == name {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol all members support with the most
// first-choice votes, as Kafka does.
func (g *group) selectProtocol() string {
	candidates := map[string]bool{}
	first := true
	for _, id := range g.order {
		m := g.members[id]
		set := map[string]bool{}
		for _, p := range m.protocols {
			if first || candidates[p.name] {
				set[p.name] = true
			}
		}
		candidates = set
		first = false
	}
	votes := map[string]int{}
	best, bestVotes := "", -1
	for _, id := range g.order {
		for _, p := range g.members[id].protocols {
			if candidates[p.name] {
				votes[p.name]++
				break
			}
		}
	}
	// Deterministic: the leader's preference order breaks ties.
	if l := g.members[g.leader]; l != nil {
		for _, p := range l.protocols {
			if candidates[p.name] && votes[p.name] > bestVotes {
				best, bestVotes = p.name, votes[p.name]
			}
		}
	}
	return best
}
