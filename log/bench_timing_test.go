package log

// Storage benchmarks of the partition log, each measured beside a reference
// that does the same I/O with plain system calls:
//
//	BenchmarkAppend/size=S/log            Append of S-byte batches, no fsync
//	BenchmarkAppend/size=S/validated      AppendValidated (no CRC pass), no fsync
//	BenchmarkAppend/size=S/ref=write      pwrite(2) of the same bytes
//	BenchmarkGroupCommit/appenders=N/log  N goroutines: Append + WaitDurable (FlushGroup, 1 ms)
//	BenchmarkGroupCommit/.../ref=fdatasync pwrite + a syncer calling fdatasync on the same cadence
//	BenchmarkGroupCommitLogs/.../logs=N   N logs sharing one Flusher, 64 appenders
//	BenchmarkReadAll/size=1GB/log         Read + View.Batches over a cached 1 GB log, every byte touched
//	BenchmarkReadAll/size=1GB/ref=slice   the same loop over an in-memory []byte
//	BenchmarkRead                         Read + Bytes + Release of 1 MiB views (allocs/op)
//
// Open and recovery benchmarks are in open_timing_test.go. In each group
// the reference is the leaf named "ref=<what>" and every other leaf is a
// subject compared with it; scripts/bench-storage.sh runs them alternately
// and prints the ratios.
//
// The 1 GB benchmarks skip under -short and when the file system lacks room.
// Their fixtures are built on first use; set WEIR_BENCH_DIR to keep them
// between runs (the script does, and removes it at the end).

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/internal/vfs"
	"golang.org/x/sys/unix"
)

// benchSink keeps benchmark results alive.
var benchSink uint64

// Sizes shared by the benchmarks.
const (
	// appendRegion is the part of a file the append benchmarks write
	// before going back to its start, so that both sides write into page
	// cache that was already touched once (the first touch of new page
	// cache memory is slow on VMs and would dominate).
	appendRegion = 256 << 20
	// benchSegmentBytes is the segment size (and the reference file's
	// preallocation) for single-log benchmarks: the default.
	benchSegmentBytes = DefaultSegmentBytes
	// The "1 GB" fixture holds oneGBBatches batches of oneGBBatch bytes
	// (61,035 of 16 KiB) in one segment.
	oneGBBatch   = 16 << 10
	oneGBBatches = 1_000_000_000 / oneGBBatch
	// benchBootID is the boot id the fixtures are written under.
	benchBootID = "weir-bench-boot-a"
)

// makeSizedBatch builds one uncompressed v2 batch of exactly size bytes
// holding at least two records of about 1000 bytes each.
func makeSizedBatch(tb testing.TB, size int) []byte {
	tb.Helper()
	n := max(2, size/1024)
	valueLen := make([]int, n)
	for i := range valueLen {
		valueLen[i] = max(1, (size-batch.HeaderSize)/n-12)
	}
	val := make([]byte, size)
	for i := range val {
		val[i] = byte(i*7 + i>>8)
	}
	bd, err := batch.NewBuilder(nil)
	if err != nil {
		tb.Fatal(err)
	}
	for attempt := 0; attempt < 20; attempt++ {
		bd.Reset()
		for i, vl := range valueLen {
			if err := bd.Append(nil, val[:vl], nil, 1_700_000_000_000+int64(i)); err != nil {
				tb.Fatal(err)
			}
		}
		b := bd.AppendTo(nil)
		diff := size - len(b)
		if diff == 0 {
			return b
		}
		// Varint widths may shift by a byte; converge in a few steps.
		last := &valueLen[n-1]
		*last = max(1, *last+diff)
		if diff < 0 && *last == 1 {
			tb.Fatalf("cannot build a %d-byte batch", size)
		}
	}
	tb.Fatalf("cannot build a batch of exactly %d bytes", size)
	return nil
}

// countingFS counts File.Sync and SyncDir calls. With noSync they return
// without syncing (for building fixtures quickly; never for measurements).
type countingFS struct {
	vfs.FS
	noSync   bool
	syncs    atomic.Int64
	dirSyncs atomic.Int64
}

