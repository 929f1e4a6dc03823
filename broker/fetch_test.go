package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/weirtest"
)

// TestFetchLongPoll checks max.wait.ms and min.bytes. The bounds are
// generous: these check behaviour, not speed.
func TestFetchLongPoll(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	const topic = "longpoll"
	id := createTopic(t, adm, topic, 1, nil)
	c := dialRaw(t, b.Addr())

	t.Run("empty partition waits max.wait.ms", func(t *testing.T) {
		start := time.Now()
		p := c.fetchOne(fetchReq(12, topic, id, 0, 0, 500, 1, 1<<20, 1<<20))
		took := time.Since(start)
		if p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
			t.Fatalf("error %s, %d record bytes; want none", errName(p.ErrorCode), len(p.RecordBatches))
		}
		if took < 450*time.Millisecond || took > 5*time.Second {
			t.Fatalf("fetch returned after %v, want about 500ms", took)
		}
	})

	t.Run("max.wait.ms 0 returns at once", func(t *testing.T) {
		start := time.Now()
		p := c.fetchOne(fetchReq(12, topic, id, 0, 0, 0, 1, 1<<20, 1<<20))
		if took := time.Since(start); took > 300*time.Millisecond {
			t.Fatalf("fetch with max.wait.ms 0 took %v", took)
		}
		if p.ErrorCode != 0 || len(p.RecordBatches) != 0 || p.HighWatermark != 0 {
			t.Fatalf("error %s, %d record bytes, high watermark %d", errName(p.ErrorCode), len(p.RecordBatches), p.HighWatermark)
		}
	})

	t.Run("data arriving wakes the fetch", func(t *testing.T) {
		for _, v := range []int16{4, 12, 13, 18} { // by name and by id
			end := c.endOffset(topic, 0)
			prod := dialRaw(t, b.Addr())
			req := fetchReq(v, topic, id, 0, end, 5000, 1, 1<<20, 1<<20)
			start := time.Now()
			corr, err := c.send(req)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			val := fmt.Sprintf("wake-%d", v)
			if p := prod.produceOne(9, topic, id, 0, newBatch(t, batch.BuilderOptions{}, 1, val, time.Now().UnixMilli())); p.ErrorCode != 0 {
				t.Fatalf("produce: %s", errName(p.ErrorCode))
			}
			resp, err := c.recv(req, corr, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
			recs := decodeBatches(t, p.RecordBatches)
			if p.ErrorCode != 0 || len(recs) != 1 || recs[0].Value != val+"-0" {
				t.Fatalf("v%d: error %s, records %+v", v, errName(p.ErrorCode), recs)
			}
			if took < 90*time.Millisecond || took > 2*time.Second {
				t.Fatalf("v%d: fetch returned after %v; want soon after the produce at 100ms (max wait 5s)", v, took)
			}
		}
	})

	t.Run("min.bytes above what is there waits and returns it", func(t *testing.T) {
		end := c.endOffset(topic, 0)
		start := time.Now()
		p := c.fetchOne(fetchReq(12, topic, id, 0, end-1, 500, 1<<20, 4<<20, 4<<20))
		took := time.Since(start)
		recs := decodeBatches(t, p.RecordBatches)
		if p.ErrorCode != 0 || len(recs) != 1 || recs[0].Offset != end-1 {
			t.Fatalf("error %s, records %+v", errName(p.ErrorCode), recs)
		}
		if took < 450*time.Millisecond || took > 5*time.Second {
			t.Fatalf("fetch returned after %v, want about 500ms", took)
		}
	})

	t.Run("min.bytes reached before max.wait.ms", func(t *testing.T) {
		end := c.endOffset(topic, 0)
		prod := dialRaw(t, b.Addr())
		// Three batches of about 1 KiB; min.bytes 2500 is met by the third.
		req := fetchReq(12, topic, id, 0, end, 10000, 2500, 1<<20, 1<<20)
		start := time.Now()
		corr, err := c.send(req)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			time.Sleep(50 * time.Millisecond)
			bt := newBatch(t, batch.BuilderOptions{}, 10, fmt.Sprintf("%0100d", i), time.Now().UnixMilli())
			if p := prod.produceOne(9, topic, id, 0, bt); p.ErrorCode != 0 {
				t.Fatalf("produce: %s", errName(p.ErrorCode))
			}
		}
		resp, err := c.recv(req, corr, 15*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
		if n := len(decodeBatches(t, p.RecordBatches)); n != 30 || took > 5*time.Second {
			t.Fatalf("%d records after %v, want 30 soon after 150ms", n, took)
		}
	})

	t.Run("several partitions, data on one", func(t *testing.T) {
		const topic2 = "longpoll-multi"
		id2 := createTopic(t, adm, topic2, 3, nil)
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.MaxWaitMillis = 5000
		req.MinBytes = 1
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic2
		for p := int32(0); p < 3; p++ {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = p
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		start := time.Now()
		corr, err := c.send(req)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		prod := dialRaw(t, b.Addr())
		if p := prod.produceOne(9, topic2, id2, 2, newBatch(t, batch.BuilderOptions{}, 1, "x", 0)); p.ErrorCode != 0 {
			t.Fatalf("produce: %s", errName(p.ErrorCode))
		}
		resp, err := c.recv(req, corr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("fetch returned after %v", took)
		}
		ps := resp.(*kmsg.FetchResponse).Topics[0].Partitions
		if len(ps) != 3 || len(ps[2].RecordBatches) == 0 || len(ps[0].RecordBatches) != 0 {
			t.Fatalf("unexpected response %+v", ps)
		}
	})
}

// produceBatches appends n batches of per records each (values
// prefix-i-j) to a partition and returns their sizes.
func produceBatches(t *testing.T, c *rawClient, topic string, partition int32, n, per int, prefix string) []int {
	t.Helper()
	var sizes []int
	for i := 0; i < n; i++ {
		bt := newBatch(t, batch.BuilderOptions{}, per, fmt.Sprintf("%s-%d", prefix, i), time.Now().UnixMilli())
		sizes = append(sizes, len(bt))
		if p := c.produceOne(9, topic, [16]byte{}, partition, bt); p.ErrorCode != 0 {
			t.Fatalf("produce %s/%d: %s", topic, partition, errName(p.ErrorCode))
		}
	}
	return sizes
}

// TestFetchSemantics checks offsets out of range, the high watermark,
// byte limits and topic ids.
func TestFetchSemantics(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	c := dialRaw(t, b.Addr())

	const topic = "fetchsem"
	id := createTopic(t, adm, topic, 1, nil)
	produceBatches(t, c, topic, 0, 10, 10, "r") // offsets 0..99

	t.Run("out of range", func(t *testing.T) {
		// Move the log start to 25.
		dr, err := adm.DeleteRecords(ctxT(t), kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: 25}}})
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := dr.Lookup(topic, 0); r.Err != nil || r.LowWatermark != 25 {
			t.Fatalf("delete records: %+v", r)
		}
		for _, off := range []int64{0, 24, 101, 1 << 40} {
			p := c.fetchOne(fetchReq(12, topic, id, 0, off, 0, 1, 1<<20, 1<<20))
			wantCode(t, fmt.Sprintf("fetch at %d", off), p.ErrorCode, kerr.OffsetOutOfRange)
			if p.LogStartOffset != 25 || p.HighWatermark != 100 {
				t.Fatalf("fetch at %d: log start %d, high watermark %d", off, p.LogStartOffset, p.HighWatermark)
			}
		}
		p := c.fetchOne(fetchReq(12, topic, id, 0, 25, 0, 1, 1<<20, 1<<20))
		recs := decodeBatches(t, p.RecordBatches)
		if p.ErrorCode != 0 || len(recs) == 0 {
			t.Fatalf("fetch at the new start: %s, %d records", errName(p.ErrorCode), len(recs))
		}
		// The batch holding offset 25 starts at 20: clients skip below.
		if recs[0].Offset > 25 || recs[len(recs)-1].Offset != 99 {
			t.Fatalf("fetch at 25 returned offsets %d..%d", recs[0].Offset, recs[len(recs)-1].Offset)
		}
	})

	t.Run("at the high watermark", func(t *testing.T) {
		p := c.fetchOne(fetchReq(12, topic, id, 0, 100, 0, 1, 1<<20, 1<<20))
		if p.ErrorCode != 0 || len(p.RecordBatches) != 0 || p.HighWatermark != 100 {
			t.Fatalf("error %s, %d bytes, high watermark %d", errName(p.ErrorCode), len(p.RecordBatches), p.HighWatermark)
		}
	})

	t.Run("partition_max_bytes below the first batch", func(t *testing.T) {
		const topic = "bigbatch"
		id := createTopic(t, adm, topic, 1, nil)
		sizes := produceBatches(t, c, topic, 0, 3, 200, "big")
		p := c.fetchOne(fetchReq(12, topic, id, 0, 0, 0, 1, 1<<20, 100))
		if len(p.RecordBatches) < sizes[0] {
			t.Fatalf("partition_max_bytes 100: %d bytes, want the whole first batch of %d", len(p.RecordBatches), sizes[0])
		}
		if recs := decodeBatches(t, p.RecordBatches); len(recs) != 200 {
			t.Fatalf("decoded %d records, want the first batch's 200", len(recs))
		}
		// Same with the response max_bytes.
		p = c.fetchOne(fetchReq(12, topic, id, 0, 0, 0, 1, 100, 1<<20))
		if recs := decodeBatches(t, p.RecordBatches); len(recs) < 200 {
			t.Fatalf("max_bytes 100: decoded %d records, want at least the first batch", len(recs))
		}
		// From the middle of a batch: the whole batch holding it.
		p = c.fetchOne(fetchReq(12, topic, id, 0, 250, 0, 1, 1<<20, 10))
		if recs := decodeBatches(t, p.RecordBatches); len(recs) != 200 || recs[0].Offset != 200 {
			t.Fatalf("fetch at 250: %d records from %v", len(recs), recs)
		}
	})

	t.Run("max_bytes across partitions", func(t *testing.T) {
		const topic = "multi"
		id := createTopic(t, adm, topic, 4, nil)
		var per int
		for p := int32(0); p < 4; p++ {
			sizes := produceBatches(t, c, topic, p, 10, 10, fmt.Sprintf("p%d", p))
			per = 0
			for _, s := range sizes {
				per += s
			}
		}
		req := kmsg.NewPtrFetchRequest()
		req.Version = 13
		req.MaxBytes = int32(per + per/2)
		req.MinBytes = 1
		rt := kmsg.NewFetchRequestTopic()
		rt.TopicID = id
		for p := int32(0); p < 4; p++ {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = p
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp := c.must(req).(*kmsg.FetchResponse)
		total := 0
		full := 0
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("partition %d: %s", p.Partition, errName(p.ErrorCode))
			}
			total += len(p.RecordBatches)
			if len(p.RecordBatches) == per {
				full++
			}
		}
		if total > int(req.MaxBytes) || full != 1 || total < per {
			t.Fatalf("max_bytes %d over 4 partitions of %d bytes: %d bytes in total, %d partitions whole", req.MaxBytes, per, total, full)
		}
		// partition_max_bytes limits each partition.
		req.MaxBytes = 1 << 30
		for i := range req.Topics[0].Partitions {
			req.Topics[0].Partitions[i].PartitionMaxBytes = int32(per / 2)
		}
		resp = c.must(req).(*kmsg.FetchResponse)
		for _, p := range resp.Topics[0].Partitions {
			if len(p.RecordBatches) > per/2 || len(p.RecordBatches) == 0 {
				t.Fatalf("partition_max_bytes %d: partition %d returned %d bytes", per/2, p.Partition, len(p.RecordBatches))
			}
		}
	})

	t.Run("topic ids", func(t *testing.T) {
		for v := int16(13); v <= 18; v++ {
			p := c.fetchOne(fetchReq(v, "", id, 0, 90, 0, 1, 1<<20, 1<<20))
			if recs := decodeBatches(t, p.RecordBatches); p.ErrorCode != 0 || len(recs) == 0 || recs[len(recs)-1].Offset != 99 {
				t.Fatalf("v%d by id: %s, %d records", v, errName(p.ErrorCode), len(recs))
			}
			resp := c.must(fetchReq(v, "", [16]byte{1, 2, 3}, 0, 0, 0, 1, 1<<20, 1<<20)).(*kmsg.FetchResponse)
			if got := resp.Topics[0].Partitions[0].ErrorCode; got != kerr.UnknownTopicID.Code {
				t.Fatalf("v%d unknown id: %s", v, errName(got))
			}
			if resp.Topics[0].TopicID != [16]byte{1, 2, 3} {
				t.Fatalf("v%d unknown id: response names topic %x", v, resp.Topics[0].TopicID)
			}
		}
		p := c.fetchOne(fetchReq(12, "no-such-topic", [16]byte{}, 0, 0, 0, 1, 1<<20, 1<<20))
		wantCode(t, "unknown topic by name", p.ErrorCode, kerr.UnknownTopicOrPartition)
		p = c.fetchOne(fetchReq(12, topic, [16]byte{}, 7, 0, 0, 1, 1<<20, 1<<20))
		wantCode(t, "unknown partition", p.ErrorCode, kerr.UnknownTopicOrPartition)
	})

}

