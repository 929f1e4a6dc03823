package log

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
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
	work chan flushWork

	// syncfsMin is how many logs of one file system must be due together
	// for one syncfs(2) to replace their fsyncs (0 disables).
	syncfsMin int
	syncfsN   atomic.Int64
	holds     atomic.Int32 // Hold calls not yet released
	groupBusy atomic.Bool  // a syncfs group flush is running
	planBuf   []flushWork  // reused by plan (run's goroutine only)
	devMu     sync.Mutex
	devFiles  map[uint64]*os.File // a directory per device, for syncfs
	cache     *readCache          // nil: the page cache is left to the kernel
	done      chan struct{}
	wg        sync.WaitGroup
}

// FlusherOptions configure a Flusher.
type FlusherOptions struct {
	// Workers is the number of concurrent fsyncs. Default 64.
	Workers int
	// RetentionCheckInterval is how often retention and segment.ms rolls
	// are applied to every registered log. Default 5 minutes.
	RetentionCheckInterval time.Duration
	// SyncFSMin: when at least this many logs on one file system are due
	// at once, one syncfs(2) makes all of them durable instead of one
	// fsync each (the many-partition case). Default 8; negative disables.
	// Only logs on the real file system take part; if syncfs reports an
	// error, each log is synced file by file to find out which failed.
	SyncFSMin int
	// ReadCacheBytes bounds the page cache kept for data that readers
	// have already read and that is durable, across the flusher's logs:
	// past it, the oldest such data is dropped from the page cache
	// (posix_fadvise DONTNEED), so that appends reuse its memory instead
	// of taking pages the kernel has not touched for long (slow on
	// virtual machines that hand free memory back to the host, and under
	// cgroup memory limits). Data not yet read is never dropped. 0 (the
	// default) leaves the page cache to the kernel.
	ReadCacheBytes int64
}

