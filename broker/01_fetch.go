package broker

// Fetch (API key 1).
//
// Versions 4-18. Record bytes are never copied: each partition's records are
// a file region of its segment, sent with sendfile by the network layer;
// the log views are released once the response is written.
//
// Behaviour:
//   - Reads up to the high watermark (the durable offset, or the log end
//     with the interval flush policy). read_committed reads up to the last
//     stable offset, which equals the high watermark until transactions
//     exist.
//   - Offsets below the log start or above the log end: OFFSET_OUT_OF_RANGE
//     (the client resets per auto.offset.reset). Between the high watermark
//     and the log end: empty records.
//   - max.bytes bounds the response, partition_max_bytes each partition,
//     except that the first partition with data returns at least one whole
//     batch (KIP-74). A batch may be cut at the limit, as Kafka's are.
//   - min.bytes and max.wait.ms: when fewer bytes are available the fetch
//     becomes a delayed operation, completed when a partition's high
//     watermark moves far enough or the wait expires; the event loop never
//     blocks.
//   - Fetch sessions (KIP-227, v7+): see fetch_session.go.
//   - v13+: topics by id (UNKNOWN_TOPIC_ID for unknown ids).
//   - A topic deleted while a fetch waits: the fetch answers at once,
//     UNKNOWN_TOPIC_OR_PARTITION. Broker.Close answers every waiting
//     fetch at once, so shutdown does not wait out max.wait.ms.

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/weirhq/weir/log"
	"github.com/weirhq/weir/netpoll"
	"github.com/weirhq/weir/protocol"
)

func init() {
	versions[1] = versionRange{4, 18, true}
}

type fetchPart struct {
	p        *partition
	index    int32
	offset   int64
	maxBytes int32
	err      int16
	view     log.View
	hw       int64
	start    int64
	ref      sessRef // in d.sess
	send     bool    // in the response (respondLocked)
}

type fetchTopic struct {
	name   string
	id     [16]byte
	first  int
	nparts int
	nsend  int // partitions in the response
}

// delayedFetch is one fetch request from decode to response. Pooled.
type delayedFetch struct {
	b         *Broker
	cs        *conn
	seq       uint64
	hdr       protocol.RequestHeader
	topics    []fetchTopic
	parts     []fetchPart
	minBytes  int64
	maxBytes  int64
	committed bool
	topErr    int16
	// sess is the fetch session the request runs in, nil if none;
	// incremental: the response lists only what changed.
	sess        *fetchSession
	incremental bool

	mu       sync.Mutex // serializes tryComplete
	done     atomic.Bool
	timer    *time.Timer
	expired  atomic.Bool
	w        protocol.FetchWriter
	onDone   func()
	onExpire func()
	noReuse  bool
	gen      uint64 // incremented (under mu) at each use of the context
}

var fetchPool sync.Pool

func init() {
	fetchPool.New = func() any {
		d := &delayedFetch{}
		d.onDone = d.release
		d.onExpire = d.expire
		return d
	}
}

