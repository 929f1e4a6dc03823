package broker_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/broker"
	"github.com/weirhq/weir/weirtest"
)

// healthyClient keeps producing and consuming on its own connection while
// a test feeds the broker bad input; check fails the test if it ever
// failed or made no progress.
type healthyClient struct {
	stop     chan struct{}
	done     chan struct{}
	produced atomic.Int64
	mu       sync.Mutex
	err      error
}

func startHealthy(t *testing.T, addr, topic string) *healthyClient {
	h := &healthyClient{stop: make(chan struct{}), done: make(chan struct{})}
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond), kgo.AllowAutoTopicCreation())
	go func() {
		defer close(h.done)
		ctx := ctxT(t)
		next := 0 // next value expected by the consumer
		for i := 0; ; i++ {
			select {
			case <-h.stop:
				return
			default:
			}
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
				h.fail(fmt.Errorf("healthy produce %d: %w", i, err))
				return
			}
			h.produced.Add(1)
			for next <= i {
				fs := cl.PollFetches(ctx)
				if ctx.Err() != nil {
					h.fail(fmt.Errorf("healthy consume: %w", ctx.Err()))
					return
				}
				var ferr error
				fs.EachError(func(_ string, _ int32, err error) { ferr = err })
				if ferr != nil {
					h.fail(fmt.Errorf("healthy fetch: %w", ferr))
					return
				}
				for _, r := range fs.Records() {
					if string(r.Value) != fmt.Sprint(next) {
						h.fail(fmt.Errorf("healthy consumer read %s, want %d", r.Value, next))
						return
					}
					next++
				}
			}
		}
	}()
	return h
}

func (h *healthyClient) fail(err error) {
	h.mu.Lock()
	if h.err == nil {
		h.err = err
	}
	h.mu.Unlock()
}

// check waits for a little more progress and reports any failure.
func (h *healthyClient) check(t *testing.T) {
	t.Helper()
	n := h.produced.Load()
	deadline := time.Now().Add(10 * time.Second)
	for h.produced.Load() < n+3 && time.Now().Before(deadline) {
		h.mu.Lock()
		err := h.err
		h.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		t.Fatal(h.err)
	}
	if h.produced.Load() < n+3 {
		t.Fatal("the healthy client made no progress")
	}
}

func (h *healthyClient) close(t *testing.T) {
	t.Helper()
	h.check(t)
	close(h.stop)
	<-h.done
	if h.err != nil {
		t.Fatal(h.err)
	}
}

func frame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// header builds a request header v1 (no tags).
func header(key, version int16, corr int32, clientID string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	return append(b, clientID...)
}

