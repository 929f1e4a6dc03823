package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/bench"
	"github.com/weirhq/weir/weirtest"
)

func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	h := bench.NewHistogram()
	var vals []int64
	for range 100_000 {
		// Log-uniform over 1 ns .. 100 s.
		v := int64(math.Exp(rng.Float64() * math.Log(100e9)))
		vals = append(vals, v)
		h.Record(v)
	}
	slices.Sort(vals)
	for _, q := range []float64{0, 0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		rank := int(math.Ceil(q*float64(len(vals)))) - 1
		want := vals[max(rank, 0)]
		got := int64(h.Quantile(q))
		if got < want || float64(got-want) > float64(want)/128+1 {
			t.Errorf("q%v: got %d, want %d (within 1/128 above)", q, got, want)
		}
	}
	if h.Count() != uint64(len(vals)) || int64(h.Max()) != vals[len(vals)-1] {
		t.Errorf("count %d max %v, want %d %d", h.Count(), h.Max(), len(vals), vals[len(vals)-1])
	}

	// Merge adds counts; an empty histogram reports zeros.
	a, b := bench.NewHistogram(), bench.NewHistogram()
	if a.Quantile(0.99) != 0 || a.Max() != 0 || a.Mean() != 0 {
		t.Error("empty histogram not zero")
	}
	for i := range 1000 {
		a.RecordDuration(time.Duration(i) * time.Microsecond)
		b.RecordDuration(time.Duration(1000+i) * time.Microsecond)
	}
	a.Merge(b)
	if a.Count() != 2000 {
		t.Fatalf("merged count %d", a.Count())
	}
	if p50 := a.Quantile(0.5); p50 < 999*time.Microsecond || p50 > 1008*time.Microsecond {
		t.Errorf("merged p50 %v, want about 1ms", p50)
	}
	// Out-of-range values are clamped, not lost.
	a.Record(-5)
	a.Record(math.MaxInt64)
	if a.Count() != 2002 || a.Quantile(0) != 0 {
		t.Errorf("clamping: count %d min %v", a.Count(), a.Quantile(0))
	}
}

func TestHistogramAllocs(t *testing.T) {
	h := bench.NewHistogram()
	if n := testing.AllocsPerRun(100, func() { h.Record(12345) }); n != 0 {
		t.Errorf("Record allocates %v", n)
	}
}

func shortW1() bench.Workload {
	w, _ := bench.StandardWorkload(bench.W1)
	w.Duration, w.Warmup = time.Second, 0
	w.DrainTimeout = 10 * time.Second
	return w
}

func checkProduceConsume(t *testing.T, res bench.Result) {
	t.Helper()
	t.Log(res.Line())
	if res.Errors != 0 {
		t.Errorf("%d errors, first: %s", res.Errors, res.FirstError)
	}
	if res.Produced.Records == 0 || res.Consumed.Records != res.Produced.Records || !res.Drained {
		t.Errorf("produced %d records, consumed %d (drained %v)", res.Produced.Records, res.Consumed.Records, res.Drained)
	}
	if res.Produced.Bytes != res.Produced.Records*1024 || res.Consumed.Bytes != res.Produced.Bytes {
		t.Errorf("bytes produced %d consumed %d", res.Produced.Bytes, res.Consumed.Bytes)
	}
	if res.E2E.Count != uint64(res.Consumed.Records) || res.E2E.P50 <= 0 || res.E2E.P99 < res.E2E.P50 {
		t.Errorf("e2e latency %v", res.E2E)
	}
	if res.ProduceRequests == 0 || res.FetchRequests == 0 {
		t.Errorf("requests: %d produce, %d fetch", res.ProduceRequests, res.FetchRequests)
	}
}

