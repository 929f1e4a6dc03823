package log

import (
	"errors"
	"fmt"
	"time"

	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/segment"
)

// ApplyRetention deletes whole segments (never the active one) from the
// oldest on, while the log is larger than RetentionBytes or a segment's
// newest timestamp is older than RetentionMs, and rolls the active segment
// when it is older than SegmentMs. The shared Flusher calls it every
// RetentionCheckInterval; embedders may call it at any time.
func (l *Log) ApplyRetention() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.werr != nil {
		return l.werr
	}
	now := l.opts.Now()
	l.clock = now
	segs := l.segments()
	n := 0 // segments to delete from the front
	if l.opts.RetentionBytes >= 0 {
		// As Kafka: delete the oldest segment while the log stays at or
		// above the limit without it.
		var total int64
		for _, sg := range segs {
			total += sg.size.Load()
		}
		for n < len(segs)-1 && total-segs[n].size.Load() >= l.opts.RetentionBytes {
			total -= segs[n].size.Load()
			n++
		}
	}
	if l.opts.RetentionMs >= 0 {
		limit := now.Add(-l.opts.RetentionMs).UnixMilli()
		for n < len(segs)-1 {
			ts, err := segs[n].maxTimestamp()
			if err != nil {
				return err
			}
			if ts < 0 || ts >= limit {
				break
			}
			n++
		}
	}
	if n > 0 {
		if err := l.deleteFrontLocked(n); err != nil {
			return err
		}
	}
	if l.opts.SegmentMs > 0 && l.active.s.Load().Size() > 0 && now.Sub(l.active.created) > l.opts.SegmentMs {
		if err := l.appendCheckLocked(); err != nil {
			return err
		}
		return l.rollLocked(l.next.Load(), 0)
	}
	return nil
}

// deleteFrontLocked removes the first n segments (never the active one) and
// moves the log start offset to the first remaining segment if needed.
func (l *Log) deleteFrontLocked(n int) error {
	segs := l.segments()
	if n >= len(segs) {
		n = len(segs) - 1
	}
	if n <= 0 {
		return nil
	}
	keep := make([]*seg, len(segs)-n)
	copy(keep, segs[n:])
	if newStart := keep[0].base; newStart > l.start.Load() {
		l.start.Store(newStart)
	}
	l.publish(keep)
	for _, sg := range segs[:n] {
		l.opts.Logger.Info("log: deleting segment", "dir", l.dir, "base", sg.base, "bytes", sg.size.Load())
		l.removeDirtyLocked(sg)
		sg.remove()
	}
	return nil
}

// DeleteRecordsBefore moves the log start offset to offset (Kafka's
// DeleteRecords): records below it can no longer be read, and segments
// wholly below it are deleted. The new start offset is durable when it
// returns. offset must not exceed the log end offset.
func (l *Log) DeleteRecordsBefore(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.appendCheckLocked(); err != nil {
		return err
	}
	if offset > l.next.Load() {
		return fmt.Errorf("%w: delete before %d, log end is %d", ErrOffsetOutOfRange, offset, l.next.Load())
	}
	if offset <= l.start.Load() {
		return nil
	}
	cp := checkpoint{clean: false, recoveryPoint: l.recoveryPoint, logStartOffset: offset, bootID: l.opts.BootID()}
	if err := writeCheckpoint(l.fs, l.dir, cp); err != nil {
		l.failLocked(err)
		return l.werr
	}
	l.start.Store(offset)
	segs := l.segments()
	n := 0
	for n < len(segs)-1 && segs[n+1].base <= offset {
		n++
	}
	return l.deleteFrontLocked(n)
}