// TestBadFrames sends unparseable or unsupported frames on raw
// connections: each is closed, and the broker keeps serving a healthy
// client throughout.
func TestBadFrames(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	id := createTopic(t, adm, "healthy", 1, nil)
	createTopic(t, adm, "target", 1, nil)
	h := startHealthy(t, b.Addr(), "healthy")

	goodProduce := kmsg.NewRequestFormatter().AppendRequest(nil, produceReq(9, "target", id, 0, 1, newBatch(t, batch.BuilderOptions{}, 1, "x", 0)), 1)[4:]
	metadata := kmsg.NewPtrMetadataRequest()
	metadata.Version = 12
	goodMetadata := kmsg.NewRequestFormatter().AppendRequest(nil, metadata, 1)[4:]
	fetch := kmsg.NewRequestFormatter().AppendRequest(nil, fetchReq(12, "target", id, 0, 0, 0, 1, 1<<20, 1<<20), 1)[4:]
	withVersion := func(body []byte, v int16) []byte {
		b := bytes.Clone(body)
		binary.BigEndian.PutUint16(b[2:], uint16(v))
		return b
	}
	withKey := func(body []byte, k int16) []byte {
		b := bytes.Clone(body)
		binary.BigEndian.PutUint16(b, uint16(k))
		return b
	}

	cases := []struct {
		name string
		raw  []byte
	}{
		{"garbage", frame(bytes.Repeat([]byte{0xff}, 64))},
		{"random garbage", frame([]byte("GET / HTTP/1.1\r\nHost: weir\r\n\r\n"))},
		{"HTTP request", []byte("GET / HTTP/1.1\r\nHost: weir\r\n\r\n")},
		{"TLS client hello", append([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}, make([]byte, 600)...)},
		{"negative size", []byte{0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0}},
		{"huge size", []byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0}},
		{"empty frame", frame(nil)},
		{"truncated header", frame([]byte{0, 3, 0, 12, 0, 0})},
		{"client id past the frame", frame(append(header(3, 1, 1, "")[:8], 0x00, 0x50, 'a'))},
		{"unknown api key 999", frame(append(header(999, 0, 1, "x"), 1, 2, 3))},
		{"unknown api key -1", frame(append(header(-1, 0, 1, "x"), 1, 2, 3))},
		{"unimplemented api key", frame(append(header(50, 0, 1, "x"), 0, 0, 0, 0))},
		{"Produce v14", frame(withVersion(goodProduce, 14))},
		{"Produce v-1", frame(withVersion(goodProduce, -1))},
		{"Fetch v3", frame(withVersion(fetch, 3))},
		{"Metadata v14", frame(withVersion(goodMetadata, 14))},
		{"Metadata as key 1000", frame(withKey(goodMetadata, 1000))},
		{"truncated Produce", frame(goodProduce[:len(goodProduce)-20])},
		{"truncated Produce body", frame(goodProduce[:20])},
		{"truncated Fetch", frame(fetch[:len(fetch)-5])},
		{"truncated Metadata", frame(goodMetadata[:len(goodMetadata)-1])},
		{"bad header tags", frame(append(header(3, 12, 1, "x"), 0x05, 0x01))},
		{"huge array length", frame(append(header(3, 4, 1, "x"), 0x7f, 0xff, 0xff, 0xff))},
		{"good then garbage", append(frame(goodMetadata), frame(bytes.Repeat([]byte{0xee}, 32))...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, b.Addr())
			before := c.endOffset("target", 0)
			if err := c.writeRaw(tc.raw); err != nil {
				t.Fatal(err)
			}
			if err := c.expectClosed(5 * time.Second); err != nil {
				t.Fatal(err)
			}
			h.check(t)
			c2 := dialRaw(t, b.Addr())
			if end := c2.endOffset("target", 0); end != before {
				t.Fatalf("end offset moved from %d to %d", before, end)
			}
		})
	}

	// A frame cut off by the client closing mid-frame, many times over.
	full := frame(goodProduce)
	for i := 0; i < 50; i++ {
		c := dialRaw(t, b.Addr())
		c.writeRaw(full[:1+i*7%(len(full)-1)])
		c.Close()
	}
	h.check(t)

	// A frame larger than socket.request.max.bytes is refused by size alone.
	small := weirtest.Start(t, weirtest.WithConfig(func(c *broker.Config) { c.Net.MaxRequestBytes = 64 << 10 }))
	c := dialRaw(t, small.Addr())
	c.writeRaw(binary.BigEndian.AppendUint32(nil, 128<<10))
	if err := c.expectClosed(5 * time.Second); err != nil {
		t.Fatalf("frame over the limit: %v", err)
	}
	h.close(t)
}

