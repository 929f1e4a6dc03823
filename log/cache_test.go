package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/segment"
	"golang.org/x/sys/unix"
)

// residentBytes returns how many bytes of the file's first n bytes are in
// the page cache (mincore of a mapping that is never touched).
func residentBytes(t *testing.T, path string, n int64) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n == 0 {
		return 0
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(n), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	page := int64(os.Getpagesize())
	vec := make([]byte, (n+page-1)/page)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	var in int64
	for _, v := range vec {
		if v&1 != 0 {
			in += page
		}
	}
	return min(in, n)
}

// logSegmentFiles lists the log's segment files with their sizes, oldest first.
func logSegmentFiles(t *testing.T, l *Log) (paths []string, sizes []int64) {
	t.Helper()
	for _, sg := range l.segments() {
		paths = append(paths, filepath.Join(l.Dir(), segment.FileName(sg.base)))
		sizes = append(sizes, sg.size.Load())
	}
	return paths, sizes
}

// readLikeBroker reads the whole log in views without touching their bytes
// through the mmap (the broker sends them with sendfile): ScanHeaders reads
// headers only, with pread.
func readLikeBroker(t *testing.T, l *Log) {
	t.Helper()
	next := l.StartOffset()
	if err := l.ScanHeaders(next, func(h *batch.Header) error {
		next = h.NextOffset()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if next < l.DurableOffset() {
		t.Fatalf("reading stopped at %d below the durable offset %d", next, l.DurableOffset())
	}
}

// TestReadCacheDropsReadData: with a read cache budget, durable data that
// readers have read is dropped from the page cache oldest first beyond the
// budget, whole sealed segments included, while unread data and the newest
// budget's worth of read data stay cached.
func TestReadCacheDropsReadData(t *testing.T) {
	const (
		mib       = 1 << 20
		batchSize = 256 << 10
		budget    = 8 * mib
	)
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type == unix.TMPFS_MAGIC {
		t.Skip("tmpfs keeps file pages in memory whatever the advice")
	}
	l, err := Open(dir, &Options{SegmentBytes: 10 * mib, ReadCacheBytes: budget, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	buf := makeSizedBatch(t, batchSize)
	appendSync := func(n int) {
		t.Helper()
		for range n {
			if _, err := l.Append(buf); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	appendSync(160) // 40 MiB: four segments of 10 MiB (9.75 MiB of data each)

	paths, sizes := logSegmentFiles(t, l)
	if len(paths) < 4 {
		t.Fatalf("%d segments, want at least 4", len(paths))
	}
	var written, cached int64
	for i := range paths {
		written += sizes[i]
		cached += residentBytes(t, paths[i], sizes[i])
	}
	if cached < written*9/10 {
		t.Skipf("only %d of %d written bytes are in the page cache before any drop: cannot observe drops here", cached, written)
	}

	// Nothing has been read: another flush drops nothing.
	appendSync(1)
	paths, sizes = logSegmentFiles(t, l)
	for i := range paths {
		if got := residentBytes(t, paths[i], sizes[i]); got < sizes[i]*9/10 {
			t.Fatalf("segment %d: %d of %d bytes cached though nobody read them", i, got, sizes[i])
		}
	}

	// Read everything durable, then flush once more: everything read
	// but the newest budget (plus alignment) is dropped.
	readLikeBroker(t, l)
	appendSync(1)
	paths, sizes = logSegmentFiles(t, l)
	var total int64
	for _, s := range sizes {
		total += s
	}
	// The drop runs on the flusher after it released the waiters.
	want := total - sizes[len(sizes)-1] - budget
	for deadline := time.Now().Add(5 * time.Second); l.fl.ReadCacheDropped() < want && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	var resident int64
	for i := range paths {
		r := residentBytes(t, paths[i], sizes[i])
		resident += r
		if i < len(paths)-2 && r > sizes[i]/10 {
			t.Errorf("sealed, read segment %d: %d of %d bytes still cached", i, r, sizes[i])
		}
	}
	if resident > budget+4*cacheAlign+2*batchSize {
		t.Errorf("%d of %d bytes cached after reading them all, budget %d", resident, total, budget)
	}
	// The newest read data and the unread tail stay.
	last := len(paths) - 1
	if r := residentBytes(t, paths[last], sizes[last]); r < sizes[last]*9/10 {
		t.Errorf("active segment: %d of %d bytes cached, want its newest data kept", r, sizes[last])
	}
	if resident < budget/2 {
		t.Errorf("only %d bytes cached, want about the budget (%d) kept", resident, budget)
	}
}

// TestReadCacheConcurrent runs the read cache of a flusher shared by two
// logs against concurrent appends, reads, rolls, deletion of old segments
// and truncation (run it with -race): chunks of deleted segments must be
// skipped, and every record must still read back as written.
func TestReadCacheConcurrent(t *testing.T) {
	fl := NewFlusher(FlusherOptions{Workers: 4, ReadCacheBytes: 4 << 20})
	defer fl.Close()
	buf := makeSizedBatch(t, 64<<10)
	var wg sync.WaitGroup
	logs := make([]*Log, 2)
	for i := range logs {
		l, err := Open(t.TempDir(), &Options{SegmentBytes: 1 << 20, Flusher: fl, Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		logs[i] = l
	}
	stop := make(chan struct{})
	errc := make(chan error, 8)
	for _, l := range logs {
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			buf := bytes.Clone(buf) // Append patches offsets in place
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				res, err := l.Append(buf)
				if err == nil && n%8 == 0 {
					err = l.WaitDurable(context.Background(), res.LastOffset)
				}
				if err == nil && n%64 == 63 {
					err = l.DeleteRecordsBefore(l.DurableOffset() - 40)
				}
				if err == nil && n%200 == 199 {
					err = l.TruncateTo(l.EndOffset() - 3)
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
		go func() { // a consumer, reading as the broker does
			defer wg.Done()
			var off int64
			for {
				select {
				case <-stop:
					return
				default:
				}
				v, err := l.ReadUntil(off, 256<<10, l.DurableOffset())
				if errors.Is(err, ErrOffsetOutOfRange) {
					off = l.StartOffset() // deleted or truncated under us
					continue
				}
				if err != nil {
					errc <- err
					return
				}
				if v.Empty() {
					runtime.Gosched()
					continue
				}
				b := make([]byte, v.Len())
				if _, err := v.File().ReadAt(b, v.Position()); err != nil {
					errc <- err
				}
				for len(b) >= len(buf) {
					if !bytes.Equal(b[8:len(buf)], buf[8:]) {
						errc <- fmt.Errorf("read back other bytes than appended near offset %d", off)
						break
					}
					off = batch.BaseOffset(b) + int64(batch.LastOffsetDelta(b)) + 1
					b = b[len(buf):]
				}
				v.Release()
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	for _, l := range logs {
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if fl.ReadCacheDropped() == 0 {
		t.Error("nothing was dropped from the page cache")
	}
}