func (b *Broker) handleFetch(cs *conn, seq uint64, h *protocol.RequestHeader, body []byte) {
	req := &cs.fetchReq
	if err := decodeInPlace(req, h, body); err != nil {
		b.closeConn(cs.c, seq, "malformed Fetch request", "version", h.APIVersion, "err", err)
		return
	}
	d := fetchPool.Get().(*delayedFetch)
	// The whole setup holds d.mu: a late wake-up of this context's
	// previous use (a stale waiter entry) must not see it half built; the
	// generation tells such wake-ups apart.
	d.mu.Lock()
	d.gen++
	gen := d.gen
	d.b, d.cs, d.seq, d.hdr = b, cs, seq, *h
	d.hdr.ClientID = nil
	d.done.Store(false)
	d.expired.Store(false)
	d.topErr = 0
	d.topics = d.topics[:0]
	d.parts = d.parts[:0]
	d.minBytes = int64(req.MinBytes)
	d.maxBytes = int64(req.MaxBytes)
	if d.maxBytes <= 0 {
		d.maxBytes = 1 << 62
	}
	d.committed = req.IsolationLevel == 1
	d.sess, d.incremental, d.topErr = b.sessions.begin(req, h.APIVersion, b.cfg.Now())
	reg := b.reg()
	byID := h.APIVersion >= 13
	switch {
	case d.topErr != 0:
		// A session error: no partitions.
	case d.sess != nil:
		// Partitions not mentioned by the session's fields are only
		// read by this fetch until it responds (begin marked it in use).
		for ti := range d.sess.topics {
			st := &d.sess.topics[ti]
			t := d.addTopic(reg, byID, st.name, st.id, len(st.parts))
			for pi := range st.parts {
				sp := &st.parts[pi]
				d.addPart(t, byID, sp.index, sp.offset, sp.maxBytes, sessRef{int32(ti), int32(pi)})
			}
		}
	default:
		for i := range req.Topics {
			rt := &req.Topics[i]
			t := d.addTopic(reg, byID, rt.Topic, rt.TopicID, len(rt.Partitions))
			for j := range rt.Partitions {
				rp := &rt.Partitions[j]
				d.addPart(t, byID, rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, sessRef{})
			}
		}
	}
	complete := d.readLocked() || req.MaxWaitMillis <= 0 || d.topErr != 0 || b.closed.Load()
	if complete {
		d.respondLocked()
		d.mu.Unlock()
		return
	}
	// Delay: wait for data or max.wait.ms.
	for i := range d.parts {
		if p := d.parts[i].p; p != nil {
			p.watch(d, gen)
		}
	}
	if d.timer == nil {
		d.timer = time.AfterFunc(time.Duration(req.MaxWaitMillis)*time.Millisecond, d.onExpire)
	} else {
		d.timer.Reset(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	}
	d.mu.Unlock()
	// Data may have arrived between the read and the registration.
	d.poke(gen)
}

// addTopic resolves a requested topic (by id from v13) and adds it to
// the response; nil if it does not exist.
func (d *delayedFetch) addTopic(reg *registry, byID bool, name string, id [16]byte, nparts int) *topic {
	var t *topic
	if byID {
		t = reg.byID[id]
	} else {
		t = reg.byName[name]
	}
	ft := fetchTopic{id: id, first: len(d.parts), nparts: nparts}
	if t != nil {
		ft.name = t.name
	} else if !byID {
		ft.name = string([]byte(name)) // copy: the request is reused
	}
	d.topics = append(d.topics, ft)
	return t
}

// addPart adds a partition of the topic addTopic just added.
func (d *delayedFetch) addPart(t *topic, byID bool, index int32, offset int64, maxBytes int32, ref sessRef) {
	fp := fetchPart{index: index, offset: offset, maxBytes: maxBytes, hw: -1, start: -1, ref: ref}
	switch {
	case t == nil && byID:
		fp.err = kerr.UnknownTopicID.Code
	case t == nil || index < 0 || int(index) >= len(t.parts):
		fp.err = kerr.UnknownTopicOrPartition.Code
	default:
		fp.p = t.parts[index]
	}
	d.parts = append(d.parts, fp)
}

// readLocked (re)reads every partition and reports whether min.bytes is
// satisfied or an error makes the fetch complete now.
func (d *delayedFetch) readLocked() bool {
	var total int64
	anyErr := false
	for i := range d.parts {
		fp := &d.parts[i]
		fp.view.Release()
		fp.view = log.View{}
		if fp.p == nil {
			if fp.err != 0 {
				anyErr = true
			}
			continue
		}
		l := fp.p.log
		fp.hw = fp.p.highWatermark()
		fp.start = l.StartOffset()
		fp.err = 0
		remaining := d.maxBytes - total
		if remaining <= 0 || fp.maxBytes <= 0 {
			continue
		}
		limit := min(int64(fp.maxBytes), remaining)
		v, err := l.ReadUntil(fp.offset, int(limit), fp.hw)
		if err != nil {
			switch {
			case errors.Is(err, log.ErrOffsetOutOfRange):
				fp.err = kerr.OffsetOutOfRange.Code
				d.b.log.Info("fetch: offset out of range", "dir", fp.p.dir, "offset", fp.offset, "start", fp.start, "end", l.EndOffset(), "hw", fp.hw, "err", err)
			case errors.Is(err, log.ErrClosed):
				// The topic was deleted (or the broker is closing)
				// after the fetch resolved it.
				fp.err = kerr.UnknownTopicOrPartition.Code
			default:
				fp.err = kerr.KafkaStorageError.Code
				d.b.log.Error("fetch: read failed", "dir", fp.p.dir, "offset", fp.offset, "err", err)
			}
			anyErr = true
			continue
		}
		if v.Len() > remaining && total > 0 {
			// Only the first partition with data may exceed the limit.
			v.Release()
			continue
		}
		fp.view = v
		total += v.Len()
	}
	return anyErr || total >= max(d.minBytes, 1)
}

// poke re-checks a waiting fetch after a high watermark moved; gen is
// the use of the context it was registered for.
func (d *delayedFetch) poke(gen uint64) {
	d.mu.Lock()
	if d.gen != gen || d.done.Load() {
		d.mu.Unlock()
		return
	}
	if d.readLocked() || d.expired.Load() || d.b.closed.Load() {
		d.finishLocked(false)
		return
	}
	// Still short: watch again (wake removed us).
	for i := range d.parts {
		if p := d.parts[i].p; p != nil {
			p.unwatch(d)
			p.watch(d, gen)
		}
	}
	d.mu.Unlock()
}

// expire completes the fetch at max.wait.ms with whatever is there.
func (d *delayedFetch) expire() {
	d.expired.Store(true)
	if d.done.Load() {
		return
	}
	d.mu.Lock()
	if d.done.Load() {
		d.mu.Unlock()
		return
	}
	d.readLocked()
	d.finishLocked(true)
}

// expireFetches answers every waiting fetch with what it has (Close).
// A fetch registering concurrently sees Broker.closed in its final poke.
func (b *Broker) expireFetches() {
	for _, t := range b.reg().byName {
		for _, p := range t.parts {
			p.wmu.Lock()
			ws := p.waiters
			p.waiters = nil
			p.wmu.Unlock()
			for _, w := range ws {
				w.d.poke(w.gen) // sees b.closed and finishes
			}
		}
	}
}

// finishLocked unregisters, stops the timer and responds; it unlocks d.mu.
// If the timer fired concurrently (its callback may still be about to run),
// the context is not reused.
func (d *delayedFetch) finishLocked(fromTimer bool) {
	if !d.timer.Stop() && !fromTimer {
		d.noReuse = true
	}
	for i := range d.parts {
		if p := d.parts[i].p; p != nil {
			p.unwatch(d)
		}
	}
	d.respondLocked()
	d.mu.Unlock()
}

// respondLocked encodes the response from the current views and replies.
func (d *delayedFetch) respondLocked() {
	d.done.Store(true)
	// Which partitions to send: all, or in an incremental response those
	// with records, an error, or news about the high watermark or the log
	// start offset. The session remembers what the client was told.
	var sessionID int32
	ntopics := 0
	for ti := range d.topics {
		ft := &d.topics[ti]
		n := 0
		for i := ft.first; i < ft.first+ft.nparts; i++ {
			fp := &d.parts[i]
			fp.send = true
			if d.sess != nil {
				sp := &d.sess.topics[fp.ref.t].parts[fp.ref.p]
				fp.send = !d.incremental || fp.view.Len() > 0 || fp.err != 0 || fp.hw != sp.hw || fp.start != sp.start
				if fp.send {
					sp.hw, sp.start = fp.hw, fp.start
				}
			}
			if fp.send {
				n++
			}
		}
		if ft.nsend = n; n > 0 || !d.incremental {
			ntopics++
		}
	}
	if d.sess != nil {
		sessionID = d.sess.id
		d.b.sessions.done(d.sess)
		d.sess = nil
	}
	w := &d.w
	w.Reset(d.hdr.APIVersion, d.hdr.CorrelationID, 0, d.topErr, sessionID, ntopics)
	var inlined int64
	for ti := range d.topics {
		ft := &d.topics[ti]
		if ft.nsend == 0 && d.incremental {
			continue
		}
		w.Topic(ft.name, ft.id, ft.nsend)
		for i := ft.first; i < ft.first+ft.nparts; i++ {
			fp := &d.parts[i]
			if !fp.send {
				continue
			}
			hw := fp.hw
			fpart := protocol.FetchPartition{
				Index: fp.index, ErrorCode: fp.err, HighWatermark: hw, LastStableOffset: hw,
				LogStartOffset: fp.start, PreferredReadReplica: -1, CurrentLeaderID: -1,
			}
			if d.committed {
				fpart.AbortedTransactions = noAborted
			}
			switch n := fp.view.Len(); {
			case n == 0:
				w.PartitionBytes(&fpart, emptyRecords)
			case n <= fetchInlineMax && inlined+n <= fetchInlineBudget &&
				w.PartitionReadAt(&fpart, fp.view.File(), fp.view.Position(), int(n)) == nil:
				inlined += n
			default:
				w.Partition(&fpart, int(fp.view.File().Fd()), fp.view.Position(), n)
			}
		}
		w.EndTopic()
	}
	chunks := w.Finish()
	r := netpoll.GetResponse()
	r.Parts = r.Parts[:0]
	for _, c := range chunks {
		r.Parts = append(r.Parts, netpoll.Part{Buf: c.Buf, Fd: c.Fd, Off: c.Off, Len: c.Len})
	}
	r.OnDone = d.onDone
	d.cs.c.Reply(d.seq, r)
}

// Records of a partition up to fetchInlineMax bytes are read (pread) into
// the response buffer instead of being sent with sendfile, up to
// fetchInlineBudget bytes per response: a fetch over many partitions with
// a little data each then goes out in one writev instead of a sendfile and
// a writev per partition (two system calls and a TCP push each).
const (
	fetchInlineMax    = 16 << 10
	fetchInlineBudget = 256 << 10
)

var (
	noAborted    = []protocol.AbortedTransaction{}
	emptyRecords = []byte{}
)

// release returns views and the context to the pool once the response was
// written.
func (d *delayedFetch) release() {
	for i := range d.parts {
		d.parts[i].view.Release()
		d.parts[i].p = nil
	}
	d.cs = nil
	d.b = nil
	if d.noReuse {
		return
	}
	fetchPool.Put(d)
}
