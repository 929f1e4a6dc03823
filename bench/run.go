package bench

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// Counts is a number of records and of their value bytes.
type Counts struct {
	Records int64
	Bytes   int64
}

// Result is what one run measured. Rates use value bytes (the records'
// payload) and decimal units: MB = 1e6 bytes, GB = 1e9 bytes.
type Result struct {
	Workload string
	Target   string
	Rep      int // repetition number, set by the caller (see Report)
	Start    time.Time
	// Kind is what the workload measures: "max" (produce at max rate),
	// "fixed" (produce at a fixed rate), "backlog" (catch-up read) or
	// "conns" (idle connections). Base names a rate sweep (Workload.Base);
	// TargetMBps is a fixed rate's target in value MB/s.
	Kind        string
	Description string `json:",omitempty"`
	Base        string `json:",omitempty"`
	TargetMBps  float64
	// Topics are the run's topics (Kafka-protocol targets).
	Topics []string `json:",omitempty"`

	// Elapsed is the measured phase: the produce phase until the last
	// acknowledgement, or (backlog workloads) the catch-up read.
	Elapsed   time.Duration
	Produced  Counts // acknowledged
	Consumed  Counts
	Drained   bool          // the consumer read everything acknowledged
	DrainTime time.Duration // how long after the produce phase it took

	ProduceMBps   float64 // acknowledged value bytes per second
	RecordsPerSec float64 // acknowledged records per second
	// ConsumeMBps is the consumers' read rate: of the backlog, or, with
	// concurrent consumers, from the end of the warm-up until they caught
	// up with the producers.
	ConsumeMBps float64
	E2E         LatencySummary
	Ack         LatencySummary  // produce acknowledgement latency
	E2ECurve    []QuantileValue `json:",omitempty"`
	AckCurve    []QuantileValue `json:",omitempty"`
	// WarmupRecords were produced during the warm-up, not counted above.
	WarmupRecords int64
	// Series is the run's time series, one sample a second.
	Series []Sample `json:",omitempty"`

	// Errors counts records that failed to produce and consumer errors;
	// Retries counts failed requests the client retried.
	Errors     int64
	Retries    int64
	FirstError string

	// Consumer-group workloads: automatic commits made and failed, and
	// how far the group's committed offsets ended behind the partitions'
	// ends (0: everything consumed was committed; -1: unknown).
	Commits      int64
	CommitErrors int64
	CommitLag    int64

	// Broker process measurements (zero when the target is not a child
	// process): CPU time (user + system) over the measured phase including
	// the consumer's drain, per GB of value bytes produced (read, for
	// backlog workloads), and memory.
	BrokerCPU time.Duration
	CPUPerGB  float64
	ClientCPU time.Duration // this process (producer and consumer clients)
	RSSIdle   int64         // bytes, 1 s after start, before any client
	RSSEnd    int64         // bytes, at the end of the measured phase
	RSSPeak   int64         // bytes, VmHWM

	// Helper targets only: heap allocations (runtime.MemStats.Mallocs)
	// in the broker over the measured phase.
	Mallocs          uint64
	AllocsPerRecord  float64
	AllocsPerRequest float64
	GCs              uint32
	// Requests the benchmark's clients wrote over the run.
	ProduceRequests, FetchRequests int64

	// Connections workload.
	Conns        int
	RSSPerConn   float64        // bytes: (RSS with Conns open − idle RSS) / Conns
	ConnRequests int64          // trickle requests answered
	ConnLatency  LatencySummary // from intended send time
	ConnSetup    time.Duration  // opening all connections
}

// Run starts the target, runs the workload against it, stops it and returns
// what was measured. Every phase is bounded in time; ctx cancels early.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg.ensureDefaults()
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	w := &cfg.Workload
	res := Result{Workload: w.Name, Target: cfg.Target.Name, Start: time.Now(), Base: w.Base, Kind: "max", Description: w.Description}
	switch {
	case w.Conns > 0:
		res.Kind = "conns"
	case w.BacklogBytes > 0:
		res.Kind = "backlog"
	case w.recordRate() > 0:
		res.Kind = "fixed"
		res.TargetMBps = w.recordRate() * float64(w.RecordBytes) / 1e6
	}
	cfg.logf("starting target")
	srv, err := cfg.Target.start(ctx, cfg.DataDir)
	if err != nil {
		return res, err
	}
	defer srv.stop()
	if srv.pid != 0 {
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return res, ctx.Err()
		}
		s, err := sampleProc(srv.pid)
		if err != nil {
			return res, err
		}
		res.RSSIdle = s.rss
	}
	cfg.logf("running (idle RSS %.1f MB)", float64(res.RSSIdle)/1e6)
	switch {
	case cfg.Workload.Conns > 0:
		err = runConns(ctx, &cfg, srv, &res)
	case cfg.Target.Kind == KindNATS:
		err = runNATS(ctx, &cfg, srv, &res)
	default:
		err = runKafka(ctx, &cfg, srv, &res)
	}
	if err != nil {
		if srv.stderr != nil && srv.stderr.String() != "" {
			err = fmt.Errorf("%w; target output: %s", err, srv.stderr)
		}
		return res, err
	}
	if srv.pid != 0 {
		if s, err := sampleProc(srv.pid); err == nil {
			res.RSSPeak = s.hwm
		}
	}
	res.finish()
	if err := srv.stop(); err != nil {
		cfg.logf("stop: %v", err)
	}
	cfg.logf("%s", res.Line())
	return res, nil
}

