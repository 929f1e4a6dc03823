package broker_test

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/weirtest"
)

// TestProduceManyPartitions sends Produce requests spanning 200 partitions
// (appended by the event loop and an append worker together): every
// partition gets its own offsets and results, a corrupt batch fails only
// its partition, a partition named twice in one request keeps the
// request's order, and every record reads back where the response said.
func TestProduceManyPartitions(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	const parts = 200
	topic := "many-parts"
	createTopic(t, adm, topic, parts, nil)
	c := dialRaw(t, b.Addr())

	for round := range 3 {
		for _, acks := range []int16{-1, 1} {
			req := kmsg.NewPtrProduceRequest()
			req.Version = 9
			req.Acks = acks
			req.TimeoutMillis = 10000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = topic
			prefix := func(p int32, k int) string { return fmt.Sprintf("r%d-a%d-p%d-%d", round, acks, p, k) }
			for p := int32(0); p < parts; p++ {
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Partition = p
				rp.Records = newBatch(t, batch.BuilderOptions{}, 1+int(p%3), prefix(p, 0), 1_700_000_000_000)
				if p == 77 || p == 78 {
					rp.Records[len(rp.Records)-1] ^= 0xff // bad CRC, on both sides of the split
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			// Partitions 5 and 6 again, later in the same request.
			for _, p := range []int32{5, 6} {
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Partition = p
				rp.Records = newBatch(t, batch.BuilderOptions{}, 2, prefix(p, 1), 1_700_000_000_000)
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
			before := make([]int64, parts)
			for p := range before {
				before[p] = c.endOffset(topic, int32(p))
			}
			resp := c.must(req).(*kmsg.ProduceResponse)
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != parts+2 {
				t.Fatalf("response shape: %d topics", len(resp.Topics))
			}
			results := resp.Topics[0].Partitions
			for i, pr := range results {
				p := pr.Partition
				switch {
				case p == 77 || p == 78:
					wantCode(t, fmt.Sprintf("partition %d with a bad CRC", p), pr.ErrorCode, kerr.CorruptMessage)
					continue
				case pr.ErrorCode != 0:
					t.Fatalf("round %d acks %d: entry %d (partition %d): %v", round, acks, i, p, kerr.ErrorForCode(pr.ErrorCode))
				}
				want := before[p]
				if i >= parts { // the second batch follows the first
					want += 1 + int64(p%3)
				}
				if pr.BaseOffset != want {
					t.Fatalf("round %d acks %d: entry %d (partition %d): base offset %d, want %d", round, acks, i, p, pr.BaseOffset, want)
				}
			}
			// Read every partition back (acks=1 data once durable: the
			// fetch waits for the high watermark, which may pass the two
			// batches of partitions 5 and 6 in separate group commits).
			for p := int32(0); p < parts; p++ {
				var want []string
				if p != 77 && p != 78 {
					for k := range 1 + int(p%3) {
						want = append(want, fmt.Sprintf("%s-%d", prefix(p, 0), k))
					}
				}
				if p == 5 || p == 6 {
					want = append(want, prefix(p, 1)+"-0", prefix(p, 1)+"-1")
				}
				wait := int32(5000)
				if p == 77 || p == 78 {
					wait = 0 // nothing new to wait for
				}
				var got []rec
				for {
					fp := c.fetchOne(fetchReq(11, topic, [16]byte{}, p, before[p]+int64(len(got)), wait, 1, 1<<20, 1<<20))
					if fp.ErrorCode != 0 {
						t.Fatalf("fetch partition %d: %v", p, kerr.ErrorForCode(fp.ErrorCode))
					}
					more := decodeBatches(t, fp.RecordBatches)
					got = append(got, more...)
					if len(more) == 0 || len(got) >= len(want) {
						break
					}
				}
				if len(got) != len(want) {
					t.Fatalf("round %d acks %d: partition %d: read %d records, want %d", round, acks, p, len(got), len(want))
				}
				for k := range got {
					if got[k].Value != want[k] || got[k].Offset != before[p]+int64(k) {
						t.Fatalf("partition %d record %d: offset %d value %q, want offset %d value %q",
							p, k, got[k].Offset, got[k].Value, before[p]+int64(k), want[k])
					}
				}
			}
		}
	}
}