// Unwrap lets the log treat the counting layer as the real file system
// (so syncfs group commits apply); syncfs calls are counted by the Flusher.
func (c *countingFS) Unwrap() vfs.FS { return c.FS }

func (c *countingFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &countingFile{File: f, fs: c}, nil
}

func (c *countingFS) SyncDir(dir string) error {
	c.dirSyncs.Add(1)
	if c.noSync {
		return nil
	}
	return c.FS.SyncDir(dir)
}

type countingFile struct {
	vfs.File
	fs *countingFS
}

func (f *countingFile) Sync() error {
	f.fs.syncs.Add(1)
	if f.fs.noSync {
		return nil
	}
	return f.File.Sync()
}

// requireDisk skips b unless dir's file system has need bytes free plus a
// margin of 4 GiB for everyone else.
func requireDisk(b *testing.B, dir string, need int64) {
	b.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		b.Skipf("statfs %s: %v", dir, err)
	}
	avail := int64(st.Bavail) * int64(st.Bsize)
	if avail < need+4<<30 {
		b.Skipf("needs %d MiB free in %s plus a 4 GiB margin; %d MiB available", need>>20, dir, avail>>20)
	}
}

// requireLarge guards the benchmarks that build 1 GB fixtures: they run
// only as benchmarks (never from a plain go test), not under -short, and
// only with room on disk.
func requireLarge(b *testing.B, dir string, need int64) {
	b.Helper()
	if testing.Short() {
		b.Skip("1 GB benchmark skipped in -short mode")
	}
	requireDisk(b, dir, need)
}

// fixtureRoot returns the directory for benchmark fixtures: WEIR_BENCH_DIR
// if set (fixtures persist there between runs), else a temporary directory
// of the top-level benchmark.
func fixtureRoot(b *testing.B, tmp func() string) string {
	if d := os.Getenv("WEIR_BENCH_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		return d
	}
	return tmp()
}

// fixture returns root/name, building it with build unless a completed copy
// exists (marked by root/name.complete).
func fixture(b *testing.B, root, name string, build func(dir string)) string {
	b.Helper()
	dir := filepath.Join(root, name)
	marker := dir + ".complete"
	if _, err := os.Stat(marker); err == nil {
		return dir
	}
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	build(dir)
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("built fixture %s in %v", name, time.Since(start).Round(time.Millisecond))
	return dir
}

// oneGBOptions are the options the 1 GB fixture is written and opened with.
func oneGBOptions(fs vfs.FS, boot string) *Options {
	return &Options{
		FlushPolicy:   FlushInterval,
		FlushInterval: time.Hour,
		FlushMaxBytes: math.MaxInt64,
		Logger:        quietLogger,
		FS:            fs,
		BootID:        func() string { return boot },
	}
}

// oneGBBatchBytes is the batch the 1 GB fixture repeats (offsets patched).
func oneGBBatchBytes(b *testing.B) []byte { return makeSizedBatch(b, oneGBBatch) }

