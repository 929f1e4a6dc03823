package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicName is the NATS stream's subject prefix.
const topicName = "weirbench"

// reqCounter counts the Produce and Fetch requests the clients write, to
// divide the broker's allocations by, and the requests that failed (which
// franz-go retries).
type reqCounter struct{ produce, fetch, failed atomic.Int64 }

var (
	_ kgo.HookBrokerWrite = (*reqCounter)(nil)
	_ kgo.HookBrokerRead  = (*reqCounter)(nil)
)

func (c *reqCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err != nil {
		c.failed.Add(1)
		return
	}
	switch key {
	case 0:
		c.produce.Add(1)
	case 1:
		c.fetch.Add(1)
	}
}

func (c *reqCounter) OnBrokerRead(_ kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	if err != nil {
		c.failed.Add(1)
	}
}

func kafkaClient(addr string, opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ClientID("weirbench"),
		kgo.Dialer((&net.Dialer{Timeout: 5 * time.Second}).DialContext),
	}, opts...)...)
}

// runID names one run's topics and group, so runs against a shared
// broker never collide.
func runID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func topicNames(id string, n int) []string {
	if n == 1 {
		return []string{"weirbench-" + id}
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("weirbench-%s-%d", id, i)
	}
	return out
}

// createTopics creates the topics with the broker's default replication
// factor (1 where the broker has no default).
func createTopics(ctx context.Context, addr string, topics []string, partitions int) error {
	cl, err := kafkaClient(addr)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, rf := range []int16{-1, 1} {
		resp, err := adm.CreateTopics(cctx, int32(partitions), rf, nil, topics...)
		if err == nil {
			err = resp.Error()
		}
		if errors.Is(err, kerr.InvalidReplicationFactor) || errors.Is(err, kerr.InvalidRequest) {
			continue
		}
		if err != nil {
			return fmt.Errorf("bench: create topics: %w", err)
		}
		return nil
	}
	return errors.New("bench: create topics: the broker takes neither its default replication factor nor 1")
}

func deleteTopics(addr string, topics []string) {
	cl, err := kafkaClient(addr)
	if err != nil {
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kadm.NewClient(cl).DeleteTopics(ctx, topics...)
}

func producerOpts(w *Workload, reqs *reqCounter) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.ProducerLinger(w.Linger),
		kgo.MaxBufferedBytes(w.MaxBufferedBytes),
		kgo.WithHooks(reqs),
	}
	switch w.Compression {
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	default:
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	}
	switch w.Acks {
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	if !w.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if w.BatchBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(int32(w.BatchBytes)))
	}
	return opts
}

// kafkaRun is one run's clients and counters.
type kafkaRun struct {
	cfg    *Config
	w      *Workload
	srv    *server
	topics []string
	group  string
	keys   [][]byte
	reqs   reqCounter
	clk    clock
	prods  []*kgo.Client
	cons   []*kgo.Client
	commits,
	commitErrs atomic.Int64
}

func (k *kafkaRun) close() {
	for _, c := range k.cons {
		c.Close()
	}
	for _, c := range k.prods {
		c.Close()
	}
}

// newConsumers makes w.Consumers clients reading every topic from offset
// 0: in one group, or splitting the partitions among them.
func (k *kafkaRun) newConsumers(rd *reader) error {
	w := k.w
	for i := range w.Consumers {
		opts := []kgo.Opt{kgo.FetchMaxWait(time.Second), kgo.WithHooks(&k.reqs)}
		if w.FetchMaxBytes > 0 {
			opts = append(opts, kgo.FetchMaxBytes(int32(w.FetchMaxBytes)))
		}
		if w.MaxPartitionFetchBytes > 0 {
			opts = append(opts, kgo.FetchMaxPartitionBytes(int32(w.MaxPartitionFetchBytes)))
		}
		if w.Group {
			opts = append(opts,
				kgo.ConsumerGroup(k.group),
				kgo.ConsumeTopics(k.topics...),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.AutoCommitInterval(w.CommitInterval),
				kgo.AutoCommitCallback(func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
					if err != nil {
						k.commitErrs.Add(1)
						return
					}
					k.commits.Add(1)
				}),
			)
		} else {
			assign := map[string]map[int32]kgo.Offset{}
			j := 0
			for _, t := range k.topics {
				for p := range w.Partitions {
					if j%w.Consumers == i {
						if assign[t] == nil {
							assign[t] = map[int32]kgo.Offset{}
						}
						assign[t][int32(p)] = kgo.NewOffset().AtStart()
					}
					j++
				}
			}
			if len(assign) == 0 {
				continue // more consumers than partitions
			}
			opts = append(opts, kgo.ConsumePartitions(assign))
		}
		cl, err := kafkaClient(k.srv.addr, opts...)
		if err != nil {
			return err
		}
		k.cons = append(k.cons, cl)
	}
	return nil
}

