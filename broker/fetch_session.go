package broker

// Incremental fetch sessions (KIP-227), Fetch v7+.
//
// A client that opens a session (session id 0, epoch 0) gets an id; its
// later requests (same id, epoch 1, 2, …) list only the partitions whose
// fetch position changed and those to forget, and the response lists only
// the partitions with records, an error, or a high watermark or log start
// offset the client has not been told yet. With many partitions per
// consumer this keeps requests and responses small on both sides (franz-go
// and the Java client use sessions; librdkafka and kafkajs do not).
//
//   - epoch -1: no session (a given id is closed first); a full fetch.
//   - epoch 0: a new session from the request's partitions (a given id is
//     closed first), or none if the cache is full; a full fetch.
//   - epoch > 0: the session must exist (FETCH_SESSION_ID_NOT_FOUND) and
//     expect that epoch (INVALID_FETCH_SESSION_EPOCH); a request for a
//     session whose previous fetch is still waiting gets the latter too.
//
// The cache holds Config.FetchSessionSlots sessions (Kafka's
// max.incremental.fetch.session.cache.slots). When it is full, a new
// session takes the slot of the least recently used one idle for at least
// fetchSessionEvictAfter (Kafka's min.incremental.fetch.session.eviction.ms);
// otherwise the client is answered without a session and keeps sending
// full requests.

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const fetchSessionEvictAfter = 120 * time.Second

type fetchSessions struct {
	mu    sync.Mutex
	slots int
	next  int32
	m     map[int32]*fetchSession
}

type fetchSession struct {
	id int32
	// Guarded by fetchSessions.mu.
	epoch  int32 // the epoch the next request must carry
	inUse  bool  // a fetch of this session has not responded yet
	used   time.Time
	topics []sessTopic
}

type sessTopic struct {
	name  string
	id    [16]byte
	parts []sessPart
}

// sessPart is a partition of a session: the client's fetch position and
// what the last response told it (-2 before the first).
type sessPart struct {
	index     int32
	offset    int64
	maxBytes  int32
	hw, start int64
}

// sessRef locates a fetchPart's partition in its session.
type sessRef struct{ t, p int32 }

// begin applies the session fields of a Fetch request. It returns the
// session the fetch runs in (nil: sessionless, the request's partitions)
// and whether the response is incremental, or a top-level error code.
func (s *fetchSessions) begin(req *kmsg.FetchRequest, version int16, now time.Time) (sess *fetchSession, incremental bool, errCode int16) {
	if version < 7 {
		return nil, false, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case req.SessionEpoch == -1:
		if req.SessionID != 0 {
			s.closeLocked(req.SessionID)
		}
		return nil, false, 0
	case req.SessionEpoch == 0:
		if req.SessionID != 0 {
			s.closeLocked(req.SessionID)
		}
		sess = s.newLocked(now)
		if sess == nil {
			return nil, false, 0
		}
		sess.update(req, version)
		sess.epoch, sess.inUse, sess.used = 1, true, now
		return sess, false, 0
	}
	sess = s.m[req.SessionID]
	switch {
	case sess == nil:
		return nil, false, kerr.FetchSessionIDNotFound.Code
	case sess.epoch != req.SessionEpoch || sess.inUse:
		return nil, false, kerr.InvalidFetchSessionEpoch.Code
	}
	sess.update(req, version)
	sess.epoch = nextEpoch(sess.epoch)
	sess.inUse, sess.used = true, now
	return sess, true, 0
}

// done ends the fetch that begin started in sess.
func (s *fetchSessions) done(sess *fetchSession) {
	s.mu.Lock()
	sess.inUse = false
	s.mu.Unlock()
}

func nextEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}

func (s *fetchSessions) closeLocked(id int32) { delete(s.m, id) }

// newLocked makes a session, evicting a stale one if the cache is full; nil
// if sessions are off or no slot is free.
func (s *fetchSessions) newLocked(now time.Time) *fetchSession {
	if s.slots <= 0 {
		return nil
	}
	if s.m == nil {
		s.m = make(map[int32]*fetchSession)
	}
	if len(s.m) >= s.slots {
		var lru *fetchSession
		for _, c := range s.m {
			if !c.inUse && (lru == nil || c.used.Before(lru.used)) {
				lru = c
			}
		}
		if lru == nil || now.Sub(lru.used) < fetchSessionEvictAfter {
			return nil
		}
		delete(s.m, lru.id)
	}
	for {
		if s.next++; s.next <= 0 {
			s.next = 1
		}
		if s.m[s.next] == nil {
			break
		}
	}
	sess := &fetchSession{id: s.next}
	s.m[sess.id] = sess
	return sess
}

// update adds or updates the request's partitions and removes the
// forgotten ones. Topics are named by id from v13, by name before.
func (sess *fetchSession) update(req *kmsg.FetchRequest, version int16) {
	byID := version >= 13
	find := func(name string, id [16]byte) int {
		for i := range sess.topics {
			if byID && sess.topics[i].id == id || !byID && sess.topics[i].name == name {
				return i
			}
		}
		return -1
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		ti := find(rt.Topic, rt.TopicID)
		if ti < 0 {
			// Copy the name: the request's bytes are reused.
			sess.topics = append(sess.topics, sessTopic{name: string([]byte(rt.Topic)), id: rt.TopicID})
			ti = len(sess.topics) - 1
		}
		st := &sess.topics[ti]
	parts:
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			for k := range st.parts {
				if sp := &st.parts[k]; sp.index == rp.Partition {
					sp.offset, sp.maxBytes = rp.FetchOffset, rp.PartitionMaxBytes
					continue parts
				}
			}
			st.parts = append(st.parts, sessPart{index: rp.Partition, offset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes, hw: -2, start: -2})
		}
	}
	for i := range req.ForgottenTopics {
		ft := &req.ForgottenTopics[i]
		ti := find(ft.Topic, ft.TopicID)
		if ti < 0 {
			continue
		}
		st := &sess.topics[ti]
		for _, p := range ft.Partitions {
			for k := range st.parts {
				if st.parts[k].index == p {
					st.parts = append(st.parts[:k], st.parts[k+1:]...)
					break
				}
			}
		}
		if len(st.parts) == 0 {
			sess.topics = append(sess.topics[:ti], sess.topics[ti+1:]...)
		}
	}
}
