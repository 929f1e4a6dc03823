// Package batchgen builds record batches of an exact size for the storage
// engine's benchmarks (package log's and bench/storagebench's), so that
// both measure the same bytes.
package batchgen

import (
	"fmt"

	"github.com/weirhq/weir/batch"
)

// Sized returns one uncompressed v2 batch of exactly size bytes, base
// offset 0, holding max(2, size/1024) records of about equal values (about
// 1000 bytes each from 2 KiB on) with deterministic contents. Sizes of 128
// bytes and more can be built; below that it may return an error.
func Sized(size int) ([]byte, error) {
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
	return nil, fmt.Errorf("batchgen: cannot build a batch of exactly %d bytes", size)
}