// TruncateTo removes every batch whose last offset is >= offset, so that
// afterwards EndOffset() <= offset (a batch holding offset is removed whole;
// replication truncates at batch boundaries). It is durable when it
// returns. Durability waiters for removed offsets get ErrTruncated.
// Truncating below the log start offset empties the log and restarts it at
// offset.
func (l *Log) TruncateTo(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.appendCheckLocked(); err != nil {
		return err
	}
	if offset >= l.next.Load() {
		return nil
	}
	// Wait out a running flush: it may hold the segments we change.
	for l.flushing {
		l.mu.Unlock()
		l.waitFlushDone()
		l.mu.Lock()
	}
	segs := l.segments()
	if offset <= segs[0].base || offset <= l.start.Load() {
		return l.resetLocked(max(offset, 0))
	}
	// The segment holding offset: the last with base <= offset.
	i := len(segs) - 1
	for i > 0 && segs[i].base > offset {
		i--
	}
	sg := segs[i]
	s, err := sg.file()
	if err != nil {
		return err
	}
	oi, err := sg.offsetIndex()
	if err != nil {
		return err
	}
	e := oi.Lookup(offset)
	if e.Position >= s.Size() {
		e.Position = 0
	}
	pos, h, found, err := s.Find(e.Position, offset)
	if err != nil {
		return err
	}
	if found && h.BaseOffset <= l.start.Load() {
		// The batch holding offset also holds the log start offset:
		// nothing readable is left, and the end offset must not fall
		// below the start offset. Restart the log empty at its start.
		return l.resetLocked(l.start.Load())
	}
	newNext := l.next.Load()
	if found {
		newNext = h.BaseOffset
	} else if i+1 < len(segs) {
		newNext = segs[i+1].base
	}
	if found && pos == 0 && i > 0 {
		// The whole segment goes: truncate to the end of the previous one.
		i--
		sg = segs[i]
		if s, err = sg.file(); err != nil {
			return err
		}
		pos = s.Size()
	}
	// Delete every later segment (below, once unpublished).
	for _, later := range segs[i+1:] {
		l.removeDirtyLocked(later)
	}
	if sg != l.active {
		// A sealed segment becomes active again: replace its seg with a
		// writable one over the same files; readers of the old one keep
		// their references until released.
		nsg, err := l.reactivateLocked(sg)
		if err != nil {
			l.failLocked(err)
			return l.werr
		}
		l.removeDirtyLocked(sg)
		old := sg
		sg = nsg
		keep := append(append([]*seg{}, segs[:i]...), sg)
		l.active = sg
		l.publish(keep)
		old.release()
	} else {
		l.publish(append([]*seg{}, segs[:i+1]...))
	}
	for _, later := range segs[i+1:] {
		later.remove()
	}
	s = sg.s.Load()
	oi, ti := sg.oi.Load(), sg.ti.Load()
	if err := s.TruncateTo(pos); err != nil {
		l.failLocked(err)
		return l.werr
	}
	oi.TruncateToPosition(pos)
	ti.TruncateTo(newNext)
	// Bytes appended from here on have not been read.
	sg.readEnd.Store(min(sg.readEnd.Load(), pos))
	if e, ok := oi.Last(); ok {
		sg.sinceIndex = s.Size() - e.Position
	} else {
		sg.sinceIndex = s.Size()
	}
	// Recompute the segment's max timestamp from the batches left.
	sg.maxTs.Store(-1)
	sg.maxTsOff = -1
	{
		// Without a time index entry left, scan the whole segment.
		p := int64(0)
		if e, ok := ti.Last(); ok {
			sg.maxTs.Store(e.Timestamp)
			sg.maxTsOff = e.Offset
			if oe := oi.Lookup(e.Offset); oe.Position < s.Size() {
				p = oe.Position
			}
		}
		for p < s.Size() {
			h, err := s.Header(p)
			if err != nil {
				break
			}
			if h.MaxTimestamp > sg.maxTs.Load() {
				sg.maxTs.Store(h.MaxTimestamp)
				sg.maxTsOff = h.LastOffset()
			}
			p += int64(h.Size())
		}
	}
	sg.size.Store(s.Size())
	l.next.Store(newNext)
	if l.durable.Load() >= newNext {
		l.setDurablePosLocked(sg.base, s.Size(), true)
		l.durable.Store(newNext)
	}
	// Make the truncation durable now.
	if err := errors.Join(s.Sync(), oi.Sync(), ti.Sync(), l.fs.SyncDir(l.dir)); err != nil {
		l.failLocked(err)
		return l.werr
	}
	l.failWaitersFrom(newNext)
	l.opts.Logger.Info("log: truncated", "dir", l.dir, "offset", offset, "end_offset", newNext)
	return nil
}

