package log

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/weirhq/weir/batch"
)

// quietLogger discards log output in tests.
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// makeBatch builds one uncompressed batch of n records whose values are
// "v<tag>-<i>" and timestamps ts, ts+1, ...
func makeBatch(t testing.TB, tag string, n int, ts int64) []byte {
	t.Helper()
	b, err := batch.NewBuilder(nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := b.Append([]byte(fmt.Sprintf("k%d", i)), []byte(fmt.Sprintf("v%s-%d", tag, i)), nil, ts+int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	return b.AppendTo(nil)
}

// readAll reads every record value from start to end.
func readAll(t testing.TB, l *Log) []string {
	t.Helper()
	var out []string
	off := l.StartOffset()
	for off < l.EndOffset() {
		v, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		data, next, err := v.Batches()
		if err != nil {
			t.Fatal(err)
		}
		if next <= off && v.Empty() {
			v.Release()
			break
		}
		for len(data) > 0 {
			var it batch.Iter
			size := batch.Size0(data)
			if err := it.Reset(data[:size]); err != nil {
				t.Fatal(err)
			}
			var r batch.Record
			for it.Next(&r) {
				if r.Offset >= off {
					out = append(out, fmt.Sprintf("%d:%s", r.Offset, r.Value))
				}
			}
			if it.Err() != nil {
				t.Fatal(it.Err())
			}
			data = data[size:]
		}
		v.Release()
		off = next
	}
	return out
}
