package log

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/index"
	"github.com/weirhq/weir/internal/vfs"
	"github.com/weirhq/weir/segment"
)

var (
	// ErrInvalidBatch means Append was given bytes that are not valid v2
	// batches; it also wraps the batch package's specific error
	// (batch.ErrCRC, batch.ErrMagic, batch.ErrShort, …). Nothing was
	// written.
	ErrInvalidBatch = errors.New("log: invalid record batch")
	// ErrTooLarge means a batch exceeds Options.MaxBatchBytes. Nothing was
	// written.
	ErrTooLarge = errors.New("log: record batch too large")
	// ErrOffsetOutOfRange means a read asked for an offset below the log
	// start offset or above the log end offset.
	ErrOffsetOutOfRange = errors.New("log: offset out of range")
	// ErrClosed means the log was closed.
	ErrClosed = errors.New("log: log is closed")
	// ErrFailed means an earlier write or fsync failed; the log refuses
	// further appends, and data after its durable offset must be assumed
	// lost. It wraps the original error.
	ErrFailed = errors.New("log: log failed after an I/O error")
	// ErrTruncated is given to durability waiters whose offsets were
	// removed by TruncateTo before they became durable.
	ErrTruncated = errors.New("log: offsets truncated before becoming durable")
)

// AppendResult describes an append.
type AppendResult struct {
	// FirstOffset is the base offset assigned to the first batch.
	FirstOffset int64
	// LastOffset is the last offset of the last batch.
	LastOffset int64
	// Batches is the number of batches appended.
	Batches int
}

// Log is one partition's log. See the package documentation for the
// concurrency contract.
type Log struct {
	dir  string
	opts Options
	fs   vfs.FS

	// mu is the writer lock. It guards the writer-only fields below and
	// serializes Append, roll, retention, truncation and Close. It is held
	// across the append's write system call but never across an fsync.
	mu            sync.Mutex
	active        *seg
	werr          error // sticky; wraps ErrFailed
	closed        bool
	markedUnclean bool
	clock         time.Time // the last time read by the writer (see maybeRollLocked)
	activeNext    int64     // set by recovery: the log end offset
	recoveryPoint int64
	// Flush state, guarded by mu.
	dirtySegs    []*seg
	spareSegs    []*seg
	dirDirty     bool
	dirtyAt      time.Time
	pendingBytes int64
	lastFlush    time.Time // when the last flush of this log ended
	flushing     bool
	urgent       bool

	// Published state, read lock-free.
	segs    atomic.Pointer[[]*seg] // immutable snapshot, sorted by base; last is active
	next    atomic.Int64           // log end offset
	start   atomic.Int64           // log start offset
	durable atomic.Int64           // every offset below it is durable
	// The end of durable data: a position in the segment with base
	// durBase, published (under mu, as a seqlock: durSeq is odd while it
	// changes) before the durable offset it covers, so that a read limited
	// to the durable offset can bound its view without scanning headers.
	durSeq  atomic.Uint64
	durBase atomic.Int64
	durEnd  atomic.Int64

	maxBatch    atomic.Int64 // Options.MaxBatchBytes, read without the lock
	durableHook func(int64)  // Options.DurableHook; immutable

	// dev is the device of the log's directory when it is on the real
	// file system (0 otherwise): logs on one device can share a syncfs.
	dev uint64

	fl         *Flusher
	ownFlusher bool
	// trackReads: the flusher keeps a read cache and the log is on the
	// real file system, so reads are noted and flushes feed the cache
	// (set by Open, then immutable). cacheBase: segments below it are
	// wholly queued in the read cache (guarded by readCache.mu).
	trackReads bool
	cacheBase  int64

	// Durability waiters.
	wmu       sync.Mutex
	waiters   []waiter
	whead     int
	failErr   error                         // guarded by wmu
	durableCh atomic.Pointer[chan struct{}] // closed and cleared when durable advances or the log fails; see durableChan
}

