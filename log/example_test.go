package log_test

import (
	"context"
	"fmt"
	"os"

	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/log"
)

// Append records, wait until they are durable, and read them back without
// copying.
func Example() {
	dir, _ := os.MkdirTemp("", "weir-example")
	defer os.RemoveAll(dir)

	l, err := log.Open(dir, nil) // defaults: group commit, 1 GiB segments
	if err != nil {
		panic(err)
	}
	defer l.Close()

	// Build a batch of records; Append assigns their offsets.
	b, _ := batch.NewBuilder(&batch.BuilderOptions{Compression: batch.Zstd})
	for i := 0; i < 3; i++ {
		b.Append([]byte(fmt.Sprintf("user-%d", i)), []byte(fmt.Sprintf("clicked %d", i)), nil, 1700000000000+int64(i))
	}
	res, err := l.Append(b.AppendTo(nil))
	if err != nil {
		panic(err)
	}
	// Block until an fsync covers the records (group commit, ~1 ms).
	if err := l.WaitDurable(context.Background(), res.LastOffset); err != nil {
		panic(err)
	}

	// Read: a zero-copy view of whole batches.
	v, err := l.Read(0, 1<<20)
	if err != nil {
		panic(err)
	}
	defer v.Release()
	data, next, _ := v.Batches()
	var it batch.Iter
	var r batch.Record
	for len(data) > 0 {
		size := batch.Size0(data)
		if err := it.Reset(data[:size]); err != nil {
			panic(err)
		}
		for it.Next(&r) {
			fmt.Printf("%d %s=%s\n", r.Offset, r.Key, r.Value)
		}
		data = data[size:]
	}
	fmt.Println("next offset:", next, "durable:", l.DurableOffset())
	// Output:
	// 0 user-0=clicked 0
	// 1 user-1=clicked 1
	// 2 user-2=clicked 2
	// next offset: 3 durable: 3
}