// TestBadBatches sends well-formed Produce requests with bad batches: the
// Kafka error code, nothing appended, other partitions unaffected.
func TestBadBatches(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	const topic = "batches"
	id := createTopic(t, adm, topic, 3, map[string]*string{"max.message.bytes": sp("10000")})
	c := dialRaw(t, b.Addr())
	h := startHealthy(t, b.Addr(), topic+"-healthy")
	good := func() []byte { return newBatch(t, batch.BuilderOptions{}, 5, "good", time.Now().UnixMilli()) }

	flip := func(at int) func([]byte) []byte {
		return func(b []byte) []byte { b[at] ^= 0x40; return b }
	}
	recrc := func(fn func([]byte) []byte) func([]byte) []byte {
		return func(b []byte) []byte { b = fn(b); batch.SetCRC(b); return b }
	}
	setU32 := func(at int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint32(b[at:], v); return b }
	}
	setU16 := func(at int, v uint16) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint16(b[at:], v); return b }
	}
	type mod func([]byte) []byte
	cases := []struct {
		name string
		fn   mod
		want []*kerr.Error // any of
	}{
		{"flipped record byte", flip(70), []*kerr.Error{kerr.CorruptMessage}},
		{"flipped last byte", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, []*kerr.Error{kerr.CorruptMessage}},
		{"flipped CRC", flip(18), []*kerr.Error{kerr.CorruptMessage}},
		{"flipped attributes", flip(22), []*kerr.Error{kerr.CorruptMessage}},
		{"flipped record count", flip(60), []*kerr.Error{kerr.CorruptMessage}},
		{"magic 1", func(b []byte) []byte { b[16] = 1; return b }, []*kerr.Error{kerr.CorruptMessage, kerr.InvalidRecord, kerr.UnsupportedForMessageFormat}},
		{"magic 3", func(b []byte) []byte { b[16] = 3; return b }, []*kerr.Error{kerr.CorruptMessage, kerr.InvalidRecord, kerr.UnsupportedForMessageFormat}},
		{"length too short", setU32(8, 10), []*kerr.Error{kerr.CorruptMessage}},
		{"length past the end", setU32(8, 1<<20), []*kerr.Error{kerr.CorruptMessage}},
		{"length negative", setU32(8, 0xfffffff0), []*kerr.Error{kerr.CorruptMessage}},
		{"truncated", func(b []byte) []byte { return b[:len(b)-3] }, []*kerr.Error{kerr.CorruptMessage}},
		{"header only", func(b []byte) []byte { return b[:40] }, []*kerr.Error{kerr.CorruptMessage}},
		{"trailing garbage", func(b []byte) []byte { return append(b, 1, 2, 3) }, []*kerr.Error{kerr.CorruptMessage}},
		{"empty records", func(b []byte) []byte { return b[:0] }, []*kerr.Error{kerr.CorruptMessage, kerr.InvalidRecord}},
		{"zero records", recrc(setU32(57, 0)), []*kerr.Error{kerr.CorruptMessage, kerr.InvalidRecord}},
		{"negative record count", recrc(setU32(57, 0xffffffff)), []*kerr.Error{kerr.CorruptMessage, kerr.InvalidRecord}},
		{"record count above last offset delta", recrc(setU32(57, 6)), []*kerr.Error{kerr.CorruptMessage, kerr.InvalidRecord}},
		{"last offset delta above record count", recrc(setU32(23, 1000)), []*kerr.Error{kerr.CorruptMessage, kerr.InvalidRecord}},
		{"negative last offset delta", recrc(setU32(23, 0xffffffff)), []*kerr.Error{kerr.CorruptMessage, kerr.InvalidRecord}},
		{"control batch", recrc(setU16(21, 0x30)), []*kerr.Error{kerr.InvalidRecord, kerr.CorruptMessage}},
		{"transactional batch", recrc(setU16(21, 0x10)), []*kerr.Error{kerr.InvalidRecord, kerr.TransactionalIDAuthorizationFailed, kerr.InvalidTxnState}},
		{"producer id without sequence", recrc(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[43:], 5)
			binary.BigEndian.PutUint16(b[51:], 0)
			binary.BigEndian.PutUint32(b[53:], 0xffffffff)
			return b
		}), []*kerr.Error{kerr.InvalidRecord}},
		{"unknown compression", recrc(setU16(21, 0x07)), []*kerr.Error{kerr.CorruptMessage, kerr.InvalidRecord, kerr.UnsupportedCompressionType}},
		{"oversize", func([]byte) []byte {
			return newBatch(t, batch.BuilderOptions{}, 200, string(bytes.Repeat([]byte("z"), 100)), 0)
		}, []*kerr.Error{kerr.MessageTooLarge}},
		{"idempotent then plain", func(b []byte) []byte {
			idem := newBatch(t, batch.BuilderOptions{Idempotent: true, ProducerID: 1, BaseSequence: 0}, 2, "i", 0)
			return append(idem, b...)
		}, []*kerr.Error{kerr.InvalidRecord}},
		{"plain then idempotent", func(b []byte) []byte {
			return append(b, newBatch(t, batch.BuilderOptions{Idempotent: true, ProducerID: 1, BaseSequence: 0}, 2, "i", 0)...)
		}, []*kerr.Error{kerr.InvalidRecord}},
		{"good then corrupt", func(b []byte) []byte {
			bad := good()
			bad[70] ^= 1
			return append(b, bad...)
		}, []*kerr.Error{kerr.CorruptMessage}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before [3]int64
			for p := int32(0); p < 3; p++ {
				before[p] = c.endOffset(topic, p)
			}
			// Partition 1 gets the bad batch; 0 and 2 good ones.
			req := kmsg.NewPtrProduceRequest()
			req.Version = 9
			req.Acks = -1
			req.TimeoutMillis = 5000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = topic
			for p := int32(0); p < 3; p++ {
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Partition = p
				rp.Records = good()
				if p == 1 {
					rp.Records = tc.fn(rp.Records)
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
			resp := c.must(req).(*kmsg.ProduceResponse)
			for _, p := range resp.Topics[0].Partitions {
				if p.Partition != 1 {
					if p.ErrorCode != 0 || p.BaseOffset != before[p.Partition] {
						t.Fatalf("good partition %d: %s, base offset %d, want %d", p.Partition, errName(p.ErrorCode), p.BaseOffset, before[p.Partition])
					}
					continue
				}
				ok := false
				for _, w := range tc.want {
					ok = ok || p.ErrorCode == w.Code
				}
				if !ok {
					t.Fatalf("bad partition: %s, want one of %v", errName(p.ErrorCode), tc.want)
				}
				if p.BaseOffset != -1 {
					t.Fatalf("bad partition: base offset %d", p.BaseOffset)
				}
			}
			for p := int32(0); p < 3; p++ {
				want := before[p] + 5
				if p == 1 {
					want = before[p]
				}
				if end := c.endOffset(topic, p); end != want {
					t.Fatalf("partition %d end offset %d, want %d", p, end, want)
				}
			}
		})
	}

	// Every stored batch is still valid and readable.
	for p := int32(0); p < 3; p++ {
		f := c.fetchOne(fetchReq(12, topic, id, p, 0, 0, 1, 100<<20, 100<<20))
		if n := len(decodeBatches(t, f.RecordBatches)); int64(n) != f.HighWatermark {
			t.Fatalf("partition %d: %d records decoded, high watermark %d", p, n, f.HighWatermark)
		}
	}

	// Request-level problems.
	bt := good()
	resp := c.must(produceReq(9, topic, id, 0, 2, bt)).(*kmsg.ProduceResponse)
	wantCode(t, "acks 2", resp.Topics[0].Partitions[0].ErrorCode, kerr.InvalidRequiredAcks)
	req := produceReq(9, topic, id, 0, -1, bt)
	req.TransactionID = sp("txn")
	resp = c.must(req).(*kmsg.ProduceResponse)
	if resp.Topics[0].Partitions[0].ErrorCode == 0 {
		t.Fatal("transactional produce accepted without a transaction coordinator")
	}
	for _, tc := range []struct {
		topic string
		part  int32
		want  *kerr.Error
	}{
		{"no-such-topic", 0, kerr.UnknownTopicOrPartition},
		{"bad name!", 0, kerr.UnknownTopicOrPartition},
		{"", 0, kerr.UnknownTopicOrPartition},
		{topic, 3, kerr.UnknownTopicOrPartition},
		{topic, -1, kerr.UnknownTopicOrPartition},
	} {
		p := c.produceOne(9, tc.topic, [16]byte{}, tc.part, bt)
		wantCode(t, fmt.Sprintf("produce to %q/%d", tc.topic, tc.part), p.ErrorCode, tc.want)
	}
	// Invalid names in Metadata and CreateTopics.
	for _, name := range []string{"bad name!", "", "..", string(bytes.Repeat([]byte("n"), 300)), "tab\tname", "ünïcode"} {
		mresp := metadataFor(c, 12, true, name)
		wantCode(t, fmt.Sprintf("metadata for %q", name), mresp.Topics[0].ErrorCode, kerr.InvalidTopicException)
		cr, err := adm.CreateTopic(ctxT(t), 1, 1, nil, name)
		if err == nil {
			err = cr.Err
		}
		if err == nil {
			t.Fatalf("created topic %q", name)
		}
	}
	h.close(t)
}

