package log

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Flusher runs group commit for any number of logs: one goroutine keeps the
// deadlines of logs with unsynced data, and a pool of workers fsyncs the due
// logs concurrently, so a thousand partitions share one timer and their
// fsyncs overlap instead of queueing. It also applies retention and
// time-based rolls every RetentionCheckInterval.
type Flusher struct {
	workers int

	mu      sync.Mutex
	pending map[*Log]time.Time // log -> flush deadline
	logs    map[*Log]struct{}  // every registered log
	closed  bool

	wake chan struct{}
	work chan *Log
	done chan struct{}
	wg   sync.WaitGroup
}

// FlusherOptions configure a Flusher.
type FlusherOptions struct {
	// Workers is the number of concurrent fsyncs. Default 64.
	Workers int
	// RetentionCheckInterval is how often retention and segment.ms rolls
	// are applied to every registered log. Default 5 minutes.
	RetentionCheckInterval time.Duration
}

// NewFlusher starts a flusher. Close it after every log using it is closed.
func NewFlusher(opts FlusherOptions) *Flusher {
	if opts.Workers <= 0 {
		opts.Workers = 64
	}
	if opts.RetentionCheckInterval <= 0 {
		opts.RetentionCheckInterval = DefaultRetentionCheck
	}
	f := &Flusher{
		workers: opts.Workers,
		pending: make(map[*Log]time.Time),
		logs:    make(map[*Log]struct{}),
		wake:    make(chan struct{}, 1),
		work:    make(chan *Log, opts.Workers),
		done:    make(chan struct{}),
	}
	f.wg.Add(1 + opts.Workers)
	go f.run(opts.RetentionCheckInterval)
	for i := 0; i < opts.Workers; i++ {
		go f.worker()
	}
	return f
}

// Close stops the flusher's goroutines. Logs still registered get no more
// background flushes.
func (f *Flusher) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.mu.Unlock()
	close(f.done)
	f.wg.Wait()
	return nil
}

func (f *Flusher) register(l *Log) {
	f.mu.Lock()
	f.logs[l] = struct{}{}
	f.mu.Unlock()
}

func (f *Flusher) unregister(l *Log) {
	f.mu.Lock()
	delete(f.logs, l)
	delete(f.pending, l)
	f.mu.Unlock()
}