// buildOneGB writes the 1 GB fixture: a cleanly closed log of one segment
// holding oneGBBatches batches of 16 KiB.
func buildOneGB(b *testing.B, dir string) {
	l, err := Open(dir, oneGBOptions(nil, benchBootID))
	if err != nil {
		b.Fatal(err)
	}
	buf := oneGBBatchBytes(b)
	for range oneGBBatches {
		if _, err := l.Append(buf); err != nil {
			b.Fatal(err)
		}
	}
	if l.NumSegments() != 1 {
		b.Fatalf("1 GB fixture has %d segments, want 1", l.NumSegments())
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}

// oneGBFixture returns the directory of the (cleanly closed) 1 GB log.
func oneGBFixture(b *testing.B, root string) string {
	requireLarge(b, root, 2<<30)
	return fixture(b, root, "log-1GB", func(dir string) { buildOneGB(b, dir) })
}

// ---------------------------------------------------------------------------
// Append throughput, no fsync.

func BenchmarkAppend(b *testing.B) {
	for _, sz := range []struct {
		name string
		n    int
	}{{"1KiB", 1 << 10}, {"16KiB", 16 << 10}, {"1MiB", 1 << 20}} {
		b.Run("size="+sz.name, func(b *testing.B) {
			b.Run("log", func(b *testing.B) { benchAppendLog(b, sz.n, false) })
			b.Run("validated", func(b *testing.B) { benchAppendLog(b, sz.n, true) })
			b.Run("ref=write", func(b *testing.B) { benchAppendWrite(b, sz.n) })
		})
	}
}

// benchAppendLog appends size-byte batches to a log that never fsyncs
// (FlushInterval of an hour, no FlushMaxBytes trigger), with Append or, if
// validated, AppendValidated (no CRC pass: the broker's path, which
// validates while decoding the request). The log writes the first
// appendRegion bytes of its 1 GiB segment (preallocated in PreallocateBytes
// steps) once untimed; then, whenever the region is full, TruncateTo cuts
// the segment back to its first batch (zeroing the rest of the region in
// place and fsyncing it) with the timer stopped, so that every timed write
// lands in page cache that is resident and clean.
func benchAppendLog(b *testing.B, size int, validated bool) {
	requireDisk(b, os.TempDir(), 2*benchSegmentBytes)
	fs := &countingFS{FS: vfs.OS}
	opts := oneGBOptions(fs, benchBootID)
	opts.SegmentBytes = benchSegmentBytes
	l, err := Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	buf := makeSizedBatch(b, size)
	perRegion := appendRegion / size
	appendFn := l.Append
	if validated {
		appendFn = l.AppendValidated
	}
	// reset truncates the log to its first batch, in place: TruncateTo
	// zeroes the rest of the region with pwrite and fsyncs it. (Truncating
	// the first batch too would replace the segment with a new file.)
	records := int64(batch.LastOffsetDelta(buf)) + 1
	reset := func() {
		active := l.active
		if err := l.TruncateTo(records); err != nil {
			b.Fatal(err)
		}
		if l.active != active || l.EndOffset() != records || active.s.Load().Size() != int64(size) {
			b.Fatalf("TruncateTo(%d) did not truncate in place: end offset %d, segment size %d, same segment %v",
				records, l.EndOffset(), l.active.s.Load().Size(), l.active == active)
		}
	}
	for range perRegion {
		if _, err := appendFn(buf); err != nil {
			b.Fatal(err)
		}
	}
	reset()

	b.SetBytes(int64(size))
	b.ReportAllocs()
	var timedSyncs int64
	mark := fs.syncs.Load() + fs.dirSyncs.Load()
	i := 1 // the first batch stays
	for b.Loop() {
		if i == perRegion {
			b.StopTimer()
			timedSyncs += fs.syncs.Load() + fs.dirSyncs.Load() - mark
			reset()
			i = 1
			mark = fs.syncs.Load() + fs.dirSyncs.Load()
			b.StartTimer()
		}
		if _, err := appendFn(buf); err != nil {
			b.Fatal(err)
		}
		i++
	}
	timedSyncs += fs.syncs.Load() + fs.dirSyncs.Load() - mark
	b.ReportMetric(float64(timedSyncs), "fsyncs")
}

// benchAppendWrite is the reference: os.File.WriteAt (pwrite(2), through
// the same os/internal/poll path as the log's vfs) of the same bytes to a
// file in a temporary directory of the same file system, preallocated with
// fallocate to the log's segment size. Like the log side, it writes the
// region once untimed and fdatasyncs (timer stopped) before every pass, so
// that its pages are resident, clean and backed by written extents.
func benchAppendWrite(b *testing.B, size int) {
	requireDisk(b, os.TempDir(), 2*benchSegmentBytes)
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "ref.write"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, benchSegmentBytes); err != nil {
		b.Fatal(err)
	}
	buf := makeSizedBatch(b, size)
	perRegion := appendRegion / size
	var pos int64
	write := func() {
		if _, err := f.WriteAt(buf, pos); err != nil {
			b.Fatal(err)
		}
		pos += int64(len(buf))
	}
	reset := func() {
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
		pos = 0
	}
	for range perRegion {
		write()
	}
	reset()

	b.SetBytes(int64(size))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == perRegion {
			b.StopTimer()
			reset()
			i = 0
			b.StartTimer()
		}
		write()
		i++
	}
	b.ReportMetric(0, "fsyncs")
}

