package batch_test

import (
	"fmt"

	"github.com/weirhq/weir/batch"
)

func Example() {
	// Build a zstd-compressed batch of three records.
	b, err := batch.NewBuilder(&batch.BuilderOptions{Compression: batch.Zstd})
	if err != nil {
		panic(err)
	}
	b.Append([]byte("user-1"), []byte("signed up"), nil, 1_700_000_000_000)
	b.Append([]byte("user-2"), []byte("logged in"), []batch.RecordHeader{
		{Key: []byte("source"), Value: []byte("mobile")},
	}, 1_700_000_000_250)
	b.Append([]byte("user-1"), nil, nil, 1_700_000_000_100) // a tombstone
	buf := b.AppendTo(nil)

	// The broker assigns offsets by patching the header; the CRC still holds.
	batch.SetBaseOffset(buf, 42)
	h, err := batch.Validate(buf)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d records, offsets %d-%d, %s, max timestamp %d\n",
		h.NumRecords, h.BaseOffset, h.LastOffset(), h.Compression(), h.MaxTimestamp)

	// Read the records back. Keys and values alias the Iter's buffer: copy
	// them to keep them past the next Reset.
	var it batch.Iter
	var r batch.Record
	if err := it.Reset(buf); err != nil {
		panic(err)
	}
	for it.Next(&r) {
		value := fmt.Sprintf("%q", r.Value)
		if r.Value == nil {
			value = "null"
		}
		fmt.Printf("offset %d ts %d key %s value %s headers %d\n",
			r.Offset, r.Timestamp, r.Key, value, len(r.Headers))
	}
	if err := it.Err(); err != nil {
		panic(err)
	}
	// Output:
	// 3 records, offsets 42-44, zstd, max timestamp 1700000000250
	// offset 42 ts 1700000000000 key user-1 value "signed up" headers 0
	// offset 43 ts 1700000000250 key user-2 value "logged in" headers 1
	// offset 44 ts 1700000000100 key user-1 value null headers 0
}
