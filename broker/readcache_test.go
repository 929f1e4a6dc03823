package broker_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirhq/weir/broker"
	"github.com/weirhq/weir/weirtest"
)

// TestReadCacheThroughFetch: data a consumer fetched (sent with sendfile)
// counts as read, so past Config.ReadCacheBytes the broker drops it from
// the page cache; every record still reads back intact afterwards, from
// disk.
func TestReadCacheThroughFetch(t *testing.T) {
	const budget = 4 << 20
	b := weirtest.Start(t, weirtest.WithConfig(func(c *broker.Config) { c.ReadCacheBytes = budget }))
	adm := kadm.NewClient(newClient(t, b.Addr()))
	createTopic(t, adm, "rc", 1, nil)
	ctx := ctxT(t)
	value := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("%08d", i)), 128) } // 1 KiB
	produce := func(from, to int) {
		t.Helper()
		p := newClient(t, b.Addr(), kgo.DefaultProduceTopic("rc"), kgo.ProducerBatchCompression(kgo.NoCompression()))
		for i := from; i < to; i++ {
			p.Produce(ctx, &kgo.Record{Value: value(i)}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Error(err)
				}
			})
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	consume := func(from, to int) {
		t.Helper()
		c := newClient(t, b.Addr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"rc": {0: kgo.NewOffset().At(int64(from))}}))
		for n := from; n < to; {
			fs := c.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset != int64(n) || !bytes.Equal(r.Value, value(n)) {
					t.Fatalf("record at offset %d (want %d) holds %.16q", r.Offset, n, r.Value)
				}
				n++
			})
		}
		c.Close()
	}

	const n = 24 << 10 // 24 MiB of values
	produce(0, n)
	if d := b.ReadCacheDropped(); d != 0 {
		t.Fatalf("%d bytes dropped before anything was read", d)
	}
	consume(0, n)
	produce(n, n+1) // the flush after the reads queues and drops them
	deadline := time.Now().Add(10 * time.Second)
	for b.ReadCacheDropped() < (n<<10)-2*budget && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if d := b.ReadCacheDropped(); d < (n<<10)-2*budget {
		t.Fatalf("%d bytes dropped after consuming %d, budget %d", d, n<<10, budget)
	}
	consume(0, n+1) // again, now partly from disk
}
