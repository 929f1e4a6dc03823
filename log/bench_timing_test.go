package log

// Storage benchmarks of the partition log that need its internals or count
// its allocations:
//
//	BenchmarkAppend/size=S/log        Append of S-byte batches, no fsync (allocs/op; fsyncs must be 0)
//	BenchmarkAppend/size=S/validated  AppendValidated (no CRC pass), no fsync
//	BenchmarkRead                     Read + Bytes + Release of 1 MiB views (allocs/op must be 0)
//
// Open and recovery benchmarks are in open_timing_test.go. The engine's
// throughput against plain system calls on the same file system (append
// against pwrite, group commit against a write+fdatasync loop, many logs
// sharing one Flusher, reading a cached log against a []byte) is measured
// by bench/storagebench, which `weir bench storage` runs;
// scripts/bench-storage.sh runs both.
//
// The fixtures of the Open benchmarks (1 GB, 10,000 segments) skip under
// -short and when the file system lacks room. They are built on first use;
// set WEIR_BENCH_DIR to keep them between runs (the script does, and
// removes it at the end).

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/internal/batchgen"
	"github.com/weirhq/weir/internal/vfs"
	"golang.org/x/sys/unix"
)

// Sizes shared by the benchmarks.
const (
	// appendRegion is the part of a segment the append benchmark writes
	// before going back to its start, so that it writes into page cache
	// that was already touched once (the first touch of new page cache
	// memory is slow on VMs and would dominate).
	appendRegion = 256 << 20
	// benchSegmentBytes is the segment size of the append benchmark: the
	// default.
	benchSegmentBytes = DefaultSegmentBytes
	// The "1 GB" fixture holds oneGBBatches batches of oneGBBatch bytes
	// (61,035 of 16 KiB) in one segment.
	oneGBBatch   = 16 << 10
	oneGBBatches = 1_000_000_000 / oneGBBatch
	// benchBootID is the boot id the fixtures are written under.
	benchBootID = "weir-bench-boot-a"
)

// makeSizedBatch builds one batch of exactly size bytes (batchgen.Sized).
func makeSizedBatch(tb testing.TB, size int) []byte {
	tb.Helper()
	b, err := batchgen.Sized(size)
	if err != nil {
		tb.Fatal(err)
	}
	return b
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

// buildOneGB writes the 1 GB fixture: a cleanly closed log of one segment
// holding oneGBBatches batches of 16 KiB.
func buildOneGB(b *testing.B, dir string) {
	l, err := Open(dir, oneGBOptions(nil, benchBootID))
	if err != nil {
		b.Fatal(err)
	}
	buf := makeSizedBatch(b, oneGBBatch)
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
// Appends, no fsync.

func BenchmarkAppend(b *testing.B) {
	for _, sz := range []struct {
		name string
		n    int
	}{{"1KiB", 1 << 10}, {"16KiB", 16 << 10}, {"1MiB", 1 << 20}} {
		b.Run("size="+sz.name, func(b *testing.B) {
			b.Run("log", func(b *testing.B) { benchAppendLog(b, sz.n, false) })
			b.Run("validated", func(b *testing.B) { benchAppendLog(b, sz.n, true) })
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
	fs := vfs.NewCountingFS(vfs.OS)
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
	mark := fs.Syncs()
	i := 1 // the first batch stays
	for b.Loop() {
		if i == perRegion {
			b.StopTimer()
			timedSyncs += fs.Syncs() - mark
			reset()
			i = 1
			mark = fs.Syncs()
			b.StartTimer()
		}
		if _, err := appendFn(buf); err != nil {
			b.Fatal(err)
		}
		i++
	}
	timedSyncs += fs.Syncs() - mark
	b.ReportMetric(float64(timedSyncs), "fsyncs")
}

// ---------------------------------------------------------------------------
// Reads.

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
