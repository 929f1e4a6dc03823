package log

import (
	"errors"

	"fmt"
	"golang.org/x/sys/unix"
	"slices"
	"strings"

	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/index"
	"github.com/weirhq/weir/internal/vfs"
	"github.com/weirhq/weir/segment"
)

// Open opens the log in dir, creating it if needed, and recovers it:
//
//   - After a clean Close nothing is scanned: sealed segments are opened
//     lazily on first read and the active segment's end is taken from its
//     trimmed file.
//   - After an unclean shutdown every segment from the recovery point on
//     (the first segment not known to be sealed and fsynced) is validated
//     batch by batch — length, magic, CRC-32C, increasing offsets — and cut
//     at the first invalid batch, later segments are deleted, and indexes
//     are rebuilt. When the machine did not reboot since the log was
//     opened for writing (same boot id), the page cache survived, so the
//     index is trusted and the scan starts at its last entry.
//
// Everything recovery cut is logged. opts may be nil.
func Open(dir string, opts *Options) (*Log, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	l := &Log{dir: dir, opts: o, fs: o.FS}
	l.maxBatch.Store(int64(o.MaxBatchBytes))
	l.durableHook = o.DurableHook
	if err := l.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("log: create %s: %w", dir, err)
	}
	if vfs.IsReal(l.fs) {
		var st unix.Stat_t
		if unix.Stat(dir, &st) == nil {
			l.dev = uint64(st.Dev)
		}
	}
	if err := l.load(); err != nil {
		for _, sg := range l.segments() {
			sg.release()
		}
		return nil, err
	}
	if o.Flusher != nil {
		l.fl = o.Flusher
	} else {
		l.fl = NewFlusher(FlusherOptions{Workers: 2, RetentionCheckInterval: o.RetentionCheckInterval, ReadCacheBytes: o.ReadCacheBytes})
		l.ownFlusher = true
	}
	l.trackReads = l.fl.cache != nil && l.dev != 0
	l.fl.register(l)
	return l, nil
}

// load reads the directory and recovers the segments.
func (l *Log) load() error {
	cp, haveCP, err := readCheckpoint(l.fs, l.dir)
	if err != nil {
		l.opts.Logger.Warn("log: ignoring unreadable checkpoint; recovering every segment", "dir", l.dir, "err", err)
		haveCP = false
	}
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("log: read %s: %w", l.dir, err)
	}
	var bases []int64
	sizes := map[int64]int64{}
	haveLog := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if base, ok := segment.ParseName(name); ok {
			bases = append(bases, base)
			if info, err := e.Info(); err == nil {
				sizes[base] = info.Size()
			}
			haveLog[name[:20]] = true
		}
	}
	// Remove leftovers: temporary files and indexes without a segment.
	for _, e := range entries {
		name := e.Name()
		orphan := (strings.HasSuffix(name, IndexSuffix) || strings.HasSuffix(name, TimeIndexSuffix)) &&
			len(name) > 20 && !haveLog[name[:20]]
		if strings.HasSuffix(name, ".tmp") || orphan {
			l.opts.Logger.Info("log: removing leftover file", "dir", l.dir, "file", name)
			removeIfExists(l, l.dir+"/"+name)
		}
	}
	slices.Sort(bases)
	clean := haveCP && cp.clean
	sameBoot := haveCP && cp.bootID == l.opts.BootID()
	recoveryPoint := int64(0)
	if haveCP {
		recoveryPoint = cp.recoveryPoint
	}
	if clean {
		recoveryPoint = int64(1) << 62
	}
	l.recoveryPoint = min(recoveryPoint, 1<<62)
	start := int64(0)
	if haveCP {
		start = cp.logStartOffset
	}

	var segs []*seg
	for i, base := range bases {
		sg := &seg{l: l, base: base}
		sg.refs.Store(1)
		sg.maxTs.Store(-1)
		sg.maxTsOff = -1
		sg.size.Store(sizes[base])
		// A segment is trusted without a scan when the log was closed
		// cleanly, or it lies wholly below the recovery point.
		wholeBelow := i+1 < len(bases) && bases[i+1] <= recoveryPoint
		sg.synced = clean || wholeBelow
		segs = append(segs, sg)
	}
	l.publish(segs)

	if len(segs) == 0 {
		if start < 0 {
			start = 0
		}
		sg, err := l.createSegLocked(start, 0)
		if err != nil {
			return err
		}
		l.active = sg
		l.publish([]*seg{sg})
		l.next.Store(start)
		l.start.Store(start)
		l.setDurablePosLocked(start, 0, true)
		l.durable.Store(start)
		return nil
	}

	// Recover segments from the recovery point on.
	first := len(segs) - 1
	if !clean {
		for first > 0 && !segs[first-1].synced {
			first--
		}
	}
	var prevNext int64 = -1
	for i := first; i < len(segs); i++ {
		sg := segs[i]
		last := i == len(segs)-1
		res, err := l.recoverSeg(sg, last, clean, sameBoot, prevNext)
		if err != nil {
			return err
		}
		prevNext = res.next
		if !last && !res.cut && res.next < segs[i+1].base {
			// Offsets missing before the next segment: data lost in
			// the crash (a segment whose creation reached the disk
			// but not its data, while a later one's did). What
			// follows was never durable; keep the log contiguous.
			l.opts.Logger.Warn("log: recovery found offsets missing after a segment", "dir", l.dir,
				"segment", sg.base, "next_offset", res.next, "next_segment", segs[i+1].base)
			res.cut = true
		}
		if res.cut && !last {
			// Corruption inside a segment: everything after it is
			// unreachable; delete the later segments, as Kafka does.
			for _, later := range segs[i+1:] {
				l.opts.Logger.Warn("log: recovery deleting segment after a corrupt one", "dir", l.dir, "base", later.base)
				later.remove()
			}
			segs = segs[:i+1]
			l.publish(segs)
			if err := l.reopenActive(sg); err != nil {
				return err
			}
			break
		}
	}
	if l.active == nil {
		return errors.New("log: no active segment after recovery")
	}
	next := l.activeNext
	if next < l.active.base {
		next = l.active.base
	}
	if !clean {
		// What recovery kept of the active segment may be only in the
		// page cache (the process died, the machine did not), and its
		// directory entry too: make them durable before saying so.
		if err := errors.Join(l.active.s.Load().Sync(), l.fs.SyncDir(l.dir)); err != nil {
			return fmt.Errorf("log: sync recovered segment %d in %s: %w", l.active.base, l.dir, err)
		}
	}
	l.next.Store(next)
	l.setDurablePosLocked(l.active.base, l.active.s.Load().Size(), true)
	l.durable.Store(next)
	if start < segs[0].base {
		start = segs[0].base
	}
	if start > next {
		start = next
	}
	l.start.Store(start)
	return nil
}

