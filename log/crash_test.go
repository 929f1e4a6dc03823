package log

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/weirhq/weir/batch"
)

// The crash test: a child process (this test binary, re-executed to run
// TestCrashChild) appends with group commit and reports every offset the
// log confirmed durable; the parent SIGKILLs it at a random moment, reopens
// the log and checks that every offset reported durable is present and
// byte-identical and that nothing partial is visible. The content of every
// batch is a function of its base offset (detBatch), so the parent can
// regenerate the exact bytes of anything it reads.

// splitmix is a stateless 64-bit mixer.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

var detCodecs = []batch.Compression{batch.None, batch.None, batch.None, batch.Snappy, batch.LZ4, batch.Zstd, batch.Gzip}

// detBatch returns the batch that the crash and power-loss tests append at
// base offset base, with baseOffset already set: its record count, keys,
// values, timestamps and codec depend on base only.
func detBatch(base int64) []byte {
	h := splitmix(uint64(base))
	n := 1 + int(h%8)
	bld, err := batch.NewBuilder(&batch.BuilderOptions{Compression: detCodecs[(h>>8)%uint64(len(detCodecs))]})
	if err != nil {
		panic(err)
	}
	for i := range n {
		off := base + int64(i)
		x := splitmix(uint64(off) ^ 0xabcdef)
		val := make([]byte, 8+x%400)
		half := len(val) / 2
		for j := range half {
			val[j] = byte('a' + off%26) // compressible half
		}
		for j := half; j < len(val); j += 8 {
			x = splitmix(x)
			for k := 0; k < 8 && j+k < len(val); k++ {
				val[j+k] = byte(x >> (8 * k))
			}
		}
		key := strconv.AppendInt([]byte("key-"), off, 10)
		if err := bld.Append(key, val, nil, tsBase+off); err != nil {
			panic(err)
		}
	}
	b := bld.AppendTo(nil)
	batch.SetBaseOffset(b, base)
	return b
}

// detBatches returns k consecutive detBatch batches from base, concatenated,
// and the offset after them.
func detBatches(base int64, k int) ([]byte, int64) {
	var buf []byte
	next := base
	for range k {
		b := detBatch(next)
		next += int64(batch.LastOffsetDelta(b)) + 1
		buf = append(buf, b...)
	}
	return buf, next
}

// checkDet checks a log written only with detBatch content, starting at
// offset 0: every batch valid, contiguous and byte-identical to its
// regenerated content, every record decodable, and the log reaching at least
// offset durable.
func checkDet(l *Log, durable int64) error {
	if s := l.StartOffset(); s != 0 {
		return fmt.Errorf("start offset %d, want 0", s)
	}
	if e := l.EndOffset(); e < durable {
		return fmt.Errorf("end offset %d below the offset %d reported durable: durable data lost", e, durable)
	}
	got, err := scanLog(l)
	if err != nil {
		return err
	}
	for _, g := range got {
		want := detBatch(g.base)
		if !bytes.Equal(g.data, want) {
			return fmt.Errorf("batch at %d (%d bytes) differs from what was appended (%d bytes)", g.base, len(g.data), len(want))
		}
		recs, err := records(g.data)
		if err != nil {
			return fmt.Errorf("batch at %d: %w", g.base, err)
		}
		for i, r := range recs {
			if r.off != g.base+int64(i) {
				return fmt.Errorf("batch at %d: record %d has offset %d", g.base, i, r.off)
			}
		}
	}
	return nil
}

// crashOptions are the options of the crash test's log.
func crashOptions(logger *slog.Logger, boot string) *Options {
	o := &Options{
		SegmentBytes:       256 << 10,
		IndexIntervalBytes: 1024,
		MaxIndexBytes:      4096,
		FlushPolicy:        FlushGroup,
		Logger:             logger,
	}
	if boot != "" {
		o.BootID = func() string { return boot }
	}
	return o
}

// crashMaxEnd bounds the log the crash children write, so that the parent's
// checks stay fast; at the bound a child only idles until it is killed.
const crashMaxEnd = 100_000

// TestCrashChild is the child process of TestCrash; it does nothing unless
// WEIR_CRASH_CHILD names the log directory.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("WEIR_CRASH_CHILD")
	if dir == "" {
		t.Skip("the child process of TestCrash")
	}
	die := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "crash child: "+format+"\n", args...)
		os.Exit(3)
	}
	seed, _ := strconv.ParseUint(os.Getenv("WEIR_CRASH_SEED"), 10, 64)
	rng := rand.New(rand.NewPCG(seed, 7))
	report, err := os.OpenFile(os.Getenv("WEIR_CRASH_REPORT"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		die("%v", err)
	}
	// Give up if the parent never kills us.
	time.AfterFunc(30*time.Second, func() { die("not killed after 30s") })

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l, err := Open(dir, crashOptions(logger, os.Getenv("WEIR_CRASH_BOOT")))
	if err != nil {
		die("open: %v", err)
	}

	// Durable offsets go to the reporter, which writes one line per
	// report with a single write; a report is only ever sent after the log
	// confirmed the offsets durable.
	reports := make(chan int64, 1<<12)
	go func() {
		var last int64
		tick := time.NewTicker(2 * time.Millisecond)
		for {
			var d int64
			select {
			case d = <-reports:
			case <-tick.C:
				d = l.DurableOffset()
			}
			if d <= last {
				continue
			}
			last = d
			if _, err := report.Write([]byte(strconv.FormatInt(d, 10) + "\n")); err != nil {
				die("report: %v", err)
			}
		}
	}()
	send := func(d int64) {
		select {
		case reports <- d:
		default: // dropping a report only weakens the check
		}
	}

	ctx := context.Background()
	inflight := 0
	for {
		base := l.EndOffset()
		if base >= crashMaxEnd {
			time.Sleep(time.Millisecond)
			continue
		}
		buf, next := detBatches(base, 1+rng.IntN(3))
		res, err := l.Append(buf)
		if err != nil {
			die("append at %d: %v", base, err)
		}
		if res.FirstOffset != base || res.LastOffset != next-1 {
			die("append at %d: result %+v, want [%d, %d]", base, res, base, next-1)
		}
		last := res.LastOffset
		l.OnDurable(last, func(err error) {
			if err == nil {
				send(last + 1)
			}
		})
		inflight++
		if rng.IntN(60) == 0 {
			if err := l.Roll(); err != nil {
				die("roll: %v", err)
			}
		}
		if rng.IntN(10) == 0 || inflight >= 8 {
			// Bound the unsynced appends, as a producer with a
			// window of in-flight requests does.
			if err := l.WaitDurable(ctx, last); err != nil {
				die("wait durable %d: %v", last, err)
			}
			if d := l.DurableOffset(); d <= last {
				die("WaitDurable(%d) returned with durable offset %d", last, d)
			}
			send(last + 1)
			inflight = 0
		}
	}
}

