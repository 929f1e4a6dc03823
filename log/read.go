package log

import (
	"fmt"
	"runtime"

	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/internal/vfs"
)

// View is a zero-copy view of whole or partial batches of one segment,
// returned by Read. It holds a reference to the segment: call Release when
// done, after which its bytes must not be used. A View is a small value; it
// does not allocate.
//
// The bytes start at a batch boundary. Like a Kafka fetch, the last batch
// may be cut at maxBytes; Batches returns only the whole batches.
type View struct {
	sg     *seg
	offset int64 // offset asked for
	base   int64 // base offset of the first batch
	pos    int64
	n      int64
}

// Empty reports whether the view holds no bytes (the read was at the log
// end).
func (v *View) Empty() bool { return v.n == 0 }

// Offset returns the offset that was read.
func (v *View) Offset() int64 { return v.offset }

// BaseOffset returns the base offset of the first batch in the view, which
// may be below Offset (the batch containing it).
func (v *View) BaseOffset() int64 { return v.base }

// Len returns the view's length in bytes.
func (v *View) Len() int64 { return v.n }

// Position returns the view's start position in its segment file.
func (v *View) Position() int64 { return v.pos }

// File returns the segment file for sendfile(File().Fd(), Position(),
// Len()). Nil for an empty view.
func (v *View) File() vfs.File {
	if v.sg == nil {
		return nil
	}
	return v.sg.s.Load().File()
}

// Bytes returns the view's bytes as a slice of the segment's read-only mmap,
// without copying. The slice is valid until Release; writing to it faults.
func (v *View) Bytes() ([]byte, error) {
	if v.n == 0 {
		return nil, nil
	}
	return v.sg.s.Load().Bytes(v.pos, v.n)
}

// Batches returns the prefix of the view holding whole batches and the
// offset after the last of them (where the next Read should start).
func (v *View) Batches() ([]byte, int64, error) {
	b, err := v.Bytes()
	if err != nil || len(b) == 0 {
		return nil, v.offset, err
	}
	next := v.offset
	n := 0
	for n+batch.HeaderSize <= len(b) {
		size := batch.Size0(b[n:])
		if size < batch.HeaderSize || n+size > len(b) {
			break
		}
		next = batch.BaseOffset(b[n:]) + int64(batch.LastOffsetDelta(b[n:])) + 1
		n += size
	}
	return b[:n], next, nil
}

// Release drops the view's segment reference. It is safe to call more than
// once.
func (v *View) Release() {
	if v.sg != nil {
		v.sg.release()
		v.sg = nil
	}
}

// Read returns a view of the batches holding offset and after it, up to
// maxBytes (at least the whole first batch, as Kafka's fetch does), all
// from one segment. Reading at the log end returns an empty view; below the
// start offset or past the end, ErrOffsetOutOfRange. Read takes no lock and
// does not allocate.
func (l *Log) Read(offset int64, maxBytes int) (View, error) {
	return l.ReadUntil(offset, maxBytes, -1)
}

// ReadUntil is Read limited to batches below limit (e.g. a high watermark);
// limit < 0 means the log end.
func (l *Log) ReadUntil(offset int64, maxBytes int, limit int64) (View, error) {
	for attempt := 0; ; attempt++ {
		segs := l.segments()
		if segs == nil {
			return View{}, ErrClosed
		}
		start, end := l.start.Load(), l.next.Load()
		if limit >= 0 && limit < end {
			end = limit
		}
		if offset < start || offset > l.next.Load() {
			return View{}, fmt.Errorf("%w: offset %d, log has [%d, %d)", ErrOffsetOutOfRange, offset, start, l.next.Load())
		}
		if offset >= end {
			return View{offset: offset, base: offset}, nil
		}
		// A read limited to durable data bounds its view by the durable
		// position (published before the durable offset it covers).
		dp := noDurableLimit
		if limit >= 0 && limit <= l.durable.Load() {
			dp.base, dp.pos = l.durablePos()
		}
		// The last segment with base <= offset.
		lo, hi := 0, len(segs)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if segs[m].base <= offset {
				lo = m + 1
			} else {
				hi = m
			}
		}
		i := max(lo-1, 0)
		retry := false
		for ; i < len(segs); i++ {
			sg := segs[i]
			if !sg.acquire() {
				retry = true
				break
			}
			v, found, err := sg.read(offset, maxBytes, end, dp)
			if err != nil && sg.removed.Load() {
				// Deleted by retention while we looked: retry against
				// the new segment list (and start offset).
				sg.release()
				retry = true
				break
			}
			if err != nil || found {
				if err != nil || v.n == 0 {
					sg.release()
					v.sg = nil
				}
				return v, err
			}
			sg.release()
		}
		if !retry && offset < l.next.Load() && attempt < 1000 {
			// The writer published the end offset and is about to
			// publish the bytes: look again.
			runtime.Gosched()
			continue
		}
		if !retry {
			return View{offset: offset, base: offset}, nil
		}
		if attempt > 100 {
			return View{}, fmt.Errorf("log: read %d: segments keep changing", offset)
		}
	}
}

