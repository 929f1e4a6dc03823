package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/broker"
	"github.com/weirhq/weir/netpoll"
	"github.com/weirhq/weir/weirtest"
)

func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// produceKeyed produces n records over the topic and returns what was
// acknowledged, per partition, in offset order.
func produceKeyed(t *testing.T, cl *kgo.Client, topic string, n int) map[int32][]*kgo.Record {
	t.Helper()
	ctx := ctxT(t)
	var mu sync.Mutex
	acked := map[int32][]*kgo.Record{}
	var wg sync.WaitGroup
	var firstErr error
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%d", i%97)), Value: []byte(fmt.Sprintf("value-%d", i))}
		wg.Add(1)
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			acked[r.Partition] = append(acked[r.Partition], r)
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}
	return acked
}

// consumeAll reads every partition from the start until it has n records.
func consumeAll(t *testing.T, addr, topic string, n int) map[int32][]*kgo.Record {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := ctxT(t)
	got := map[int32][]*kgo.Record{}
	total := 0
	for total < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", total, n, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], r)
			total++
		})
	}
	return got
}

func checkSame(t *testing.T, acked, got map[int32][]*kgo.Record) {
	t.Helper()
	for p, want := range acked {
		g := got[p]
		if len(g) != len(want) {
			t.Fatalf("partition %d: consumed %d records, acknowledged %d", p, len(g), len(want))
		}
		// Acks arrive in offset order per partition for one producer.
		for i := range want {
			if g[i].Offset != want[i].Offset || string(g[i].Key) != string(want[i].Key) || string(g[i].Value) != string(want[i].Value) {
				t.Fatalf("partition %d record %d: got %d %s=%s, want %d %s=%s", p, i, g[i].Offset, g[i].Key, g[i].Value, want[i].Offset, want[i].Key, want[i].Value)
			}
			if i > 0 && g[i].Offset != g[i-1].Offset+1 {
				t.Fatalf("partition %d: gap between offsets %d and %d", p, g[i-1].Offset, g[i].Offset)
			}
		}
	}
}

func TestProduceConsumeKeyed(t *testing.T) {
	b := weirtest.Start(t)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	if _, err := adm.CreateTopic(ctxT(t), 8, 1, nil, "keyed"); err != nil {
		t.Fatal(err)
	}
	const n = 100_000
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("keyed"))
	acked := produceKeyed(t, cl, "keyed", n)
	if len(acked) != 8 {
		t.Fatalf("records landed on %d partitions, want 8", len(acked))
	}
	got := consumeAll(t, b.Addr(), "keyed", n)
	checkSame(t, acked, got)
	// Same key, same partition.
	where := map[string]int32{}
	for p, rs := range got {
		for _, r := range rs {
			if q, ok := where[string(r.Key)]; ok && q != p {
				t.Fatalf("key %s on partitions %d and %d", r.Key, q, p)
			}
			where[string(r.Key)] = p
		}
	}

	// Restart: every acknowledged record is still there.
	b.Restart()
	got = consumeAll(t, b.Addr(), "keyed", n)
	checkSame(t, acked, got)
}

// TestCloseWhileStarting closes brokers right after Serve was called:
// Serve returns netpoll.ErrServerClosed (or serves and is closed), never
// another error, and the listener is released every time.
func TestCloseWhileStarting(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 50; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		br, err := broker.New(broker.Config{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- br.Serve(ln) }()
		if i%2 == 0 {
			runtime.Gosched()
		}
		if err := br.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-served; err != nil && !errors.Is(err, netpoll.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			t.Fatalf("round %d: Serve returned %v", i, err)
		}
		ln2, err := net.Listen("tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("round %d: listener not released: %v", i, err)
		}
		ln2.Close()
	}
	b := weirtest.Start(t)
	for i := 0; i < 10; i++ {
		b.Restart()
	}
	c := dialRaw(t, b.Addr())
	m := kmsg.NewPtrMetadataRequest()
	m.Version = 12
	c.must(m)
}
