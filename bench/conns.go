package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// connWorkers is how many goroutines send the trickle, each owning a
// disjoint share of the connections (a Kafka connection answers in order,
// so one request at a time per connection keeps latencies independent).
const connWorkers = 16

// runConns opens w.Conns connections, each doing an ApiVersions handshake,
// measures the broker's memory with them open, then sends w.ConnRate
// Metadata requests per second on random connections for w.Duration and
// measures their latency from intended send time.
func runConns(ctx context.Context, cfg *Config, srv *server, res *Result) error {
	w := &cfg.Workload
	res.Conns = w.Conns
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("weirbench"))
	conns := make([]net.Conn, w.Conns)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()

	// Open them, a few dialers at a time (a burst of thousands of SYNs
	// overflows the listen backlog and costs 1 s retransmits).
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 4096)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) || ctx.Err() != nil {
					return
				}
				c, err := net.DialTimeout("tcp", srv.addr, 10*time.Second)
				if err != nil {
					errc <- fmt.Errorf("bench: connection %d: %w", i, err)
					return
				}
				conns[i] = c
				req := kmsg.NewPtrApiVersionsRequest()
				req.Version = 3
				req.ClientSoftwareName, req.ClientSoftwareVersion = "weirbench", "1"
				if buf, err = roundTrip(c, f, req, int32(i), buf); err != nil {
					errc <- fmt.Errorf("bench: connection %d handshake: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	res.ConnSetup = time.Since(start)
	time.Sleep(time.Second) // let the broker settle
	s, err := sampleProc(srv.pid)
	if err == nil && srv.pid != 0 {
		res.RSSPerConn = float64(s.rss-res.RSSIdle) / float64(w.Conns)
	}
	cfg.logf("%d connections open in %v; RSS %.1f MB", w.Conns, res.ConnSetup.Round(time.Millisecond), mb(s.rss))

	// The trickle.
	clk := newClock()
	m := newMeter(cfg, srv)
	m.begin(ctx)
	due := make([]chan int64, connWorkers)
	hists := make([]*Histogram, connWorkers)
	var answered, failed atomic.Int64
	var firstErr atomic.Value
	for k := range due {
		due[k] = make(chan int64, 1<<14)
		hists[k] = NewHistogram()
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(k), 7))
			buf := make([]byte, 0, 4096)
			req := kmsg.NewPtrMetadataRequest()
			req.Version = 12
			req.Topics = []kmsg.MetadataRequestTopic{} // none: a cheap request
			corr := int32(1 << 20)
			for intended := range due[k] {
				// Connections k, k+connWorkers, … belong to this worker.
				n := (len(conns) - k + connWorkers - 1) / connWorkers
				c := conns[k+connWorkers*rng.IntN(n)]
				corr++
				var err error
				if buf, err = roundTrip(c, f, req, corr, buf); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				hists[k].Record(clk.now() - intended)
				answered.Add(1)
			}
		}()
	}
	p := newPacer(clk, w.ConnRate, w.Duration)
	for i := 0; ctx.Err() == nil; i++ {
		t, _, ok := p.next()
		if !ok {
			break
		}
		due[i%connWorkers] <- t
	}
	for _, ch := range due {
		close(ch)
	}
	wg.Wait()
	res.Elapsed = time.Duration(clk.now())
	m.end(ctx, res, 0)
	h := NewHistogram()
	for _, x := range hists {
		h.Merge(x)
	}
	res.ConnLatency = h.Summary()
	res.ConnRequests = answered.Load()
	res.Errors = failed.Load()
	if e, ok := firstErr.Load().(error); ok {
		res.FirstError = e.Error()
	}
	return nil
}

// roundTrip writes one request and reads its response, checking the
// correlation id. buf is reused and returned.
func roundTrip(c net.Conn, f *kmsg.RequestFormatter, req kmsg.Request, corr int32, buf []byte) ([]byte, error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf = f.AppendRequest(buf[:0], req, corr)
	if _, err := c.Write(buf); err != nil {
		return buf, err
	}
	var hdr [8]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return buf, err
	}
	size := int32(binary.BigEndian.Uint32(hdr[:4]))
	if got := int32(binary.BigEndian.Uint32(hdr[4:])); got != corr {
		return buf, fmt.Errorf("correlation id %d, want %d", got, corr)
	}
	if size < 4 || size > 64<<20 {
		return buf, fmt.Errorf("response size %d", size)
	}
	if cap(buf) < int(size-4) {
		buf = make([]byte, size-4)
	}
	_, err := io.ReadFull(c, buf[:size-4])
	return buf, err
}
