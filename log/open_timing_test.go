package log

// Open and recovery benchmarks. Each op is one Open, timed; the Close that
// follows (which fsyncs and trims the active segment) and any preparation
// of the directory are not.
//
//	BenchmarkOpen/log=1GB/state=clean               cleanly closed, one 1 GB segment
//	BenchmarkOpen/log=1GB/state=unclean,boot=same   abandoned: index trusted, scan from its last entry
//	BenchmarkOpen/log=1GB/state=unclean,boot=new    abandoned, machine rebooted: full CRC scan
//	BenchmarkOpen/log=10000segs/state=clean         cleanly closed, 10,000 segments

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weirhq/weir/internal/vfs"
	"golang.org/x/sys/unix"
)

const (
	manySegs        = 10_000
	manySegsSegSize = 64 << 10
)

// manySegsOptions are the options the 10,000-segment fixture is written and
// opened with: small segments and the smallest index files.
func manySegsOptions(fs vfs.FS) *Options {
	return &Options{
		SegmentBytes:  manySegsSegSize,
		MaxIndexBytes: 4096,
		FlushPolicy:   FlushInterval,
		FlushInterval: time.Hour,
		FlushMaxBytes: math.MaxInt64,
		Logger:        quietLogger,
		FS:            fs,
		BootID:        func() string { return benchBootID },
	}
}

// buildManySegs writes a cleanly closed log of manySegs segments of one
// small batch each (Roll after every append). Syncs are skipped while
// building: the fixture only needs to be in the page cache. The log is
// reopened every 1,000 segments because an open log keeps every sealed
// segment's three files open (30,000 descriptors for 10,000 segments,
// above this machine's limit of 20,000); Open opens sealed segments lazily.
func buildManySegs(b *testing.B, dir string) {
	fs := &vfs.CountingFS{FS: vfs.OS, NoSync: true}
	buf := makeSizedBatch(b, 256)
	var l *Log
	for i := range manySegs {
		if i%1000 == 0 {
			if l != nil {
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
			}
			var err error
			if l, err = Open(dir, manySegsOptions(fs)); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := l.Append(buf); err != nil {
			b.Fatal(err)
		}
		if err := l.Roll(); err != nil {
			b.Fatal(err)
		}
	}
	// The last Roll left an empty active segment: manySegs+1 in all.
	if n := l.NumSegments(); n < manySegs {
		b.Fatalf("fixture has %d segments", n)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}

// warmDir reads every file in dir once, so that the benchmark starts with
// the fixture in the page cache. (On this VM a DAMON "pageout" scheme
// evicts page cache idle for about 30 s, so a fixture built or used earlier
// is partly on disk only.)
func warmDir(b *testing.B, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		for off := int64(0); ; off += int64(len(buf)) {
			n, err := f.ReadAt(buf, off)
			if n < len(buf) || err != nil {
				break
			}
		}
		f.Close()
	}
}

// makeUnclean turns the cleanly closed 1 GB log into the state a crash
// leaves: a checkpoint saying the log was open for writing under boot,
// recovery point 0, the active segment with a preallocated zero tail (one
// PreallocateBytes step, as the log reserves ahead of its appends) and its
// indexes extended sparsely to their full size, as open for writing.
func makeUnclean(b *testing.B, dir, boot string) {
	cp := checkpoint{clean: false, recoveryPoint: 0, logStartOffset: 0, bootID: boot}
	if err := writeCheckpoint(vfs.OS, dir, cp); err != nil {
		b.Fatal(err)
	}
	o := oneGBOptions(nil, boot)
	o.EnsureDefaults()
	name := filepath.Join(dir, "00000000000000000000")
	fd, err := unix.Open(name+".log", unix.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	if err == nil && st.Size < o.SegmentBytes {
		err = unix.Fallocate(fd, 0, st.Size, min(o.PreallocateBytes, o.SegmentBytes-st.Size))
	}
	unix.Close(fd)
	if err != nil {
		b.Fatal(err)
	}
	for suffix, size := range map[string]int64{
		IndexSuffix:     int64(o.MaxIndexBytes),
		TimeIndexSuffix: int64(o.MaxIndexBytes / 8 * 12),
	} {
		if err := os.Truncate(name+suffix, size); err != nil {
			b.Fatal(err)
		}
	}
}

// makeClean restores the clean checkpoint of a log whose files Close
// trimmed.
func makeClean(b *testing.B, dir string, end int64) {
	cp := checkpoint{clean: true, recoveryPoint: end, logStartOffset: 0, bootID: benchBootID}
	if err := writeCheckpoint(vfs.OS, dir, cp); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkOpen(b *testing.B) {
	b.Run("log=1GB", func(b *testing.B) {
		root := fixtureRoot(b, b.TempDir)
		// run opens dir with boot id boot after prepare, checking the
		// log end offset; it leaves the fixture clean.
		run := func(b *testing.B, boot string, prepare func(dir string)) {
			dir := oneGBFixture(b, root)
			var end int64 = -1
			defer func() {
				if end >= 0 {
					makeClean(b, dir, end)
				}
			}()
			warmDir(b, dir)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				prepare(dir)
				b.StartTimer()
				l, err := Open(dir, oneGBOptions(nil, boot))
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if end < 0 {
					end = l.EndOffset()
				} else if l.EndOffset() != end {
					b.Fatalf("end offset %d after open, want %d", l.EndOffset(), end)
				}
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		}
		b.Run("state=clean", func(b *testing.B) {
			run(b, benchBootID, func(string) {})
		})
		b.Run("state=unclean,boot=same", func(b *testing.B) {
			run(b, benchBootID, func(dir string) { makeUnclean(b, dir, benchBootID) })
		})
		b.Run("state=unclean,boot=new", func(b *testing.B) {
			run(b, "weir-bench-boot-b", func(dir string) { makeUnclean(b, dir, benchBootID) })
		})
	})
	b.Run("log=10000segs", func(b *testing.B) {
		root := fixtureRoot(b, b.TempDir)
		b.Run("state=clean", func(b *testing.B) {
			requireLarge(b, root, 1<<30)
			dir := fixture(b, root, "log-10000segs", func(dir string) { buildManySegs(b, dir) })
			warmDir(b, dir)
			b.ReportAllocs()
			for b.Loop() {
				l, err := Open(dir, manySegsOptions(nil))
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if n := l.NumSegments(); n < manySegs {
					b.Fatalf("opened %d segments", n)
				}
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	})
}
