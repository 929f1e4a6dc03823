package broker

// Produce (API key 0).
//
// Versions: advertised 0-13, as Kafka 4 does; versions 0-2 are rejected
// with UNSUPPORTED_VERSION per partition (older librdkafka otherwise turns
// compression off when it sees a broker advertising Produce < 3... it
// looks for v3 support and Kafka advertises from 0 while refusing 0-2).
//
// Behaviour:
//   - acks 0: no response, and the connection is closed if any partition
//     failed (Kafka's way to tell the client); 1: answered once the
//     batches are in the page cache; -1 (all): answered once they are
//     durable (group commit). Other values: INVALID_REQUIRED_ACKS.
//   - Each partition's records are validated batch by batch (length,
//     magic v2, CRC-32C, a known codec): CORRUPT_MESSAGE on failure;
//     batches over the topic's max.message.bytes: MESSAGE_TOO_LARGE;
//     header fields a client may not send (no records, a record count
//     other than lastOffsetDelta+1, a producer id without a sequence,
//     control or transactional batches): INVALID_RECORD, as Kafka's
//     LogValidator. The records inside are not decoded. Nothing of a
//     failed partition is written; other partitions are unaffected.
//   - A topic deleted while the request is handled:
//     UNKNOWN_TOPIC_OR_PARTITION.
//   - Idempotent producers: sequence checks per producer id, duplicates
//     answered with their original offsets, OUT_OF_ORDER_SEQUENCE_NUMBER
//     on gaps, INVALID_PRODUCER_EPOCH for old epochs.
//   - LogAppendTime topics: the batch's max timestamp is set to the
//     broker's time (and the CRC recomputed); the response carries it.
//   - Transactional batches: not yet supported (TRANSACTIONAL_ID_NOT_FOUND
//     style errors come with the transaction coordinator).
//
// Record bytes are never copied: kmsg decodes into a reused request with
// UnsafeReadFrom, so each partition's records are a slice of the read
// buffer, patched in place with offsets and written to the log.

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/log"
	"github.com/weirhq/weir/netpoll"
	"github.com/weirhq/weir/protocol"
)

func init() {
	versions[0] = versionRange{0, 13, true}
}

type producePartResult struct {
	index          int32
	err            int16
	baseOffset     int64
	logAppendTime  int64
	logStartOffset int64
	waitOffset     int64 // last offset to wait for (acks=all), -1 none
	p              *partition
	// Set between resolving the partition and appending to it.
	t       *topic
	records []byte
}

type produceTopicResult struct {
	name  string // aliases the registry (or the request when unknown: copied)
	id    [16]byte
	parts []producePartResult
}

// produceCtx carries one produce request from decode to response. Pooled.
type produceCtx struct {
	b       *Broker
	cs      *conn
	seq     uint64
	hdr     protocol.RequestHeader
	topics  []produceTopicResult
	pending atomic.Int32
	failed  atomic.Bool
	done    func(error) // bound method value, allocated once per ctx
	onDone  func()      // bound release, allocated once per ctx
	buf     []byte
	half    appendJob // the appends handed to an append worker
}

var producePool sync.Pool

func init() {
	producePool.New = func() any {
		c := &produceCtx{}
		c.done = c.partDurable
		c.onDone = c.release
		return c
	}
}

