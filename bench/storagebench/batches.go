package storagebench

import (
	"encoding/binary"

	"github.com/weirhq/weir/batch"
)

// recordsIn returns the number of offsets the batch b takes.
func recordsIn(b []byte) int64 { return int64(batch.LastOffsetDelta(b)) + 1 }

// xorWords touches every byte of b: the xor of its little-endian 8-byte
// words (and of the tail bytes).
func xorWords(b []byte) uint64 {
	var x0, x1, x2, x3 uint64
	for len(b) >= 32 {
		x0 ^= binary.LittleEndian.Uint64(b)
		x1 ^= binary.LittleEndian.Uint64(b[8:])
		x2 ^= binary.LittleEndian.Uint64(b[16:])
		x3 ^= binary.LittleEndian.Uint64(b[24:])
		b = b[32:]
	}
	for ; len(b) >= 8; b = b[8:] {
		x0 ^= binary.LittleEndian.Uint64(b)
	}
	for _, c := range b {
		x1 ^= uint64(c)
	}
	return x0 ^ x1 ^ x2 ^ x3
}