// meter samples the broker process (and this one) around a measured phase.
type meter struct {
	cfg       *Config
	srv       *server
	b0, c0    procSample
	m0        memStats
	haveMem   bool
	profiling bool
}

func newMeter(cfg *Config, srv *server) *meter { return &meter{cfg: cfg, srv: srv} }

// begin starts the measured phase (and the helper's CPU profile, if asked
// for).
func (m *meter) begin(ctx context.Context) {
	if m.srv.debugAddr != "" {
		if ms, err := m.srv.memStats(ctx); err == nil {
			m.m0, m.haveMem = ms, true
		} else {
			m.cfg.logf("memstats: %v", err)
		}
		if path := m.cfg.Target.CPUProfile; path != "" {
			abs, err := filepath.Abs(path)
			if err == nil {
				err = m.srv.debugGet(ctx, "/profile/start?file="+url.QueryEscape(abs))
			}
			if err != nil {
				m.cfg.logf("cpu profile: %v", err)
			} else {
				m.profiling = true
			}
		}
	}
	m.b0, _ = sampleProc(m.srv.pid)
	m.c0, _ = sampleProc(os.Getpid())
}

// end closes the measured phase; bytes is the data volume the CPU is
// divided by.
func (m *meter) end(ctx context.Context, res *Result, bytes int64) {
	b1, err := sampleProc(m.srv.pid)
	c1, _ := sampleProc(os.Getpid())
	res.ClientCPU = c1.cpu - m.c0.cpu
	if m.srv.pid != 0 && err == nil {
		res.BrokerCPU = b1.cpu - m.b0.cpu
		res.RSSEnd = b1.rss
		if bytes > 0 {
			res.CPUPerGB = res.BrokerCPU.Seconds() / (float64(bytes) / 1e9)
		}
	}
	if m.haveMem {
		if ms, err := m.srv.memStats(ctx); err == nil {
			res.Mallocs = ms.Mallocs - m.m0.Mallocs
			res.GCs = ms.NumGC - m.m0.NumGC
		}
	}
	if m.profiling {
		if err := m.srv.debugGet(ctx, "/profile/stop"); err != nil {
			m.cfg.logf("cpu profile: %v", err)
		}
	}
}

// finish derives per-record and per-request figures.
func (r *Result) finish() {
	if r.Mallocs > 0 {
		recs := r.Produced.Records
		if r.Kind == "backlog" || recs == 0 {
			recs = r.Consumed.Records
		}
		if recs > 0 {
			r.AllocsPerRecord = float64(r.Mallocs) / float64(recs)
		}
		n := r.ProduceRequests + r.FetchRequests
		if r.Conns > 0 {
			n = r.ConnRequests
		}
		if n > 0 {
			r.AllocsPerRequest = float64(r.Mallocs) / float64(n)
		}
	}
}

// Line is a one-line human summary.
func (r *Result) Line() string {
	if r.Conns > 0 {
		return fmt.Sprintf("%d conns: RSS idle %.1f MB, %.0f B/conn, peak %.1f MB; trickle %d req, latency %v; broker CPU %.2fs",
			r.Conns, mb(r.RSSIdle), r.RSSPerConn, mb(r.RSSPeak), r.ConnRequests, r.ConnLatency, r.BrokerCPU.Seconds())
	}
	s := fmt.Sprintf("produced %d (%.1f MB/s, %.0f rec/s) consumed %d", r.Produced.Records, r.ProduceMBps, r.RecordsPerSec, r.Consumed.Records)
	if r.ConsumeMBps > 0 {
		s += fmt.Sprintf(" (read %.1f MB/s)", r.ConsumeMBps)
	}
	s += fmt.Sprintf("; e2e %v; ack p99 %v; broker CPU %.2fs (%.2f s/GB), client CPU %.2fs; RSS idle %.1f MB peak %.1f MB",
		r.E2E, roundDur(r.Ack.P99), r.BrokerCPU.Seconds(), r.CPUPerGB, r.ClientCPU.Seconds(), mb(r.RSSIdle), mb(r.RSSPeak))
	if r.Mallocs > 0 {
		s += fmt.Sprintf("; allocs %d (%.2f/record, %.1f/request, %d GCs)", r.Mallocs, r.AllocsPerRecord, r.AllocsPerRequest, r.GCs)
	}
	if r.Errors > 0 {
		s += fmt.Sprintf("; %d errors, first: %s", r.Errors, r.FirstError)
	}
	if r.Consumed.Records < r.Produced.Records {
		s += fmt.Sprintf("; CONSUMER BEHIND by %d records", r.Produced.Records-r.Consumed.Records)
	}
	return s
}