// TestEveryVersion runs every advertised version of the data-path APIs.
func TestEveryVersion(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	c := dialRaw(t, b.Addr())
	const topic = "versions"
	id := createTopic(t, adm, topic, 2, nil)

	t.Run("Produce 3-13", func(t *testing.T) {
		want := int64(0)
		for v := int16(3); v <= 13; v++ {
			bt := newBatch(t, batch.BuilderOptions{}, 2, fmt.Sprintf("v%d", v), 1000+int64(v))
			for _, acks := range []int16{1, -1} {
				resp := c.must(produceReq(v, topic, id, 0, acks, bt)).(*kmsg.ProduceResponse)
				if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
					t.Fatalf("v%d: response %+v", v, resp)
				}
				rt := resp.Topics[0]
				if v >= 13 && rt.TopicID != id || v < 13 && rt.Topic != topic {
					t.Fatalf("v%d: response topic %q %x", v, rt.Topic, rt.TopicID)
				}
				p := rt.Partitions[0]
				if p.ErrorCode != 0 || p.BaseOffset != want {
					t.Fatalf("v%d acks %d: error %s, base offset %d, want %d", v, acks, errName(p.ErrorCode), p.BaseOffset, want)
				}
				if v >= 5 && p.LogStartOffset != 0 {
					t.Fatalf("v%d: log start offset %d", v, p.LogStartOffset)
				}
				if p.LogAppendTime != -1 {
					t.Fatalf("v%d: log append time %d on a CreateTime topic", v, p.LogAppendTime)
				}
				want += 2
			}
		}
		// v0-2 are advertised (as Kafka 4 does) but refused per partition.
		for v := int16(0); v <= 2; v++ {
			bt := newBatch(t, batch.BuilderOptions{}, 1, "old", 0)
			resp := c.must(produceReq(v, topic, id, 0, 1, bt)).(*kmsg.ProduceResponse)
			wantCode(t, fmt.Sprintf("Produce v%d", v), resp.Topics[0].Partitions[0].ErrorCode, kerr.UnsupportedVersion)
		}
		// v14 is beyond what is advertised: the connection is closed.
		bad := dialRaw(t, b.Addr())
		req := produceReq(13, topic, id, 0, 1, newBatch(t, batch.BuilderOptions{}, 1, "new", 0))
		frame := bad.f.AppendRequest(nil, req, 1)
		frame[6] = 14 // api version low byte
		if err := bad.writeRaw(frame); err != nil {
			t.Fatal(err)
		}
		if err := bad.expectClosed(5 * time.Second); err != nil {
			t.Fatalf("Produce v14: %v", err)
		}
		if end := c.endOffset(topic, 0); end != want {
			t.Fatalf("end offset %d, want %d: refused versions appended", end, want)
		}
	})

	t.Run("Fetch 4-18", func(t *testing.T) {
		end := c.endOffset(topic, 0)
		for v := int16(4); v <= 18; v++ {
			for _, iso := range []int8{0, 1} {
				req := fetchReq(v, topic, id, 0, 0, 100, 1, 1<<20, 1<<20)
				req.IsolationLevel = iso
				p := c.fetchOne(req)
				recs := decodeBatches(t, p.RecordBatches)
				if p.ErrorCode != 0 || int64(len(recs)) != end || p.HighWatermark != end {
					t.Fatalf("v%d: error %s, %d records, high watermark %d; want %d", v, errName(p.ErrorCode), len(recs), p.HighWatermark, end)
				}
				if v >= 5 && p.LogStartOffset != 0 {
					t.Fatalf("v%d: log start %d", v, p.LogStartOffset)
				}
				if p.LastStableOffset != end {
					t.Fatalf("v%d: last stable offset %d", v, p.LastStableOffset)
				}
				for i, r := range recs {
					if r.Offset != int64(i) {
						t.Fatalf("v%d: record %d has offset %d", v, i, r.Offset)
					}
				}
				if recs[0].Value != "v3-0" || recs[0].Timestamp != 1003 {
					t.Fatalf("v%d: first record %+v", v, recs[0])
				}
			}
		}
		for _, v := range []int16{0, 3, 19} {
			bad := dialRaw(t, b.Addr())
			req := fetchReq(12, topic, id, 0, 0, 0, 1, 1<<20, 1<<20)
			frame := bad.f.AppendRequest(nil, req, 1)
			frame[7] = byte(v)
			if err := bad.writeRaw(frame); err != nil {
				t.Fatal(err)
			}
			if err := bad.expectClosed(5 * time.Second); err != nil {
				t.Fatalf("Fetch v%d: %v", v, err)
			}
		}
	})

	t.Run("Metadata 0-13", func(t *testing.T) {
		for v := int16(0); v <= 13; v++ {
			req := kmsg.NewPtrMetadataRequest()
			req.Version = v
			rt := kmsg.NewMetadataRequestTopic()
			name := topic
			rt.Topic = &name
			req.Topics = append(req.Topics, rt)
			resp := c.must(req).(*kmsg.MetadataResponse)
			if len(resp.Brokers) != 1 || resp.Brokers[0].Port == 0 || resp.Brokers[0].Host == "" {
				t.Fatalf("v%d: brokers %+v", v, resp.Brokers)
			}
			if len(resp.Topics) != 1 {
				t.Fatalf("v%d: %d topics", v, len(resp.Topics))
			}
			mt := resp.Topics[0]
			if mt.ErrorCode != 0 || mt.Topic == nil || *mt.Topic != topic || len(mt.Partitions) != 2 {
				t.Fatalf("v%d: topic %+v", v, mt)
			}
			if v >= 10 && mt.TopicID != id {
				t.Fatalf("v%d: topic id %x, want %x", v, mt.TopicID, id)
			}
			if v >= 2 && (resp.ClusterID == nil || *resp.ClusterID == "") {
				t.Fatalf("v%d: no cluster id", v)
			}
			for _, p := range mt.Partitions {
				if p.Leader != resp.Brokers[0].NodeID || len(p.Replicas) != 1 || len(p.ISR) != 1 {
					t.Fatalf("v%d: partition %+v", v, p)
				}
			}
			// All topics: null list (v1+), empty list (v0).
			all := kmsg.NewPtrMetadataRequest()
			all.Version = v
			if v == 0 {
				all.Topics = []kmsg.MetadataRequestTopic{}
			}
			resp = c.must(all).(*kmsg.MetadataResponse)
			found := false
			for _, mt := range resp.Topics {
				found = found || mt.Topic != nil && *mt.Topic == topic
			}
			if !found {
				t.Fatalf("v%d: listing all topics misses %s", v, topic)
			}
		}
	})

	t.Run("ListOffsets 1-11", func(t *testing.T) {
		end := c.endOffset(topic, 0)
		for v := int16(1); v <= 11; v++ {
			// Offsets 2k and 2k+1 have timestamps 1000+v and 1001+v for
			// versions v = 3, 3, 4, 4, ...: offset 5 is the first at 1005.
			for _, tc := range []struct{ ts, want int64 }{{-2, 0}, {-1, end}, {1005, 5}, {1 << 50, -1}} {
				req := kmsg.NewPtrListOffsetsRequest()
				req.Version = v
				req.ReplicaID = -1
				rt := kmsg.NewListOffsetsRequestTopic()
				rt.Topic = topic
				rp := kmsg.NewListOffsetsRequestTopicPartition()
				rp.Partition = 0
				rp.Timestamp = tc.ts
				rp.CurrentLeaderEpoch = -1
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				resp := c.must(req).(*kmsg.ListOffsetsResponse)
				p := resp.Topics[0].Partitions[0]
				if p.ErrorCode != 0 || p.Offset != tc.want {
					t.Fatalf("v%d timestamp %d: error %s, offset %d, want %d", v, tc.ts, errName(p.ErrorCode), p.Offset, tc.want)
				}
				if tc.ts == 1005 && p.Timestamp != 1005 {
					t.Fatalf("v%d: timestamp %d for offset %d", v, p.Timestamp, p.Offset)
				}
			}
		}
	})
}

