package broker_test

// Group coordination benchmarks (make bench BENCH=Group):
//
//	BenchmarkGroupRebalance     10 consumers on 100 partitions: a member
//	                            joins (until its first fetched record) and
//	                            leaves (until every partition it had is
//	                            fetched by its new owner).
//	BenchmarkGroupOffsetCommit  OffsetCommit throughput and latency
//	                            percentiles with group commit (the default
//	                            flush policy), 1 to 64 concurrent committers.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/broker"
	"github.com/weirhq/weir/weirtest"
)

func newClientTB(tb testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// waitCovered waits until the consumers own the n partitions disjointly
// and the group is Stable with them all.
func waitCovered(tb testing.TB, adm *kadm.Client, group string, cs []*gconsumer, n int) time.Duration {
	tb.Helper()
	return waitFor(tb, time.Minute, fmt.Sprintf("%d partitions over %d members", n, len(cs)), func() bool {
		if _, ok := assignmentCounts(cs, n); !ok {
			return false
		}
		d := describe(tb, adm, group)
		return d.State == "Stable" && len(d.Members) == len(cs)
	})
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(max(1, len(ds)))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkGroupRebalance measures, for a group of 10 consumers on 100
// partitions, the latency of a rebalance as a consumer sees it: from
// starting an 11th consumer to its first fetched record (join), and from
// closing it (LeaveGroup) to the first records of all its partitions at
// their new owners (leave). Consumers do not commit, so a moved partition
// is fetched from its start and has records at once. Members heartbeat
// every 100 ms (kgo's default is 3 s, which then dominates: the others
// learn of a rebalance from a heartbeat).
func BenchmarkGroupRebalance(b *testing.B) {
	for _, bal := range balancers {
		b.Run(bal.name, func(b *testing.B) {
			br := weirtest.Start(b, weirtest.WithConfig(func(c *broker.Config) { c.GroupMinSessionTimeout = time.Second }))
			adm := kadm.NewClient(newClientTB(b, br.Addr()))
			const topic, group, parts = "rebalance", "rebalance-group", 100
			if _, err := adm.CreateTopic(context.Background(), parts, 1, nil, topic); err != nil {
				b.Fatal(err)
			}
			p := newClientTB(b, br.Addr(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
			var recs []*kgo.Record
			for i := 0; i < 20*parts; i++ {
				recs = append(recs, &kgo.Record{Value: []byte(fmt.Sprint(i))})
			}
			if err := p.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
			o := groupOpts{group: group, topic: topic, balancer: bal.b, session: 10 * time.Second, noCommit: true}
			var cs []*gconsumer
			formStart := time.Now()
			for i := 0; i < 10; i++ {
				cs = append(cs, startConsumer(b, br.Addr(), fmt.Sprintf("member-%d", i), o, nil))
			}
			waitCovered(b, adm, group, cs, parts)
			b.Logf("10 consumers started together formed the group in %v", time.Since(formStart).Round(time.Millisecond))

			var joins, joinSettled, leaves, leaveSettled []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				nc := startConsumer(b, br.Addr(), fmt.Sprintf("joiner-%d", i), o, nil)
				waitFor(b, time.Minute, "the joiner's first record", func() bool {
					for _, p := range nc.Owned() {
						if at, ok := nc.FirstFetch(p); ok && at.After(start) {
							return true
						}
					}
					return false
				})
				joins = append(joins, time.Since(start))
				waitCovered(b, adm, group, append(slices.Clone(cs), nc), parts)
				joinSettled = append(joinSettled, time.Since(start))

				moved := nc.Owned()
				start = time.Now()
				nc.Close()
				waitFor(b, time.Minute, "the moved partitions' first records", func() bool {
					for _, p := range moved {
						fetched := false
						for _, c := range cs {
							if at, ok := c.FirstFetch(p); ok && at.After(start) && slices.Contains(c.Owned(), p) {
								fetched = true
							}
						}
						if !fetched {
							return false
						}
					}
					return true
				})
				leaves = append(leaves, time.Since(start))
				waitCovered(b, adm, group, cs, parts)
				leaveSettled = append(leaveSettled, time.Since(start))
			}
			b.StopTimer()
			b.ReportMetric(ms(mean(joins)), "join-first-fetch-ms")
			b.ReportMetric(ms(mean(joinSettled)), "join-stable-ms")
			b.ReportMetric(ms(mean(leaves)), "leave-refetch-ms")
			b.ReportMetric(ms(mean(leaveSettled)), "leave-stable-ms")
			b.ReportMetric(0, "ns/op")
			b.Logf("n=%d join→first fetch: mean %v max %v; join→stable: mean %v; leave→moved partitions fetched: mean %v max %v; leave→stable: mean %v",
				len(joins), mean(joins).Round(time.Millisecond), percentile(joins, 1).Round(time.Millisecond), mean(joinSettled).Round(time.Millisecond),
				mean(leaves).Round(time.Millisecond), percentile(leaves, 1).Round(time.Millisecond), mean(leaveSettled).Round(time.Millisecond))
		})
	}
}

// BenchmarkGroupOffsetCommit measures OffsetCommit throughput and latency
// with group commit: each committer has its own connection and group and
// sends one OffsetCommit (one partition) at a time, answered once its
// record is durable in __consumer_offsets; concurrent commits share
// fsyncs.
func BenchmarkGroupOffsetCommit(b *testing.B) {
	for _, committers := range []int{1, 8, 64} {
		for _, partitions := range []int{1, 10} {
			b.Run(fmt.Sprintf("committers=%d/partitions=%d", committers, partitions), func(b *testing.B) {
				benchOffsetCommit(b, committers, partitions)
			})
		}
	}
}

func benchOffsetCommit(b *testing.B, committers, partitions int) {
	br := weirtest.Start(b)
	adm := kadm.NewClient(newClientTB(b, br.Addr()))
	const topic = "commits"
	if _, err := adm.CreateTopic(context.Background(), 100, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
	conns := make([]*rawClient, committers)
	for i := range conns {
		conns[i] = dialRaw(b, br.Addr())
	}
	lat := make([][]time.Duration, committers)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < committers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := conns[w]
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				req := kmsg.NewPtrOffsetCommitRequest()
				req.Version = 8
				req.Group, req.Generation = fmt.Sprintf("committer-%d", w), -1
				rt := kmsg.NewOffsetCommitRequestTopic()
				rt.Topic = topic
				for p := 0; p < partitions; p++ {
					rp := kmsg.NewOffsetCommitRequestTopicPartition()
					rp.Partition, rp.Offset, rp.LeaderEpoch = int32((w+p)%100), i, -1
					rt.Partitions = append(rt.Partitions, rp)
				}
				req.Topics = append(req.Topics, rt)
				t0 := time.Now()
				resp, err := c.request(req)
				if err == nil {
					if code := resp.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
						err = fmt.Errorf("commit: %s", errName(code))
					}
				}
				if err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
	b.ReportMetric(float64(b.N*partitions)/elapsed.Seconds(), "offsets/s")
	b.ReportMetric(ms(percentile(all, 0.5)), "p50-ms")
	b.ReportMetric(ms(percentile(all, 0.99)), "p99-ms")
}
