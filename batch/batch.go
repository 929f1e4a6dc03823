package batch

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/weirhq/weir/internal/crc32c"
)

// Frozen layout constants (see the package doc).
const (
	HeaderSize  = 61 // bytes before the first record
	LogOverhead = 12 // baseOffset + batchLength: bytes not counted by batchLength
	Magic       = 2

	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57
)

// Attribute bits.
const (
	AttrCompressionMask = 0x07
	AttrLogAppendTime   = 0x08
	AttrTransactional   = 0x10
	AttrControl         = 0x20
	AttrDeleteHorizon   = 0x40
)

var (
	// ErrCorrupt is the class of every error that means the bytes are not a
	// valid batch. Use errors.Is(err, ErrCorrupt) or IsCorrupt.
	ErrCorrupt = errors.New("batch: corrupt batch")
	// ErrShort means the input ends before the batch does: a torn write at
	// the tail of a file, or a truncated request. It wraps ErrCorrupt.
	ErrShort = fmt.Errorf("%w: input shorter than the batch", ErrCorrupt)
	// ErrLength means batchLength is smaller than a header or negative.
	ErrLength = fmt.Errorf("%w: invalid batch length", ErrCorrupt)
	// ErrMagic means the magic byte is not 2 (older message formats are
	// not accepted).
	ErrMagic = fmt.Errorf("%w: unsupported magic byte", ErrCorrupt)
	// ErrCRC means the stored CRC-32C does not match the batch content.
	ErrCRC = fmt.Errorf("%w: CRC mismatch", ErrCorrupt)
	// ErrTooLarge means the batch is larger than the caller's limit.
	ErrTooLarge = errors.New("batch: batch larger than the maximum size")
	// ErrRecords means the record count or offsets in the header are
	// inconsistent (e.g. negative lastOffsetDelta, zero records), or that
	// the records section holds fewer or more records than recordCount.
	ErrRecords = fmt.Errorf("%w: inconsistent record count", ErrCorrupt)
	// ErrMalformedRecord means a record inside the batch does not parse: a
	// bad varint, a length past the end of the record, a negative header
	// count or key length, a record length that disagrees with its
	// fields, or an offset delta that is not increasing or lies past
	// lastOffsetDelta.
	ErrMalformedRecord = fmt.Errorf("%w: malformed record", ErrCorrupt)
	// ErrCompression means the attributes name a codec other than the five
	// Kafka defines (bits 0-2 are 5, 6 or 7).
	ErrCompression = fmt.Errorf("%w: unknown compression codec", ErrCorrupt)
	// ErrDecompress means the records section is not valid data for the
	// batch's codec; the codec's own error is wrapped too.
	ErrDecompress = fmt.Errorf("%w: records do not decompress", ErrCorrupt)
	// ErrDecompressedTooLarge means a compressed records section expands
	// to more than the reader's limit (Iter.MaxDecompressed). It is a
	// resource limit, not corruption: it does not wrap ErrCorrupt.
	ErrDecompressedTooLarge = errors.New("batch: decompressed records larger than the limit")
	// ErrInvalidOptions means BuilderOptions are inconsistent; the wrapping
	// error names the field.
	ErrInvalidOptions = errors.New("batch: invalid builder options")
)

// IsCorrupt reports whether err means invalid batch bytes.
func IsCorrupt(err error) bool { return errors.Is(err, ErrCorrupt) }