// NewFlusher starts a flusher. Close it after every log using it is closed.
func NewFlusher(opts FlusherOptions) *Flusher {
	if opts.Workers <= 0 {
		opts.Workers = 64
	}
	if opts.RetentionCheckInterval <= 0 {
		opts.RetentionCheckInterval = DefaultRetentionCheck
	}
	if opts.SyncFSMin == 0 {
		opts.SyncFSMin = 8
	}
	f := &Flusher{
		workers:   opts.Workers,
		pending:   make(map[*Log]time.Time),
		logs:      make(map[*Log]struct{}),
		wake:      make(chan struct{}, 1),
		work:      make(chan flushWork, opts.Workers),
		syncfsMin: opts.SyncFSMin,
		devFiles:  map[uint64]*os.File{},
		cache:     newReadCache(opts.ReadCacheBytes),
		done:      make(chan struct{}),
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
	f.devMu.Lock()
	for _, d := range f.devFiles {
		d.Close()
	}
	f.devMu.Unlock()
	return nil
}

// maxHold bounds how long Hold defers a due flush.
const maxHold = 5 * time.Millisecond

// Hold asks the flusher to defer flushes that fall due until the matching
// Release (by at most a few milliseconds), so that a burst of appends to
// many logs, such as one Produce request for a thousand partitions, is
// made durable together (one syncfs) rather than log by log as each
// append lands. Holds nest and may come from several goroutines.
func (f *Flusher) Hold() { f.holds.Add(1) }

// Release ends a Hold.
func (f *Flusher) Release() {
	if f.holds.Add(-1) == 0 {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// syncfsSlack is how far ahead of their deadline logs are taken into a
// syncfs group.
const syncfsSlack = time.Millisecond

// flushWork is a worker's task: one log, or a group of logs on one device
// synced together with syncfs.
type flushWork struct {
	l     *Log
	group []*Log
	dev   uint64
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
	var due, soon []*Log
	for {
		now := time.Now()
		next := nextRetention
		due = due[:0]
		// While held, a log falls due maxHold after its deadline (or at
		// the Release, which wakes us).
		var hold time.Duration
		if f.holds.Load() > 0 {
			hold = maxHold
		}
		f.mu.Lock()
		soon = soon[:0]
		for l, at := range f.pending {
			at = at.Add(hold)
			if !at.After(now) {
				due = append(due, l)
				delete(f.pending, l)
			} else {
				if f.syncfsMin > 0 && l.dev != 0 && at.Sub(now) <= syncfsSlack+hold {
					soon = append(soon, l)
				}
				if at.Before(next) {
					next = at
				}
			}
		}
		if len(due) > 0 && f.syncfsMin > 0 && len(due)+len(soon) >= f.syncfsMin {
			if f.groupBusy.Load() {
				// A syncfs is running: these logs join the next one,
				// which starts when it returns (one syncfs at a time, so
				// each writes back what accumulated meanwhile).
				for _, l := range due {
					f.pending[l] = now
				}
				due = due[:0]
				next = now.Add(time.Hour)
			} else {
				// Flushing a log early is always allowed: take the logs
				// due within the next moment into one syncfs with these.
				for _, l := range soon {
					delete(f.pending, l)
				}
				due = append(due, soon...)
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
		for _, w := range f.plan(due) {
			select {
			case f.work <- w:
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
	for w := range f.work {
		if w.group != nil {
			f.flushGroup(w.dev, w.group)
			f.groupBusy.Store(false)
			select {
			case f.wake <- struct{}{}:
			default:
			}
		} else {
			w.l.flush()
		}
	}
}

// plan turns the due logs into work: logs sharing a device with at least
// syncfsMin others go as one syncfs group.
func (f *Flusher) plan(due []*Log) []flushWork {
	out := f.planBuf[:0]
	defer func() { f.planBuf = out[:0] }()
	if f.syncfsMin <= 0 || len(due) < f.syncfsMin {
		for _, l := range due {
			out = append(out, flushWork{l: l})
		}
		return out
	}
	byDev := map[uint64][]*Log{}
	for _, l := range due {
		if l.dev == 0 {
			out = append(out, flushWork{l: l})
			continue
		}
		byDev[l.dev] = append(byDev[l.dev], l)
	}
	for dev, ls := range byDev {
		if len(ls) < f.syncfsMin {
			for _, l := range ls {
				out = append(out, flushWork{l: l})
			}
			continue
		}
		out = append(out, flushWork{group: ls, dev: dev})
		f.groupBusy.Store(true)
	}
	return out
}

// flushGroup makes a group of logs durable with one syncfs(2): it writes
// back every dirty page of the file system (file data, mmap'd indexes,
// directory entries) and commits the journal. On an error it falls back to
// per-file syncs, whose errors say which log failed.
func (f *Flusher) flushGroup(dev uint64, group []*Log) {
	jobs := make([]flushJob, 0, len(group))
	for _, l := range group {
		if j, ok := l.flushBegin(); ok {
			jobs = append(jobs, j)
		}
	}
	if len(jobs) == 0 {
		return
	}
	err := f.syncfs(dev, jobs[0].l.dir)
	for i := range jobs {
		if err != nil {
			jobs[i].finish(jobs[i].syncFiles())
		} else {
			jobs[i].finish(nil)
		}
	}
}

// syncfs syncs the file system holding dir.
func (f *Flusher) syncfs(dev uint64, dir string) error {
	f.devMu.Lock()
	d := f.devFiles[dev]
	if d == nil {
		var err error
		if d, err = os.Open(dir); err != nil {
			f.devMu.Unlock()
			return err
		}
		f.devFiles[dev] = d
	}
	f.devMu.Unlock()
	f.syncfsN.Add(1)
	for {
		err := unix.Syncfs(int(d.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}

// SyncFSCalls returns how many syncfs(2) group commits the flusher made.
func (f *Flusher) SyncFSCalls() int64 { return f.syncfsN.Load() }

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
		l.clock = l.dirtyAt
		l.scheduleFlushLocked(l.firstFlushDelay(l.dirtyAt))
	} else if l.pendingBytes >= l.opts.FlushMaxBytes && !l.urgent && l.opts.FlushPolicy == FlushGroup {
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
// firstFlushDelay is how long new unsynced data waits: with group commit,
// fsyncs of a log start at most every FlushMaxDelay, so data arriving when
// the last fsync ended longer ago than that is synced at once (no waiting
// on an idle log), and otherwise when the delay since that fsync is over.
func (l *Log) firstFlushDelay(now time.Time) time.Duration {
	if l.opts.FlushPolicy != FlushGroup {
		return l.flushDelay()
	}
	return max(0, l.lastFlush.Add(l.opts.FlushMaxDelay).Sub(now))
}

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

// flushJob is one flush of one log: what was unsynced when it started.
type flushJob struct {
	l        *Log
	snap     int64 // log end offset covered
	segs     []*seg
	dirDirty bool
	sealed   bool
	// dbase and dpos: where the data covered by snap ends.
	dbase, dpos int64
}

// flush fsyncs everything appended so far: the dirty segments (sealed ones
// with their indexes) and, after a segment was created, the directory.
// Then it advances the durable offset and releases waiters.
func (l *Log) flush() {
	j, ok := l.flushBegin()
	if !ok {
		return
	}
	j.finish(j.syncFiles())
}

// flushBegin snapshots the unsynced state, or reports that there is
// nothing to do (or a flush is already running).
func (l *Log) flushBegin() (flushJob, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.flushing || l.werr != nil || l.segs.Load() == nil {
		return flushJob{}, false
	}
	if len(l.dirtySegs) == 0 && !l.dirDirty {
		return flushJob{}, false
	}
	l.flushing = true
	j := flushJob{l: l, snap: l.next.Load(), segs: l.dirtySegs, dirDirty: l.dirDirty,
		dbase: l.active.base, dpos: l.active.s.Load().Size()}
	l.dirtySegs = l.spareSegs[:0]
	l.spareSegs = nil // a flush starting before our recycle must not get the same array
	l.dirDirty = false
	l.dirtyAt = time.Time{}
	l.pendingBytes = 0
	l.urgent = false
	for _, sg := range j.segs {
		sg.dirty = false
		sg.flushSealed = !sg.s.Load().Writable()
		j.sealed = j.sealed || sg.flushSealed
	}
	// Hold references so that retention cannot close the files under us;
	// a segment already released was deleted and needs no sync.
	n := 0
	for _, sg := range j.segs {
		if sg.acquire() {
			j.segs[n] = sg
			n++
		}
	}
	j.segs = j.segs[:n]
	return j, true
}

// syncFiles fsyncs the job's files one by one.
func (j *flushJob) syncFiles() error {
	for _, sg := range j.segs {
		if err := sg.s.Load().Sync(); err != nil {
			return err
		}
		if sg.flushSealed {
			if err := errors.Join(sg.oi.Load().Sync(), sg.ti.Load().Sync()); err != nil {
				return err
			}
		}
	}
	if j.dirDirty {
		return j.l.fs.SyncDir(j.l.dir)
	}
	return nil
}

// finish publishes the flush's outcome: the durable offset and waiters, the
// recovery point, or the failure.
func (j *flushJob) finish(err error) {
	l, segs := j.l, j.segs
	l.mu.Lock()
	l.flushing = false
	l.lastFlush = time.Now()
	var cp bool
	if err != nil {
		l.failLocked(err)
	} else if j.sealed {
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
			cp = true
		}
	}
	if err == nil && !l.dirtyAt.IsZero() {
		// Appends arrived during the fsync: schedule their flush from
		// when they arrived.
		l.fl.schedule(l, l.dirtyAt.Add(l.firstFlushDelay(l.dirtyAt)))
	}
	if err == nil {
		l.setDurablePosLocked(j.dbase, j.dpos, false)
	}
	l.mu.Unlock()
	if err == nil {
		l.advanceDurable(j.snap)
	}
	if cp {
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
	for _, sg := range segs {
		sg.release()
	}
	l.mu.Lock()
	clear(segs)
	l.spareSegs = segs[:0]
	l.mu.Unlock()
	if err == nil && l.trackReads {
		l.fl.cache.flushed(l)
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
	ch := l.durableCh.Swap(nil)
	l.wmu.Unlock()
	if ch != nil {
		close(*ch)
	}
	for _, w := range fire {
		w.fn(nil)
	}
	if h := l.durableHook; h != nil {
		h(off)
	}
}

// durableChan returns the channel closed at the next durable advance (or
// failure), creating it on demand: a log nobody waits on with WaitDurable
// allocates no channel per fsync.
func (l *Log) durableChan() chan struct{} {
	for {
		if p := l.durableCh.Load(); p != nil {
			return *p
		}
		ch := make(chan struct{})
		if l.durableCh.CompareAndSwap(nil, &ch) {
			return ch
		}
	}
}

// failWaiters fails every waiter with err (a failed or closed log).
func (l *Log) failWaiters(err error) {
	l.wmu.Lock()
	if l.failErr == nil {
		l.failErr = err
	}
	fire := l.waiters[l.whead:]
	l.waiters, l.whead = nil, 0
	ch := l.durableCh.Swap(nil)
	l.wmu.Unlock()
	if ch != nil {
		close(*ch)
	}
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
		ch := l.durableChan()
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
		case <-ch:
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
		ch := l.durableChan()
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
			<-ch // another flush is running; wait for it
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
