package segment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/internal/vfs"
	"golang.org/x/sys/unix"
)

// Suffix is the segment file name suffix.
const Suffix = ".log"

var (
	// ErrFull means an append would grow the segment past its MaxSize;
	// the caller must roll to a new segment.
	ErrFull = errors.New("segment: segment is full")
	// ErrWriteFailed wraps the first write or fsync error of a segment;
	// every later write returns it.
	ErrWriteFailed = errors.New("segment: write failed")
	// ErrReadOnly means the segment was sealed or opened read-only.
	ErrReadOnly = errors.New("segment: segment is read-only")
	// ErrRange means a read asked for bytes beyond the segment's size.
	ErrRange = errors.New("segment: read beyond segment end")
	// ErrClosed means the segment was closed.
	ErrClosed = errors.New("segment: segment is closed")
)

// FileName returns the segment file name for a base offset.
func FileName(base int64) string { return Name(base) + Suffix }

// Name returns the 20-digit, zero-padded base offset used by every file of a
// segment.
func Name(base int64) string { return fmt.Sprintf("%020d", base) }

// ParseName parses a segment file name ("00000000000000000042.log") and
// returns its base offset.
func ParseName(name string) (int64, bool) {
	if len(name) != 20+len(Suffix) || name[20:] != Suffix {
		return 0, false
	}
	for i := range 20 {
		// Only the digits Name writes: ParseInt alone accepts a sign.
		if name[i] < '0' || name[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(name[:20], 10, 64)
	if err != nil || v < 0 {
		return 0, false
	}
	return v, true
}

// Options configure a segment.
type Options struct {
	// Preallocate is the step in which a writable segment reserves disk
	// space with fallocate ahead of its appends: on creation and whenever
	// an append passes the reserved end, the next Preallocate bytes (up to
	// MaxSize) are reserved. The reserved tail reads as zeros and is
	// trimmed by Seal and Close. 0 disables preallocation.
	Preallocate int64
	// MaxSize is the largest size the segment may reach, and the length of
	// its mmap. Default: the larger of Preallocate and the file's size, at
	// least 1 MiB.
	MaxSize int64
}

// Segment is one segment file.
type Segment struct {
	fs       vfs.FS
	path     string
	base     int64
	f        vfs.File
	maxSize  int64
	size     atomic.Int64 // bytes of valid batches, published after writes
	fileSize int64        // real file size including preallocation; writer only
	prealloc int64        // preallocation step; writer only
	writable bool
	werr     error // first write/sync error; sticky

	mapMu  sync.Mutex
	mapped atomic.Pointer[[]byte]
	closed atomic.Bool
}

// Create creates a new, empty segment file for base in dir. It does not sync
// the directory; the caller does (the log's flusher).
func Create(fs vfs.FS, dir string, base int64, opts Options) (*Segment, error) {
	path := filepath.Join(dir, FileName(base))
	f, err := fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("segment: create %s: %w", path, err)
	}
	s := &Segment{fs: fs, path: path, base: base, f: f, writable: true, prealloc: opts.Preallocate}
	s.maxSize = max(opts.MaxSize, 1<<20)
	if err := s.reserve(0); err != nil {
		f.Close()
		fs.Remove(path)
		return nil, err
	}
	return s, nil
}

// Open opens an existing segment file. Its size is taken to be the file's
// size; call Recover (or Scan and SetSize) when the file may hold a
// preallocated or torn tail. A writable segment can be appended to.
func Open(fs vfs.FS, path string, base int64, writable bool, opts Options) (*Segment, error) {
	flag := os.O_RDONLY
	if writable {
		flag = os.O_RDWR
	}
	f, err := fs.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("segment: open %s: %w", path, err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("segment: stat %s: %w", path, err)
	}
	s := &Segment{fs: fs, path: path, base: base, f: f, writable: writable, fileSize: size, prealloc: opts.Preallocate}
	s.maxSize = max(opts.MaxSize, size, 1<<20)
	s.size.Store(size)
	return s, nil
}

// Base returns the base offset.
func (s *Segment) Base() int64 { return s.base }

// Path returns the file path.
func (s *Segment) Path() string { return s.path }

// File returns the underlying file, e.g. for sendfile of File().Fd().
func (s *Segment) File() vfs.File { return s.f }

// Size returns the number of valid bytes; readers may read below it.
func (s *Segment) Size() int64 { return s.size.Load() }

// MaxSize returns the largest size the segment may reach.
func (s *Segment) MaxSize() int64 { return s.maxSize }

// Err returns the sticky write error, if any.
func (s *Segment) Err() error { return s.werr }

// Writable reports whether the segment accepts appends.
func (s *Segment) Writable() bool { return s.writable }

// Append writes b, one or more whole batches that the caller validated, at
// the end of the segment with one write call, and returns the position it
// was written at. The new size is published only after the write succeeds.
func (s *Segment) Append(b []byte) (int64, error) {
	pos, err := s.Write(b)
	if err != nil {
		return 0, err
	}
	s.Publish(pos + int64(len(b)))
	return pos, nil
}

// Publish makes the segment's size end, after a Write: readers see the
// written bytes from now on. A caller that must publish something else
// first (the log publishes its end offset before the bytes, so a reader
// never sees bytes past the offsets it was told of) splits Append into
// Write and Publish.
func (s *Segment) Publish(end int64) { s.size.Store(end) }

// Write is Append without publishing: it writes b at the current size and
// returns the position; call Publish(pos+len(b)) before the next Write.
func (s *Segment) Write(b []byte) (int64, error) {
	if s.werr != nil {
		return 0, s.werr
	}
	if !s.writable {
		return 0, ErrReadOnly
	}
	pos := s.size.Load()
	end := pos + int64(len(b))
	if end > s.maxSize {
		return 0, ErrFull
	}
	if end > s.fileSize && s.prealloc > 0 {
		if err := s.reserve(end); err != nil {
			s.werr = fmt.Errorf("%w: %w", ErrWriteFailed, err)
			return 0, s.werr
		}
	}
	if _, err := s.f.WriteAt(b, pos); err != nil {
		s.werr = fmt.Errorf("%w: %s at %d: %w", ErrWriteFailed, s.path, pos, err)
		return 0, s.werr
	}
	if end > s.fileSize {
		s.fileSize = end
	}
	return pos, nil
}

// reserve preallocates the next step(s) so that the file reaches at least
// end bytes, never past MaxSize.
func (s *Segment) reserve(end int64) error {
	if s.prealloc <= 0 {
		return nil
	}
	target := min(max(end, s.fileSize)+s.prealloc, s.maxSize)
	target = max(target, end)
	if target <= s.fileSize {
		return nil
	}
	if err := s.f.Allocate(s.fileSize, target-s.fileSize); err != nil {
		return fmt.Errorf("segment: preallocate %s: %w", s.path, err)
	}
	s.fileSize = target
	return nil
}

// Sync makes every appended byte durable (fdatasync). After a failed sync
// the segment refuses all further writes.
func (s *Segment) Sync() error {
	if s.werr != nil {
		return s.werr
	}
	if err := s.f.Sync(); err != nil {
		s.werr = fmt.Errorf("%w: sync %s: %w", ErrWriteFailed, s.path, err)
		return s.werr
	}
	return nil
}

// ReadAt reads len(p) bytes at pos with pread; pos+len(p) must not pass Size.
func (s *Segment) ReadAt(p []byte, pos int64) (int, error) {
	if size := s.size.Load(); pos < 0 || pos > size || int64(len(p)) > size-pos {
		return 0, ErrRange
	}
	return s.f.ReadAt(p, pos)
}

// Bytes returns the n bytes at pos as a slice of the segment's read-only
// mmap, without copying. See the package doc for the slice's lifetime.
func (s *Segment) Bytes(pos, n int64) ([]byte, error) {
	if size := s.size.Load(); pos < 0 || n < 0 || pos > size || n > size-pos {
		return nil, ErrRange
	}
	m := s.mapped.Load()
	if m == nil {
		var err error
		if m, err = s.mapLocked(); err != nil {
			return nil, err
		}
	}
	return (*m)[pos : pos+n : pos+n], nil
}

func (s *Segment) mapLocked() (*[]byte, error) {
	s.mapMu.Lock()
	defer s.mapMu.Unlock()
	if m := s.mapped.Load(); m != nil {
		return m, nil
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	data, err := unix.Mmap(int(s.f.Fd()), 0, int(s.maxSize), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("segment: mmap %s: %w", s.path, err)
	}
	s.mapped.Store(&data)
	return &data, nil
}

// TruncateTo cuts the segment to pos bytes. The removed bytes are zeroed on
// disk (not cut from the file, so that concurrent mmap readers never fault)
// so that recovery can never bring them back.
func (s *Segment) TruncateTo(pos int64) error {
	if s.werr != nil {
		return s.werr
	}
	size := s.size.Load()
	if pos < 0 || pos > size {
		return ErrRange
	}
	if pos == size {
		return nil
	}
	s.size.Store(pos)
	if !s.writable {
		// Reopen-for-write is the caller's job; a read-only file
		// cannot be zeroed.
		return ErrReadOnly
	}
	zero := make([]byte, min(size-pos, 1<<20))
	for off := pos; off < size; off += int64(len(zero)) {
		n := min(int64(len(zero)), size-off)
		if _, err := s.f.WriteAt(zero[:n], off); err != nil {
			s.werr = fmt.Errorf("%w: zero %s at %d: %w", ErrWriteFailed, s.path, off, err)
			return s.werr
		}
	}
	return nil
}

// Seal trims the file to its valid size, dropping preallocated space, and
// makes the segment read-only. The caller syncs it.
func (s *Segment) Seal() error {
	if !s.writable {
		return nil
	}
	s.writable = false
	if s.werr != nil {
		return s.werr
	}
	if size := s.size.Load(); s.fileSize > size {
		if err := s.f.Truncate(size); err != nil {
			s.werr = fmt.Errorf("%w: trim %s: %w", ErrWriteFailed, s.path, err)
			return s.werr
		}
		s.fileSize = size
	}
	return nil
}

// Close trims a writable segment to its size, unmaps and closes the file.
func (s *Segment) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	var err error
	if s.writable && s.werr == nil {
		err = s.Seal()
	}
	s.mapMu.Lock()
	if m := s.mapped.Swap(nil); m != nil {
		if uerr := unix.Munmap(*m); err == nil {
			err = uerr
		}
	}
	s.mapMu.Unlock()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Remove closes the segment without trimming and deletes its file.
func (s *Segment) Remove() error {
	s.writable = false
	err := s.Close()
	if rerr := s.fs.Remove(s.path); err == nil && rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = rerr
	}
	return err
}

// Header reads the batch header at pos, which must be below Size. It
// checks the length field against the segment's size but not the CRC.
func (s *Segment) Header(pos int64) (batch.Header, error) {
	// A stack array would escape through the vfs.File interface call and
	// cost an allocation per Read; io.ReaderAt must not retain p.
	buf := headerBufs.Get().(*[batch.HeaderSize]byte)
	defer headerBufs.Put(buf)
	size := s.size.Load()
	if pos+batch.HeaderSize > size {
		return batch.Header{}, fmt.Errorf("segment: %s: header at %d past size %d: %w", s.path, pos, size, batch.ErrShort)
	}
	if _, err := s.f.ReadAt(buf[:], pos); err != nil {
		return batch.Header{}, fmt.Errorf("segment: read %s at %d: %w", s.path, pos, err)
	}
	h, err := batch.ParseHeader(buf[:])
	if err != nil {
		return h, fmt.Errorf("segment: %s: batch at %d: %w", s.path, pos, err)
	}
	if pos+int64(h.Size()) > size {
		return h, fmt.Errorf("segment: %s: batch at %d of %d bytes past size %d: %w", s.path, pos, h.Size(), size, batch.ErrShort)
	}
	return h, nil
}

// headerBufs recycles Header's read buffers.
var headerBufs = sync.Pool{New: func() any { return new([batch.HeaderSize]byte) }}

// Find scans batch headers forward from pos, a batch boundary, and returns
// the position and header of the first batch whose last offset is >= offset.
// It returns found=false and pos=Size when there is none.
func (s *Segment) Find(pos, offset int64) (int64, batch.Header, bool, error) {
	for size := s.size.Load(); pos < size; {
		h, err := s.Header(pos)
		if err != nil {
			return pos, h, false, err
		}
		if h.LastOffset() >= offset {
			return pos, h, true, nil
		}
		pos += int64(h.Size())
	}
	return s.size.Load(), batch.Header{}, false, nil
}

// FindTime scans batch headers forward from pos and returns the first batch
// whose max timestamp is >= ts.
func (s *Segment) FindTime(pos, ts int64) (int64, batch.Header, bool, error) {
	for size := s.size.Load(); pos < size; {
		h, err := s.Header(pos)
		if err != nil {
			return pos, h, false, err
		}
		if h.MaxTimestamp >= ts {
			return pos, h, true, nil
		}
		pos += int64(h.Size())
	}
	return s.size.Load(), batch.Header{}, false, nil
}