func (b *Broker) handleProduce(cs *conn, seq uint64, h *protocol.RequestHeader, body []byte) {
	req := &cs.produce
	if err := decodeInPlace(req, h, body); err != nil {
		b.closeConn(cs.c, seq, "malformed Produce request", "version", h.APIVersion, "err", err)
		return
	}
	ctx := producePool.Get().(*produceCtx)
	ctx.b, ctx.cs, ctx.seq, ctx.hdr = b, cs, seq, *h
	ctx.hdr.ClientID = nil
	ctx.failed.Store(false)
	ctx.topics = ctx.topics[:0]

	acks := req.Acks
	var topErr error
	switch {
	case h.APIVersion < 3:
		topErr = kerr.UnsupportedVersion
	case acks != 0 && acks != 1 && acks != -1:
		topErr = kerr.InvalidRequiredAcks
	case req.TransactionID != nil:
		topErr = kerr.TransactionalIDAuthorizationFailed
	}
	now := b.cfg.Now().UnixMilli()
	waits := int32(0)
	// Appends to many partitions become durable together: the flusher
	// waits for the whole request's appends before it plans fsyncs.
	nparts := 0
	for i := range req.Topics {
		nparts += len(req.Topics[i].Partitions)
	}
	if nparts > 1 {
		b.flusher.Hold()
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		var t *topic
		if h.APIVersion >= 13 {
			t = b.reg().byID[rt.TopicID]
		} else {
			t = b.topicByName(rt.Topic)
		}
		if cap(ctx.topics) > len(ctx.topics) {
			ctx.topics = ctx.topics[:len(ctx.topics)+1]
		} else {
			ctx.topics = append(ctx.topics, produceTopicResult{})
		}
		tr := &ctx.topics[len(ctx.topics)-1]
		tr.parts = tr.parts[:0]
		tr.id = rt.TopicID
		if t != nil {
			tr.name = t.name
		} else {
			tr.name = string([]byte(rt.Topic)) // copy: the request is reused
		}
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			pr := producePartResult{index: rp.Partition, baseOffset: -1, logAppendTime: -1, logStartOffset: -1, waitOffset: -1}
			switch {
			case topErr != nil:
				pr.err = errCode(topErr)
			case t == nil:
				if h.APIVersion >= 13 {
					pr.err = kerr.UnknownTopicID.Code
				} else {
					pr.err = kerr.UnknownTopicOrPartition.Code
				}
			case rp.Partition < 0 || int(rp.Partition) >= len(t.parts):
				pr.err = kerr.UnknownTopicOrPartition.Code
			case t.internal:
				// Only the broker writes its internal topics.
				pr.err = kerr.InvalidTopicException.Code
			default:
				pr.p, pr.t, pr.records = t.parts[rp.Partition], t, rp.Records
			}
			tr.parts = append(tr.parts, pr)
		}
	}
	b.appendAll(ctx, now)
	if nparts > 1 {
		b.flusher.Release()
	}
	if acks == -1 {
		for i := range ctx.topics {
			for j := range ctx.topics[i].parts {
				if pr := &ctx.topics[i].parts[j]; pr.err == 0 && pr.p != nil && pr.waitOffset >= 0 {
					waits++
				}
			}
		}
	}
	if acks == 0 {
		cs.c.Reply(seq, nil)
		if ctx.anyError() {
			// No response is expected, so, as Kafka does, close the
			// connection: the client learns that something failed and
			// refreshes its metadata.
			b.log.Info("closing connection: acks=0 produce failed", "remote", cs.c.RemoteAddr())
			cs.c.Close()
		}
		ctx.release()
		return
	}
	if acks != -1 || waits == 0 {
		ctx.respond()
		return
	}
	// acks=all: respond once every partition's offsets are durable.
	ctx.pending.Store(waits + 1)
	for i := range ctx.topics {
		for j := range ctx.topics[i].parts {
			pr := &ctx.topics[i].parts[j]
			if pr.err == 0 && pr.waitOffset >= 0 {
				pr.p.log.OnDurable(pr.waitOffset, ctx.done)
			}
		}
	}
	ctx.partDurable(nil)
}

// anyError reports whether some partition failed.
func (c *produceCtx) anyError() bool {
	for i := range c.topics {
		for j := range c.topics[i].parts {
			if c.topics[i].parts[j].err != 0 {
				return true
			}
		}
	}
	return false
}

// partDurable is called once per awaited partition (and once by the
// handler itself); the last call responds.
func (c *produceCtx) partDurable(err error) {
	if err != nil {
		c.failed.Store(true)
	}
	if c.pending.Add(-1) == 0 {
		if c.failed.Load() {
			// Some partition's fsync failed: those offsets are not
			// durable. Report a storage error for the partitions whose
			// logs failed.
			for i := range c.topics {
				for j := range c.topics[i].parts {
					pr := &c.topics[i].parts[j]
					if pr.err == 0 && pr.waitOffset >= 0 && pr.p.log.DurableOffset() <= pr.waitOffset {
						pr.err = kerr.KafkaStorageError.Code
						pr.baseOffset = -1
					}
				}
			}
		}
		c.respond()
	}
}

