package coord

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/log"
)

// BenchmarkOffsetCommit measures the coordinator alone (no network):
// concurrent committers, each waiting for its durable answer, over a real
// offsets log with group commit (1 ms flush delay).
func BenchmarkOffsetCommit(b *testing.B) {
	for _, committers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("committers=%d", committers), func(b *testing.B) {
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
			l, err := log.Open(b.TempDir(), &log.Options{NoPreallocate: true, MaxIndexBytes: 64 << 10, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			c, err := New(Config{Logger: quiet}, l, t0)
			if err != nil {
				b.Fatal(err)
			}
			lat := make([][]time.Duration, committers)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < committers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					done := make(chan *kmsg.OffsetCommitResponse, 1)
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						req := commitReq(fmt.Sprintf("g%d", w), "", -1, i, int32(w))
						t1 := time.Now()
						c.OffsetCommit(t0, req, func(r *kmsg.OffsetCommitResponse) { done <- r })
						if r := <-done; r.Topics[0].Partitions[0].ErrorCode != 0 {
							b.Errorf("commit: %s", errName(r.Topics[0].Partitions[0].ErrorCode))
							return
						}
						lat[w] = append(lat[w], time.Since(t1))
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			var all []time.Duration
			for _, l := range lat {
				all = append(all, l...)
			}
			slices.Sort(all)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
			if len(all) > 0 {
				b.ReportMetric(float64(all[len(all)/2])/1e6, "p50-ms")
				b.ReportMetric(float64(all[min(len(all)-1, len(all)*99/100)])/1e6, "p99-ms")
			}
		})
	}
}
