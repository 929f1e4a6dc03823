package bench

import (
	"sync"
	"time"
)

// Sample is one interval of a run's time series.
type Sample struct {
	T            float64 // seconds since the load started, at the interval's end
	ProduceMBps  float64 // acknowledged value bytes per second
	ProduceRecs  float64 // acknowledged records per second
	ConsumeMBps  float64
	ConsumeRecs  float64
	BrokerCores  float64 // broker CPU time per second (1 = one core busy); 0 if not measured
	BrokerRSSMB  float64
	Errors       int64 // cumulative
	Outstanding  int64 // records produced but not yet acknowledged
	ConsumerLagR int64 // records acknowledged but not yet consumed (0 without consumers)
}

// sampler records a Sample every interval and reports progress.
type sampler struct {
	cfg   *Config
	srv   *server
	clk   clock
	t     *tally
	rd    *reader
	total time.Duration

	mu    sync.Mutex
	phase string
	out   []Sample
	stop  chan struct{}
	done  chan struct{}
}

func startSampler(cfg *Config, srv *server, clk clock, t *tally, rd *reader, total time.Duration, phase string) *sampler {
	s := &sampler{cfg: cfg, srv: srv, clk: clk, t: t, rd: rd, total: total, phase: phase,
		stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *sampler) setPhase(p string) {
	s.mu.Lock()
	s.phase = p
	s.mu.Unlock()
}

func (s *sampler) loop() {
	defer close(s.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := s.clk.now()
	var lastP, lastPB, lastC, lastCB int64
	lastProc, _ := sampleProc(s.srv.pid)
	for {
		final := false
		select {
		case <-s.stop:
			// A last, partial interval, if long enough to mean anything
			// or the only one.
			s.mu.Lock()
			none := len(s.out) == 0
			s.mu.Unlock()
			if s.clk.now()-last < int64(100*time.Millisecond) && !none {
				return
			}
			final = true
		case <-tick.C:
		}
		now := s.clk.now()
		dt := float64(now-last) / 1e9
		p, pb := s.t.snapshot()
		errs, _ := s.t.errors()
		c, cb := s.rd.records.Load(), s.rd.bytes.Load()
		smp := Sample{
			T:           float64(now) / 1e9,
			ProduceMBps: float64(pb-lastPB) / 1e6 / dt,
			ProduceRecs: float64(p-lastP) / dt,
			ConsumeMBps: float64(cb-lastCB) / 1e6 / dt,
			ConsumeRecs: float64(c-lastC) / dt,
			Errors:      errs + s.rd.errs.Load(),
			Outstanding: s.t.outstanding.Load(),
		}
		if s.cfg.Workload.Consumers > 0 && p > c {
			smp.ConsumerLagR = p - c
		}
		if s.srv.pid != 0 {
			if ps, err := sampleProc(s.srv.pid); err == nil {
				smp.BrokerCores = (ps.cpu - lastProc.cpu).Seconds() / ps.at.Sub(lastProc.at).Seconds()
				smp.BrokerRSSMB = mb(ps.rss)
				lastProc = ps
			}
		}
		last, lastP, lastPB, lastC, lastCB = now, p, pb, c, cb
		s.mu.Lock()
		s.out = append(s.out, smp)
		phase := s.phase
		s.mu.Unlock()
		if final {
			return
		}
		if s.cfg.Progress != nil {
			s.cfg.Progress(Progress{
				Workload: s.cfg.Workload.Name, Target: s.cfg.Target.Name, Phase: phase,
				Elapsed: time.Duration(now), Total: s.total, Sample: smp,
			})
		}
	}
}

// finish stops sampling and returns the series.
func (s *sampler) finish() []Sample {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out
}
