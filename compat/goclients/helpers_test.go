package goclients

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirhq/weir/broker"
	"github.com/weirhq/weir/weirtest"
)

// logBuffer collects a broker's log lines; they are printed when the test
// fails (or always with -v, when weirtest logs to stderr itself).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startBroker starts an embedded Weir broker (ephemeral port, the test's
// temporary directory) whose log is shown if the test fails, or always
// when WEIR_COMPAT_LOG is set. With WEIR_COMPAT_TRACE set, clients reach
// the broker through a proxy that counts the requests by API key and
// version, and the counts are logged at the end of the test (use -v).
func startBroker(t *testing.T, opts ...weirtest.Option) *testBroker {
	t.Helper()
	logs := &logBuffer{}
	opts = append([]weirtest.Option{weirtest.WithConfig(func(c *broker.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})}, opts...)
	var tr *tracer
	if os.Getenv("WEIR_COMPAT_TRACE") != "" {
		tr = startTracer(t)
		opts = append(opts, weirtest.WithConfig(func(c *broker.Config) { c.AdvertisedAddr = tr.addr }))
	}
	b := weirtest.Start(t, opts...)
	tb := &testBroker{Broker: b, addr: b.Addr()}
	if tr != nil {
		tr.target, tb.addr = b.Addr(), tr.addr
	}
	t.Cleanup(func() {
		if tr != nil {
			t.Logf("requests (api key/version: count): %s", tr.summary())
		}
		if t.Failed() || os.Getenv("WEIR_COMPAT_LOG") != "" {
			t.Logf("broker log:\n%s", logs.String())
		}
	})
	return tb
}

// testBroker is a started broker; Addr is the address clients bootstrap
// from (the tracing proxy's, when tracing).
type testBroker struct {
	*weirtest.Broker
	addr string
}

func (b *testBroker) Addr() string { return b.addr }

// testContext returns a context that ends after d or with the test.
func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// testContextCancel returns a cancellable context derived from ctx.
func testContextCancel(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(ctx)
}

// within runs fn and fails the test if it does not return within d (the
// clients' own timeouts should end it first; this is the backstop).
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not finish within %s", what, d)
	}
}

// waitFor polls cond every 20 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// record is one record as produced and as it must be read back.
type record struct {
	Partition int32
	Offset    int64
	Key       string
	Value     string
	Headers   string // "k=v,k2=v2" in record order
}

func (r record) String() string {
	return fmt.Sprintf("p%d@%d %q=%q [%s]", r.Partition, r.Offset, r.Key, r.Value, r.Headers)
}

func joinHeaders(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+"="+kv[i+1])
	}
	return strings.Join(parts, ",")
}

// checkRecords compares what was read with what was produced, exactly:
// got must hold, per partition, offsets 0..n-1 densely, and the same
// records as want (by key, value and headers, in per-partition order).
// Offsets in want are checked where they are >= 0 (known from the ack).
func checkRecords(t *testing.T, want, got []record) {
	t.Helper()
	byPart := func(rs []record) map[int32][]record {
		m := map[int32][]record{}
		for _, r := range rs {
			m[r.Partition] = append(m[r.Partition], r)
		}
		return m
	}
	wp, gp := byPart(want), byPart(got)
	errs := 0
	if len(want) != len(got) {
		t.Errorf("read %d records, produced %d", len(got), len(want))
		errs++
	}
	for p, ws := range wp {
		gs := gp[p]
		for i := range max(len(ws), len(gs)) {
			switch {
			case i >= len(gs):
				t.Errorf("partition %d: missing %v", p, ws[i])
				errs++
			case i >= len(ws):
				t.Errorf("partition %d: extra %v", p, gs[i])
				errs++
			default:
				w, g := ws[i], gs[i]
				if g.Offset != int64(i) {
					t.Errorf("partition %d: record %d at offset %d", p, i, g.Offset)
					errs++
				}
				if w.Offset >= 0 && w.Offset != g.Offset {
					t.Errorf("partition %d: %v acked at offset %d, read at %d", p, w, w.Offset, g.Offset)
					errs++
				}
				if w.Key != g.Key || w.Value != g.Value || w.Headers != g.Headers {
					t.Errorf("partition %d offset %d: read %v, want %v", p, g.Offset, g, w)
					errs++
				}
			}
			if errs > 20 {
				t.FailNow()
			}
		}
	}
	for p := range gp {
		if _, ok := wp[p]; !ok {
			t.Errorf("partition %d: %d records read, none produced", p, len(gp[p]))
		}
	}
}
