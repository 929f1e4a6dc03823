package index

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/weirhq/weir/internal/vfs"
	"golang.org/x/sys/unix"
)

var (
	// ErrFull means the index has no room for another entry; the caller
	// must roll the segment.
	ErrFull = errors.New("index: index file is full")
	// ErrOrder means an appended entry does not follow the last one.
	ErrOrder = errors.New("index: entry out of order")
	// ErrCorrupt means an index file failed its sanity check and must be
	// rebuilt from the segment.
	ErrCorrupt = errors.New("index: corrupt index file")
	// ErrClosed means the index was closed.
	ErrClosed = errors.New("index: index is closed")
	// ErrReadOnly means the index was sealed or opened read-only; its
	// mapping cannot be written.
	ErrReadOnly = errors.New("index: index is read-only")
)

// file is the shared machinery of both index kinds: an mmap'd file of
// fixed-size entries.
type file struct {
	fs        vfs.FS
	path      string
	f         vfs.File
	data      []byte // mmap; len = capacity in bytes (multiple of entrySize)
	entrySize int
	base      int64
	writable  bool
	n         atomic.Int64 // entries published
	closed    bool
	// tail holds the newest entries of a writable index in memory; they
	// reach the mapping tailEntries at a time, or when the index is
	// synced, sealed, truncated or closed. Each entry written to the
	// mapping dirties its page again, and a syncfs group commit writes
	// back every dirty page of the file system: with a thousand
	// partitions appending, the two index files' pages tripled what each
	// group commit wrote. The entries are rebuildable: after a crash,
	// recovery scans the segment from the last entry in the file.
	tail atomic.Pointer[tailBuf]
}

// tailEntries is how many entries a writable index keeps in memory.
const tailEntries = 64

// tailBuf is the in-memory tail: entries [start, start+len(buf)/entrySize)
// live in buf, those below start in the mapping. A tail is never reused
// once replaced, so a reader that loaded it reads consistent entries.
type tailBuf struct {
	start int
	buf   []byte
}

// open maps path. A writable index is preallocated to maxBytes (rounded down
// to a whole entry); a read-only one is mapped at its current size. Existing
// entries are counted from the file's size, rounded down to whole entries;
// trailing zero entries (an untrimmed preallocated tail) are not counted.
func openFile(fs vfs.FS, path string, base int64, entrySize, maxBytes int, writable bool, isZero func([]byte, int) bool) (*file, error) {
	flag := os.O_RDONLY
	if writable {
		flag = os.O_RDWR | os.O_CREATE
	}
	f, err := fs.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, fmt.Errorf("index: open %s: %w", path, err)
	}
	x := &file{fs: fs, path: path, f: f, entrySize: entrySize, base: base, writable: writable}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("index: stat %s: %w", path, err)
	}
	n := size / int64(entrySize)
	capBytes := n * int64(entrySize)
	if writable {
		maxBytes -= maxBytes % entrySize
		if int64(maxBytes) < capBytes {
			maxBytes = int(capBytes)
		}
		if size < int64(maxBytes) {
			// Extend sparsely, as Kafka does: entries are tiny and a
			// thousand partitions must not reserve gigabytes.
			if err := f.Truncate(int64(maxBytes)); err != nil {
				f.Close()
				return nil, fmt.Errorf("index: preallocate %s: %w", path, err)
			}
		}
		capBytes = int64(maxBytes)
	}
	if capBytes > 0 {
		prot := unix.PROT_READ
		if writable {
			prot |= unix.PROT_WRITE
		}
		data, err := unix.Mmap(int(f.Fd()), 0, int(capBytes), prot, unix.MAP_SHARED)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("index: mmap %s: %w", path, err)
		}
		// Index pages are touched one at a time (an append, a binary
		// search probe). Without this, a fault on the sparse tail reads
		// ahead a large folio of the hole and the kernel zero-fills
		// megabytes per fault: with a thousand partitions, appends to
		// fresh index pages took the event loop's whole CPU in memset.
		// An advice the kernel rejects changes nothing we rely on.
		_ = unix.Madvise(data, unix.MADV_RANDOM)
		x.data = data
	}
	// Drop a zero tail: an entry that is all zeros after the first entry
	// cannot be valid (offsets strictly increase).
	for n > 1 && isZero(x.data, int(n-1)) {
		n--
	}
	if n == 1 && size > int64(entrySize) && len(x.data) >= 2*entrySize && isZero(x.data, 0) && isZero(x.data, 1) {
		// Preallocated but never written.
		n = 0
	}
	x.n.Store(n)
	if writable {
		x.newTail(int(n))
	}
	return x, nil
}

