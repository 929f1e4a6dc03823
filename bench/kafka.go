package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// topicName is the benchmark topic (NATS: the stream's subject prefix).
const topicName = "weirbench"

// reqCounter counts the Produce and Fetch requests a client writes, to
// divide the broker's allocations by.
type reqCounter struct{ produce, fetch atomic.Int64 }

var _ kgo.HookBrokerWrite = (*reqCounter)(nil)

func (c *reqCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err != nil {
		return
	}
	switch key {
	case 0:
		c.produce.Add(1)
	case 1:
		c.fetch.Add(1)
	}
}

func kafkaClient(addr string, opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ClientID("weirbench"),
		kgo.Dialer((&net.Dialer{Timeout: 5 * time.Second}).DialContext),
	}, opts...)...)
}

func createTopic(ctx context.Context, addr string, partitions int) error {
	cl, err := kafkaClient(addr)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, int32(partitions), 1, nil, topicName)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("bench: create topic: %w", err)
	}
	return nil
}

// runKafka runs a produce/consume workload against a Kafka-protocol target.
func runKafka(ctx context.Context, cfg *Config, srv *server, res *Result) error {
	w := &cfg.Workload
	if err := createTopic(ctx, srv.addr, w.Partitions); err != nil {
		return err
	}
	var reqs reqCounter
	clk := newClock()
	prod, err := kafkaClient(srv.addr,
		kgo.DefaultProduceTopic(topicName),
		kgo.ProducerLinger(w.Linger),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedBytes(w.MaxBufferedBytes),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.WithHooks(&reqs),
	)
	if err != nil {
		return err
	}
	defer prod.Close()
	if err := prod.Ping(ctx); err != nil {
		return fmt.Errorf("bench: ping: %w", err)
	}
	newConsumer := func() (*kgo.Client, error) {
		offs := map[int32]kgo.Offset{}
		for p := range w.Partitions {
			offs[int32(p)] = kgo.NewOffset().AtStart()
		}
		return kafkaClient(srv.addr,
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topicName: offs}),
			kgo.FetchMaxWait(time.Second),
			kgo.WithHooks(&reqs),
		)
	}

	m := newMeter(cfg, srv)
	t := newTally()
	rd := newReader()
	if w.BacklogBytes > 0 {
		// Fill, unmeasured but reported, then a fresh consumer reads it all.
		n := (w.BacklogBytes + int64(w.RecordBytes) - 1) / int64(w.RecordBytes)
		start := time.Now()
		produceKafka(ctx, prod, clk, w, t, n)
		fillElapsed := time.Since(start)
		recs, bytes := t.snapshot()
		res.Produced = Counts{recs, bytes}
		res.ProduceMBps = float64(bytes) / 1e6 / fillElapsed.Seconds()
		res.RecordsPerSec = float64(recs) / fillElapsed.Seconds()
		res.Ack = t.ack.Summary()
		if t.errs > 0 {
			return fmt.Errorf("bench: backlog fill: %d errors, first: %w", t.errs, t.firstErr)
		}
		cfg.logf("backlog of %d records (%.0f MB) filled at %.0f MB/s; reading it back", recs, float64(bytes)/1e6, res.ProduceMBps)
		reqs.produce.Store(0)
		cons, err := newConsumer()
		if err != nil {
			return err
		}
		defer cons.Close()
		cctx, cancel := context.WithTimeout(ctx, w.Duration)
		defer cancel()
		m.begin(ctx)
		start = time.Now()
		done := make(chan struct{})
		target := &atomic.Int64{}
		target.Store(recs)
		go func() { consumeKafkaUntil(cctx, cons, clk, rd, target, false); close(done) }()
		<-done
		elapsed := time.Since(start)
		m.end(ctx, res, rd.bytes.Load())
		res.Elapsed = elapsed
		res.ConsumeMBps = float64(rd.bytes.Load()) / 1e6 / elapsed.Seconds()
	} else {
		var cons *kgo.Client
		var consDone chan struct{}
		var cancelCons context.CancelFunc
		target := &atomic.Int64{}
		target.Store(1<<63 - 1)
		if w.Consume {
			if cons, err = newConsumer(); err != nil {
				return err
			}
			defer cons.Close()
			var cctx context.Context
			cctx, cancelCons = context.WithCancel(ctx)
			defer cancelCons()
			consDone = make(chan struct{})
			go func() { consumeKafkaUntil(cctx, cons, clk, rd, target, true); close(consDone) }()
		}
		m.begin(ctx)
		start := time.Now()
		produceKafka(ctx, prod, clk, w, t, 0)
		recs, bytes := t.snapshot()
		elapsed := time.Since(start)
		res.Elapsed = elapsed
		if w.Consume {
			target.Store(recs)
			res.Drained = rd.waitFor(recs, w.DrainTimeout)
			cancelCons()
			<-consDone
			res.DrainTime = time.Since(start) - elapsed
		}
		m.end(ctx, res, bytes)
		res.Produced = Counts{recs, bytes}
		res.ProduceMBps = float64(bytes) / 1e6 / elapsed.Seconds()
		res.RecordsPerSec = float64(recs) / elapsed.Seconds()
		res.Ack = t.ack.Summary()
	}
	res.Consumed = Counts{rd.records.Load(), rd.bytes.Load()}
	res.E2E = rd.e2e.Summary()
	res.ProduceRequests, res.FetchRequests = reqs.produce.Load(), reqs.fetch.Load()
	res.Errors = t.errs + rd.errs.Load()
	if t.firstErr != nil {
		res.FirstError = t.firstErr.Error()
	} else if rd.first != nil {
		res.FirstError = rd.first.Error()
	}
	return nil
}

// produceKafka produces for w.Duration (or until limit records, if
// positive), then waits for every outstanding acknowledgement.
func produceKafka(ctx context.Context, cl *kgo.Client, clk clock, w *Workload, t *tally, limit int64) {
	rng := rand.New(rand.NewPCG(1, 2))
	// Records are recycled once acknowledged: kgo holds a record until
	// its promise runs, and resetting it clears what kgo filled in.
	free := make(chan *kgo.Record, w.MaxBufferedBytes/w.RecordBytes+1024)
	promise := func(r *kgo.Record, err error) {
		now := clk.now()
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
	pctx, cancel := context.WithTimeout(ctx, w.Duration+30*time.Second)
	defer cancel()
	p := newPacer(clk, w.Rate, w.RecordBytes, w.Duration)
	for limit <= 0 || int64(p.n) < limit {
		ts, seq, ok := p.next()
		if !ok || ctx.Err() != nil {
			break
		}
		var r *kgo.Record
		select {
		case r = <-free:
			*r = kgo.Record{Value: r.Value}
		default:
			r = &kgo.Record{Value: newValue(w.RecordBytes, rng)}
		}
		stamp(r.Value, ts, seq)
		cl.Produce(pctx, r, promise)
	}
	// Everything sent gets its answer (or the produce timeout's error).
	fctx, fcancel := context.WithTimeout(ctx, 60*time.Second)
	defer fcancel()
	if err := cl.Flush(fctx); err != nil {
		t.failed(fmt.Errorf("flush: %w", err))
	}
}

// consumeKafkaUntil reads until it has target records or ctx ends,
// recording end-to-end latency if asked.
func consumeKafkaUntil(ctx context.Context, cl *kgo.Client, clk clock, rd *reader, target *atomic.Int64, latency bool) {
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
		fs.EachRecord(func(r *kgo.Record) { rd.got(clk, r.Value, latency) })
	}
}