type recovered struct {
	next int64 // offset after the segment's last batch, or its base if empty
	cut  bool  // invalid data was cut
}

// recoverSeg opens sg (writable when last), validates it as needed and
// rebuilds its indexes. The last segment becomes the active one.
func (l *Log) recoverSeg(sg *seg, last, clean, sameBoot bool, prevNext int64) (recovered, error) {
	path := sg.path(segment.Suffix)
	var prealloc int64
	if last && !l.opts.NoPreallocate {
		prealloc = l.opts.PreallocateBytes
	}
	s, err := segment.Open(l.fs, path, sg.base, true, segment.Options{Preallocate: prealloc, MaxSize: l.opts.SegmentBytes})
	if err != nil {
		return recovered{}, err
	}
	sg.s.Store(s)
	// Opening creates missing index files empty; after a clean
	// shutdown they must be rebuilt instead.
	_, oiErr := l.fs.Stat(sg.path(IndexSuffix))
	_, tiErr := l.fs.Stat(sg.path(TimeIndexSuffix))
	oi, ti, err := sg.openIndexFiles(true)
	if err != nil {
		return recovered{}, err
	}
	sg.oi.Store(oi)
	sg.ti.Store(ti)
	res := recovered{next: sg.base}

	if clean {
		// Trimmed at close: the file ends at the last batch. Check the
		// indexes cheaply; rebuild if they are missing or bad.
		if err := errors.Join(oiErr, tiErr, oi.Check(s.Size()), ti.Check(1<<62)); err != nil {
			l.opts.Logger.Warn("log: rebuilding index after clean shutdown", "dir", l.dir, "base", sg.base, "reason", err)
			if err := l.rescan(sg, 0, prevNext, &res); err != nil {
				return res, err
			}
		} else if h, end, ok := lastBatchEnd(s, oi); end != s.Size() {
			// Not the file Close left: it does not end with a whole
			// batch (truncated, or a tail appended). Recover it.
			l.opts.Logger.Warn("log: segment does not end at a batch boundary after clean shutdown; recovering it",
				"dir", l.dir, "base", sg.base, "batches_end", end, "size", s.Size())
			if err := l.rescan(sg, 0, prevNext, &res); err != nil {
				return res, err
			}
		} else if ok {
			res.next = h.NextOffset()
			if e, ok := ti.Last(); ok {
				sg.maxTs.Store(e.Timestamp)
				sg.maxTsOff = e.Offset
			}
		}
	} else {
		from := int64(0)
		if sameBoot {
			// The page cache survived: trust the index up to its last
			// entry if the batch there checks out.
			if e, ok := oi.Last(); ok && oi.Check(s.Size()) == nil {
				if h, err := s.Header(e.Position); err == nil && h.LastOffset() == e.Offset {
					from = e.Position
				}
			}
		}
		if err := l.rescan(sg, from, prevNext, &res); err != nil {
			return res, err
		}
	}
	sg.size.Store(s.Size())
	sg.maxTsKnown.Store(true)
	if last {
		sg.created = l.opts.Now()
		l.active = sg
		l.activeNext = res.next
		// sinceIndex: bytes after the last index entry.
		if e, ok := oi.Last(); ok {
			sg.sinceIndex = s.Size() - e.Position
		} else {
			sg.sinceIndex = s.Size()
		}
	} else {
		if err := errors.Join(s.Seal(), oi.Seal(), ti.Seal()); err != nil {
			return res, err
		}
		if !clean {
			// Make the recovered segment durable before trusting it.
			if err := errors.Join(s.Sync(), oi.Sync(), ti.Sync()); err != nil {
				return res, err
			}
			sg.synced = true
		}
	}
	return res, nil
}

