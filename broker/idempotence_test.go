package broker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/weirtest"
)

// initProducerID asks for an idempotent producer id.
func (c *rawClient) initProducerID() (int64, int16) {
	c.t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	resp := c.must(req).(*kmsg.InitProducerIDResponse)
	if resp.ErrorCode != 0 {
		c.t.Fatalf("InitProducerId: %v", errName(resp.ErrorCode))
	}
	return resp.ProducerID, resp.ProducerEpoch
}

// idemBatch builds an idempotent batch of n records.
func idemBatch(t testing.TB, pid int64, epoch int16, seq int32, n int, prefix string) []byte {
	return newBatch(t, batch.BuilderOptions{Idempotent: true, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}, n, prefix, time.Now().UnixMilli())
}

// TestIdempotentSequences drives the idempotence checks with raw Produce
// requests: duplicates, gaps, fenced epochs, unknown producers, and
// producer state surviving restarts.
func TestIdempotentSequences(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	const topic = "idem"
	id := createTopic(t, adm, topic, 1, nil)
	c := dialRaw(t, b.Addr())
	pid, epoch := c.initProducerID()
	pid2, _ := c.initProducerID()
	if pid2 == pid {
		t.Fatalf("InitProducerId returned %d twice", pid)
	}

	// v9 by name, v13 by topic id: both paths run the same checks.
	produce := func(records []byte) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		return c.produceOne(9, topic, id, 0, records)
	}
	mustOK := func(what string, p kmsg.ProduceResponseTopicPartition, base int64) {
		t.Helper()
		if p.ErrorCode != 0 {
			t.Fatalf("%s: %s", what, errName(p.ErrorCode))
		}
		if p.BaseOffset != base {
			t.Fatalf("%s: base offset %d, want %d", what, p.BaseOffset, base)
		}
	}

	b0 := idemBatch(t, pid, epoch, 0, 5, "a")
	mustOK("first batch", produce(b0), 0)
	// The same batch again (a retry): same offset, nothing appended.
	mustOK("duplicate of first batch", produce(b0), 0)
	mustOK("duplicate of first batch via v13", c.produceOne(13, "", id, 0, b0), 0)
	if end := c.endOffset(topic, 0); end != 5 {
		t.Fatalf("end offset %d after a duplicate, want 5", end)
	}
	b1 := idemBatch(t, pid, epoch, 5, 3, "b")
	mustOK("second batch", produce(b1), 5)
	mustOK("duplicate of older batch", produce(b0), 0)
	mustOK("duplicate of second batch", produce(b1), 5)

	// A gap: sequence 10 when 8 is next.
	p := produce(idemBatch(t, pid, epoch, 10, 1, "gap"))
	wantCode(t, "sequence gap", p.ErrorCode, kerr.OutOfOrderSequenceNumber)
	// A batch overlapping the last one but not equal to it.
	p = produce(idemBatch(t, pid, epoch, 6, 3, "overlap"))
	wantCode(t, "overlapping sequence", p.ErrorCode, kerr.OutOfOrderSequenceNumber)
	if end := c.endOffset(topic, 0); end != 8 {
		t.Fatalf("end offset %d after refused batches, want 8", end)
	}

	// A new epoch starts at sequence 0; the old epoch is then fenced.
	p = produce(idemBatch(t, pid, epoch+1, 3, 1, "new-epoch-bad-seq"))
	wantCode(t, "new epoch not at sequence 0", p.ErrorCode, kerr.OutOfOrderSequenceNumber)
	mustOK("new epoch", produce(idemBatch(t, pid, epoch+1, 0, 2, "c")), 8)
	p = produce(idemBatch(t, pid, epoch, 8, 1, "fenced"))
	wantCode(t, "old epoch", p.ErrorCode, kerr.InvalidProducerEpoch)
	p = produce(b1) // even a duplicate of the old epoch is fenced
	wantCode(t, "old epoch duplicate", p.ErrorCode, kerr.InvalidProducerEpoch)

	// An unknown producer must start at sequence 0.
	p = produce(idemBatch(t, pid2, 0, 7, 1, "unknown"))
	wantCode(t, "unknown producer", p.ErrorCode, kerr.UnknownProducerID)
	if end := c.endOffset(topic, 0); end != 10 {
		t.Fatalf("end offset %d, want 10", end)
	}

	// Producer state survives a clean restart (snapshot)...
	last := idemBatch(t, pid, epoch+1, 2, 4, "d")
	mustOK("before restart", produce(last), 10)
	b.Restart()
	c = dialRaw(t, b.Addr())
	mustOK("duplicate after restart", produce(last), 10)
	p = produce(idemBatch(t, pid, epoch, 8, 1, "fenced-after-restart"))
	wantCode(t, "old epoch after restart", p.ErrorCode, kerr.InvalidProducerEpoch)
	p = produce(idemBatch(t, pid, epoch+1, 7, 1, "gap-after-restart"))
	wantCode(t, "gap after restart", p.ErrorCode, kerr.OutOfOrderSequenceNumber)
	next := idemBatch(t, pid, epoch+1, 6, 2, "e")
	mustOK("next after restart", produce(next), 14)

	// ... and a restart without the snapshot (rebuilt from the log).
	b.Stop()
	if err := os.Remove(filepath.Join(b.DataDir(), topic+"-0", "producer.snapshot")); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	c = dialRaw(t, b.Addr())
	mustOK("duplicate after rebuild", produce(next), 14)
	mustOK("older duplicate after rebuild", produce(last), 10)
	p = produce(idemBatch(t, pid, epoch, 8, 1, "fenced-after-rebuild"))
	wantCode(t, "old epoch after rebuild", p.ErrorCode, kerr.InvalidProducerEpoch)
	mustOK("next after rebuild", produce(idemBatch(t, pid, epoch+1, 8, 1, "f")), 16)

	// Producer ids are never reused across restarts.
	pid3, _ := c.initProducerID()
	if pid3 == pid || pid3 == pid2 {
		t.Fatalf("producer id %d reused after restart", pid3)
	}

	// The log holds each batch once, in order.
	r := c.fetchOne(fetchReq(12, topic, id, 0, 0, 0, 1, 1<<20, 1<<20))
	var vals []string
	for _, r := range decodeBatches(t, r.RecordBatches) {
		vals = append(vals, r.Value)
	}
	want := []string{"a-0", "a-1", "a-2", "a-3", "a-4", "b-0", "b-1", "b-2", "c-0", "c-1", "d-0", "d-1", "d-2", "d-3", "e-0", "e-1", "f-0"}
	if fmt.Sprint(vals) != fmt.Sprint(want) {
		t.Fatalf("log holds %v\nwant %v", vals, want)
	}
}