// appendPartition validates and appends one partition's records.
func (b *Broker) appendPartition(p *partition, t *topic, records []byte, now int64, pr *producePartResult) {
	if len(records) == 0 {
		pr.err = kerr.CorruptMessage.Code
		return
	}
	cfg := &t.cfg
	// Validate every batch before writing anything; collect producer
	// info from the (single, for real clients) batch.
	var pid int64 = -1
	var epoch int16
	var firstSeq, lastSeq int32
	nb := 0
	for rest := records; len(rest) > 0; nb++ {
		hd, err := batch.Validate(rest)
		if err != nil {
			if errors.Is(err, batch.ErrMagic) {
				pr.err = kerr.UnsupportedForMessageFormat.Code
			} else {
				pr.err = kerr.CorruptMessage.Code
			}
			b.log.Debug("produce: invalid batch", "topic", t.name, "partition", p.index, "err", err)
			return
		}
		if hd.Size() > cfg.maxMessageBytes {
			pr.err = kerr.MessageTooLarge.Code
			return
		}
		if hd.IsTransactional() || hd.IsControl() {
			pr.err = kerr.InvalidRecord.Code
			return
		}
		if hd.NumRecords == 0 {
			pr.err = kerr.InvalidRecord.Code
			return
		}
		// As Kafka's LogValidator for client batches: the offset range
		// must match the record count (offsets are assigned from
		// lastOffsetDelta, so a mismatch would skip offsets or store a
		// batch consumers cannot read), and a producer id needs a
		// sequence.
		if int64(hd.LastOffsetDelta)+1 != int64(hd.NumRecords) ||
			hd.ProducerID >= 0 && hd.BaseSequence < 0 {
			pr.err = kerr.InvalidRecord.Code
			return
		}
		if hd.Compression() > batch.Zstd {
			pr.err = kerr.CorruptMessage.Code
			return
		}
		if hd.ProducerID >= 0 && hd.BaseSequence >= 0 {
			if nb > 0 {
				// Kafka accepts one batch per partition from
				// idempotent producers.
				pr.err = kerr.InvalidRecord.Code
				return
			}
			pid, epoch, firstSeq = hd.ProducerID, hd.ProducerEpoch, hd.BaseSequence
			lastSeq = seqAdd(hd.BaseSequence, hd.LastOffsetDelta)
		}
		if cfg.logAppendTime {
			batch.SetLogAppendTime(rest[:hd.Size()], now)
		}
		rest = rest[hd.Size():]
	}
	if pid >= 0 && nb > 1 {
		// An idempotent batch followed by others would skip the
		// sequence checks.
		pr.err = kerr.InvalidRecord.Code
		return
	}
	p.mu.Lock()
	if pid >= 0 && nb == 1 {
		dup, meta, err := p.producers.check(pid, epoch, firstSeq, lastSeq)
		if err != nil {
			p.mu.Unlock()
			pr.err = errCode(err)
			return
		}
		if dup {
			p.mu.Unlock()
			pr.baseOffset = meta.FirstOffset
			pr.logStartOffset = p.log.StartOffset()
			pr.waitOffset = meta.LastOffset
			if cfg.logAppendTime {
				pr.logAppendTime = now
			}
			return
		}
	}
	res, err := p.log.AppendValidated(records)
	if err != nil {
		p.mu.Unlock()
		switch {
		case errors.Is(err, log.ErrTooLarge):
			pr.err = kerr.MessageTooLarge.Code
		case errors.Is(err, log.ErrInvalidBatch):
			pr.err = kerr.CorruptMessage.Code
		case errors.Is(err, log.ErrClosed):
			// The topic was deleted after the request resolved it.
			pr.err = kerr.UnknownTopicOrPartition.Code
		default:
			pr.err = kerr.KafkaStorageError.Code
			b.log.Error("produce: append failed", "topic", t.name, "partition", p.index, "err", err)
		}
		return
	}
	if pid >= 0 && nb == 1 {
		p.producers.update(pid, epoch, batchMeta{FirstSeq: firstSeq, LastSeq: lastSeq, FirstOffset: res.FirstOffset, LastOffset: res.LastOffset})
	}
	p.mu.Unlock()
	pr.baseOffset = res.FirstOffset
	pr.waitOffset = res.LastOffset
	pr.logStartOffset = p.log.StartOffset()
	if cfg.logAppendTime {
		pr.logAppendTime = now
	}
}

// respond encodes the Produce response and replies.
func (c *produceCtx) respond() {
	v := c.hdr.APIVersion
	flex := v >= 9
	buf := protocol.AppendResponseHeader(c.buf[:0], 0, v, c.hdr.CorrelationID)
	buf = protocol.AppendArrayLen(buf, len(c.topics), flex)
	for i := range c.topics {
		tr := &c.topics[i]
		if v >= 13 {
			buf = append(buf, tr.id[:]...)
		} else {
			buf = protocol.AppendString(buf, tr.name, flex)
		}
		buf = protocol.AppendArrayLen(buf, len(tr.parts), flex)
		for j := range tr.parts {
			pr := &tr.parts[j]
			buf = protocol.AppendInt32(buf, pr.index)
			buf = protocol.AppendInt16(buf, pr.err)
			buf = protocol.AppendInt64(buf, pr.baseOffset)
			if v >= 2 {
				buf = protocol.AppendInt64(buf, pr.logAppendTime)
			}
			if v >= 5 {
				buf = protocol.AppendInt64(buf, pr.logStartOffset)
			}
			if v >= 8 {
				buf = protocol.AppendArrayLen(buf, 0, flex) // record errors
				if flex {
					buf = append(buf, 0) // null error message (compact: 0)
				} else {
					buf = protocol.AppendInt16(buf, -1)
				}
			}
			if flex {
				buf = protocol.AppendEmptyTags(buf) // CurrentLeader tag only on NOT_LEADER
			}
		}
		if flex {
			buf = protocol.AppendEmptyTags(buf)
		}
	}
	if v >= 1 {
		buf = protocol.AppendInt32(buf, 0) // throttle
	}
	if flex {
		buf = protocol.AppendEmptyTags(buf) // NodeEndpoints only with CurrentLeader
	}
	protocol.SetFrameSize(buf, len(buf)-4)
	c.buf = buf
	r := netpoll.GetResponse()
	r.Parts = append(r.Parts[:0], netpoll.Part{Buf: buf})
	r.OnDone = c.onDone
	c.cs.c.Reply(c.seq, r)
}

func (c *produceCtx) release() {
	for i := range c.topics {
		for j := range c.topics[i].parts {
			pr := &c.topics[i].parts[j]
			pr.p, pr.t, pr.records = nil, nil, nil
		}
	}
	c.cs = nil
	c.b = nil
	producePool.Put(c)
}