// schedule asks for l to be flushed no later than at.
func (f *Flusher) schedule(l *Log, at time.Time) {
	f.mu.Lock()
	cur, ok := f.pending[l]
	if !ok || at.Before(cur) {
		f.pending[l] = at
	}
	f.mu.Unlock()
	// Wake the loop if this may be the earliest deadline; a spurious
	// wake costs one scan.
	if !ok || at.Before(cur) {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

func (f *Flusher) run(retentionEvery time.Duration) {
	defer f.wg.Done()
	defer close(f.work)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	nextRetention := time.Now().Add(retentionEvery)
	var due []*Log
	for {
		now := time.Now()
		next := nextRetention
		due = due[:0]
		f.mu.Lock()
		for l, at := range f.pending {
			if !at.After(now) {
				due = append(due, l)
				delete(f.pending, l)
			} else if at.Before(next) {
				next = at
			}
		}
		var housekeep []*Log
		if !now.Before(nextRetention) {
			for l := range f.logs {
				housekeep = append(housekeep, l)
			}
			nextRetention = now.Add(retentionEvery)
		}
		f.mu.Unlock()
		for _, l := range due {
			select {
			case f.work <- l:
			case <-f.done:
				return
			}
		}
		if housekeep != nil {
			go func() {
				for _, l := range housekeep {
					if err := l.ApplyRetention(); err != nil && !errors.Is(err, ErrClosed) {
						l.opts.Logger.Warn("log: retention", "dir", l.dir, "err", err)
					}
				}
			}()
		}
		if len(due) > 0 {
			continue // rescan: more may be due already
		}
		timer.Reset(time.Until(next))
		select {
		case <-timer.C:
		case <-f.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-f.done:
			return
		}
	}
}

func (f *Flusher) worker() {
	defer f.wg.Done()
	for l := range f.work {
		l.flush()
	}
}

// markDirtyLocked records n unsynced bytes in sg and schedules the group
// commit.
func (l *Log) markDirtyLocked(sg *seg, n int64) {
	if !sg.dirty {
		sg.dirty = true
		l.dirtySegs = append(l.dirtySegs, sg)
	}
	l.pendingBytes += n
	if l.dirtyAt.IsZero() {
		l.dirtyAt = l.opts.Now()
		l.scheduleFlushLocked(l.flushDelay())
	} else if l.pendingBytes >= l.opts.FlushMaxBytes && !l.urgent {
		l.urgent = true
		l.scheduleFlushLocked(0)
	}
}

func (l *Log) flushDelay() time.Duration {
	if l.opts.FlushPolicy == FlushInterval {
		return l.opts.FlushInterval
	}
	return l.opts.FlushMaxDelay
}

// scheduleFlushLocked asks the flusher to flush within d. While a flush is
// running, the flush reschedules itself when it finishes.
func (l *Log) scheduleFlushLocked(d time.Duration) {
	if l.flushing || l.opts.FlushPolicy == FlushAlways {
		return
	}
	l.fl.schedule(l, time.Now().Add(d))
}

func (l *Log) removeDirtyLocked(sg *seg) {
	for i, o := range l.dirtySegs {
		if o == sg {
			l.dirtySegs = append(l.dirtySegs[:i], l.dirtySegs[i+1:]...)
			sg.dirty = false
			return
		}
	}
}

// flush fsyncs everything appended so far: the dirty segments (sealed ones
// with their indexes) and, after a segment was created, the directory.
// Then it advances the durable offset and releases waiters.
func (l *Log) flush() {
	l.mu.Lock()
	if l.flushing || l.werr != nil || l.segs.Load() == nil {
		l.mu.Unlock()
		return
	}
	if len(l.dirtySegs) == 0 && !l.dirDirty {
		l.mu.Unlock()
		return
	}
	l.flushing = true
	snap := l.next.Load()
	segs := l.dirtySegs
	l.dirtySegs = l.spareSegs[:0]
	l.spareSegs = nil // a flush starting before our deferred recycle must not get the same array
	dirDirty := l.dirDirty
	l.dirDirty = false
	l.dirtyAt = time.Time{}
	l.pendingBytes = 0
	l.urgent = false
	sealed := false
	for _, sg := range segs {
		sg.dirty = false
		sg.flushSealed = !sg.s.Load().Writable()
		sealed = sealed || sg.flushSealed
	}
	// Hold references so that retention cannot close the files under us;
	// a segment already released was deleted and needs no sync.
	n := 0
	for _, sg := range segs {
		if sg.acquire() {
			segs[n] = sg
			n++
		}
	}
	segs = segs[:n]
	l.mu.Unlock()

	var err error
	for _, sg := range segs {
		s := sg.s.Load()
		if e := s.Sync(); e != nil {
			err = e
			break
		}
		if sg.flushSealed {
			if e := errors.Join(sg.oi.Load().Sync(), sg.ti.Load().Sync()); e != nil {
				err = e
				break
			}
		}
	}
	if err == nil && dirDirty {
		err = l.fs.SyncDir(l.dir)
	}

	l.mu.Lock()
	l.flushing = false
	var cp *checkpoint
	if err != nil {
		l.failLocked(err)
	} else if sealed {
		for _, sg := range segs {
			if sg.flushSealed {
				sg.synced = true
			}
		}
		rp := l.active.base
		for _, sg := range l.segments() {
			if !sg.synced {
				rp = sg.base
				break
			}
		}
		if rp > l.recoveryPoint && l.markedUnclean {
			l.recoveryPoint = rp
			cp = &checkpoint{clean: false, recoveryPoint: rp, logStartOffset: l.start.Load(), bootID: l.opts.BootID()}
		}
	}
	defer func() {
		for _, sg := range segs {
			sg.release()
		}
		l.mu.Lock()
		clear(segs)
		l.spareSegs = segs[:0]
		l.mu.Unlock()
	}()
	if err == nil && !l.dirtyAt.IsZero() {
		// Appends arrived during the fsync: schedule their flush from
		// when they arrived.
		l.fl.schedule(l, l.dirtyAt.Add(l.flushDelay()))
	}
	l.mu.Unlock()
	if err == nil {
		l.advanceDurable(snap)
	}
	if cp != nil {
		// Rebuilt and written under mu, as every other checkpoint writer
		// does: concurrent writes would share the temporary file (one
		// rename then fails), and a checkpoint built before a newer one
		// was written (DeleteRecordsBefore, Close) must not replace it.
		l.mu.Lock()
		if l.werr == nil && !l.closed {
			c := checkpoint{clean: false, recoveryPoint: l.recoveryPoint, logStartOffset: l.start.Load(), bootID: l.opts.BootID()}
			if e := writeCheckpoint(l.fs, l.dir, c); e != nil {
				l.failLocked(e)
			}
		}
		l.mu.Unlock()
	}
}

// advanceDurable publishes a new durable offset and releases the waiters it
// covers.
func (l *Log) advanceDurable(off int64) {
	for {
		cur := l.durable.Load()
		if off <= cur {
			return
		}
		if l.durable.CompareAndSwap(cur, off) {
			break
		}
	}
	l.wmu.Lock()
	var fire []waiter
	for l.whead < len(l.waiters) && l.waiters[l.whead].offset < off {
		fire = append(fire, l.waiters[l.whead])
		l.waiters[l.whead] = waiter{}
		l.whead++
	}
	if l.whead == len(l.waiters) {
		l.waiters = l.waiters[:0]
		l.whead = 0
	}
	ch := l.durableCh.Swap(newCh())
	l.wmu.Unlock()
	close(*ch)
	for _, w := range fire {
		w.fn(nil)
	}
	if h := l.opts.DurableHook; h != nil {
		h(off)
	}
}

func newCh() *chan struct{} {
	ch := make(chan struct{})
	return &ch
}

// failWaiters fails every waiter with err (a failed or closed log).
func (l *Log) failWaiters(err error) {
	l.wmu.Lock()
	if l.failErr == nil {
		l.failErr = err
	}
	fire := l.waiters[l.whead:]
	l.waiters, l.whead = nil, 0
	ch := l.durableCh.Swap(newCh())
	l.wmu.Unlock()
	close(*ch)
	for _, w := range fire {
		w.fn(err)
	}
}

// OnDurable calls fn once every offset up to and including offset is
// durable, or with an error if the log fails or closes first. fn may run on
// the caller's goroutine (when already durable) or on a flusher goroutine; it
// must not block and must not call back into the log's writer methods.
func (l *Log) OnDurable(offset int64, fn func(error)) {
	if l.durable.Load() > offset {
		fn(nil)
		return
	}
	l.wmu.Lock()
	if err := l.failErr; err != nil {
		l.wmu.Unlock()
		fn(err)
		return
	}
	if l.durable.Load() > offset {
		l.wmu.Unlock()
		fn(nil)
		return
	}
	l.waiters = append(l.waiters, waiter{offset, fn})
	l.wmu.Unlock()
}

// WaitDurable blocks until every offset up to and including offset is
// durable, the log fails or closes, or ctx is done.
func (l *Log) WaitDurable(ctx context.Context, offset int64) error {
	for {
		ch := l.durableCh.Load()
		if l.durable.Load() > offset {
			return nil
		}
		l.wmu.Lock()
		err := l.failErr
		l.wmu.Unlock()
		if err != nil {
			return err
		}
		select {
		case <-*ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// syncTo flushes now (not waiting for the group-commit delay) and waits
// until offset is durable.
func (l *Log) syncTo(offset int64) error {
	for {
		if l.durable.Load() > offset {
			return nil
		}
		ch := l.durableCh.Load()
		l.flush()
		if l.durable.Load() > offset {
			return nil
		}
		l.mu.Lock()
		err, flushing := l.werr, l.flushing
		dirty := len(l.dirtySegs) > 0 || l.dirDirty
		closed := l.segs.Load() == nil
		l.mu.Unlock()
		switch {
		case err != nil:
			return err
		case closed:
			return ErrClosed
		case flushing:
			<-*ch // another flush is running; wait for it
		case !dirty && l.durable.Load() <= offset:
			// Nothing left to sync, yet offset is not durable: it was
			// truncated away (or never appended).
			if l.durable.Load() > offset {
				return nil
			}
			return ErrTruncated
		}
	}
}

// Sync makes everything appended so far durable before returning.
func (l *Log) Sync() error {
	end := l.next.Load()
	if end == 0 || l.durable.Load() >= end {
		l.mu.Lock()
		err := l.werr
		dirty := len(l.dirtySegs) > 0 || l.dirDirty
		l.mu.Unlock()
		if err != nil || !dirty {
			return err
		}
		l.flush()
		l.mu.Lock()
		err = l.werr
		l.mu.Unlock()
		return err
	}
	return l.syncTo(end - 1)
}

func timeAfter(ms int) <-chan time.Time { return time.After(time.Duration(ms) * time.Millisecond) }