// setDurablePosLocked publishes where durable data ends; unless force,
// only forward. l.mu must be held (writers are serialized by it).
func (l *Log) setDurablePosLocked(base, pos int64, force bool) {
	if !force {
		cb, cp := l.durBase.Load(), l.durEnd.Load()
		if cb > base || cb == base && cp >= pos {
			return
		}
	}
	l.durSeq.Add(1)
	l.durBase.Store(base)
	l.durEnd.Store(pos)
	l.durSeq.Add(1)
}

// durablePos reads where durable data ends.
func (l *Log) durablePos() (base, pos int64) {
	for {
		s := l.durSeq.Load()
		if s&1 == 0 {
			base, pos = l.durBase.Load(), l.durEnd.Load()
			if l.durSeq.Load() == s {
				return base, pos
			}
		}
		runtime.Gosched()
	}
}

type waiter struct {
	offset int64
	fn     func(error)
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// StartOffset returns the log start offset: the first offset that can be
// read.
func (l *Log) StartOffset() int64 { return l.start.Load() }

// EndOffset returns the log end offset: the offset the next appended record
// gets.
func (l *Log) EndOffset() int64 { return l.next.Load() }

// DurableOffset returns the offset below which every record is durable
// (fsynced, with its directory entry).
func (l *Log) DurableOffset() int64 { return l.durable.Load() }

// Size returns the total bytes of the log's segments.
func (l *Log) Size() int64 {
	var n int64
	for _, sg := range l.segments() {
		n += sg.size.Load()
	}
	return n
}

// NumSegments returns the number of segments.
func (l *Log) NumSegments() int { return len(l.segments()) }

// Err returns the error that failed the log, or nil.
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.werr
}

func (l *Log) segments() []*seg {
	p := l.segs.Load()
	if p == nil {
		return nil
	}
	return *p
}

func (l *Log) publish(segs []*seg) { l.segs.Store(&segs) }

// Append validates b, which holds one or more whole v2 record batches, assigns
// offsets by patching each batch's baseOffset in place (b is modified), and
// writes all of them to the active segment with one write. If any batch is
// invalid or too large nothing is written. Append does not wait for
// durability; see WaitDurable and OnDurable (or FlushAlways).
func (l *Log) Append(b []byte) (AppendResult, error) {
	var res AppendResult
	// Validate everything before taking the lock or writing anything.
	var records int64
	limit := int(l.maxBatch.Load())
	for rest := b; len(rest) > 0; {
		size, err := batch.Check(rest)
		if err != nil {
			return res, fmt.Errorf("%w: batch %d at byte %d: %w", ErrInvalidBatch, res.Batches, len(b)-len(rest), err)
		}
		if size > limit {
			return res, fmt.Errorf("%w: batch %d is %d bytes, limit %d", ErrTooLarge, res.Batches, size, limit)
		}
		delta := batch.LastOffsetDelta(rest)
		if batch.NumRecords(rest) == 0 && delta == 0 && batch.Attributes(rest)&batch.AttrControl == 0 {
			return res, fmt.Errorf("%w: batch %d has no records: %w", ErrInvalidBatch, res.Batches, batch.ErrRecords)
		}
		records += int64(delta) + 1
		res.Batches++
		rest = rest[size:]
	}
	if res.Batches == 0 {
		return res, fmt.Errorf("%w: no batches", ErrInvalidBatch)
	}
	return l.appendChecked(b, records, res)
}

