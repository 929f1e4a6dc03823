package bench_test

import (
	"context"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
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
	w.Duration = time.Second
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

// TestRunW1Kfake runs the same against kfake in-process, and a fixed-rate
// run to check pacing.
func TestRunW1Kfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := bench.Run(ctx, bench.Config{
		Workload: shortW1(),
		Target:   bench.Target{Kind: bench.KindKafka, Addr: c.ListenAddrs()[0], Name: "kfake"},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkProduceConsume(t, res)
}

func TestRunFixedRate(t *testing.T) {
	b := weirtest.Start(t)
	w, _ := bench.StandardWorkload(bench.W2)
	w.Rate = 2e6 // 2 MB/s: about 1950 records in one second
	w.Duration = time.Second
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
		return bench.Result{Workload: bench.W1, Target: target, Rep: rep, ProduceMBps: mbps, RecordsPerSec: mbps * 1000, CPUPerGB: 1}
	}
	out := bench.Report([]bench.Result{
		mk("weir", 1, 300), mk("kfake", 1, 200),
		mk("weir", 2, 330), mk("kfake", 2, 300),
		mk("weir", 3, 100), mk("kfake", 3, 100),
	}, "kfake")
	// Medians 300 and 200; same-run ratios 1.5, 1.1, 1.0: median 1.1.
	for _, want := range []string{"### W1 (median of 3)", "| weir | 300 | 1.10 |", "| kfake | 200 | 1.00 |"} {
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
