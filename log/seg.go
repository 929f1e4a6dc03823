package log

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/index"
	"github.com/weirhq/weir/segment"
)

// File name suffixes of a segment's index files.
const (
	IndexSuffix     = ".index"
	TimeIndexSuffix = ".timeindex"
)

// seg is one segment of a log with its two indexes. Sealed segments found at
// Open are opened lazily, on first read, so that a log with thousands of
// segments opens quickly.
//
// Lifetime: refs starts at 1, the reference held by the log's segment list.
// Readers acquire a reference for the life of a View; the segment's files
// are closed (and, if deleted, removed) when the count drops to zero.
type seg struct {
	l    *Log
	base int64

	openMu sync.Mutex // serializes lazy opening
	s      atomic.Pointer[segment.Segment]
	oi     atomic.Pointer[index.OffsetIndex]
	ti     atomic.Pointer[index.TimeIndex]

	// size is the segment's size in bytes as known without opening it
	// (file size at Open for sealed segments; kept current for the
	// active one by the writer).
	size atomic.Int64
	// maxTs is the largest batch timestamp in the segment, -1 if none or
	// not yet known; maxTsKnown says whether it was loaded.
	maxTs      atomic.Int64
	maxTsKnown atomic.Bool

	refs atomic.Int32

	// readEnd is the end of the furthest view a reader was given (see
	// readCache); cacheQueued is how far the segment's bytes are queued
	// for dropping from the page cache (guarded by readCache.mu).
	readEnd     atomic.Int64
	cacheQueued int64

	// Writer-only fields, guarded by Log.mu.
	created    time.Time // for segment.ms
	sinceIndex int64     // bytes appended since the last index entry
	maxTsOff   int64     // last offset of the batch holding maxTs
	synced     bool      // sealed and fsynced with its indexes
	dirty      bool      // has unsynced data (listed in Log.dirtySegs)
	// flushSealed is set with the flush snapshot (under Log.mu) and read
	// by that flush: the segment was sealed, so its indexes are synced too.
	flushSealed bool

	removed atomic.Bool // files deleted; set before the list reference is dropped
}

func (sg *seg) path(suffix string) string {
	return filepath.Join(sg.l.dir, segment.Name(sg.base)+suffix)
}