// AppendValidated is Append for input whose batches the caller has already
// checked with batch.Validate (as the broker does, to read producer ids):
// it skips the CRC pass but still enforces MaxBatchBytes.
func (l *Log) AppendValidated(b []byte) (AppendResult, error) {
	var res AppendResult
	var records int64
	limit := int(l.maxBatch.Load())
	for rest := b; len(rest) > 0; {
		size, err := batch.Size(rest)
		if err != nil || size > len(rest) || size < batch.HeaderSize {
			return res, fmt.Errorf("%w: batch %d: %w", ErrInvalidBatch, res.Batches, batch.ErrShort)
		}
		if size > limit {
			return res, fmt.Errorf("%w: batch %d is %d bytes, limit %d", ErrTooLarge, res.Batches, size, limit)
		}
		records += int64(batch.LastOffsetDelta(rest)) + 1
		res.Batches++
		rest = rest[size:]
	}
	if res.Batches == 0 {
		return res, fmt.Errorf("%w: no batches", ErrInvalidBatch)
	}
	return l.appendChecked(b, records, res)
}

func (l *Log) appendChecked(b []byte, records int64, res AppendResult) (AppendResult, error) {

	l.mu.Lock()
	if err := l.appendCheckLocked(); err != nil {
		l.mu.Unlock()
		return res, err
	}
	next := l.next.Load()
	res.FirstOffset = next
	if err := l.maybeRollLocked(int64(len(b)), next, records); err != nil {
		l.mu.Unlock()
		return res, err
	}
	sg := l.active
	// Patch offsets (outside the CRC).
	off := next
	for rest := b; len(rest) > 0; {
		batch.SetBaseOffset(rest, off)
		if l.opts.PatchLeaderEpoch {
			batch.SetPartitionLeaderEpoch(rest, l.opts.LeaderEpoch)
		}
		off += int64(batch.LastOffsetDelta(rest)) + 1
		rest = rest[batch.Size0(rest):]
	}
	s := sg.s.Load()
	// Written now, published below after the end offset: a reader never
	// sees bytes of offsets beyond the end offset it was told of.
	pos, err := s.Write(b)
	if err != nil {
		l.failLocked(err)
		l.mu.Unlock()
		return res, l.werr
	}
	// Index entries and timestamps, per batch.
	oi, ti := sg.oi.Load(), sg.ti.Load()
	maxTs0 := sg.maxTs.Load()
	maxTs := maxTs0
	for rest, p := b, pos; len(rest) > 0; {
		size := int64(batch.Size0(rest))
		if sg.sinceIndex >= l.opts.IndexIntervalBytes {
			last := batch.BaseOffset(rest) + int64(batch.LastOffsetDelta(rest))
			if err := oi.Append(last, p); err != nil && !errors.Is(err, index.ErrFull) {
				l.failLocked(err)
				l.mu.Unlock()
				return res, l.werr
			}
			if ts := max(maxTs, batch.MaxTimestamp(rest)); ts >= 0 {
				if _, err := ti.MaybeAppend(ts, last); err != nil && !errors.Is(err, index.ErrFull) {
					l.failLocked(err)
					l.mu.Unlock()
					return res, l.werr
				}
			}
			sg.sinceIndex = 0
		}
		sg.sinceIndex += size
		if ts := batch.MaxTimestamp(rest); ts > maxTs {
			maxTs = ts
			sg.maxTsOff = batch.BaseOffset(rest) + int64(batch.LastOffsetDelta(rest))
		}
		p += size
		rest = rest[size:]
	}
	// Atomic stores are full barriers here: skip the ones with nothing new.
	if maxTs != maxTs0 {
		sg.maxTs.Store(maxTs)
	}
	end := pos + int64(len(b))
	l.next.Store(off)
	s.Publish(end)
	sg.size.Store(end)
	res.LastOffset = off - 1
	l.markDirtyLocked(sg, int64(len(b)))
	policy := l.opts.FlushPolicy
	l.mu.Unlock()

	if policy == FlushAlways {
		if err := l.syncTo(res.LastOffset); err != nil {
			return res, err
		}
	}
	return res, nil
}

