package segment

import (
	"errors"
	"fmt"
	"io"

	"github.com/weirhq/weir/batch"
)

// Stop reasons reported by Scan, each wrapping batch.ErrCorrupt or naming a
// benign end. Use errors.Is.
var (
	// ErrTornTail means the file ends in the middle of a batch: a write
	// that did not complete before a crash.
	ErrTornTail = fmt.Errorf("segment: torn batch at end of file: %w", batch.ErrShort)
	// ErrOffsetOrder means a batch's offsets do not follow the previous
	// batch's, fall below the segment's base offset, or overflow int64.
	ErrOffsetOrder = fmt.Errorf("segment: batch offsets out of order: %w", batch.ErrCorrupt)
	// ErrOversize means a batch's length field exceeds the scan's limit.
	ErrOversize = fmt.Errorf("segment: batch larger than limit: %w", batch.ErrCorrupt)
)

// ScanResult reports what a scan found.
type ScanResult struct {
	// ValidEnd is the position just after the last valid batch.
	ValidEnd int64
	// FileSize is the file's size when scanned.
	FileSize int64
	// Batches is the number of valid batches scanned (from the start
	// position).
	Batches int
	// NextOffset is the offset after the last valid batch scanned, or -1
	// if no batch was scanned.
	NextOffset int64
	// MaxTimestamp is the largest batch max timestamp scanned, and
	// MaxTimestampOffset the last offset of its batch (-1 if none).
	MaxTimestamp       int64
	MaxTimestampOffset int64
	// Stop says why the scan stopped before FileSize: nil when it reached
	// the end of the file or a zero-filled (preallocated) tail, otherwise
	// an error wrapping batch.ErrCorrupt (ErrTornTail, batch.ErrCRC, …).
	Stop error
	// ZeroTail reports that everything from ValidEnd on that was examined
	// is zero bytes: an unused preallocated tail, not lost data.
	ZeroTail bool
}

// Cut returns the number of bytes after ValidEnd that are not a zero
// preallocated tail, i.e. data that recovery removes.
func (r *ScanResult) Cut() int64 {
	if r.ZeroTail {
		return 0
	}
	return r.FileSize - r.ValidEnd
}

// ScanOptions bound a scan.
type ScanOptions struct {
	// MaxBatchBytes rejects batches whose length field is larger. Default
	// 64 MiB plus overhead. Protects against a corrupt length field that
	// would make the scan read a huge buffer.
	MaxBatchBytes int
	// PrevNextOffset is the offset the first scanned batch must not start
	// below (the previous batch's next offset); default the base offset.
	PrevNextOffset int64
}

// zeroProbe is how many bytes after the valid end are examined to decide
// whether the rest is a zero-filled preallocated tail.
const zeroProbe = 1 << 20