// Header is a decoded batch header.
type Header struct {
	BaseOffset           int64
	Length               int32 // batchLength: bytes after this field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the batch's total size in bytes, LogOverhead + Length.
func (h *Header) Size() int { return LogOverhead + int(h.Length) }

// LastOffset is the offset of the batch's last record.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset after the batch.
func (h *Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Compression returns the batch's compression codec.
func (h *Header) Compression() Compression { return Compression(h.Attributes & AttrCompressionMask) }

// IsControl reports whether the batch is a transaction control batch.
func (h *Header) IsControl() bool { return h.Attributes&AttrControl != 0 }

// IsTransactional reports whether the batch is part of a transaction.
func (h *Header) IsTransactional() bool { return h.Attributes&AttrTransactional != 0 }

// IsLogAppendTime reports whether the batch's timestamps are log append time.
func (h *Header) IsLogAppendTime() bool { return h.Attributes&AttrLogAppendTime != 0 }

// ParseHeader decodes the header at the start of b without checking the CRC.
// It fails with ErrShort if b holds fewer than HeaderSize bytes, and checks
// the length and magic fields.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, ErrShort
	}
	_ = b[HeaderSize-1]
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
	h.Length = int32(binary.BigEndian.Uint32(b[offLength:]))
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[offLeaderEpoch:]))
	h.Magic = int8(b[offMagic])
	h.CRC = binary.BigEndian.Uint32(b[offCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))
	h.BaseTimestamp = int64(binary.BigEndian.Uint64(b[offBaseTimestamp:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[offMaxTimestamp:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[offProducerEpoch:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[offBaseSequence:]))
	h.NumRecords = int32(binary.BigEndian.Uint32(b[offRecordCount:]))
	if h.Length < HeaderSize-LogOverhead {
		return h, ErrLength
	}
	if h.Magic != Magic {
		return h, ErrMagic
	}
	return h, nil
}

// Validate checks the batch at the start of b: length, magic, CRC and
// record count consistency, in that order. It returns the header; b may hold more bytes after the
// batch (use h.Size() to step over it). It never allocates.
func Validate(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	size := h.Size()
	if size > len(b) {
		return h, ErrShort
	}
	// The CRC comes first: when it fails, the fields below are noise.
	if crc32c.Checksum(b[offAttributes:size]) != h.CRC {
		return h, ErrCRC
	}
	if h.LastOffsetDelta < 0 || h.NumRecords < 0 {
		return h, ErrRecords
	}
	if h.NumRecords == 0 && !h.IsControl() {
		// Kafka rejects empty batches from producers (0 records), but
		// compaction may leave empty batches carrying producer state;
		// those keep lastOffsetDelta. Accept only when it is the
		// compaction form (records absent, size == header).
		if size != HeaderSize {
			return h, ErrRecords
		}
	}
	return h, nil
}

// Check is Validate without decoding the header: it checks the batch at
// the start of b (length, magic, CRC, record counts) and returns its size.
// It is the append path's validation; use accessors such as
// LastOffsetDelta for the fields it needs.
func Check(b []byte) (int, error) {
	if len(b) < HeaderSize {
		return 0, ErrShort
	}
	l := int32(binary.BigEndian.Uint32(b[offLength:]))
	if l < HeaderSize-LogOverhead {
		return 0, ErrLength
	}
	if int8(b[offMagic]) != Magic {
		return 0, ErrMagic
	}
	size := LogOverhead + int(l)
	if size > len(b) {
		return 0, ErrShort
	}
	if crc32c.Checksum(b[offAttributes:size]) != binary.BigEndian.Uint32(b[offCRC:]) {
		return 0, ErrCRC
	}
	delta := int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))
	n := int32(binary.BigEndian.Uint32(b[offRecordCount:]))
	if delta < 0 || n < 0 {
		return 0, ErrRecords
	}
	if n == 0 && binary.BigEndian.Uint16(b[offAttributes:])&AttrControl == 0 && size != HeaderSize {
		return 0, ErrRecords
	}
	return size, nil
}

// NumRecords returns the record count field. b must hold a header.
func NumRecords(b []byte) int32 { return int32(binary.BigEndian.Uint32(b[offRecordCount:])) }

// Attributes returns the attributes field. b must hold a header.
func Attributes(b []byte) int16 { return int16(binary.BigEndian.Uint16(b[offAttributes:])) }

// Size returns the total size of the batch at the start of b from its length
// field, checking only that the header is present and the length is sane.
func Size(b []byte) (int, error) {
	if len(b) < LogOverhead {
		return 0, ErrShort
	}
	l := int32(binary.BigEndian.Uint32(b[offLength:]))
	if l < HeaderSize-LogOverhead {
		return 0, ErrLength
	}
	return LogOverhead + int(l), nil
}

// BaseOffset returns the base offset field. b must hold at least 8 bytes.
func BaseOffset(b []byte) int64 { return int64(binary.BigEndian.Uint64(b[offBaseOffset:])) }

// LastOffsetDelta returns the last offset delta. b must hold a header.
func LastOffsetDelta(b []byte) int32 {
	return int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))
}

// MaxTimestamp returns the max timestamp field. b must hold a header.
func MaxTimestamp(b []byte) int64 { return int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])) }

// SetBaseOffset patches the base offset. The CRC does not cover it.
func SetBaseOffset(b []byte, offset int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(offset))
}

// SetPartitionLeaderEpoch patches the leader epoch. The CRC does not cover it.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the batch as LogAppendTime, sets its max timestamp
// to ts and recomputes the CRC. b must hold exactly one valid batch.
func SetLogAppendTime(b []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(b[offAttributes:]) | AttrLogAppendTime
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	size := Size0(b)
	binary.BigEndian.PutUint32(b[offCRC:], crc32c.Checksum(b[offAttributes:size]))
}

// Size0 returns the size from the length field without checks. b must hold a
// validated header.
func Size0(b []byte) int { return LogOverhead + int(int32(binary.BigEndian.Uint32(b[offLength:]))) }

// Checksum computes the CRC-32C of a batch's covered bytes (attributes to
// end). b must hold exactly one batch.
func Checksum(b []byte) uint32 { return crc32c.Checksum(b[offAttributes:]) }

// SetCRC recomputes and stores the CRC of the batch b (exactly one batch).
func SetCRC(b []byte) {
	binary.BigEndian.PutUint32(b[offCRC:], crc32c.Checksum(b[offAttributes:]))
}
