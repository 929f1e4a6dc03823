package storagebench

import (
	"encoding/binary"
	"fmt"

	"github.com/weirhq/weir/batch"
)

// makeSizedBatch builds one uncompressed v2 batch of exactly size bytes
// (size >= MinBatchSize) holding at least two records of about 1000 bytes
// each, as log/bench_timing_test.go does.
func makeSizedBatch(size int) ([]byte, error) {
	n := max(2, size/1024)
	valueLen := make([]int, n)
	for i := range valueLen {
		valueLen[i] = max(1, (size-batch.HeaderSize)/n-12)
	}
	val := make([]byte, size)
	for i := range val {
		val[i] = byte(i*7 + i>>8)
	}
	bd, err := batch.NewBuilder(nil)
	if err != nil {
		return nil, err
	}
	for range 20 {
		bd.Reset()
		for i, vl := range valueLen {
			if err := bd.Append(nil, val[:vl], nil, 1_700_000_000_000+int64(i)); err != nil {
				return nil, err
			}
		}
		b := bd.AppendTo(nil)
		diff := size - len(b)
		if diff == 0 {
			return b, nil
		}
		// Varint widths may shift by a byte; converge in a few steps.
		last := &valueLen[n-1]
		*last = max(1, *last+diff)
		if diff < 0 && *last == 1 {
			break
		}
	}
	return nil, fmt.Errorf("cannot build a batch of exactly %d bytes", size)
}

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