// TestCompressedBatches produces a batch in every codec and reads them
// back with kgo (which decompresses) and raw (which checks CRCs).
func TestCompressedBatches(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	const topic = "codecs"
	id := createTopic(t, adm, topic, 1, nil)
	c := dialRaw(t, b.Addr())
	codecs := []batch.Compression{batch.None, batch.Gzip, batch.Snappy, batch.LZ4, batch.Zstd}
	for i, codec := range codecs {
		bt := newBatch(t, batch.BuilderOptions{Compression: codec}, 50, codec.String(), 1000)
		if p := c.produceOne(9, topic, id, 0, bt); p.ErrorCode != 0 || p.BaseOffset != int64(50*i) {
			t.Fatalf("%v: %s at %d", codec, errName(p.ErrorCode), p.BaseOffset)
		}
	}
	p := c.fetchOne(fetchReq(12, topic, id, 0, 0, 0, 1, 1<<20, 1<<20))
	if recs := decodeBatches(t, p.RecordBatches); len(recs) != 50*len(codecs) {
		t.Fatalf("decoded %d records", len(recs))
	}
	got := consumeAll(t, b.Addr(), topic, 50*len(codecs))[0]
	for i, r := range got {
		want := fmt.Sprintf("%s-%d", codecs[i/50], i%50)
		if r.Offset != int64(i) || string(r.Value) != want {
			t.Fatalf("record %d: offset %d value %q, want %q", i, r.Offset, r.Value, want)
		}
	}
}
