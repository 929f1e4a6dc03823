package bench

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestPacerRate: a fixed-rate pacer hands out exactly rate × duration
// intended times, each exactly on schedule, and never lets a record go
// before its time (by more than the 50 µs it rounds sleeps to). How late
// records go depends on the machine's load and is not asserted, except
// that a run is not grossly slow.
func TestPacerRate(t *testing.T) {
	for _, rate := range []float64{1000, 20000, 200000} {
		clk := newClock()
		d := 500 * time.Millisecond
		p := newPacer(clk, rate, d)
		var n int
		for {
			ts, seq, ok := p.next()
			if !ok {
				break
			}
			if want := p.start + int64(math.Round(float64(seq)*1e9/rate)); ts != want {
				t.Fatalf("rate %v: record %d intended at %d, want %d", rate, seq, ts, want)
			}
			if early := ts - clk.now(); early > 50_000 {
				t.Fatalf("rate %v: record %d handed out %d ns before its time", rate, seq, early)
			}
			n++
		}
		if want := rate * d.Seconds(); math.Abs(float64(n)-want) > 1 {
			t.Errorf("rate %v: %d records in %v, want %.0f", rate, n, d, want)
		}
		elapsed := time.Duration(clk.now() - p.start)
		if elapsed < d-time.Duration(1e9/rate)-time.Millisecond {
			t.Errorf("rate %v: finished after %v, before the schedule's %v", rate, elapsed, d)
		}
		if achieved := float64(n) / elapsed.Seconds(); achieved < rate/2 {
			t.Errorf("rate %v: achieved only %.0f/s", rate, achieved)
		}
	}
	// Max rate: intended time is the current time.
	clk := newClock()
	p := newPacer(clk, 0, time.Hour)
	ts, _, _ := p.next()
	if d := clk.now() - ts; d < 0 || d > int64(time.Second) {
		t.Errorf("max-rate intended time %d ns off", d)
	}
}

// TestPacerNoCoordinatedOmission: when the sender stalls, the intended
// times stay on schedule, so the stall shows in every delayed record.
func TestPacerNoCoordinatedOmission(t *testing.T) {
	clk := newClock()
	p := newPacer(clk, 1000, time.Second)
	p.next()
	time.Sleep(50 * time.Millisecond) // a stall
	late := 0
	for range 40 {
		ts, _, _ := p.next()
		if clk.now()-ts > int64(10*time.Millisecond) {
			late++
		}
	}
	if late < 30 {
		t.Errorf("%d of 40 records after a 50 ms stall count as late, want most", late)
	}
}

func TestSizerAndKeyer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	w := Workload{RecordBytes: 500, RecordSize: SizeDist{Kind: "uniform", Min: 100, Max: 900}}
	s := newSizer(&w, rng)
	sum, lo, hi := 0, 1<<30, 0
	for range 10000 {
		n := s.next()
		sum, lo, hi = sum+n, min(lo, n), max(hi, n)
	}
	if lo < 100 || hi > 900 || math.Abs(float64(sum)/10000-500) > 15 {
		t.Errorf("uniform sizes: min %d max %d mean %v", lo, hi, float64(sum)/10000)
	}
	w.RecordSize = SizeDist{Kind: "normal", Min: 16, Max: 2000, Stddev: 100}
	s = newSizer(&w, rng)
	sum = 0
	for range 10000 {
		n := s.next()
		if n < 16 || n > 2000 {
			t.Fatalf("normal size %d outside the clamp", n)
		}
		sum += n
	}
	if math.Abs(float64(sum)/10000-500) > 10 {
		t.Errorf("normal mean %v", float64(sum)/10000)
	}

	w = Workload{Keys: "sequential", KeyCount: 3}
	k := newKeyer(&w, makeKeys(&w), rng)
	if a, b, c, d := string(k.next()), string(k.next()), string(k.next()), string(k.next()); a == b || b == c || a != d {
		t.Errorf("sequential keys %s %s %s %s", a, b, c, d)
	}
	w = Workload{Keys: "zipf", KeyCount: 1000}
	k = newKeyer(&w, makeKeys(&w), rng)
	counts := map[string]int{}
	for range 10000 {
		counts[string(k.next())]++
	}
	if counts["key-00000000"] < 1000 {
		t.Errorf("zipf: the hottest key got %d of 10000", counts["key-00000000"])
	}
	w = Workload{Keys: "none"}
	if newKeyer(&w, makeKeys(&w), rng).next() != nil {
		t.Error("keys none gave a key")
	}
}