func (x *file) newTail(start int) {
	x.tail.Store(&tailBuf{start: start, buf: make([]byte, tailEntries*x.entrySize)})
}

// flushTail copies the in-memory entries to the mapping and starts an
// empty tail after them (none once the file is sealed or closed).
func (x *file) flushTail() {
	t := x.tail.Load()
	if t == nil {
		return
	}
	n := x.len()
	if k := n - t.start; k > 0 && x.data != nil {
		copy(x.data[t.start*x.entrySize:n*x.entrySize], t.buf[:k*x.entrySize])
	}
	if x.writable && !x.closed {
		x.newTail(n)
	} else {
		x.tail.Store(nil)
	}
}

// slot returns where entry n, the next to append, is written: the
// in-memory tail, flushed first when full.
func (x *file) slot(n int) []byte {
	t := x.tail.Load()
	if t == nil || n < t.start {
		return x.entry(n)
	}
	if (n-t.start)*x.entrySize >= len(t.buf) {
		x.flushTail()
		t = x.tail.Load()
	}
	o := (n - t.start) * x.entrySize
	return t.buf[o : o+x.entrySize]
}

func (x *file) len() int { return int(x.n.Load()) }

func (x *file) capEntries() int { return len(x.data) / x.entrySize }

// entry returns entry i, from the in-memory tail or the mapping. A reader
// racing with a truncation may see a dropped or zeroed entry, as with the
// mapping alone; the callers check positions against the segment size.
func (x *file) entry(i int) []byte {
	if t := x.tail.Load(); t != nil && i >= t.start {
		if o := (i - t.start) * x.entrySize; o < len(t.buf) {
			return t.buf[o : o+x.entrySize]
		}
	}
	o := i * x.entrySize
	return x.data[o : o+x.entrySize]
}

func (x *file) truncateEntries(n int) {
	x.flushTail()
	defer func() {
		if x.writable {
			x.newTail(x.len())
		}
	}()
	old := x.len()
	if n < old {
		x.n.Store(int64(n))
		// Zero the dropped entries so a reopen of an untrimmed file does
		// not see them. A read-only mapping cannot be written; its file
		// is trimmed to its entries already.
		if x.writable {
			clear(x.data[n*x.entrySize : old*x.entrySize])
		}
	}
}

// seal trims a writable file to its entries and makes it read-only. The
// mapping stays (readers may hold it) until close.
func (x *file) seal() error {
	if !x.writable || x.closed {
		return nil
	}
	x.writable = false
	x.flushTail()
	if len(x.data) > 0 {
		if err := unix.Msync(x.data, unix.MS_SYNC); err != nil {
			return fmt.Errorf("index: msync %s: %w", x.path, err)
		}
	}
	if err := x.f.Truncate(int64(x.len() * x.entrySize)); err != nil {
		return fmt.Errorf("index: trim %s: %w", x.path, err)
	}
	return nil
}

// syncFile fsyncs the file (after seal, the mapping is no longer written).
func (x *file) syncFile() error {
	if x.closed {
		return ErrClosed
	}
	x.flushTail()
	if x.writable && len(x.data) > 0 {
		if err := unix.Msync(x.data, unix.MS_SYNC); err != nil {
			return fmt.Errorf("index: msync %s: %w", x.path, err)
		}
	}
	if err := x.f.Sync(); err != nil {
		return fmt.Errorf("index: sync %s: %w", x.path, err)
	}
	return nil
}

// close unmaps and closes the file, trimming a writable file to its entries.
func (x *file) close() error {
	if x.closed {
		return nil
	}
	x.closed = true
	x.flushTail() // drops the tail: nothing appends any more
	var err error
	if x.data != nil {
		if x.writable {
			err = unix.Msync(x.data, unix.MS_SYNC)
		}
		if uerr := unix.Munmap(x.data); err == nil {
			err = uerr
		}
		x.data = nil
	}
	if x.writable {
		if terr := x.f.Truncate(int64(x.len() * x.entrySize)); err == nil {
			err = terr
		}
	}
	if cerr := x.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("index: close %s: %w", x.path, err)
	}
	return nil
}

// remove closes and deletes the file.
func (x *file) remove() error {
	x.writable = false
	err := x.close()
	if rerr := x.fs.Remove(x.path); err == nil && rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = rerr
	}
	return err
}
