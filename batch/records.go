package batch

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Record is one record of a batch, as Iter.Next decodes it and Builder.Add
// encodes it.
//
// When filled by Iter.Next, Key, Value and the header slices alias the batch
// (uncompressed) or the Iter's decompression buffer (compressed): they are
// valid until the batch bytes change or the Iter is Reset, and must be copied
// to be kept. Each is capped at its own length, so appending to one never
// overwrites its neighbours.
type Record struct {
	// Attributes is the record's attribute byte. Kafka defines no record
	// attributes; it is 0 in practice.
	Attributes int8
	// TimestampDelta is the timestamp relative to the batch's
	// baseTimestamp, as stored. Builder.Add ignores it.
	TimestampDelta int64
	// Timestamp is the absolute timestamp in milliseconds since the epoch:
	// baseTimestamp + TimestampDelta, or the batch's maxTimestamp when the
	// batch uses LogAppendTime. Builder.Add reads it.
	Timestamp int64
	// OffsetDelta is the offset relative to the batch's baseOffset, as
	// stored. Builder.Add ignores it and numbers records 0, 1, 2, ...
	OffsetDelta int32
	// Offset is the absolute offset, baseOffset + OffsetDelta. Builder.Add
	// ignores it.
	Offset int64
	// Key is the record key; nil means a null key, and a non-nil empty
	// slice an empty one.
	Key []byte
	// Value is the record value; nil means a null value (a tombstone in
	// compacted topics).
	Value []byte
	// Headers are the record headers in order. Iter.Next reuses the
	// backing array of the Record it fills.
	Headers []RecordHeader
}

// RecordHeader is one record header.
type RecordHeader struct {
	// Key is the header key. Kafka keys are non-null strings: Iter.Next
	// always returns a non-nil slice and Builder writes nil as empty. It
	// is a []byte rather than a string so that decoding it neither
	// allocates nor aliases mutable memory as an immutable string.
	Key []byte
	// Value is the header value; nil means null.
	Value []byte
}

// Iter reads the records of one batch. The zero value is ready for Reset.
//
//	var it batch.Iter
//	var r batch.Record
//	if err := it.Reset(b); err != nil { ... }
//	for it.Next(&r) {
//		use(r.Offset, r.Key, r.Value)
//	}
//	if err := it.Err(); err != nil { ... }
//
// Iterating an uncompressed batch allocates nothing once r.Headers has grown
// to the largest header count. A compressed batch is decompressed in full by
// Reset into a buffer the Iter keeps and reuses; drop the Iter to release it.
//
// An Iter is not safe for concurrent use.
type Iter struct {
	// MaxDecompressed bounds the decompressed size in bytes of a
	// compressed batch's records section: Reset fails with
	// ErrDecompressedTooLarge past it. Zero or negative means
	// DefaultMaxDecompressed. Set it before Reset.
	MaxDecompressed int

	h    Header
	data []byte // records not read yet
	left int32  // records not read yet, by the header's count
	prev int32  // offset delta of the previous record, -1 before the first
	err  error  // sticky: the first error
	buf  []byte // decompression buffer, reused across Resets
}

// Reset starts iterating the batch at the start of b; bytes after the batch
// are ignored. It validates the batch as Validate does (CRC included), checks
// the codec, and decompresses a compressed records section. On error, Next
// returns false and Err returns the same error. Reset does not retain b past
// the next Reset, but Records from an uncompressed batch alias it.
func (it *Iter) Reset(b []byte) error {
	it.data, it.left, it.prev, it.err = nil, 0, -1, nil
	h, err := Validate(b)
	it.h = h
	if err != nil {
		it.err = err
		return err
	}
	recs := b[HeaderSize:h.Size():h.Size()]
	switch c := h.Compression(); {
	case c == None:
		it.data = recs
	case !c.known():
		it.err = fmt.Errorf("%w: %d", ErrCompression, c)
		return it.err
	case len(recs) == 0 && h.NumRecords == 0:
		// An empty batch (kept by compaction for producer state) has
		// no records section to decompress.
	default:
		limit := it.MaxDecompressed
		if limit <= 0 {
			limit = DefaultMaxDecompressed
		}
		buf, err := decompress(it.buf, c, recs, limit)
		if cap(buf) > 0 {
			it.buf = buf[:0]
		}
		if err != nil {
			it.err = err
			return err
		}
		it.data = buf[:len(buf):len(buf)]
	}
	it.left = h.NumRecords
	return nil
}

// Header returns the header of the batch passed to the last Reset.
func (it *Iter) Header() Header { return it.h }

// Next decodes the next record into r and reports whether there was one. It
// returns false at the end of the batch or on the first error; then Err tells
// which. r's Headers backing array is reused. After Next returns false, r's
// contents are unspecified.
func (it *Iter) Next(r *Record) bool {
	if it.left <= 0 {
		if it.err == nil && len(it.data) != 0 {
			it.err = fmt.Errorf("%w: %d bytes after the last of %d records",
				ErrRecords, len(it.data), it.h.NumRecords)
			it.data = nil
		}
		return false
	}
	if err := it.parse(r); err != nil {
		it.err = err
		it.left, it.data = 0, nil
		return false
	}
	it.left--
	return true
}