// waitFlushDone waits for a running flush to finish.
func (l *Log) waitFlushDone() {
	ch := l.durableChan()
	l.mu.Lock()
	flushing := l.flushing
	l.mu.Unlock()
	if flushing {
		select {
		case <-ch:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// reactivateLocked opens a sealed segment's files for writing as a new seg.
func (l *Log) reactivateLocked(old *seg) (*seg, error) {
	sg := &seg{l: l, base: old.base, created: l.opts.Now()}
	sg.refs.Store(1)
	sg.maxTs.Store(-1)
	sg.maxTsOff = -1
	sg.maxTsKnown.Store(true)
	s, err := segment.Open(l.fs, sg.path(segment.Suffix), sg.base, true, segment.Options{MaxSize: l.opts.SegmentBytes})
	if err != nil {
		return nil, err
	}
	sg.s.Store(s)
	oi, ti, err := sg.openIndexFiles(true)
	if err != nil {
		s.Close()
		return nil, err
	}
	sg.oi.Store(oi)
	sg.ti.Store(ti)
	return sg, nil
}

// resetLocked deletes every segment and restarts the log empty at offset.
func (l *Log) resetLocked(offset int64) error {
	segs := l.segments()
	for _, sg := range segs {
		l.removeDirtyLocked(sg)
	}
	l.publish(nil)
	for _, sg := range segs {
		sg.remove()
	}
	sg, err := l.createSegLocked(offset, 0)
	if err != nil {
		l.failLocked(err)
		return l.werr
	}
	l.active = sg
	l.publish([]*seg{sg})
	l.next.Store(offset)
	l.start.Store(offset)
	l.setDurablePosLocked(offset, 0, true)
	l.durable.Store(offset)
	cp := checkpoint{clean: false, recoveryPoint: offset, logStartOffset: offset, bootID: l.opts.BootID()}
	l.recoveryPoint = offset
	if err := errors.Join(l.fs.SyncDir(l.dir), writeCheckpoint(l.fs, l.dir, cp)); err != nil {
		l.failLocked(err)
		return l.werr
	}
	l.failWaitersFrom(offset)
	return nil
}

// failWaitersFrom fails waiters for offsets >= off with ErrTruncated.
func (l *Log) failWaitersFrom(off int64) {
	l.wmu.Lock()
	var fire []waiter
	keep := l.waiters[:l.whead]
	for _, w := range l.waiters[l.whead:] {
		if w.offset >= off {
			fire = append(fire, w)
		} else {
			keep = append(keep, w)
		}
	}
	l.waiters = keep
	l.wmu.Unlock()
	for _, w := range fire {
		w.fn(ErrTruncated)
	}
}

// OffsetForTimestamp returns the offset and timestamp of the first record
// whose timestamp is >= ts (Kafka's ListOffsets by timestamp), or
// found=false if there is none.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, found bool, err error) {
	segs := l.segments()
	start := l.start.Load()
	for _, sg := range segs {
		if !sg.acquire() {
			continue
		}
		offset, timestamp, found, err = sg.offsetForTimestamp(ts, start)
		sg.release()
		if err != nil || found {
			return
		}
	}
	return 0, 0, false, nil
}

func (sg *seg) offsetForTimestamp(ts, start int64) (int64, int64, bool, error) {
	mts, err := sg.maxTimestamp()
	if err != nil {
		return 0, 0, false, err
	}
	if mts < ts && sg.l.active != sg {
		return 0, 0, false, nil
	}
	s, err := sg.file()
	if err != nil {
		return 0, 0, false, err
	}
	oi, err := sg.offsetIndex()
	if err != nil {
		return 0, 0, false, err
	}
	ti, err := sg.timeIndex()
	if err != nil {
		return 0, 0, false, err
	}
	pos := int64(0)
	if e, ok := ti.LookupBefore(ts); ok {
		if oe := oi.Lookup(e.Offset); oe.Position < s.Size() {
			pos = oe.Position
		}
	}
	for {
		p, h, ok, err := s.FindTime(pos, ts)
		if err != nil || !ok {
			return 0, 0, false, err
		}
		if h.LastOffset() >= start {
			off, rts, ok, err := firstRecordAtOrAfter(s, p, &h, ts, start)
			if err != nil || ok {
				return off, rts, ok, err
			}
		}
		pos = p + int64(h.Size())
	}
}

// firstRecordAtOrAfter returns the first record of the batch at pos with
// timestamp >= ts and offset >= start.
func firstRecordAtOrAfter(s *segment.Segment, pos int64, h *batch.Header, ts, start int64) (int64, int64, bool, error) {
	buf := make([]byte, h.Size())
	if _, err := s.ReadAt(buf, pos); err != nil {
		return 0, 0, false, err
	}
	var it batch.Iter
	if err := it.Reset(buf); err != nil {
		return 0, 0, false, err
	}
	var r batch.Record
	for it.Next(&r) {
		if r.Timestamp >= ts && r.Offset >= start {
			return r.Offset, r.Timestamp, true, nil
		}
	}
	return 0, 0, false, it.Err()
}

// MaxTimestamp returns the largest record timestamp in the log and the
// offset of the first record carrying it (Kafka's ListOffsets
// MAX_TIMESTAMP), or found=false for an empty log or one without
// timestamps.
func (l *Log) MaxTimestamp() (ts, offset int64, found bool, err error) {
	segs := l.segments()
	start := l.start.Load()
	best := -1
	bestTs := int64(-1)
	for i, sg := range segs {
		if !sg.acquire() {
			continue
		}
		mts, err := sg.maxTimestamp()
		sg.release()
		if err != nil {
			return 0, 0, false, err
		}
		if mts > bestTs {
			best, bestTs = i, mts
		}
	}
	if best < 0 {
		return 0, 0, false, nil
	}
	for _, sg := range segs[best:] {
		if !sg.acquire() {
			continue
		}
		off, rts, ok, err := sg.offsetForTimestamp(bestTs, start)
		sg.release()
		if err != nil {
			return 0, 0, false, err
		}
		if ok && rts == bestTs {
			return bestTs, off, true, nil
		}
	}
	return 0, 0, false, nil
}