// ---------------------------------------------------------------------------
// Durable appends: group commit.

// runDurable times acknowledged durable appends. workers goroutines each
// call op(w) (append one batch of bytesPerOp and wait until it is durable)
// in a loop; after a 200 ms warm-up, each b.Loop iteration waits for one
// acknowledgement, so ns/op is the time per acknowledged append and MB/s
// the acknowledged throughput. syncs returns the running count of fsyncs,
// reported per second of timed run.
func runDurable(b *testing.B, workers, bytesPerOp int, syncs func() int64, op func(w int) error) {
	acks := make(chan struct{}, workers)
	errc := make(chan error, workers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var stopOnce sync.Once
	halt := func() {
		stopOnce.Do(func() {
			close(stop)
			wg.Wait()
		})
	}
	defer halt()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if err := op(w); err != nil {
					errc <- err
					return
				}
				select {
				case acks <- struct{}{}:
				case <-stop:
					return
				}
			}
		}()
	}
	for deadline := time.Now().Add(200 * time.Millisecond); time.Now().Before(deadline); {
		select {
		case <-acks:
		case err := <-errc:
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(bytesPerOp))
	b.ReportAllocs()
	var s0 int64
	first := true
	for b.Loop() {
		if first {
			s0, first = syncs(), false
		}
		select {
		case <-acks:
		case err := <-errc:
			b.Fatal(err)
		}
	}
	n := syncs() - s0
	elapsed := b.Elapsed()
	halt()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "fsyncs/s")
	if n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "acks/fsync")
	}
}

func BenchmarkGroupCommit(b *testing.B) {
	const size = 16 << 10
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("appenders=%d", workers), func(b *testing.B) {
			b.Run("log", func(b *testing.B) {
				requireDisk(b, os.TempDir(), 2*benchSegmentBytes)
				fs := &countingFS{FS: vfs.OS}
				l, err := Open(b.TempDir(), &Options{
					FlushPolicy:   FlushGroup,
					FlushMaxDelay: time.Millisecond,
					SegmentBytes:  benchSegmentBytes,
					Logger:        quietLogger,
					FS:            fs,
				})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				bufs := make([][]byte, workers)
				for w := range bufs {
					bufs[w] = makeSizedBatch(b, size)
				}
				ctx := context.Background()
				runDurable(b, workers, size, func() int64 { return fs.syncs.Load() + fs.dirSyncs.Load() }, func(w int) error {
					res, err := l.Append(bufs[w])
					if err != nil {
						return err
					}
					return l.WaitDurable(ctx, res.LastOffset)
				})
			})
			b.Run("ref=fdatasync", func(b *testing.B) {
				requireDisk(b, os.TempDir(), 2*benchSegmentBytes)
				g, err := newRefGroup(filepath.Join(b.TempDir(), "ref.group"), defaultPreallocate(), time.Millisecond)
				if err != nil {
					b.Fatal(err)
				}
				defer g.close()
				bufs := make([][]byte, workers)
				for w := range bufs {
					bufs[w] = makeSizedBatch(b, size)
				}
				runDurable(b, workers, size, g.syncs.Load, func(w int) error { return g.writeWait(bufs[w]) })
			})
		})
	}
}

