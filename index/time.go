package index

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/weirhq/weir/internal/vfs"
)

// TimeEntrySize is the size of a time index entry. Frozen.
const TimeEntrySize = 12

// TimeEntry says that up to the batch whose last offset is Offset, the
// largest timestamp is Timestamp.
type TimeEntry struct {
	Timestamp int64
	Offset    int64 // absolute offset
}

// TimeIndex is a time index file.
type TimeIndex struct{ x *file }

func isZeroTime(d []byte, i int) bool {
	o := i * TimeEntrySize
	return binary.BigEndian.Uint64(d[o:]) == 0 && binary.BigEndian.Uint32(d[o+8:]) == 0
}

// OpenTime opens or creates the time index at path for the segment with the
// given base offset. A writable index is preallocated to maxBytes.
func OpenTime(fs vfs.FS, path string, base int64, maxBytes int, writable bool) (*TimeIndex, error) {
	x, err := openFile(fs, path, base, TimeEntrySize, maxBytes, writable, isZeroTime)
	if err != nil {
		return nil, err
	}
	return &TimeIndex{x}, nil
}

// Len returns the number of entries.
func (t *TimeIndex) Len() int { return t.x.len() }

// Full reports whether no more entries fit.
func (t *TimeIndex) Full() bool { return t.x.len() >= t.x.capEntries() }

// Entry returns entry i, 0 <= i < Len().
func (t *TimeIndex) Entry(i int) TimeEntry {
	e := t.x.entry(i)
	return TimeEntry{
		Timestamp: int64(binary.BigEndian.Uint64(e)),
		Offset:    t.x.base + int64(binary.BigEndian.Uint32(e[8:])),
	}
}

// Last returns the last entry, or ok=false if the index is empty.
func (t *TimeIndex) Last() (e TimeEntry, ok bool) {
	n := t.x.len()
	if n == 0 {
		return TimeEntry{}, false
	}
	return t.Entry(n - 1), true
}

// MaybeAppend adds an entry if ts is greater than the last entry's
// timestamp (the file keeps timestamps strictly increasing); it reports
// whether it did. offset must not be below the last entry's offset.
func (t *TimeIndex) MaybeAppend(ts, offset int64) (bool, error) {
	x := t.x
	if x.closed {
		return false, ErrClosed
	}
	if !x.writable {
		return false, ErrReadOnly
	}
	n := x.len()
	if n > 0 {
		last := t.Entry(n - 1)
		if ts <= last.Timestamp {
			return false, nil
		}
		if offset < last.Offset {
			return false, fmt.Errorf("%w: time index offset %d after %d", ErrOrder, offset, last.Offset)
		}
		if offset == last.Offset {
			// Same batch, larger timestamp: overwrite in place.
			binary.BigEndian.PutUint64(x.entry(n-1), uint64(ts))
			return true, nil
		}
	}
	if n >= x.capEntries() {
		return false, ErrFull
	}
	rel := offset - x.base
	if rel < 0 || rel > math.MaxUint32 {
		return false, fmt.Errorf("%w: offset %d in segment %d", ErrOrder, offset, x.base)
	}
	e := x.slot(n)
	binary.BigEndian.PutUint64(e, uint64(ts))
	binary.BigEndian.PutUint32(e[8:], uint32(rel))
	x.n.Store(int64(n + 1))
	return true, nil
}

// LookupBefore returns the entry with the largest timestamp strictly below
// ts, or ok=false if there is none. Every batch up to that entry's offset has
// timestamps below ts, so a search for the first timestamp >= ts can start
// after it.
func (t *TimeIndex) LookupBefore(ts int64) (e TimeEntry, ok bool) {
	n := t.x.len()
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.Entry(m).Timestamp < ts {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return TimeEntry{}, false
	}
	return t.Entry(lo - 1), true
}

// TruncateTo removes every entry with Offset >= offset.
func (t *TimeIndex) TruncateTo(offset int64) {
	n := t.x.len()
	i := n
	for i > 0 && t.Entry(i-1).Offset >= offset {
		i--
	}
	t.x.truncateEntries(i)
}

// Reset removes every entry.
func (t *TimeIndex) Reset() { t.x.truncateEntries(0) }

// Check verifies that timestamps strictly increase and offsets do not
// decrease and stay below nextOffset.
func (t *TimeIndex) Check(nextOffset int64) error {
	n := t.x.len()
	for i := 0; i < n; i++ {
		e := t.Entry(i)
		if e.Offset >= nextOffset || e.Offset < t.x.base {
			return fmt.Errorf("%w: %s entry %d offset %d outside [%d, %d)", ErrCorrupt, t.x.path, i, e.Offset, t.x.base, nextOffset)
		}
		if i > 0 {
			p := t.Entry(i - 1)
			if e.Timestamp <= p.Timestamp || e.Offset < p.Offset {
				return fmt.Errorf("%w: %s entry %d (%d, %d) after (%d, %d)", ErrCorrupt, t.x.path, i, e.Timestamp, e.Offset, p.Timestamp, p.Offset)
			}
		}
	}
	return nil
}

// Seal trims the file to its entries and makes the index read-only; the
// mapping stays valid for readers until Close.
func (t *TimeIndex) Seal() error { return t.x.seal() }

// Writable reports whether the index accepts appends.
func (t *TimeIndex) Writable() bool { return t.x.writable }

// Sync makes the index durable.
func (t *TimeIndex) Sync() error { return t.x.syncFile() }

// Close trims a writable index to its entries, unmaps and closes it.
func (t *TimeIndex) Close() error { return t.x.close() }

// Remove closes the index and deletes its file.
func (t *TimeIndex) Remove() error { return t.x.remove() }

// Path returns the file's path.
func (t *TimeIndex) Path() string { return t.x.path }