// TestRunW1Weir runs a 1-second W1 against an in-process Weir broker.
func TestRunW1Weir(t *testing.T) {
	b := weirtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := bench.Run(ctx, bench.Config{
		Workload: shortW1(),
		Target:   bench.Target{Kind: bench.KindKafka, Addr: b.Addr(), Name: "weir"},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkProduceConsume(t, res)
}

// TestRunW1Kfake runs the same against kfake in-process, and checks that
// the consumer's fetches carry the workload's fetch sizes.
func TestRunW1Kfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := shortW1()
	if w.MaxPartitionFetchBytes != 8<<20 {
		t.Fatalf("W1 reads %d bytes per partition per fetch, want 8 MiB", w.MaxPartitionFetchBytes)
	}
	w.FetchMaxBytes = 20 << 20
	var fetches, parts, wrong atomic.Int64
	c.ControlKey(int16(kmsg.Fetch), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := r.(*kmsg.FetchRequest)
		if req.SessionEpoch == -1 {
			return nil, nil, false // closes the client's fetch session (max bytes 1)
		}
		fetches.Add(1)
		if req.MaxBytes != int32(w.FetchMaxBytes) {
			wrong.Add(1)
		}
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				parts.Add(1)
				if rp.PartitionMaxBytes != int32(w.MaxPartitionFetchBytes) {
					wrong.Add(1)
				}
			}
		}
		return nil, nil, false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := bench.Run(ctx, bench.Config{
		Workload: w,
		Target:   bench.Target{Kind: bench.KindKafka, Addr: c.ListenAddrs()[0], Name: "kfake"},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkProduceConsume(t, res)
	if fetches.Load() == 0 || parts.Load() == 0 || wrong.Load() != 0 {
		t.Errorf("%d fetches naming %d partitions, %d with other max bytes than %d per fetch and %d per partition",
			fetches.Load(), parts.Load(), wrong.Load(), w.FetchMaxBytes, w.MaxPartitionFetchBytes)
	}
}

func TestRunFixedRate(t *testing.T) {
	b := weirtest.Start(t)
	w, _ := bench.StandardWorkload(bench.W2)
	w.Rate = 2e6 // 2 MB/s: about 1950 records in one second
	w.Duration, w.Warmup = time.Second, 0
	res, err := bench.Run(context.Background(), bench.Config{
		Workload: w,
		Target:   bench.Target{Kind: bench.KindKafka, Addr: b.Addr(), Name: "weir"},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkProduceConsume(t, res)
	if want := int64(2e6) / 1024; res.Produced.Records < want-2 || res.Produced.Records > want+2 {
		t.Errorf("fixed rate produced %d records in 1 s, want about %d", res.Produced.Records, want)
	}
}

func TestRunConns(t *testing.T) {
	b := weirtest.Start(t)
	w, _ := bench.StandardWorkload(bench.Conns)
	w.Conns, w.ConnRate, w.Duration = 50, 100, time.Second
	res, err := bench.Run(context.Background(), bench.Config{
		Workload: w,
		Target:   bench.Target{Kind: bench.KindKafka, Addr: b.Addr(), Name: "weir"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Line())
	if res.Errors != 0 || res.ConnRequests < 95 || res.ConnLatency.Count != uint64(res.ConnRequests) {
		t.Errorf("%d requests answered, %d errors (%s)", res.ConnRequests, res.Errors, res.FirstError)
	}
}

func TestReport(t *testing.T) {
	mk := func(target string, rep int, mbps float64) bench.Result {
		return bench.Result{Workload: "max-throughput", Kind: "max", Target: target, Rep: rep, ProduceMBps: mbps, RecordsPerSec: mbps * 1000, CPUPerGB: 1}
	}
	out := bench.Report([]bench.Result{
		mk("weir", 1, 300), mk("kfake", 1, 200),
		mk("weir", 2, 330), mk("kfake", 2, 300),
		mk("weir", 3, 100), mk("kfake", 3, 100),
	}, bench.ReportOptions{Baseline: "kfake"})
	// Medians 300 and 200; same-run ratios 1.5, 1.1, 1.0: median 1.1.
	for _, want := range []string{"### max-throughput (median of 3)", "| weir | 300 | 1.10 |", "| kfake | 200 | 1.00 |",
		"| max-throughput | produce MB/s (higher is better) | 300 | 1.10 | 200 |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// The targets are child processes; make sure a dead one is reported, not
// waited on forever.
func TestStartFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	_, err = bench.Run(context.Background(), bench.Config{
		Workload: shortW1(),
		Target:   bench.Target{Kind: bench.KindWeir, Binary: "/bin/false"},
	})
	if err == nil {
		t.Fatal("started /bin/false as a broker")
	}
}

// TestSuiteEndToEnd runs small workloads through Suite against an
// in-process Weir broker and the null broker, writes the report, and
// checks that the report's counts match what the broker holds and what
// the consumers read.
func TestSuiteEndToEnd(t *testing.T) {
	b := weirtest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nullAddr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nctx, stopNull := context.WithCancel(ctx)
	nullDone := make(chan error, 1)
	go func() { nullDone <- bench.ServeNull(nctx, nullAddr) }()
	defer func() { stopNull(); <-nullDone }()
	for {
		c, err := net.Dial("tcp", nullAddr)
		if err == nil {
			c.Close()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	ws, err := bench.ParseWorkloads("e2e.yaml", []byte(`
name: mixed
description: two producers, two consumers, keys and sizes drawn
topics: 2
partitions: 3
record-size: {distribution: uniform, min: 64, max: 1KiB}
keys: random
producers: 2
consumers: 2
rate: [2MB/s, max]
warmup: 300ms
duration: 1s
drain-timeout: 20s
---
name: backlog
partitions: 2
record-size: 512B
backlog: 4MB
consumers: 2
duration: 30s
---
name: group
partitions: 4
producers: 1
rate: 2000/s
consumers: 2
consumer-group: true
commit-interval: 200ms
duration: 2s
drain-timeout: 20s
`))
	if err != nil {
		t.Fatal(err)
	}
	weir := bench.Target{Kind: bench.KindKafka, Addr: b.Addr(), Name: "weir"}
	null := bench.Target{Kind: bench.KindKafka, Addr: nullAddr, Name: "null"}
	var progress atomic.Int64
	s := bench.Suite{Workloads: ws[:3], Targets: []bench.Target{weir, null}, Reps: 1, KeepTopics: true,
		Progress: func(bench.Progress) { progress.Add(1) }}
	results, errs := s.Run(ctx)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	s = bench.Suite{Workloads: ws[3:], Targets: []bench.Target{weir}, KeepTopics: true}
	more, errs := s.Run(ctx)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	results = append(results, more...)
	if len(results) != 7 {
		t.Fatalf("%d results, want 7", len(results))
	}
	if progress.Load() == 0 {
		t.Error("no progress reported")
	}

	for _, r := range results {
		t.Log(r.Workload, r.Target, r.Line())
		if r.Errors != 0 {
			t.Errorf("%s/%s: %d errors: %s", r.Workload, r.Target, r.Errors, r.FirstError)
		}
		if !r.Drained || r.Consumed.Records < r.Produced.Records+r.WarmupRecords {
			t.Errorf("%s/%s: consumed %d of %d+%d", r.Workload, r.Target, r.Consumed.Records, r.Produced.Records, r.WarmupRecords)
		}
		// The null broker's canned records carry no send time.
		if r.Kind != "backlog" && (len(r.Series) == 0 || (r.E2E.Count == 0) != (r.Target == "null")) {
			t.Errorf("%s/%s: %d samples, %d latencies", r.Workload, r.Target, len(r.Series), r.E2E.Count)
		}
		if r.ConsumeMBps <= 0 {
			t.Errorf("%s/%s: consume rate %v", r.Workload, r.Target, r.ConsumeMBps)
		}
		if r.Target == "weir" && r.Kind != "backlog" && r.Consumed.Records != r.Produced.Records+r.WarmupRecords && r.Workload != "group" {
			t.Errorf("%s: direct consumers read %d records, %d were produced", r.Workload, r.Consumed.Records, r.Produced.Records+r.WarmupRecords)
		}
	}
	// The broker holds exactly what the report says was acknowledged
	// (idempotent producers: no duplicates), in the run's own topics.
	byName := map[string]bench.Result{}
	for _, r := range results {
		if r.Target == "weir" {
			byName[r.Workload] = r
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for name, r := range byName {
		ends, err := adm.ListEndOffsets(ctx, r.Topics...)
		if err != nil || len(r.Topics) == 0 {
			t.Fatalf("%s: topics %v: %v", name, r.Topics, err)
		}
		var held int64
		ends.Each(func(o kadm.ListedOffset) { held += o.Offset })
		if held != r.Produced.Records+r.WarmupRecords {
			t.Errorf("%s: the broker holds %d records in %v, the report says %d+%d were acknowledged", name, held, r.Topics, r.Produced.Records, r.WarmupRecords)
		}
	}
	// 2 MB/s of records of 544 bytes on average, for 1.3 s.
	if r := byName["mixed@2MB/s"]; r.Produced.Records+r.WarmupRecords < 4760 || r.Produced.Records+r.WarmupRecords > 4800 {
		t.Errorf("2 MB/s for 1.3 s of ~544-byte records: %d records, want 4780", r.Produced.Records+r.WarmupRecords)
	}
	if r := byName["group"]; r.Commits == 0 || r.CommitLag != 0 || r.CommitErrors != 0 {
		t.Errorf("group: %d commits (%d failed), %d records uncommitted at the end", r.Commits, r.CommitErrors, r.CommitLag)
	}
	if r := byName["backlog"]; r.Produced.Bytes < 4e6 || r.Produced.Bytes > 4e6+512 || r.ConsumeMBps <= 0 {
		t.Errorf("backlog: produced %d bytes, read at %.1f MB/s", r.Produced.Bytes, r.ConsumeMBps)
	}

	dir := t.TempDir()
	files, err := bench.WriteOutputs(dir, results, bench.ReportOptions{Baseline: "weir"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"results.json", "report.md", "comparison.svg", "mixed-latency-vs-throughput.svg", "mixed-2MB-s-latency.svg", "mixed-max-throughput.svg", "backlog-throughput.svg"} {
		if !slices.Contains(files, filepath.Join(dir, want)) {
			t.Errorf("%s not written (wrote %v)", want, files)
		}
	}
	js, _ := os.ReadFile(filepath.Join(dir, "results.json"))
	var back []bench.Result
	if err := json.Unmarshal(js, &back); err != nil || len(back) != len(results) {
		t.Fatalf("results.json: %d results, %v", len(back), err)
	}
	for i := range back {
		if back[i].Produced != results[i].Produced || back[i].Consumed != results[i].Consumed {
			t.Errorf("results.json run %d: %+v/%+v, want %+v/%+v", i, back[i].Produced, back[i].Consumed, results[i].Produced, results[i].Consumed)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, want := range []string{"## Headline", "| mixed@max | produce MB/s", "of ceiling", "### group", "![mixed: latency against throughput](mixed-latency-vs-throughput.svg)"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	// The report's counts are the runs' counts.
	r := byName["mixed@max"]
	if !strings.Contains(string(md), fmt.Sprintf("| weir | %.0f |", r.ProduceMBps)) {
		t.Errorf("report.md lacks weir's mixed@max rate %.0f:\n%s", r.ProduceMBps, md)
	}
}