// appendCheckLocked refuses appends to a closed or failed log and, on the
// first append after Open, records in the checkpoint that the log is open
// for writing (so a crash from now on is detected as unclean).
func (l *Log) appendCheckLocked() error {
	if l.closed {
		return ErrClosed
	}
	if l.werr != nil {
		return l.werr
	}
	if !l.markedUnclean {
		cp := checkpoint{clean: false, recoveryPoint: l.recoveryPoint, logStartOffset: l.start.Load(), bootID: l.opts.BootID()}
		if err := writeCheckpoint(l.fs, l.dir, cp); err != nil {
			l.failLocked(err)
			return l.werr
		}
		l.markedUnclean = true
	}
	return nil
}

// maybeRollLocked rolls to a new segment when the append of n bytes with
// the given record count would pass segment.bytes, the active segment is
// older than segment.ms, its index is full, or offsets would overflow the
// index's 32-bit relative offsets.
func (l *Log) maybeRollLocked(n, next, records int64) error {
	sg := l.active
	s := sg.s.Load()
	size := s.Size()
	if size == 0 {
		if n > s.MaxSize() {
			// An empty segment too small for this batch (SegmentBytes
			// below the batch size): replace it with one that fits.
			return l.rollLocked(next, n)
		}
		return nil
	}
	roll := size+n > l.opts.SegmentBytes ||
		size+n > s.MaxSize() ||
		sg.oi.Load().Full() || sg.ti.Load().Full() ||
		next+records-sg.base > 1<<31
	// segment.ms: the clock read when the log last became dirty (at most
	// a flush interval old) avoids a clock read per append; retention
	// checks roll idle segments.
	if !roll && l.opts.SegmentMs > 0 && l.clock.Sub(sg.created) > l.opts.SegmentMs {
		roll = true
	}
	if !roll {
		return nil
	}
	return l.rollLocked(next, n)
}

// Roll closes the active segment for writing and starts a new one at the
// log end offset. It is a no-op when the active segment is empty.
func (l *Log) Roll() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.appendCheckLocked(); err != nil {
		return err
	}
	if l.active.s.Load().Size() == 0 {
		return nil
	}
	return l.rollLocked(l.next.Load(), 0)
}

// rollLocked seals the active segment and creates a new active segment at
// base with room for at least n bytes.
func (l *Log) rollLocked(base, n int64) error {
	old := l.active
	segs := l.segments()
	replace := old.s.Load().Size() == 0 && old.base == base
	if !replace {
		if err := l.sealLocked(old); err != nil {
			l.failLocked(err)
			return l.werr
		}
	}
	if replace {
		// The empty active segment is at the same base: remove it
		// first, so the new one can take its file names.
		segs = segs[:len(segs)-1]
		l.removeDirtyLocked(old)
		old.remove()
	}
	sg, err := l.createSegLocked(base, n)
	if err != nil {
		l.failLocked(err)
		return l.werr
	}
	newSegs := make([]*seg, 0, len(segs)+1)
	newSegs = append(append(newSegs, segs...), sg)
	l.active = sg
	l.publish(newSegs)
	return nil
}

// sealLocked finishes a segment that stops being active: the final time
// index entry, trimmed files, read-only; its data and indexes are synced by
// the next flush.
func (l *Log) sealLocked(sg *seg) error {
	s := sg.s.Load()
	oi, ti := sg.oi.Load(), sg.ti.Load()
	if ts := sg.maxTs.Load(); ts >= 0 && s.Size() > 0 {
		if _, err := ti.MaybeAppend(ts, sg.maxTsOff); err != nil && !errors.Is(err, index.ErrFull) {
			return err
		}
	}
	if err := errors.Join(s.Seal(), oi.Seal(), ti.Seal()); err != nil {
		return err
	}
	sg.maxTsKnown.Store(true)
	if !sg.dirty {
		sg.dirty = true
		l.dirtySegs = append(l.dirtySegs, sg)
	}
	l.scheduleFlushLocked(0)
	return nil
}

