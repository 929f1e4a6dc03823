package log

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/weirhq/weir/internal/vfs"
)

// TestFlusherHold: appends to many logs made under a Hold (one Produce
// request for many partitions) become durable together, through syncfs,
// instead of log by log as each append lands; and a Hold never defers a
// flush for more than maxHold.
func TestFlusherHold(t *testing.T) {
	root := t.TempDir()
	fs := vfs.NewCountingFS(vfs.OS)
	fl := NewFlusher(FlusherOptions{})
	defer fl.Close()
	const n = 64
	logs := make([]*Log, n)
	for i := range logs {
		l, err := Open(filepath.Join(root, fmt.Sprintf("p%02d", i)), &Options{FS: fs, Flusher: fl, Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		logs[i] = l
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The first flush of each log also syncs its directory; get past it.
	for _, l := range logs {
		res, err := l.Append(makeBatch(t, "w", 1, 1))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.WaitDurable(ctx, res.LastOffset); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * maxHold) // every log idle: its next append is due at once

	for round := range 3 {
		syncs0, groups0 := fs.FileSyncs(), fl.SyncFSCalls()
		fl.Hold()
		held := time.Now()
		last := make([]int64, n)
		for i, l := range logs {
			res, err := l.Append(makeBatch(t, "x", 2, 1))
			if err != nil {
				t.Fatal(err)
			}
			last[i] = res.LastOffset
		}
		// (On a machine so slow that the appends took maxHold, the
		// flusher was right to go ahead.)
		for i, l := range logs {
			if l.DurableOffset() > last[i] && time.Since(held) < maxHold-time.Millisecond {
				t.Fatalf("round %d: log %d durable while held", round, i)
			}
		}
		fl.Release()
		for i, l := range logs {
			if err := l.WaitDurable(ctx, last[i]); err != nil {
				t.Fatal(err)
			}
		}
		syncs, groups := fs.FileSyncs()-syncs0, fl.SyncFSCalls()-groups0
		t.Logf("round %d: %d fsyncs, %d syncfs", round, syncs, groups)
		if groups == 0 || syncs > n/4 {
			t.Errorf("round %d: %d logs held then released took %d fsyncs and %d syncfs; want them together", round, n, syncs, groups)
		}
		time.Sleep(2 * maxHold)
	}

	// A Hold that is never released delays flushes by maxHold, no more.
	fl.Hold()
	defer fl.Release()
	start := time.Now()
	res, err := logs[0].Append(makeBatch(t, "y", 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := logs[0].WaitDurable(ctx, res.LastOffset); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < maxHold {
		t.Errorf("durable %v after the append under a hold, before maxHold", d)
	}
}
