package batch

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// BuilderOptions configure a Builder. The zero value builds uncompressed
// batches from a producer without idempotence.
type BuilderOptions struct {
	// Compression is the codec for the records section. Default None.
	Compression Compression

	// Idempotent makes the batch carry ProducerID, ProducerEpoch and
	// BaseSequence. When false (the default) the batch carries -1 for all
	// three, as a producer without idempotence sends; the three fields
	// below are then ignored. (A flag rather than -1 defaults because 0 is
	// a valid producer ID and sequence.)
	Idempotent bool
	// ProducerID is the producer ID, >= 0. Used only when Idempotent.
	ProducerID int64
	// ProducerEpoch is the producer epoch, >= 0. Used only when Idempotent.
	ProducerEpoch int16
	// BaseSequence is the sequence number of the batch's first record,
	// >= 0. Used only when Idempotent; see also Builder.SetBaseSequence.
	BaseSequence int32

	// Transactional sets the transactional attribute. Requires Idempotent.
	Transactional bool
	// Control sets the control attribute: the records must be control
	// records (transaction markers). Requires Transactional. Brokers
	// write these; producers never do.
	Control bool
}

// Validate reports whether o is consistent, with an error wrapping
// ErrInvalidOptions that names the offending field.
func (o *BuilderOptions) Validate() error {
	switch {
	case !o.Compression.known():
		return fmt.Errorf("%w: Compression %d is not a Kafka codec", ErrInvalidOptions, o.Compression)
	case o.Transactional && !o.Idempotent:
		return fmt.Errorf("%w: Transactional requires Idempotent", ErrInvalidOptions)
	case o.Control && !o.Transactional:
		return fmt.Errorf("%w: Control requires Transactional", ErrInvalidOptions)
	case o.Idempotent && o.ProducerID < 0:
		return fmt.Errorf("%w: ProducerID %d < 0", ErrInvalidOptions, o.ProducerID)
	case o.Idempotent && o.ProducerEpoch < 0:
		return fmt.Errorf("%w: ProducerEpoch %d < 0", ErrInvalidOptions, o.ProducerEpoch)
	case o.Idempotent && o.BaseSequence < 0:
		return fmt.Errorf("%w: BaseSequence %d < 0", ErrInvalidOptions, o.BaseSequence)
	}
	return nil
}

// Builder encodes records into one v2 batch, so that callers never write the
// wire format by hand:
//
//	b, _ := batch.NewBuilder(&batch.BuilderOptions{Compression: batch.Zstd})
//	b.Append(key, value, nil, ts)
//	buf = b.AppendTo(buf[:0])
//	b.Reset()
//
// Records are encoded as they are added, into a buffer the Builder keeps:
// added keys, values and headers are copied, never retained. After the first
// few batches, building uncompressed batches allocates nothing (given a dst
// with room).
//
// The zero value is ready to use with default options. A Builder is not safe
// for concurrent use.
type Builder struct {
	opts   BuilderOptions
	recs   []byte // encoded, uncompressed records section
	n      int32  // records added
	baseTS int64  // first record's timestamp
	maxTS  int64  // largest timestamp
}

// NewBuilder returns a Builder with a copy of opts; nil means defaults. It
// fails with an error wrapping ErrInvalidOptions if opts do not validate.
func NewBuilder(opts *BuilderOptions) (*Builder, error) {
	b := new(Builder)
	if opts != nil {
		if err := opts.Validate(); err != nil {
			return nil, err
		}
		b.opts = *opts
	}
	return b, nil
}

// Options returns a copy of the Builder's options.
func (b *Builder) Options() BuilderOptions { return b.opts }

// SetBaseSequence sets the base sequence of the batches built from now on,
// for idempotent producers that number each batch after the last
// (BaseSequence + Len of the previous batch). It has no effect unless the
// options are Idempotent. seq must be >= 0.
func (b *Builder) SetBaseSequence(seq int32) { b.opts.BaseSequence = seq }

// Len returns the number of records added since the last Reset.
func (b *Builder) Len() int { return int(b.n) }

// Size returns the size in bytes the batch would have uncompressed:
// HeaderSize plus the encoded records. Use it to cap batch sizes.
func (b *Builder) Size() int { return HeaderSize + len(b.recs) }

// Reset discards the added records, keeping the options and buffers.
func (b *Builder) Reset() {
	b.recs = b.recs[:0]
	b.n, b.baseTS, b.maxTS = 0, 0, 0
}

// Append adds a record with the given key, value (nil for null), headers and
// timestamp (milliseconds since the epoch). It copies its arguments. It fails
// with an error wrapping ErrTooLarge, adding nothing, if the batch would
// exceed the format's limits (2 GiB, 2^31-1 records).
func (b *Builder) Append(key, value []byte, headers []RecordHeader, timestamp int64) error {
	return b.add(0, timestamp, key, value, headers)
}

// Add adds r as Append does, using r.Attributes, r.Timestamp, r.Key, r.Value
// and r.Headers; the offset and timestamp deltas are the Builder's to assign.
func (b *Builder) Add(r *Record) error {
	return b.add(r.Attributes, r.Timestamp, r.Key, r.Value, r.Headers)
}