// read finds offset in the segment. found=false means the segment holds no
// batch with an offset >= offset.
// durableLimit bounds a read to durable data; base < 0: no bound.
type durableLimit struct{ base, pos int64 }

var noDurableLimit = durableLimit{-1, -1}

func (sg *seg) read(offset int64, maxBytes int, end int64, dp durableLimit) (View, bool, error) {
	s, err := sg.file()
	if err != nil {
		return View{}, false, err
	}
	oi, err := sg.offsetIndex()
	if err != nil {
		return View{}, false, err
	}
	e := oi.Lookup(offset)
	if e.Position >= s.Size() {
		e.Position = 0 // stale entry after a truncation
	}
	pos, h, found, err := s.Find(e.Position, offset)
	if err != nil || !found {
		return View{}, false, err
	}
	// The size after Find covers the batch Find saw.
	size := s.Size()
	if h.BaseOffset >= end {
		return View{offset: offset, base: offset}, true, nil
	}
	n := min(max(int64(maxBytes), int64(h.Size())), size-pos)
	switch {
	case dp.base >= 0:
		// Limited to durable data: stop at its end.
		if sg.base > dp.base || sg.base == dp.base && pos+int64(h.Size()) > dp.pos {
			return View{offset: offset, base: offset}, true, nil
		}
		if sg.base == dp.base {
			n = min(n, dp.pos-pos)
		}
	case end < sg.l.next.Load():
		// Stop before the first batch at or past the limit.
		n = sg.limitTo(s, pos, n, end)
	}
	if sg.l.trackReads {
		sg.noteRead(pos + n)
	}
	return View{sg: sg, offset: offset, base: h.BaseOffset, pos: pos, n: n}, true, nil
}

// limitTo shortens a view of n bytes at pos so that it ends before the
// first batch whose base offset is >= end.
func (sg *seg) limitTo(s interface {
	Header(int64) (batch.Header, error)
}, pos, n, end int64) int64 {
	p := pos
	for p < pos+n {
		h, err := s.Header(p)
		if err != nil || h.BaseOffset >= end {
			break
		}
		p += int64(h.Size())
	}
	return min(p-pos, n)
}

// ScanHeaders calls fn with the header of every batch from the one holding
// offset from to the log end, reading headers only (no CRC checks; the
// batches were validated on append or recovery). It stops at fn's first
// error and returns it.
func (l *Log) ScanHeaders(from int64, fn func(h *batch.Header) error) error {
	off := max(from, l.StartOffset())
	for off < l.EndOffset() {
		v, err := l.Read(off, 1<<20)
		if err != nil {
			return err
		}
		if v.Empty() {
			v.Release()
			return nil
		}
		s := v.sg.s.Load()
		pos, end := v.pos, v.pos+v.n
		next := off
		for pos < end {
			h, err := s.Header(pos)
			if err != nil {
				break // past the view: the next Read continues there
			}
			if pos+int64(h.Size()) > end && pos != v.pos {
				break
			}
			if err := fn(&h); err != nil {
				v.Release()
				return err
			}
			next = h.NextOffset()
			pos += int64(h.Size())
		}
		v.Release()
		if next <= off {
			return fmt.Errorf("log: scan stuck at offset %d", off)
		}
		off = next
	}
	return nil
}