// refGroup is the group-commit reference: writers pwrite to the end of one
// file under a mutex and wait; a syncer fdatasyncs once the oldest unsynced
// write has waited delay (the log's FlushMaxDelay cadence, including writes
// that arrive during an fdatasync) and releases every writer it covers. The
// file reserves space with fallocate in steps of step bytes ahead of the
// writes, as a segment does.
type refGroup struct {
	f     *os.File
	delay time.Duration
	step  int64
	syncs atomic.Int64

	mu       sync.Mutex
	end      int64         // bytes written
	reserved int64         // bytes fallocated
	synced   int64         // bytes durable
	dirtyAt  time.Time     // first unsynced write; zero if none
	ch       chan struct{} // closed when synced advances
	err      error

	wake chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

// defaultPreallocate is the log's default preallocation step.
func defaultPreallocate() int64 {
	var o Options
	o.EnsureDefaults()
	return o.PreallocateBytes
}

func newRefGroup(path string, step int64, delay time.Duration) (*refGroup, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	g := &refGroup{f: f, delay: delay, step: step, ch: make(chan struct{}), wake: make(chan struct{}, 1), done: make(chan struct{})}
	g.wg.Add(1)
	go g.syncer()
	return g, nil
}

func (g *refGroup) writeWait(p []byte) error {
	g.mu.Lock()
	if end := g.end + int64(len(p)); end > g.reserved {
		n := max(end, g.reserved+g.step) - g.reserved
		if err := unix.Fallocate(int(g.f.Fd()), 0, g.reserved, n); err != nil {
			g.mu.Unlock()
			return err
		}
		g.reserved += n
	}
	if _, err := g.f.WriteAt(p, g.end); err != nil {
		g.mu.Unlock()
		return err
	}
	g.end += int64(len(p))
	target := g.end
	if g.dirtyAt.IsZero() {
		g.dirtyAt = time.Now()
		select {
		case g.wake <- struct{}{}:
		default:
		}
	}
	for g.synced < target && g.err == nil {
		ch := g.ch
		g.mu.Unlock()
		<-ch
		g.mu.Lock()
	}
	err := g.err
	g.mu.Unlock()
	return err
}

func (g *refGroup) syncer() {
	defer g.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		g.mu.Lock()
		at := g.dirtyAt
		g.mu.Unlock()
		if at.IsZero() {
			select {
			case <-g.wake:
				continue
			case <-g.done:
				return
			}
		}
		if d := time.Until(at.Add(g.delay)); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-g.done:
				return
			}
		}
		g.mu.Lock()
		snap := g.end
		g.dirtyAt = time.Time{}
		g.mu.Unlock()
		err := unix.Fdatasync(int(g.f.Fd()))
		g.syncs.Add(1)
		g.mu.Lock()
		if err != nil {
			g.err = err
		} else {
			g.synced = snap
		}
		close(g.ch)
		g.ch = make(chan struct{})
		g.mu.Unlock()
	}
}

func (g *refGroup) close() error {
	close(g.done)
	g.wg.Wait()
	g.mu.Lock()
	g.err = errors.New("closed")
	close(g.ch)
	g.ch = make(chan struct{})
	g.mu.Unlock()
	return g.f.Close()
}

// BenchmarkGroupCommitLogs is the broker's case: logs logs share one
// Flusher (64 workers) and a fixed pool of 64 appender goroutines appends
// 16 KiB batches round-robin across them, each waiting until its append is
// durable. MB/s is acknowledged (durable) throughput.
// syncFSMin reads WEIR_SYNCFS_MIN (e.g. -1 to compare without syncfs).
func syncFSMin() int {
	n, _ := strconv.Atoi(os.Getenv("WEIR_SYNCFS_MIN"))
	return n
}

func BenchmarkGroupCommitLogs(b *testing.B) {
	const (
		size      = 16 << 10
		appenders = 64
		indexSize = 128 << 10 // offset index; the time index gets 1.5x
	)
	for _, v := range []struct {
		prealloc bool
		seg      int64
	}{{false, 64 << 20}, {true, 16 << 20}} {
		b.Run(fmt.Sprintf("prealloc=%v/seg=%dMiB", v.prealloc, v.seg>>20), func(b *testing.B) {
			for _, nlogs := range []int{1, 16, 100, 1000} {
				b.Run(fmt.Sprintf("logs=%d", nlogs), func(b *testing.B) {
					perLog := int64(indexSize * 5 / 2)
					if v.prealloc {
						perLog += v.seg
					}
					requireDisk(b, os.TempDir(), int64(nlogs)*perLog+2<<30)
					benchManyLogs(b, nlogs, appenders, size, &Options{
						SegmentBytes:  v.seg,
						NoPreallocate: !v.prealloc,
						MaxIndexBytes: indexSize,
						FlushPolicy:   FlushGroup,
						FlushMaxDelay: time.Millisecond,
						Logger:        quietLogger,
					})
				})
			}
		})
	}
}