func (b *Builder) add(attrs int8, ts int64, key, value []byte, headers []RecordHeader) error {
	baseTS := b.baseTS
	if b.n == 0 {
		baseTS = ts
	}
	tsDelta := ts - baseTS
	offDelta := b.n
	body := 1 + varintLen(tsDelta) + varintLen(int64(offDelta)) +
		bytesLen(key) + bytesLen(value) + varintLen(int64(len(headers)))
	for i := range headers {
		body += varintLen(int64(len(headers[i].Key))) + len(headers[i].Key) + bytesLen(headers[i].Value)
	}
	if !fits(b.n, len(b.recs), body) {
		return fmt.Errorf("%w: record %d of %d bytes", ErrTooLarge, b.n, body)
	}

	recs := slices.Grow(b.recs, varintLen(int64(body))+body)
	recs = binary.AppendVarint(recs, int64(body))
	recs = append(recs, byte(attrs))
	recs = binary.AppendVarint(recs, tsDelta)
	recs = binary.AppendVarint(recs, int64(offDelta))
	recs = appendNullableBytes(recs, key)
	recs = appendNullableBytes(recs, value)
	recs = binary.AppendVarint(recs, int64(len(headers)))
	for i := range headers {
		recs = binary.AppendVarint(recs, int64(len(headers[i].Key)))
		recs = append(recs, headers[i].Key...)
		recs = appendNullableBytes(recs, headers[i].Value)
	}
	b.recs = recs
	if b.n == 0 {
		b.baseTS, b.maxTS = ts, ts
	} else if ts > b.maxTS {
		b.maxTS = ts
	}
	b.n++
	return nil
}

// AppendTo appends the batch of the records added since the last Reset to
// dst and returns it. The batch has baseOffset 0, partitionLeaderEpoch -1,
// CreateTime timestamps with baseTimestamp the first record's and
// maxTimestamp the largest, offset deltas 0..Len()-1, and a CRC-32C; the
// records section is compressed with the options' codec. With no records,
// AppendTo returns dst unchanged: the format has no empty producer batch.
//
// AppendTo does not change the Builder: calling it twice appends the same
// batch twice.
func (b *Builder) AppendTo(dst []byte) []byte {
	if b.n == 0 {
		return dst
	}
	start := len(dst)
	c := b.opts.Compression
	if c == None {
		dst = slices.Grow(dst, HeaderSize+len(b.recs))
	} else {
		dst = slices.Grow(dst, HeaderSize)
	}
	dst = dst[:start+HeaderSize]

	attrs := uint16(c) & AttrCompressionMask
	pid, epoch, seq := int64(-1), int16(-1), int32(-1)
	if b.opts.Idempotent {
		pid, epoch, seq = b.opts.ProducerID, b.opts.ProducerEpoch, b.opts.BaseSequence
	}
	if b.opts.Transactional {
		attrs |= AttrTransactional
	}
	if b.opts.Control {
		attrs |= AttrControl
	}
	h := dst[start:]
	binary.BigEndian.PutUint64(h[offBaseOffset:], 0)
	// batchLength is patched below, once the records are in.
	binary.BigEndian.PutUint32(h[offLeaderEpoch:], math.MaxUint32) // -1
	h[offMagic] = Magic
	binary.BigEndian.PutUint16(h[offAttributes:], attrs)
	binary.BigEndian.PutUint32(h[offLastOffsetDelta:], uint32(b.n-1))
	binary.BigEndian.PutUint64(h[offBaseTimestamp:], uint64(b.baseTS))
	binary.BigEndian.PutUint64(h[offMaxTimestamp:], uint64(b.maxTS))
	binary.BigEndian.PutUint64(h[offProducerID:], uint64(pid))
	binary.BigEndian.PutUint16(h[offProducerEpoch:], uint16(epoch))
	binary.BigEndian.PutUint32(h[offBaseSequence:], uint32(seq))
	binary.BigEndian.PutUint32(h[offRecordCount:], uint32(b.n))

	if c != None {
		dst = compress(dst, c, b.recs)
		if len(dst)-start-LogOverhead > math.MaxInt32 {
			// add keeps the uncompressed size in range; only
			// incompressible data near 2 GiB grows past it. Store
			// the records uncompressed instead.
			dst = dst[:start+HeaderSize]
			c = None
			binary.BigEndian.PutUint16(dst[start+offAttributes:], attrs&^AttrCompressionMask)
		}
	}
	if c == None {
		dst = append(dst, b.recs...)
	}
	out := dst[start:]
	binary.BigEndian.PutUint32(out[offLength:], uint32(len(out)-LogOverhead))
	SetCRC(out)
	return dst
}

// fits reports whether a record with a body of body bytes can join n records
// encoded in recsLen bytes without overflowing the record count or the
// batch's int32 length field, which counts everything after itself.
func fits(n int32, recsLen, body int) bool {
	if n == math.MaxInt32 || body > math.MaxInt32 {
		return false
	}
	return HeaderSize-LogOverhead+recsLen+varintLen(int64(body))+body <= math.MaxInt32
}

// varintLen is the encoded size of v as a zigzag varint.
func varintLen(v int64) int {
	u := uint64(v)<<1 ^ uint64(v>>63)
	return (bits.Len64(u|1) + 6) / 7
}

// bytesLen is the encoded size of a nullable byte string.
func bytesLen(b []byte) int {
	if b == nil {
		return 1
	}
	return varintLen(int64(len(b))) + len(b)
}

func appendNullableBytes(dst, b []byte) []byte {
	if b == nil {
		return append(dst, 1) // zigzag(-1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}