// consume runs every consumer until rd has target records or ctx ends.
// The first consumer to see the target reached stops the others, which
// may be waiting in a poll for data that will not come.
func (k *kafkaRun) consume(ctx context.Context, rd *reader, target *atomic.Int64, latency bool) (wait func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, cl := range k.cons {
		h := rd.hist()
		wg.Go(func() {
			consumeKafkaUntil(ctx, cl, k.clk, rd, h, target, latency)
			if rd.records.Load() >= target.Load() {
				cancel()
			}
		})
	}
	return func() { wg.Wait(); cancel() }
}

// produce runs every producer: limit records in all (0: until the pacer
// ends after d), rate records/s in all; returns once every record sent
// has its answer.
func (k *kafkaRun) produce(ctx context.Context, t *tally, limit int64, rate float64, d time.Duration) {
	n := int64(len(k.prods))
	var wg sync.WaitGroup
	for i, cl := range k.prods {
		lim := int64(0)
		if limit > 0 {
			lim = limit / n
			if int64(i) < limit%n {
				lim++
			}
		}
		p := newPacer(k.clk, rate/float64(n), d)
		seed := uint64(i + 1)
		wg.Go(func() { produceKafka(ctx, cl, k, t, p, lim, seed) })
	}
	wg.Wait()
}

// runKafka runs a produce/consume workload against a Kafka-protocol target.
func runKafka(ctx context.Context, cfg *Config, srv *server, res *Result) error {
	w := &cfg.Workload
	id := runID()
	k := &kafkaRun{cfg: cfg, w: w, srv: srv, topics: topicNames(id, w.Topics), group: "weirbench-" + id, keys: makeKeys(w)}
	if err := createTopics(ctx, srv.addr, k.topics, w.Partitions); err != nil {
		return err
	}
	res.Topics = k.topics
	if !cfg.KeepTopics {
		defer deleteTopics(srv.addr, k.topics)
	}
	defer k.close()
	for range w.Producers {
		cl, err := kafkaClient(srv.addr, producerOpts(w, &k.reqs)...)
		if err != nil {
			return err
		}
		k.prods = append(k.prods, cl)
		if err := cl.Ping(ctx); err != nil {
			return fmt.Errorf("bench: ping: %w", err)
		}
	}
	m := newMeter(cfg, srv)
	k.clk = newClock()
	if w.BacklogBytes > 0 {
		// Fill, unmeasured but reported, then fresh consumers read it all.
		t := newTally(0)
		rd := newReader(0)
		smp, recs, err := fillBacklog(cfg, srv, k.clk, t, rd, res, func(n int64) { k.produce(ctx, t, n, 0, 24*time.Hour) })
		if err != nil {
			return err
		}
		if err := k.newConsumers(rd); err != nil {
			smp.finish()
			return err
		}
		readBacklog(ctx, cfg, m, smp, rd, res, recs, func(ctx context.Context, target *atomic.Int64) error {
			k.consume(ctx, rd, target, false)()
			return nil
		})
		k.finish(res, t, rd)
		return nil
	}

	measureFrom := k.clk.now() + int64(w.Warmup)
	t := newTally(measureFrom)
	rd := newReader(measureFrom)
	if err := k.newConsumers(rd); err != nil {
		return err
	}
	target := &atomic.Int64{}
	target.Store(1<<63 - 1)
	cctx, cancelCons := context.WithCancel(ctx)
	defer cancelCons()
	consWait := k.consume(cctx, rd, target, true)
	measure(ctx, cfg, srv, k.clk, t, rd, m, measureFrom, target, res, func() {
		k.produce(ctx, t, 0, w.recordRate(), w.Warmup+w.Duration)
	})
	cancelCons()
	consWait()
	if w.Group {
		k.checkCommits(ctx, res)
	}
	k.finish(res, t, rd)
	return nil
}