// Scan validates batches from pos (a batch boundary) to the end of the
// file, calling fn for each valid batch with its position and header, and
// reports where valid data ends. It reads the file with pread, independent
// of Size, and modifies nothing. fn may be nil; an error from fn stops the
// scan and is returned.
func (s *Segment) Scan(pos int64, opts ScanOptions, fn func(pos int64, h *batch.Header) error) (ScanResult, error) {
	maxBatch := opts.MaxBatchBytes
	if maxBatch <= 0 {
		maxBatch = 64<<20 + batch.HeaderSize
	}
	next := opts.PrevNextOffset
	if next < s.base {
		next = s.base
	}
	fileSize, err := s.f.Size()
	if err != nil {
		return ScanResult{}, fmt.Errorf("segment: stat %s: %w", s.path, err)
	}
	res := ScanResult{ValidEnd: pos, FileSize: fileSize, NextOffset: -1, MaxTimestamp: -1, MaxTimestampOffset: -1}
	buf := make([]byte, 1<<20)
	bufPos, bufLen := int64(0), 0 // buf[:bufLen] holds file bytes at bufPos
	// read returns the n file bytes at p, refilling buf as needed.
	read := func(p int64, n int) ([]byte, error) {
		if p >= bufPos && p+int64(n) <= bufPos+int64(bufLen) {
			o := p - bufPos
			return buf[o : o+int64(n)], nil
		}
		if n > len(buf) {
			buf = make([]byte, n)
		}
		want := min(int64(len(buf)), fileSize-p)
		if want < int64(n) {
			return nil, io.ErrUnexpectedEOF
		}
		m, err := s.f.ReadAt(buf[:want], p)
		if int64(m) < want {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		bufPos, bufLen = p, m
		return buf[:n], nil
	}
	for pos < fileSize {
		if fileSize-pos < batch.LogOverhead {
			res.Stop = ErrTornTail
			break
		}
		hb, err := read(pos, batch.LogOverhead)
		if err != nil {
			return res, fmt.Errorf("segment: read %s at %d: %w", s.path, pos, err)
		}
		size, err := batch.Size(hb)
		if err != nil {
			res.Stop = err
			break
		}
		if size > maxBatch {
			res.Stop = ErrOversize
			break
		}
		if int64(size) > fileSize-pos {
			res.Stop = ErrTornTail
			break
		}
		b, err := read(pos, size)
		if err != nil {
			return res, fmt.Errorf("segment: read %s at %d: %w", s.path, pos, err)
		}
		h, err := batch.Validate(b)
		if err != nil {
			res.Stop = err
			break
		}
		if h.BaseOffset < next {
			res.Stop = fmt.Errorf("%w: base offset %d, expected at least %d", ErrOffsetOrder, h.BaseOffset, next)
			break
		}
		if h.NextOffset() <= h.BaseOffset {
			// The base offset is not covered by the CRC; past
			// MaxInt64 the next offset wraps negative and would let
			// the following batch go backwards.
			res.Stop = fmt.Errorf("%w: base offset %d + last offset delta %d overflows", ErrOffsetOrder, h.BaseOffset, h.LastOffsetDelta)
			break
		}
		if fn != nil {
			if err := fn(pos, &h); err != nil {
				return res, err
			}
		}
		next = h.NextOffset()
		res.NextOffset = next
		if h.MaxTimestamp > res.MaxTimestamp {
			res.MaxTimestamp, res.MaxTimestampOffset = h.MaxTimestamp, h.LastOffset()
		}
		res.Batches++
		pos += int64(size)
		res.ValidEnd = pos
	}
	if res.Stop != nil || res.ValidEnd < fileSize {
		res.ZeroTail = s.zeroFrom(res.ValidEnd, fileSize)
		if res.ZeroTail {
			res.Stop = nil
		}
	}
	return res, nil
}

// zeroFrom reports whether the bytes in [pos, min(end, pos+zeroProbe)) are
// all zero.
func (s *Segment) zeroFrom(pos, end int64) bool {
	n := min(end-pos, zeroProbe)
	if n <= 0 {
		return true
	}
	b := make([]byte, n)
	if m, err := s.f.ReadAt(b, pos); int64(m) < n && !errors.Is(err, io.EOF) {
		return false
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Recover scans from pos like Scan and then cuts everything after the last
// valid batch: the segment's size becomes ScanResult.ValidEnd and the file
// is truncated there (a writable segment preallocates again on its next
// Append). It must be called before the segment is read or mapped.
func (s *Segment) Recover(pos int64, opts ScanOptions, fn func(pos int64, h *batch.Header) error) (ScanResult, error) {
	res, err := s.Scan(pos, opts, fn)
	if err != nil {
		return res, err
	}
	if err := s.SetSize(res.ValidEnd, true); err != nil {
		return res, err
	}
	return res, nil
}

// SetSize sets the segment's size to a position the caller knows to end a
// valid batch (after a clean shutdown, or a Scan). With cut, the file is
// truncated there so nothing after it can resurface.
func (s *Segment) SetSize(size int64, cut bool) error {
	if s.mapped.Load() != nil {
		return errors.New("segment: SetSize after the segment was mapped")
	}
	if cut {
		fileSize, err := s.f.Size()
		if err != nil {
			return fmt.Errorf("segment: stat %s: %w", s.path, err)
		}
		if fileSize != size {
			if err := s.f.Truncate(size); err != nil {
				return fmt.Errorf("segment: truncate %s to %d: %w", s.path, size, err)
			}
			s.fileSize = size
		}
	}
	s.size.Store(size)
	return nil
}
