package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const natsStream = "WEIRBENCH"

// runNATS runs a produce/consume workload against NATS JetStream: one file
// stream with a subject per partition (weirbench.0 …), published with
// JetStream's acknowledged async publish (the ack comes once the stream
// has stored the message: its acks=all for one replica) and read by an
// ordered consumer (ephemeral, no acks: the cheapest JetStream read).
func runNATS(ctx context.Context, cfg *Config, srv *server, res *Result) error {
	w := &cfg.Workload
	pending := max(256, min(65536, w.MaxBufferedBytes/w.RecordBytes))
	pnc, err := nats.Connect("nats://"+srv.addr, nats.Name("weirbench-producer"), nats.MaxReconnects(0))
	if err != nil {
		return fmt.Errorf("bench: nats connect: %w", err)
	}
	defer pnc.Close()
	pjs, err := jetstream.New(pnc, jetstream.WithPublishAsyncMaxPending(pending))
	if err != nil {
		return err
	}
	if _, err := pjs.CreateStream(ctx, jetstream.StreamConfig{
		Name:      natsStream,
		Subjects:  []string{topicName + ".*"},
		Storage:   jetstream.FileStorage,
		Replicas:  1,
		Retention: jetstream.LimitsPolicy,
		Discard:   jetstream.DiscardOld,
		MaxBytes:  -1,
		MaxMsgs:   -1,
	}); err != nil {
		return fmt.Errorf("bench: create stream: %w", err)
	}
	subjects := make([]string, w.Partitions)
	for i := range subjects {
		subjects[i] = topicName + "." + strconv.Itoa(i)
	}
	clk := newClock()
	m := newMeter(cfg, srv)
	measureFrom := int64(0)
	if w.BacklogBytes == 0 {
		measureFrom = clk.now() + int64(w.Warmup)
	}
	t := newTally(measureFrom)
	rd := newReader(measureFrom)

	consume := func(cctx context.Context, target *atomic.Int64, latency bool) error {
		cnc, err := nats.Connect("nats://"+srv.addr, nats.Name("weirbench-consumer"), nats.MaxReconnects(0))
		if err != nil {
			return err
		}
		defer cnc.Close()
		cjs, err := jetstream.New(cnc)
		if err != nil {
			return err
		}
		cons, err := cjs.OrderedConsumer(cctx, natsStream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
		if err != nil {
			return fmt.Errorf("bench: ordered consumer: %w", err)
		}
		done := make(chan struct{})
		h := rd.hist()
		var closed atomic.Bool
		cc, err := cons.Consume(func(msg jetstream.Msg) {
			if closed.Load() {
				return
			}
			rd.got(h, clk, msg.Data(), latency)
			if rd.records.Load() >= target.Load() && closed.CompareAndSwap(false, true) {
				close(done)
			}
		}, jetstream.PullMaxMessages(2000), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) || cctx.Err() == nil {
				rd.failed(err)
			}
		}))
		if err != nil {
			return err
		}
		select {
		case <-done:
		case <-cctx.Done():
		}
		cc.Stop()
		<-cc.Closed()
		return nil
	}

	if w.BacklogBytes > 0 {
		smp, recs, err := fillBacklog(cfg, srv, clk, t, rd, res, func(n int64) {
			publishNATS(ctx, pjs, clk, w, subjects, t, newPacer(clk, 0, 24*time.Hour), n)
		})
		if err != nil {
			return err
		}
		if err := readBacklog(ctx, cfg, m, smp, rd, res, recs, func(ctx context.Context, target *atomic.Int64) error {
			return consume(ctx, target, false)
		}); err != nil {
			return err
		}
	} else {
		target := &atomic.Int64{}
		target.Store(1<<63 - 1)
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		consErr := make(chan error, 1)
		if w.Consumers > 0 {
			go func() { consErr <- consume(cctx, target, true) }()
			// Let the consumer subscribe before the clock starts.
			time.Sleep(200 * time.Millisecond)
		}
		measure(ctx, cfg, srv, clk, t, rd, m, measureFrom, target, res, func() {
			publishNATS(ctx, pjs, clk, w, subjects, t, newPacer(clk, w.recordRate(), w.Warmup+w.Duration), 0)
		})
		cancel()
		if w.Consumers > 0 {
			if err := <-consErr; err != nil {
				return err
			}
		}
	}
	res.collect(t, rd)
	return nil
}

type natsPending struct {
	f        jetstream.PubAckFuture
	intended int64
	n        int
}

// publishNATS publishes for w.Duration (or limit messages), then waits for
// every acknowledgement. Acks are collected in publish order by one
// goroutine; JetStream acknowledges one stream's messages in order.
func publishNATS(ctx context.Context, js jetstream.JetStream, clk clock, w *Workload, subjects []string, t *tally, p *pacer, limit int64) {
	rng := rand.New(rand.NewPCG(1, 2))
	// nats.go copies the payload into its write buffer during the call,
	// so one buffer serves every message.
	buf := newValue(w.RecordBytes, rng)
	q := make(chan natsPending, 1<<17)
	acks := make(chan struct{})
	go func() {
		defer close(acks)
		timer := time.NewTimer(time.Hour)
		for p := range q {
			timer.Reset(30 * time.Second)
			select {
			case <-p.f.Ok():
				t.acked(clk.now(), p.intended, p.n)
			case err := <-p.f.Err():
				t.failed(err)
			case <-timer.C:
				t.failed(errors.New("no publish ack within 30 s"))
			}
		}
	}()
	for limit <= 0 || int64(p.n) < limit {
		ts, seq, ok := p.next()
		if !ok || ctx.Err() != nil {
			break
		}
		stamp(buf, ts, seq)
		subj := subjects[seq%uint64(len(subjects))]
		for {
			f, err := js.PublishAsync(subj, buf)
			if err == nil {
				q <- natsPending{f, ts, len(buf)}
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) || ctx.Err() != nil || clk.now() > p.end+int64(30*time.Second) {
				t.failed(err)
				break
			}
		}
	}
	close(q)
	<-acks
}
