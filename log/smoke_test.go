package log

import (
	"context"
	"fmt"
	"testing"
)

func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{SegmentBytes: 4096, Logger: quietLogger, IndexIntervalBytes: 256}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 0; i < 100; i++ {
		b := makeBatch(t, "x", 3, int64(1000+i*10))
		res, err := l.Append(b)
		if err != nil {
			t.Fatal(err)
		}
		if res.FirstOffset != int64(i*3) || res.LastOffset != int64(i*3+2) {
			t.Fatalf("append %d: got %+v", i, res)
		}
		for j := 0; j < 3; j++ {
			want = append(want, fmtRec(int64(i*3+j), "x", j))
		}
	}
	if err := l.WaitDurable(context.Background(), 299); err != nil {
		t.Fatal(err)
	}
	if l.NumSegments() < 2 {
		t.Fatalf("expected rolls, got %d segments", l.NumSegments())
	}
	got := readAll(t, l)
	check(t, got, want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.EndOffset() != 300 {
		t.Fatalf("end offset after reopen %d", l.EndOffset())
	}
	check(t, readAll(t, l), want)
	off, ts, found, err := l.OffsetForTimestamp(1000 + 50*10 + 1)
	if err != nil || !found || off != 151 || ts != 1501 {
		t.Fatalf("by timestamp: %d %d %v %v", off, ts, found, err)
	}
}

func fmtRec(off int64, tag string, i int) string {
	return fmtS("%d:v%s-%d", off, tag, i)
}

func check(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("record %d: got %q want %q", i, got[i], want[i])
		}
	}
}

var fmtS = fmt.Sprintf