func benchManyLogs(b *testing.B, nlogs, appenders, size int, opts *Options) {
	root := b.TempDir()
	fs := &countingFS{FS: vfs.OS}
	fl := NewFlusher(FlusherOptions{SyncFSMin: syncFSMin()})
	defer fl.Close()
	o := *opts
	o.FS = fs
	o.Flusher = fl
	logs := make([]*Log, nlogs)
	defer func() {
		// Close in parallel: each Close fsyncs.
		parallel(64, len(logs), func(i int) {
			if logs[i] != nil {
				logs[i].Close()
			}
		})
	}()
	var openErr atomic.Pointer[error]
	parallel(8, nlogs, func(i int) {
		l, err := Open(filepath.Join(root, fmt.Sprintf("p%04d", i)), &o)
		if err != nil {
			openErr.Store(&err)
			return
		}
		logs[i] = l
	})
	if p := openErr.Load(); p != nil {
		b.Fatal(*p)
	}
	bufs := make([][]byte, appenders)
	for w := range bufs {
		bufs[w] = makeSizedBatch(b, size)
	}
	// Warm up every log: the first append writes the checkpoint and the
	// first flush syncs the directory.
	ctx := context.Background()
	var warmErr atomic.Pointer[error]
	parallel(appenders, nlogs, func(i int) {
		buf := makeSizedBatch(b, size)
		res, err := logs[i].Append(buf)
		if err == nil {
			err = logs[i].WaitDurable(ctx, res.LastOffset)
		}
		if err != nil {
			warmErr.Store(&err)
		}
	})
	if p := warmErr.Load(); p != nil {
		b.Fatal(*p)
	}
	var next atomic.Uint64
	runDurable(b, appenders, size, func() int64 { return fs.syncs.Load() + fs.dirSyncs.Load() + fl.SyncFSCalls() }, func(w int) error {
		l := logs[next.Add(1)%uint64(nlogs)]
		res, err := l.Append(bufs[w])
		if err != nil {
			return err
		}
		return l.WaitDurable(ctx, res.LastOffset)
	})
}