// TestIdempotentProducerRestart produces with kgo's idempotent producer
// while the broker restarts mid-stream; kgo retries what was in flight,
// and every record ends up in the log exactly once, in order.
func TestIdempotentProducerRestart(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	const topic = "idem-restart"
	const parts = 3
	createTopic(t, adm, topic, parts, nil)
	// Produce at least minN records, and keep producing until the restart
	// is over, so that the restart happens mid-stream.
	minN := 30000
	if longTests() {
		minN = 300000
	}
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProducerLinger(time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.MetadataMinAge(50*time.Millisecond))
	ctx := ctxT(t)
	var acked atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	restarted := make(chan struct{})
	var ackedBefore, ackedAfter int64
	var restartTook time.Duration
	go func() {
		defer close(restarted)
		for acked.Load() < int64(minN/3) {
			time.Sleep(time.Millisecond)
		}
		ackedBefore = acked.Load()
		start := time.Now()
		b.Restart()
		ackedAfter = acked.Load()
		restartTook = time.Since(start)
	}()
	n := 0
	for ; n < minN || !isClosed(restarted); n++ {
		if n > 100*minN {
			t.Fatal("the restart did not finish")
		}
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("%07d", n))}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return
			}
			acked.Add(1)
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}
	t.Logf("%d records; %d acknowledged when the restart began, %d when it ended (%v later)", n, ackedBefore, ackedAfter, restartTook)
	if ackedAfter >= int64(n) {
		t.Fatalf("every record was acknowledged before the restart ended: not mid-stream")
	}
	got := consumeAll(t, b.Addr(), topic, n)
	seen := make([]bool, n)
	total := 0
	for p, rs := range got {
		prev := -1
		for _, r := range rs {
			var i int
			if _, err := fmt.Sscanf(string(r.Value), "%d", &i); err != nil || i < 0 || i >= n {
				t.Fatalf("partition %d offset %d: bad value %q", p, r.Offset, r.Value)
			}
			if seen[i] {
				t.Fatalf("record %d appears twice (partition %d offset %d)", i, p, r.Offset)
			}
			seen[i] = true
			if i <= prev {
				t.Fatalf("partition %d: record %d after %d", p, i, prev)
			}
			prev = i
			total++
		}
	}
	if total != n {
		t.Fatalf("%d records in the log, want %d", total, n)
	}
	// Nothing beyond the n records.
	end, err := adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	end.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	if sum != int64(n) {
		t.Fatalf("end offsets sum to %d, want %d", sum, n)
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