// createSegLocked creates the files of a new active segment.
func (l *Log) createSegLocked(base, n int64) (*seg, error) {
	sg := &seg{l: l, base: base, created: l.opts.Now()}
	sg.refs.Store(1)
	sg.maxTs.Store(-1)
	sg.maxTsOff = -1
	sg.maxTsKnown.Store(true)
	prealloc := int64(0)
	if !l.opts.NoPreallocate {
		prealloc = l.opts.PreallocateBytes
	}
	// A stale file of the same name (left by a crash) would make Create
	// fail.
	removeIfExists(l, sg.path(segment.Suffix))
	removeIfExists(l, sg.path(IndexSuffix))
	removeIfExists(l, sg.path(TimeIndexSuffix))
	s, err := segment.Create(l.fs, l.dir, base, segment.Options{Preallocate: prealloc, MaxSize: max(l.opts.SegmentBytes, n)})
	if err != nil {
		return nil, err
	}
	sg.s.Store(s)
	oi, ti, err := sg.openIndexFiles(true)
	if err != nil {
		s.Remove()
		return nil, err
	}
	sg.oi.Store(oi)
	sg.ti.Store(ti)
	l.dirDirty = true
	return sg, nil
}

// failLocked records the first I/O error; the log refuses appends from now
// on and waiters are failed.
func (l *Log) failLocked(err error) {
	if l.werr == nil {
		if errors.Is(err, ErrFailed) {
			l.werr = err
		} else {
			l.werr = fmt.Errorf("%w: %w", ErrFailed, err)
		}
		l.opts.Logger.Error("log: failed; refusing further appends", "dir", l.dir, "err", err)
	}
	l.failWaiters(l.werr)
}

// Close syncs all data, trims the active segment and its indexes, records a
// clean shutdown, and closes the files. Views must be released first; a
// View still held keeps its segment's files open until released.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.mu.Unlock()
	// Sync everything appended so far.
	syncErr := l.Sync()

	l.mu.Lock()
	l.closed = true
	for l.flushing {
		l.mu.Unlock()
		time.Sleep(100 * time.Microsecond)
		l.mu.Lock()
	}
	werr := l.werr
	var errs []error
	if werr == nil && syncErr == nil {
		// Trim the active segment and indexes, sync them, record a
		// clean shutdown.
		sg := l.active
		s, oi, ti := sg.s.Load(), sg.oi.Load(), sg.ti.Load()
		if ts := sg.maxTs.Load(); ts >= 0 && s.Size() > 0 {
			if _, err := ti.MaybeAppend(ts, sg.maxTsOff); err != nil && !errors.Is(err, index.ErrFull) {
				errs = append(errs, err)
			}
		}
		errs = append(errs, s.Seal(), oi.Seal(), ti.Seal(), s.Sync(), oi.Sync(), ti.Sync())
		for _, o := range l.segments() {
			if !o.synced && o != sg {
				if os := o.s.Load(); os != nil {
					errs = append(errs, os.Sync())
				}
				if oi := o.oi.Load(); oi != nil {
					errs = append(errs, oi.Sync())
				}
				if ti := o.ti.Load(); ti != nil {
					errs = append(errs, ti.Sync())
				}
			}
		}
		errs = append(errs, l.fs.SyncDir(l.dir))
		if err := errors.Join(errs...); err == nil && l.markedUnclean {
			cp := checkpoint{clean: true, recoveryPoint: l.next.Load(), logStartOffset: l.start.Load(), bootID: l.opts.BootID()}
			errs = append(errs, writeCheckpoint(l.fs, l.dir, cp))
		}
	} else {
		errs = append(errs, werr, syncErr)
	}
	segs := l.segments()
	l.publish(nil)
	l.mu.Unlock()

	if l.fl != nil {
		l.fl.unregister(l)
		if l.ownFlusher {
			l.fl.Close()
		}
	}
	l.failWaiters(ErrClosed)
	for _, sg := range segs {
		sg.release()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("log: close %s: %w", l.dir, err)
	}
	return nil
}