// parallel calls fn(0..n-1) on at most workers goroutines.
func parallel(workers, n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// ---------------------------------------------------------------------------
// Reads.

// xorWords touches every byte of b: the xor of its little-endian 8-byte
// words (and of the tail bytes).
func xorWords(b []byte) uint64 {
	var x0, x1, x2, x3 uint64
	for len(b) >= 32 {
		x0 ^= binary.LittleEndian.Uint64(b)
		x1 ^= binary.LittleEndian.Uint64(b[8:])
		x2 ^= binary.LittleEndian.Uint64(b[16:])
		x3 ^= binary.LittleEndian.Uint64(b[24:])
		b = b[32:]
	}
	for ; len(b) >= 8; b = b[8:] {
		x0 ^= binary.LittleEndian.Uint64(b)
	}
	for _, c := range b {
		x1 ^= uint64(c)
	}
	return x0 ^ x1 ^ x2 ^ x3
}

// readAllViews reads the log from start to end in 1 MiB views through the
// public API and touches every byte.
func readAllViews(b *testing.B, l *Log) (uint64, int64) {
	var x uint64
	var n int64
	off, end := l.StartOffset(), l.EndOffset()
	for off < end {
		v, err := l.Read(off, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		data, next, err := v.Batches()
		if err != nil {
			b.Fatal(err)
		}
		x ^= xorWords(data)
		n += int64(len(data))
		v.Release()
		if next <= off {
			b.Fatalf("read at %d made no progress", off)
		}
		off = next
	}
	return x, n
}

// readAllSlice is the same loop over an in-memory copy: 1 MiB chunks of
// whole batches.
func readAllSlice(mem []byte, chunk int) uint64 {
	var x uint64
	for p := 0; p < len(mem); p += chunk {
		x ^= xorWords(mem[p:min(p+chunk, len(mem))])
	}
	return x
}

func BenchmarkReadAll(b *testing.B) {
	b.Run("size=1GB", func(b *testing.B) {
		root := fixtureRoot(b, b.TempDir)
		b.Run("log", func(b *testing.B) {
			dir := oneGBFixture(b, root)
			l, err := Open(dir, oneGBOptions(nil, benchBootID))
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			// Warm: map the segment and fault its pages in.
			x, n := readAllViews(b, l)
			if n != oneGBBatches*oneGBBatch {
				b.Fatalf("read %d bytes, want %d", n, oneGBBatches*oneGBBatch)
			}
			b.SetBytes(n)
			b.ReportAllocs()
			for b.Loop() {
				x, _ = readAllViews(b, l)
			}
			benchSink = x
		})
		b.Run("ref=slice", func(b *testing.B) {
			requireLarge(b, root, 0)
			// The same bytes as the fixture, built in memory.
			buf := oneGBBatchBytes(b)
			records := int64(batch.LastOffsetDelta(buf)) + 1
			mem := make([]byte, 0, oneGBBatches*oneGBBatch)
			for i := range int64(oneGBBatches) {
				batch.SetBaseOffset(buf, i*records)
				mem = append(mem, buf...)
			}
			x := readAllSlice(mem, 1<<20)
			b.SetBytes(int64(len(mem)))
			b.ReportAllocs()
			for b.Loop() {
				x = readAllSlice(mem, 1<<20)
			}
			benchSink = x
		})
	})
}

// BenchmarkRead measures one Read + Bytes + Release of a 1 MiB view of a
// cached 64 MiB log (16 KiB batches), cycling through the log; it must not
// allocate.
func BenchmarkRead(b *testing.B) {
	const (
		size    = 16 << 10
		batches = 4096
		view    = 1 << 20
	)
	l, err := Open(b.TempDir(), oneGBOptions(nil, benchBootID))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	buf := makeSizedBatch(b, size)
	records := int64(batch.LastOffsetDelta(buf)) + 1
	for range batches {
		if _, err := l.Append(buf); err != nil {
			b.Fatal(err)
		}
	}
	step := view / size * records
	end := l.EndOffset()
	read := func(off int64) int {
		v, err := l.Read(off, view)
		if err != nil {
			b.Fatal(err)
		}
		p, err := v.Bytes()
		if err != nil {
			b.Fatal(err)
		}
		v.Release()
		return len(p)
	}
	for off := int64(0); off < end; off += step {
		read(off) // map and fault in
	}
	b.SetBytes(view)
	b.ReportAllocs()
	off := int64(0)
	for b.Loop() {
		if n := read(off); n != view {
			b.Fatalf("view of %d bytes at %d", n, off)
		}
		if off += step; off >= end {
			off = 0
		}
	}
}

// TestBenchHelpers checks the benchmark helpers cheaply, so that a broken
// helper shows up in go test rather than as a bogus figure.
func TestBenchHelpers(t *testing.T) {
	for _, size := range []int{1 << 10, 16 << 10, 1 << 20} {
		b := makeSizedBatch(t, size)
		h, err := batch.Validate(b)
		if err != nil || len(b) != size || h.Size() != size || h.NumRecords < 2 {
			t.Fatalf("makeSizedBatch(%d): %d bytes, %+v, %v", size, len(b), h, err)
		}
	}
	mem := make([]byte, 1000)
	for i := range mem {
		mem[i] = byte(i)
	}
	var want uint64
	for i := range mem {
		want ^= uint64(mem[i]) << (8 * (i % 8))
	}
	// xorWords folds the tail (1000 % 8 == 0 here) and the lanes together.
	if got := xorWords(mem); got != want {
		t.Fatalf("xorWords = %#x, want %#x", got, want)
	}
}