// rescan validates sg from position from, cuts what is invalid and
// rebuilds the index entries after from.
func (l *Log) rescan(sg *seg, from, prevNext int64, res *recovered) error {
	s, oi, ti := sg.s.Load(), sg.oi.Load(), sg.ti.Load()
	if from == 0 {
		oi.Reset()
		ti.Reset()
	} else {
		oi.TruncateToPosition(from + 1)
	}
	var since int64
	maxTs := int64(-1)
	if e, ok := ti.Last(); ok {
		maxTs = e.Timestamp
	}
	maxTsOff := int64(-1)
	opts := segment.ScanOptions{MaxBatchBytes: max(l.opts.MaxBatchBytes, 64<<20) + batch.HeaderSize, PrevNextOffset: max(prevNext, sg.base)}
	first := true
	sr, err := s.Recover(from, opts, func(pos int64, h *batch.Header) error {
		if first && from > 0 {
			// The batch at the trusted index entry: already indexed.
			first = false
			since = int64(h.Size())
			if h.MaxTimestamp > maxTs {
				maxTs, maxTsOff = h.MaxTimestamp, h.LastOffset()
			}
			return nil
		}
		first = false
		if h.MaxTimestamp > maxTs {
			maxTsOff = h.LastOffset()
		}
		err := indexBatch(oi, ti, pos, h, &since, &maxTs, l.opts.IndexIntervalBytes)
		if errors.Is(err, index.ErrFull) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("log: recover segment %d in %s: %w", sg.base, l.dir, err)
	}
	if sr.NextOffset >= 0 {
		res.next = sr.NextOffset
	}
	if cut := sr.Cut(); cut > 0 || sr.Stop != nil {
		res.cut = true
		l.opts.Logger.Warn("log: recovery cut invalid tail", "dir", l.dir, "segment", sg.base,
			"valid_bytes", sr.ValidEnd, "cut_bytes", cut, "reason", sr.Stop, "next_offset", res.next)
	} else if sr.Batches > 0 {
		l.opts.Logger.Info("log: recovered segment", "dir", l.dir, "segment", sg.base,
			"scanned_from", from, "batches", sr.Batches, "bytes", sr.ValidEnd, "next_offset", res.next)
	}
	if from > 0 && sr.Batches == 0 {
		// The batch at the trusted index entry was itself invalid (and
		// cut): the batches before it are intact, but the offset they
		// end at is known only by reading them. Rescan from the start.
		cut := res.cut
		err := l.rescan(sg, 0, prevNext, res)
		res.cut = res.cut || cut
		return err
	}
	if maxTs > sg.maxTs.Load() {
		sg.maxTs.Store(maxTs)
		if maxTsOff >= 0 {
			sg.maxTsOff = maxTsOff
		}
	}
	return nil
}

// reopenActive makes a recovered segment that ended up last (later ones
// were deleted) the writable active segment.
func (l *Log) reopenActive(sg *seg) error {
	l.active = nil
	s := sg.s.Load()
	oi, ti := sg.oi.Load(), sg.ti.Load()
	if !s.Writable() || !oi.Writable() || !ti.Writable() {
		// Reopen the files for writing.
		sg.s.Store(nil)
		sg.oi.Store(nil)
		sg.ti.Store(nil)
		if err := errors.Join(s.Close(), oi.Close(), ti.Close()); err != nil {
			return err
		}
		ns, err := segment.Open(l.fs, sg.path(segment.Suffix), sg.base, true, segment.Options{MaxSize: l.opts.SegmentBytes})
		if err != nil {
			return err
		}
		sg.s.Store(ns)
		noi, nti, err := sg.openIndexFiles(true)
		if err != nil {
			return err
		}
		sg.oi.Store(noi)
		sg.ti.Store(nti)
		s, oi = ns, noi
	}
	h, ok := lastBatch(s, oi)
	l.activeNext = sg.base
	if ok {
		l.activeNext = h.NextOffset()
	}
	if e, ok := oi.Last(); ok {
		sg.sinceIndex = s.Size() - e.Position
	} else {
		sg.sinceIndex = s.Size()
	}
	sg.created = l.opts.Now()
	sg.synced = false
	l.active = sg
	return l.fs.SyncDir(l.dir)
}

// lastBatchEnd returns the header of the segment's last batch, scanning
// headers from the last index entry, and the position where the scanned
// headers end: the segment's size when it ends exactly after a batch.
func lastBatchEnd(s *segment.Segment, oi *index.OffsetIndex) (batch.Header, int64, bool) {
	pos := int64(0)
	if e, ok := oi.Last(); ok {
		pos = e.Position
	}
	var last batch.Header
	found := false
	for size := s.Size(); pos < size; {
		h, err := s.Header(pos)
		if err != nil {
			break
		}
		last, found = h, true
		pos += int64(h.Size())
	}
	return last, pos, found
}