// Err returns the first error met by Reset or Next, or nil.
func (it *Iter) Err() error { return it.err }

// Smallest possible record body: attributes, and one byte each for
// timestampDelta, offsetDelta, keyLength, valueLength and headerCount.
const minRecordBody = 6

// parse decodes the record at the start of it.data into r and advances
// it.data past it.
func (it *Iter) parse(r *Record) error {
	index := it.h.NumRecords - it.left
	d := it.data
	if len(d) == 0 {
		return fmt.Errorf("%w: records end after %d of %d", ErrRecords, index, it.h.NumRecords)
	}
	length, n := varint32(d)
	if n <= 0 {
		return recordErr(index, "invalid length varint")
	}
	if length < minRecordBody || int64(length) > int64(len(d)-n) {
		return recordErr(index, fmt.Sprintf("length %d with %d bytes left", length, len(d)-n))
	}
	end := n + int(length)
	body := d[n:end:end]
	it.data = d[end:]

	r.Attributes = int8(body[0])
	p := 1
	tsDelta, n := varint64(body[p:])
	if n <= 0 {
		return recordErr(index, "invalid timestampDelta varint")
	}
	p += n
	offDelta, n := varint32(body[p:])
	if n <= 0 {
		return recordErr(index, "invalid offsetDelta varint")
	}
	p += n
	if offDelta <= it.prev || offDelta > it.h.LastOffsetDelta {
		return recordErr(index, fmt.Sprintf("offsetDelta %d after %d, lastOffsetDelta %d",
			offDelta, it.prev, it.h.LastOffsetDelta))
	}
	it.prev = offDelta
	var ok bool
	if r.Key, p, ok = nullableBytes(body, p); !ok {
		return recordErr(index, "invalid key length")
	}
	if r.Value, p, ok = nullableBytes(body, p); !ok {
		return recordErr(index, "invalid value length")
	}
	count, n := varint32(body[p:])
	if n <= 0 || count < 0 {
		return recordErr(index, "invalid header count")
	}
	p += n
	r.Headers = r.Headers[:0]
	for range count {
		// Bytes run out before a forged count can grow Headers far:
		// each header takes at least two.
		var h RecordHeader
		h.Key, p, ok = nullableBytes(body, p)
		if !ok || h.Key == nil {
			return recordErr(index, "invalid header key length")
		}
		if h.Value, p, ok = nullableBytes(body, p); !ok {
			return recordErr(index, "invalid header value length")
		}
		r.Headers = append(r.Headers, h)
	}
	if p != len(body) {
		return recordErr(index, fmt.Sprintf("length %d but fields end at %d", len(body), p))
	}

	r.TimestampDelta = tsDelta
	if it.h.IsLogAppendTime() {
		r.Timestamp = it.h.MaxTimestamp
	} else {
		r.Timestamp = it.h.BaseTimestamp + tsDelta
	}
	r.OffsetDelta = offDelta
	r.Offset = it.h.BaseOffset + int64(offDelta)
	return nil
}

func recordErr(index int32, what string) error {
	return fmt.Errorf("%w: record %d: %s", ErrMalformedRecord, index, what)
}

// nullableBytes reads a varint length and that many bytes from b at p. A
// length of -1 yields nil. It returns the bytes (capped at their length),
// the position after them, and false if the length is invalid or runs past
// b.
func nullableBytes(b []byte, p int) ([]byte, int, bool) {
	l, n := varint32(b[p:])
	if n <= 0 {
		return nil, p, false
	}
	p += n
	switch {
	case l == -1:
		return nil, p, true
	case l < -1 || int64(l) > int64(len(b)-p):
		return nil, p, false
	}
	end := p + int(l)
	return b[p:end:end], end, true
}

// varint32 decodes a zigzag varint of at most 5 bytes that fits in 32 bits,
// as Kafka's ByteUtils.readVarint does. n <= 0 means b is short or the
// varint is invalid.
func varint32(b []byte) (v int32, n int) {
	if len(b) > 0 && b[0] < 0x80 {
		u := uint32(b[0])
		return int32(u>>1) ^ -int32(u&1), 1
	}
	u, n := binary.Uvarint(b)
	if n <= 0 || n > 5 || u > math.MaxUint32 {
		return 0, -1
	}
	return int32(uint32(u)>>1) ^ -int32(uint32(u)&1), n
}

// varint64 decodes a zigzag varint of at most 10 bytes (Kafka's varlong).
func varint64(b []byte) (v int64, n int) {
	if len(b) > 0 && b[0] < 0x80 {
		u := uint64(b[0])
		return int64(u>>1) ^ -int64(u&1), 1
	}
	u, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, -1
	}
	return int64(u>>1) ^ -int64(u&1), n
}