// TestManyBadConnections opens many connections that misbehave at once
// while a healthy client works.
func TestManyBadConnections(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	createTopic(t, adm, "many", 1, nil)
	h := startHealthy(t, b.Addr(), "many")
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := dialRaw(t, b.Addr())
			switch i % 4 {
			case 0: // slowloris: a partial frame, then silence
				c.writeRaw([]byte{0, 0, 1})
			case 1: // garbage
				c.writeRaw(frame(bytes.Repeat([]byte{byte(i)}, 100)))
			case 2: // a valid request, never reading the response
				m := kmsg.NewPtrMetadataRequest()
				m.Version = 12
				for j := 0; j < 100; j++ {
					c.send(m)
				}
			case 3: // a long-poll fetch, then the client goes away
				c.send(fetchReq(12, "many", [16]byte{}, 0, 1<<20, 30000, 1, 1<<20, 1<<20))
				c.Close()
			}
		}(i)
	}
	wg.Wait()
	h.close(t)
}

// TestAcksZeroErrors: an acks=0 produce gets no response; when it fails,
// the broker closes the connection so the client notices (as Kafka does),
// and when it succeeds the connection stays usable.
func TestAcksZeroErrors(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	id := createTopic(t, adm, "acks0", 1, nil)
	good := newBatch(t, batch.BuilderOptions{}, 1, "x", 0)
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1

	c := dialRaw(t, b.Addr())
	if _, err := c.send(produceReq(9, "acks0", id, 0, 0, good)); err != nil {
		t.Fatal(err)
	}
	m := kmsg.NewPtrMetadataRequest()
	m.Version = 12
	c.must(m) // the next response is Metadata's: nothing was sent for acks=0
	for deadline := time.Now().Add(5 * time.Second); c.endOffset("acks0", 0) != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the acks=0 record never became visible")
		}
	}
	for _, tc := range []struct {
		name string
		req  *kmsg.ProduceRequest
	}{
		{"corrupt batch", produceReq(9, "acks0", id, 0, 0, bad)},
		{"unknown topic", produceReq(9, "no-such-topic", id, 0, 0, good)},
		{"unknown partition", produceReq(9, "acks0", id, 5, 0, good)},
	} {
		c := dialRaw(t, b.Addr())
		if _, err := c.send(tc.req); err != nil {
			t.Fatal(err)
		}
		if err := c.expectClosed(5 * time.Second); err != nil {
			t.Fatalf("%s with acks=0: %v", tc.name, err)
		}
	}
	// kgo with acks=0 keeps producing through such closes.
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("acks0"), kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	if err := cl.ProduceSync(ctxT(t), &kgo.Record{Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
