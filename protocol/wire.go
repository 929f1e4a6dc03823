package protocol

import (
	"encoding/binary"
	"errors"
)

// ErrShort means a header or message ended early.
var ErrShort = errors.New("protocol: message truncated")

// AppendInt16 appends v big-endian.
func AppendInt16(dst []byte, v int16) []byte { return binary.BigEndian.AppendUint16(dst, uint16(v)) }

// AppendInt32 appends v big-endian.
func AppendInt32(dst []byte, v int32) []byte { return binary.BigEndian.AppendUint32(dst, uint32(v)) }

// AppendInt64 appends v big-endian.
func AppendInt64(dst []byte, v int64) []byte { return binary.BigEndian.AppendUint64(dst, uint64(v)) }

// AppendUvarint appends an unsigned varint.
func AppendUvarint(dst []byte, v uint32) []byte { return binary.AppendUvarint(dst, uint64(v)) }

// AppendString appends a string with an int16 length, or a compact string
// (uvarint length+1) when compact.
func AppendString(dst []byte, s string, compact bool) []byte {
	if compact {
		dst = AppendUvarint(dst, uint32(len(s)+1))
	} else {
		dst = AppendInt16(dst, int16(len(s)))
	}
	return append(dst, s...)
}

// AppendArrayLen appends an array length, compact (uvarint n+1) or int32;
// n < 0 encodes a null array.
func AppendArrayLen(dst []byte, n int, compact bool) []byte {
	if compact {
		return AppendUvarint(dst, uint32(n+1))
	}
	return AppendInt32(dst, int32(n))
}

// AppendBytesLen appends the length prefix of a (nullable) bytes field,
// compact (uvarint n+1) or int32; n < 0 encodes null.
func AppendBytesLen(dst []byte, n int, compact bool) []byte {
	if compact {
		return AppendUvarint(dst, uint32(n+1))
	}
	return AppendInt32(dst, int32(n))
}

// AppendEmptyTags appends an empty tagged-field section.
func AppendEmptyTags(dst []byte) []byte { return append(dst, 0) }

// skipTags skips a tagged-field section at the start of b.
func skipTags(b []byte) ([]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, ErrShort
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		_, k := binary.Uvarint(b) // tag
		if k <= 0 {
			return nil, ErrShort
		}
		b = b[k:]
		size, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < size {
			return nil, ErrShort
		}
		b = b[k+int(size):]
	}
	return b, nil
}