func mb(b int64) float64 { return float64(b) / 1e6 }

// measure runs produce (the whole load: warm-up, then the measured phase)
// while sampling every second, starts the meter when the warm-up ends,
// waits for the consumers to read everything acknowledged (target is
// what they stop at), and fills in res's produce figures and series.
func measure(ctx context.Context, cfg *Config, srv *server, clk clock, t *tally, rd *reader, m *meter, measureFrom int64, target *atomic.Int64, res *Result, produce func()) {
	w := &cfg.Workload
	phase := "produce"
	if w.Warmup > 0 {
		phase = "warmup"
	}
	smp := startSampler(cfg, srv, clk, t, rd, w.Warmup+w.Duration, phase)
	done := make(chan struct{})
	go func() { produce(); close(done) }()
	if w.Warmup > 0 {
		select {
		case <-time.After(time.Duration(measureFrom - clk.now())):
		case <-done:
		}
		smp.setPhase("produce")
	}
	m.begin(ctx)
	begin, c0 := time.Now(), rd.bytes.Load()
	<-done
	recs, _ := t.snapshot()
	t.mu.Lock()
	res.Elapsed = time.Duration(t.lastAck - measureFrom)
	mRecs, mBytes := t.mRecords, t.mBytes
	t.mu.Unlock()
	if w.Consumers > 0 {
		smp.setPhase("drain")
		target.Store(recs)
		drainStart := time.Now()
		res.Drained = rd.waitFor(recs, w.DrainTimeout)
		res.DrainTime = time.Since(drainStart)
	}
	m.end(ctx, res, mBytes)
	if w.Consumers > 0 {
		// What the consumers read from the end of the warm-up until they
		// caught up (or gave up).
		res.ConsumeMBps = float64(rd.bytes.Load()-c0) / 1e6 / time.Since(begin).Seconds()
	}
	res.Series = smp.finish()
	res.Produced = Counts{mRecs, mBytes}
	if res.Elapsed > 0 {
		res.ProduceMBps = float64(mBytes) / 1e6 / res.Elapsed.Seconds()
		res.RecordsPerSec = float64(mRecs) / res.Elapsed.Seconds()
	}
	res.Ack = t.ack.Summary()
	res.AckCurve = t.ack.Curve()
	res.WarmupRecords = recs - mRecs
}

// fillBacklog produces a catch-up workload's backlog (reported, not
// measured) while sampling, and fills in res's produce figures. It
// returns the sampler, to go on with the read, and the records acked.
func fillBacklog(cfg *Config, srv *server, clk clock, t *tally, rd *reader, res *Result, produce func(records int64)) (*sampler, int64, error) {
	w := &cfg.Workload
	n := (w.BacklogBytes + int64(w.RecordBytes) - 1) / int64(w.RecordBytes)
	smp := startSampler(cfg, srv, clk, t, rd, 0, "fill")
	start := time.Now()
	produce(n)
	fill := time.Since(start)
	recs, bytes := t.snapshot()
	res.Produced = Counts{recs, bytes}
	res.ProduceMBps = float64(bytes) / 1e6 / fill.Seconds()
	res.RecordsPerSec = float64(recs) / fill.Seconds()
	res.Ack = t.ack.Summary()
	if errs, first := t.errors(); errs > 0 {
		smp.finish()
		return nil, 0, fmt.Errorf("bench: backlog fill: %d errors, first: %w", errs, first)
	}
	cfg.logf("backlog of %d records (%.0f MB) filled at %.0f MB/s; reading it back", recs, float64(bytes)/1e6, res.ProduceMBps)
	return smp, recs, nil
}

// readBacklog measures fresh consumers (read) reading the recs records of
// the backlog, for at most the workload's duration, and ends the sampling.
func readBacklog(ctx context.Context, cfg *Config, m *meter, smp *sampler, rd *reader, res *Result, recs int64, read func(ctx context.Context, target *atomic.Int64) error) error {
	smp.setPhase("read")
	cctx, cancel := context.WithTimeout(ctx, cfg.Workload.Duration)
	defer cancel()
	target := &atomic.Int64{}
	target.Store(recs)
	m.begin(ctx)
	start := time.Now()
	err := read(cctx, target)
	res.Elapsed = time.Since(start)
	m.end(ctx, res, rd.bytes.Load())
	res.Series = smp.finish()
	res.Drained = rd.records.Load() >= recs
	res.ConsumeMBps = float64(rd.bytes.Load()) / 1e6 / res.Elapsed.Seconds()
	return err
}

// collect copies what the producers' tally and the consumers counted.
func (r *Result) collect(t *tally, rd *reader) {
	lat := rd.latency()
	r.E2E = lat.Summary()
	r.E2ECurve = lat.Curve()
	r.Consumed = Counts{rd.records.Load(), rd.bytes.Load()}
	errs, first := t.errors()
	r.Errors = errs + rd.errs.Load()
	if first != nil {
		r.FirstError = first.Error()
	} else if rd.first != nil {
		r.FirstError = rd.first.Error()
	}
}