// acquire takes a reader reference; false if the segment is already gone.
func (sg *seg) acquire() bool {
	for {
		r := sg.refs.Load()
		if r <= 0 {
			return false
		}
		if sg.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// release drops a reference, closing the segment's files at zero.
func (sg *seg) release() {
	if sg.refs.Add(-1) != 0 {
		return
	}
	var errs []error
	if s := sg.s.Swap(nil); s != nil {
		errs = append(errs, s.Close())
	}
	if oi := sg.oi.Swap(nil); oi != nil {
		errs = append(errs, oi.Close())
	}
	if ti := sg.ti.Swap(nil); ti != nil {
		errs = append(errs, ti.Close())
	}
	if err := errors.Join(errs...); err != nil && !sg.removed.Load() {
		sg.l.opts.Logger.Warn("log: closing segment", "dir", sg.l.dir, "base", sg.base, "err", err)
	}
}

// remove deletes the segment's files now and drops the list's reference.
// Readers holding references keep reading through their open descriptors
// and mappings (unlinked files live until closed); the files are closed
// when the last reference goes.
func (sg *seg) remove() {
	sg.removed.Store(true)
	for _, suffix := range []string{segment.Suffix, IndexSuffix, TimeIndexSuffix} {
		if err := removeIfExists(sg.l, sg.path(suffix)); err != nil {
			sg.l.opts.Logger.Warn("log: removing segment file", "dir", sg.l.dir, "base", sg.base, "err", err)
		}
	}
	sg.release()
}

func removeIfExists(l *Log, path string) error {
	if err := l.fs.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// file returns the segment file, opening a sealed segment read-only on
// first use.
func (sg *seg) file() (*segment.Segment, error) {
	if s := sg.s.Load(); s != nil {
		return s, nil
	}
	sg.openMu.Lock()
	defer sg.openMu.Unlock()
	if s := sg.s.Load(); s != nil {
		return s, nil
	}
	s, err := segment.Open(sg.l.fs, sg.path(segment.Suffix), sg.base, false, segment.Options{})
	if err != nil {
		return nil, err
	}
	sg.s.Store(s)
	return s, nil
}

// offsetIndex returns the offset index, opening (and if missing or
// invalid, rebuilding) a sealed segment's index on first use.
func (sg *seg) offsetIndex() (*index.OffsetIndex, error) {
	if oi := sg.oi.Load(); oi != nil {
		return oi, nil
	}
	if err := sg.openIndexes(); err != nil {
		return nil, err
	}
	return sg.oi.Load(), nil
}

func (sg *seg) timeIndex() (*index.TimeIndex, error) {
	if ti := sg.ti.Load(); ti != nil {
		return ti, nil
	}
	if err := sg.openIndexes(); err != nil {
		return nil, err
	}
	return sg.ti.Load(), nil
}

// openIndexes opens a sealed segment's indexes read-only, rebuilding them
// from the segment file when missing or failing their sanity checks.
func (sg *seg) openIndexes() error {
	s, err := sg.file()
	if err != nil {
		return err
	}
	sg.openMu.Lock()
	defer sg.openMu.Unlock()
	if sg.oi.Load() != nil && sg.ti.Load() != nil {
		return nil
	}
	fs := sg.l.fs
	oi, ti, err := sg.openIndexFiles(false)
	if err == nil {
		err = oi.Check(s.Size())
		if err == nil {
			err = ti.Check(sg.nextOffsetHint())
		}
		if err != nil {
			oi.Close()
			ti.Close()
		}
	}
	if err != nil {
		sg.l.opts.Logger.Warn("log: rebuilding index", "dir", sg.l.dir, "base", sg.base, "reason", err)
		// Rebuild into fresh files, then reopen read-only.
		removeIfExists(sg.l, sg.path(IndexSuffix))
		removeIfExists(sg.l, sg.path(TimeIndexSuffix))
		woi, wti, err := sg.openIndexFiles(true)
		if err != nil {
			return err
		}
		var since int64
		var maxTs int64 = -1
		_, err = s.Scan(0, segment.ScanOptions{MaxBatchBytes: sg.l.opts.MaxBatchBytes + batch.HeaderSize + (64 << 20)}, func(pos int64, h *batch.Header) error {
			return indexBatch(woi, wti, pos, h, &since, &maxTs, sg.l.opts.IndexIntervalBytes)
		})
		if err == nil && maxTs >= 0 {
			// The final time index entry, as at seal.
			if last, ok := lastBatch(s, woi); ok && last.MaxTimestamp > 0 {
				_, err = wti.MaybeAppend(maxTs, last.LastOffset())
			}
		}
		errs := errors.Join(err, woi.Sync(), wti.Sync(), woi.Close(), wti.Close(), fs.SyncDir(sg.l.dir))
		if errs != nil {
			return fmt.Errorf("log: rebuild index of segment %d: %w", sg.base, errs)
		}
		if oi, ti, err = sg.openIndexFiles(false); err != nil {
			return err
		}
	}
	sg.oi.Store(oi)
	sg.ti.Store(ti)
	return nil
}

// nextOffsetHint bounds time index offsets for Check: the next segment's
// base, or the log end.
func (sg *seg) nextOffsetHint() int64 {
	segs := sg.l.segments()
	for i, o := range segs {
		if o == sg && i+1 < len(segs) {
			return segs[i+1].base
		}
	}
	return sg.l.next.Load()
}

func (sg *seg) openIndexFiles(writable bool) (*index.OffsetIndex, *index.TimeIndex, error) {
	oi, err := index.OpenOffset(sg.l.fs, sg.path(IndexSuffix), sg.base, sg.l.opts.MaxIndexBytes, writable)
	if err != nil {
		return nil, nil, err
	}
	ti, err := index.OpenTime(sg.l.fs, sg.path(TimeIndexSuffix), sg.base, sg.l.opts.MaxIndexBytes/8*12, writable)
	if err != nil {
		oi.Close()
		return nil, nil, err
	}
	return oi, ti, nil
}

// lastBatch returns the header of the segment's last batch, scanning from
// the last index entry.
func lastBatch(s *segment.Segment, oi *index.OffsetIndex) (batch.Header, bool) {
	h, _, ok := lastBatchEnd(s, oi)
	return h, ok
}

// indexBatch adds index entries for a batch at pos, Kafka's way: an offset
// entry (last offset, position) once more than interval bytes were written
// since the previous entry, and a time index entry for the largest
// timestamp so far at the same moment.
func indexBatch(oi *index.OffsetIndex, ti *index.TimeIndex, pos int64, h *batch.Header, since *int64, maxTs *int64, interval int64) error {
	if h.MaxTimestamp > *maxTs {
		*maxTs = h.MaxTimestamp
	}
	if *since >= interval {
		if err := oi.Append(h.LastOffset(), pos); err != nil {
			return err
		}
		if *maxTs >= 0 {
			if _, err := ti.MaybeAppend(*maxTs, h.LastOffset()); err != nil {
				return err
			}
		}
		*since = 0
	}
	*since += int64(h.Size())
	return nil
}

// maxTimestamp returns the segment's largest timestamp (-1 if none),
// loading it from the time index of a sealed segment.
func (sg *seg) maxTimestamp() (int64, error) {
	if sg.maxTsKnown.Load() {
		return sg.maxTs.Load(), nil
	}
	ti, err := sg.timeIndex()
	if err != nil {
		return -1, err
	}
	ts := int64(-1)
	if e, ok := ti.Last(); ok {
		ts = e.Timestamp
	}
	sg.maxTs.Store(ts)
	sg.maxTsKnown.Store(true)
	return ts, nil
}
