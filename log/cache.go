package log

import (
	"sort"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// readCache bounds the page cache held by log data that readers have
// already read: past FlusherOptions.ReadCacheBytes of it (counted across
// the flusher's logs, oldest first), pages are dropped with
// posix_fadvise(POSIX_FADV_DONTNEED).
//
// Why: an append needs a page-cache page for every 4 KiB it writes. When
// nothing is ever dropped, the kernel hands out pages that have not been
// used for a long time, and on virtual machines that return free memory to
// the host (free page reporting, ballooning) or under a cgroup memory
// limit, such a page costs far more than the write itself: measured on a
// 2-core Firecracker VM, about 2.7 CPU-seconds per GB for the first touch
// of memory the host took back, against 0.4 for memory freed a moment ago.
// Dropping what consumers have read keeps the log's memory in circulation:
// the next append reuses the pages just freed. Data nobody has read yet
// stays cached (a consumer catching up reads it from memory), and so does
// the newest ReadCacheBytes of read data (a second, slower consumer). Only
// durable data is dropped, and only clean pages are: the drop never costs a
// write or loses one.
//
// Chunks are queued in the order they became read and durable, which for
// an append-only log is the order of their age, so the queue is a FIFO and
// the drop costs one fadvise per chunk. Chunk ends are aligned to
// cacheAlign, so that no large folio straddles two chunks (fadvise leaves a
// folio that is only partly inside its range).
type readCache struct {
	budget   int64
	maxChunk int64 // the largest chunk queued: budget/16, aligned

	mu    sync.Mutex
	q     []cacheChunk // queued chunks, oldest first, from head
	head  int
	total int64 // bytes queued from head

	dropped atomic.Int64 // bytes advised away, for ReadCacheDropped
}

// cacheChunk is a range of a segment file whose pages may be dropped.
type cacheChunk struct {
	sg       *seg
	from, to int64
}

const (
	// cacheAlign is the alignment of chunk boundaries: the largest folio
	// the page cache uses (a PMD, 2 MiB on x86-64).
	cacheAlign = 2 << 20
	// cacheMinChunk is the least a chunk of a segment still being read
	// and written holds, so that the drop costs one system call per
	// several MiB.
	cacheMinChunk = 2 * cacheAlign
)

func newReadCache(budget int64) *readCache {
	if budget <= 0 {
		return nil
	}
	return &readCache{budget: budget, maxChunk: max(cacheMinChunk, budget/16&^(cacheAlign-1))}
}

// noteRead records that a reader was given the segment's bytes up to end.
func (sg *seg) noteRead(end int64) {
	for {
		cur := sg.readEnd.Load()
		if end <= cur || sg.readEnd.CompareAndSwap(cur, end) {
			return
		}
	}
}

// flushed queues the log's data that is now both durable and read, and
// drops the oldest queued chunks beyond the budget. It runs after each
// successful flush of the log.
func (c *readCache) flushed(l *Log) {
	segs := l.segments()
	if len(segs) == 0 {
		return
	}
	dbase, dpos := l.durablePos()
	var dropBuf [4]cacheChunk
	drop := dropBuf[:0]

	c.mu.Lock()
	// The first segment not yet wholly queued.
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base >= l.cacheBase })
	// A truncation may have replaced segments below cacheBase by new
	// ones, not yet queued.
	for i > 0 && segs[i-1].cacheQueued < segs[i-1].size.Load() {
		i--
	}
	for ; i < len(segs) && segs[i].base <= dbase; i++ {
		sg := segs[i]
		// Segments before the one holding the durable end are sealed
		// and durable to their end.
		durable := dpos
		if sg.base < dbase {
			durable = sg.size.Load()
		}
		read := min(sg.readEnd.Load(), durable)
		done := sg.base < dbase && read >= durable // wholly read
		to := read &^ (cacheAlign - 1)
		if done {
			to = (durable + cacheAlign - 1) &^ (cacheAlign - 1)
		}
		if to-sg.cacheQueued >= cacheMinChunk || (done && to > sg.cacheQueued) {
			// In pieces of at most a sixteenth of the budget, so that
			// what stays cached is close to the budget.
			for from := sg.cacheQueued; from < to; {
				end := min(to, from+c.maxChunk)
				c.q = append(c.q, cacheChunk{sg: sg, from: from, to: end})
				from = end
			}
			c.total += to - sg.cacheQueued
			sg.cacheQueued = to
		}
		if !done {
			break // readers have not finished this segment
		}
		l.cacheBase = sg.base + 1
	}
	for c.total > c.budget && c.head < len(c.q) {
		ch := c.q[c.head]
		c.q[c.head] = cacheChunk{}
		c.head++
		c.total -= ch.to - ch.from
		drop = append(drop, ch)
	}
	if c.head > 64 && c.head*2 > len(c.q) {
		n := copy(c.q, c.q[c.head:])
		clear(c.q[n:])
		c.q = c.q[:n]
		c.head = 0
	}
	c.mu.Unlock()

	for _, ch := range drop {
		if dropPages(ch) {
			c.dropped.Add(ch.to - ch.from)
		}
	}
}

// ReadCacheDropped returns how many bytes of read log data the flusher has
// dropped from the page cache (FlusherOptions.ReadCacheBytes).
func (f *Flusher) ReadCacheDropped() int64 {
	if f.cache == nil {
		return 0
	}
	return f.cache.dropped.Load()
}

// dropPages drops a chunk's clean pages from the page cache, if its segment
// still exists and is open; false if it does not or the advice failed
// (which changes nothing that matters).
func dropPages(ch cacheChunk) bool {
	if !ch.sg.acquire() {
		return false
	}
	defer ch.sg.release()
	s := ch.sg.s.Load()
	if s == nil {
		return false
	}
	return unix.Fadvise(int(s.File().Fd()), ch.from, ch.to-ch.from, unix.FADV_DONTNEED) == nil
}