// finish copies the counters into res.
func (k *kafkaRun) finish(res *Result, t *tally, rd *reader) {
	res.collect(t, rd)
	res.ProduceRequests, res.FetchRequests = k.reqs.produce.Load(), k.reqs.fetch.Load()
	res.Retries = k.reqs.failed.Load()
	res.Commits = k.commits.Load()
}

// checkCommits commits what the group consumed and compares the group's
// committed offsets with the end of every partition.
func (k *kafkaRun) checkCommits(ctx context.Context, res *Result) {
	for _, cl := range k.cons {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := cl.CommitUncommittedOffsets(cctx); err != nil {
			k.commitErrs.Add(1)
		}
		cancel()
	}
	adm := kadm.NewClient(k.prods[0])
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	committed, err := adm.FetchOffsets(cctx, k.group)
	if err == nil {
		var ends kadm.ListedOffsets
		ends, err = adm.ListEndOffsets(cctx, k.topics...)
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) {
				c, ok := committed.Lookup(o.Topic, o.Partition)
				if !ok {
					res.CommitLag += o.Offset
				} else if c.At < o.Offset {
					res.CommitLag += o.Offset - c.At
				}
			})
		}
	}
	if err != nil {
		res.CommitLag = -1
		k.cfg.logf("committed offsets: %v", err)
	}
	res.CommitErrors = k.commitErrs.Load()
}

// produceKafka produces from one client until its pacer ends (or limit
// records, if positive), then waits for every outstanding answer.
func produceKafka(ctx context.Context, cl *kgo.Client, k *kafkaRun, t *tally, p *pacer, limit int64, seed uint64) {
	w := k.w
	rng := mrand.New(mrand.NewPCG(seed, 2))
	sz := newSizer(w, rng)
	ky := newKeyer(w, k.keys, rng)
	clk := k.clk
	// Records are recycled once acknowledged: kgo holds a record until
	// its promise runs, and resetting it clears what kgo filled in.
	free := make(chan *kgo.Record, w.MaxBufferedBytes/w.RecordBytes+1024)
	promise := func(r *kgo.Record, err error) {
		now := clk.now()
		t.outstanding.Add(-1)
		intended, _ := readStamp(r.Value)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.failed(err)
			}
		} else {
			t.acked(now, intended, len(r.Value))
		}
		select {
		case free <- r:
		default:
		}
	}
	// Produce blocks while the buffer is full; a broker that stops
	// answering fails the records still buffered 30 s after the phase.
	pctx, cancel := context.WithTimeout(ctx, time.Duration(p.end-clk.now())+30*time.Second)
	defer cancel()
	maxSize := w.maxRecordBytes()
	for limit <= 0 || int64(p.n) < limit {
		ts, seq, ok := p.next()
		if !ok || ctx.Err() != nil {
			break
		}
		var r *kgo.Record
		select {
		case r = <-free:
			*r = kgo.Record{Value: r.Value[:cap(r.Value)]}
		default:
			r = &kgo.Record{Value: newValue(maxSize, rng)}
		}
		r.Value = r.Value[:sz.next()]
		r.Key = ky.next()
		r.Topic = k.topics[seq%uint64(len(k.topics))]
		stamp(r.Value, ts, seq)
		t.outstanding.Add(1)
		cl.Produce(pctx, r, promise)
	}
	// Everything sent gets its answer (or the produce timeout's error).
	fctx, fcancel := context.WithTimeout(ctx, 60*time.Second)
	defer fcancel()
	if err := cl.Flush(fctx); err != nil {
		t.failed(fmt.Errorf("flush: %w", err))
	}
}

// consumeKafkaUntil reads until rd has target records or ctx ends,
// recording end-to-end latency in h if asked.
func consumeKafkaUntil(ctx context.Context, cl *kgo.Client, clk clock, rd *reader, h *Histogram, target *atomic.Int64, latency bool) {
	for rd.records.Load() < target.Load() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) {
				rd.failed(err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { rd.got(h, clk, r.Value, latency) })
	}
}