// readReports returns the largest durable offset in the report file;
// a torn last line (the child was killed while writing it) is ignored.
func readReports(path string) (int64, int, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	var best int64
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	complete := bytes.LastIndexByte(data, '\n') + 1
	read := 0
	for sc.Scan() {
		read += len(sc.Bytes()) + 1
		if read > complete {
			break
		}
		v, err := strconv.ParseInt(sc.Text(), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("report line %q: %w", sc.Text(), err)
		}
		best = max(best, v)
		n++
	}
	return best, n, nil
}

// TestCrash SIGKILLs a child appending with group commit at random moments,
// many times, and checks after each kill that everything reported durable
// survived intact. "same boot" reopens as after a process crash (page cache
// intact, fast recovery from the last index entry); "new boot" makes every
// open see a different boot id, forcing full-scan recovery.
func TestCrash(t *testing.T) {
	if os.Getenv("WEIR_CRASH_CHILD") != "" {
		t.Skip("in the child")
	}
	iters := 15
	if longTests() {
		iters = 200
	}
	for _, tc := range []struct {
		name    string
		newBoot bool
	}{{"same boot", false}, {"new boot", true}} {
		t.Run(tc.name, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			runCrashLoop(t, seed, iters, tc.newBoot)
		})
	}
}

func runCrashLoop(t *testing.T, seed uint64, iters int, newBoot bool) {
	rng := rand.New(rand.NewPCG(seed, 1))
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "log")
	reportPath := filepath.Join(tmp, "durable")
	var durable int64 // the largest offset reported durable so far
	progressed := 0
	var logBuf syncBuffer
	logger := slog.New(slog.NewTextHandler(&logBuf, nil))
	for i := range iters {
		childBoot := ""
		if newBoot {
			childBoot = fmt.Sprintf("child-boot-%d", i)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=60s")
		cmd.Env = append(os.Environ(),
			"WEIR_CRASH_CHILD="+dir,
			"WEIR_CRASH_REPORT="+reportPath,
			"WEIR_CRASH_BOOT="+childBoot,
			fmt.Sprintf("WEIR_CRASH_SEED=%d", rng.Uint64()),
		)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Stdout = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wait := time.Duration(20+rng.IntN(281)) * time.Millisecond
		time.Sleep(wait)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("iteration %d: child ended with %v before it was killed; output:\n%s", i, err, stderr.String())
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("iteration %d: child was not killed but ended with %v; output:\n%s", i, err, stderr.String())
		}
		d, n, err := readReports(reportPath)
		if err != nil {
			t.Fatal(err)
		}
		if d > durable {
			progressed++
		}
		durable = max(durable, d)

		// Check most of the time; otherwise the next child recovers
		// the log of the killed one itself.
		if i < iters-1 && rng.IntN(4) == 0 {
			t.Logf("iteration %d: killed after %v, %d reports, durable %d; not checked", i, wait, n, durable)
			continue
		}
		parentBoot := ""
		if newBoot {
			parentBoot = fmt.Sprintf("parent-boot-%d", i)
		}
		logBuf.Reset()
		l, err := Open(dir, crashOptions(logger, parentBoot))
		if err != nil {
			t.Fatalf("iteration %d: open after kill: %v\nlog:\n%s", i, err, logBuf.String())
		}
		end := l.EndOffset()
		if err := checkDet(l, durable); err != nil {
			l.Close()
			t.Fatalf("iteration %d (killed after %v, durable %d): %v\nrecovery log:\n%s\nchild output:\n%s", i, wait, durable, err, logBuf.String(), stderr.String())
		}
		if dd := l.DurableOffset(); dd != end {
			t.Errorf("iteration %d: after recovery durable offset %d, end offset %d", i, dd, end)
		}
		t.Logf("iteration %d: killed after %v, %d reports, durable %d, recovered end %d, %d segments", i, wait, n, durable, end, l.NumSegments())
		if err := l.Close(); err != nil {
			t.Fatalf("iteration %d: close: %v", i, err)
		}
	}
	if durable == 0 || progressed < 2 {
		t.Fatalf("children made too little progress: durable %d after %d iterations, %d advanced it", durable, iters, progressed)
	}
}
