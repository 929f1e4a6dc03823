package index

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"

	"github.com/weirhq/weir/internal/vfs"
)

// OffsetEntrySize is the size of an offset index entry. Frozen.
const OffsetEntrySize = 8

// OffsetEntry maps an offset to the file position of the batch whose last
// offset it is.
type OffsetEntry struct {
	Offset   int64 // absolute offset
	Position int64 // byte position in the segment file
}

// OffsetIndex is an offset index file.
type OffsetIndex struct{ x *file }

func isZeroOffset(d []byte, i int) bool {
	return binary.BigEndian.Uint64(d[i*OffsetEntrySize:]) == 0
}

// OpenOffset opens or creates the offset index at path for the segment with
// the given base offset. A writable index is preallocated to maxBytes.
func OpenOffset(fs vfs.FS, path string, base int64, maxBytes int, writable bool) (*OffsetIndex, error) {
	x, err := openFile(fs, path, base, OffsetEntrySize, maxBytes, writable, isZeroOffset)
	if err != nil {
		return nil, err
	}
	return &OffsetIndex{x}, nil
}

// Base returns the base offset of the index's segment.
func (o *OffsetIndex) Base() int64 { return o.x.base }

// Len returns the number of entries.
func (o *OffsetIndex) Len() int { return o.x.len() }

// Full reports whether no more entries fit.
func (o *OffsetIndex) Full() bool { return o.x.len() >= o.x.capEntries() }

// Entry returns entry i, 0 <= i < Len().
func (o *OffsetIndex) Entry(i int) OffsetEntry {
	e := o.x.entry(i)
	return OffsetEntry{
		Offset:   o.x.base + int64(binary.BigEndian.Uint32(e)),
		Position: int64(binary.BigEndian.Uint32(e[4:])),
	}
}

// Last returns the last entry, or ok=false if the index is empty.
func (o *OffsetIndex) Last() (e OffsetEntry, ok bool) {
	n := o.x.len()
	if n == 0 {
		return OffsetEntry{}, false
	}
	return o.Entry(n - 1), true
}

// Append adds an entry. offset must be greater than the last entry's and
// fit in 32 bits relative to the base; position must fit in 32 bits.
func (o *OffsetIndex) Append(offset, position int64) error {
	x := o.x
	if x.closed {
		return ErrClosed
	}
	if !x.writable {
		return ErrReadOnly
	}
	n := x.len()
	if n >= x.capEntries() {
		return ErrFull
	}
	rel := offset - x.base
	if rel < 0 || rel > math.MaxUint32 || position < 0 || position > math.MaxUint32 {
		return fmt.Errorf("%w: offset %d position %d in segment %d", ErrOrder, offset, position, x.base)
	}
	if n > 0 {
		last := o.Entry(n - 1)
		if offset <= last.Offset || position <= last.Position {
			return fmt.Errorf("%w: offset %d position %d after %d/%d", ErrOrder, offset, position, last.Offset, last.Position)
		}
	}
	e := x.slot(n)
	binary.BigEndian.PutUint32(e, uint32(rel))
	binary.BigEndian.PutUint32(e[4:], uint32(position))
	x.n.Store(int64(n + 1))
	return nil
}

// Lookup returns the entry with the largest offset <= offset, or the
// segment start {base, 0} when there is none.
func (o *OffsetIndex) Lookup(offset int64) OffsetEntry {
	return o.lastWhere(func(e OffsetEntry) bool { return e.Offset <= offset })
}

// LookupPosition returns the entry with the largest position <= pos, or
// {base, 0}.
func (o *OffsetIndex) LookupPosition(pos int64) OffsetEntry {
	return o.lastWhere(func(e OffsetEntry) bool { return e.Position <= pos })
}

// lastWhere returns the last entry for which below holds (below must hold
// for a prefix of the entries), or {base, 0}.
func (o *OffsetIndex) lastWhere(below func(OffsetEntry) bool) OffsetEntry {
	i := sort.Search(o.x.len(), func(i int) bool { return !below(o.Entry(i)) })
	if i == 0 {
		return OffsetEntry{Offset: o.x.base, Position: 0}
	}
	return o.Entry(i - 1)
}

// TruncateTo removes every entry with Offset >= offset.
func (o *OffsetIndex) TruncateTo(offset int64) {
	n := o.x.len()
	i := 0
	for lo, hi := 0, n; lo < hi; {
		m := int(uint(lo+hi) >> 1)
		if o.Entry(m).Offset < offset {
			lo = m + 1
		} else {
			hi = m
		}
		i = lo
	}
	o.x.truncateEntries(i)
}

// TruncateToPosition removes every entry with Position >= pos.
func (o *OffsetIndex) TruncateToPosition(pos int64) {
	n := o.x.len()
	i := n
	for i > 0 && o.Entry(i-1).Position >= pos {
		i--
	}
	o.x.truncateEntries(i)
}

// Reset removes every entry.
func (o *OffsetIndex) Reset() { o.x.truncateEntries(0) }

// Check verifies the index's invariants: entries strictly increasing in
// offset and position, positions below segSize. It reads every entry.
func (o *OffsetIndex) Check(segSize int64) error {
	n := o.x.len()
	prev := OffsetEntry{Offset: o.x.base - 1, Position: -1}
	for i := 0; i < n; i++ {
		e := o.Entry(i)
		if e.Offset <= prev.Offset || e.Position <= prev.Position || e.Position >= segSize {
			return fmt.Errorf("%w: %s entry %d (offset %d, position %d) after (%d, %d), segment size %d",
				ErrCorrupt, o.x.path, i, e.Offset, e.Position, prev.Offset, prev.Position, segSize)
		}
		prev = e
	}
	return nil
}

// Seal trims the file to its entries and makes the index read-only; the
// mapping stays valid for readers until Close.
func (o *OffsetIndex) Seal() error { return o.x.seal() }

// Writable reports whether the index accepts appends.
func (o *OffsetIndex) Writable() bool { return o.x.writable }

// Sync makes the index durable (msync and fsync).
func (o *OffsetIndex) Sync() error { return o.x.syncFile() }

// Close trims a writable index to its entries, unmaps and closes it.
func (o *OffsetIndex) Close() error { return o.x.close() }

// Remove closes the index and deletes its file.
func (o *OffsetIndex) Remove() error { return o.x.remove() }

// Path returns the file's path.
func (o *OffsetIndex) Path() string { return o.x.path }
