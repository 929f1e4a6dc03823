package log

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weirhq/weir/internal/vfs"
)

// Error injection: ENOSPC or EIO on write or fsync must make the log refuse
// further appends with a clear error (wrapping ErrFailed and the cause) and
// never report durable data whose fsync failed; reopening on a healthy file
// system recovers everything that was reported durable.

// faultLog opens a log on an ErrorFS over the real file system.
func faultLog(t *testing.T, dir string, o Options) (*Log, *vfs.ErrorFS, *syncBuffer) {
	t.Helper()
	efs := vfs.NewErrorFS(vfs.OS)
	var buf syncBuffer
	o.FS = efs
	o.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	if o.MaxIndexBytes == 0 {
		o.MaxIndexBytes = 4096
	}
	l, err := Open(dir, &o)
	if err != nil {
		t.Fatal(err)
	}
	return l, efs, &buf
}

// appendDet appends k detBatch batches at the log end.
func appendDet(t *testing.T, l *Log, k int) (AppendResult, error) {
	t.Helper()
	base := l.EndOffset()
	buf, next := detBatches(base, k)
	res, err := l.Append(buf)
	if err == nil && (res.FirstOffset != base || res.LastOffset != next-1) {
		t.Fatalf("append at %d: %+v, want [%d, %d]", base, res, base, next-1)
	}
	return res, err
}

// oneShot returns an injector failing the first operation of kind op on a
// path ending in suffix after it is armed, and nothing else: later
// operations succeed again, so that a log that retried would appear to
// work.
func oneShot(op vfs.Op, suffix string, err error) (inject func(vfs.Op, string) error, arm func(), fired func() bool) {
	var armed, done atomic.Bool
	inject = func(o vfs.Op, path string) error {
		if o == op && strings.HasSuffix(path, suffix) && armed.Load() && done.CompareAndSwap(false, true) {
			return err
		}
		return nil
	}
	return inject, func() { armed.Store(true) }, done.Load
}

// wantFailed checks that err is the log's sticky failure, naming cause.
func wantFailed(t *testing.T, what string, err, cause error) {
	t.Helper()
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("%s: err %v, want ErrFailed", what, err)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Fatalf("%s: err %v does not wrap %v", what, err, cause)
	}
}

// staysFailed checks a log after a fault: its durable offset stays at
// durable (no stray flush moves it), the failure was logged, Close reports
// it, and reopening dir finds everything durable intact.
func staysFailed(t *testing.T, l *Log, dir string, durable int64, logBuf fmt.Stringer) {
	t.Helper()
	time.Sleep(5 * time.Millisecond) // a stray flush would run now
	if d := l.DurableOffset(); d != durable {
		t.Fatalf("durable offset moved from %d to %d after the failure", durable, d)
	}
	if logged := logBuf.String(); !strings.Contains(logged, "refusing further appends") {
		t.Errorf("the failure was not logged:\n%s", logged)
	}
	if err := l.Close(); err == nil {
		t.Errorf("Close of a failed log returned nil")
	}
	l = reopenHealthy(t, dir, durable)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// reopenHealthy reopens dir on the real file system after a fault and
// checks that everything reported durable is intact.
func reopenHealthy(t *testing.T, dir string, durable int64) *Log {
	t.Helper()
	var buf syncBuffer
	l, err := Open(dir, &Options{MaxIndexBytes: 4096, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatalf("reopen after the fault: %v", err)
	}
	if err := checkDet(l, durable); err != nil {
		l.Close()
		t.Fatalf("after reopening (durable %d): %v\nlog:\n%s", durable, err, buf.String())
	}
	// The recovered log works.
	if _, err := appendDet(t, l, 2); err != nil {
		t.Fatalf("append after recovery: %v", err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := checkDet(l, l.EndOffset()); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestFaultWrite fails a write (ENOSPC, EIO, or a short write) to the
// active segment or the preallocation of a new one.
func TestFaultWrite(t *testing.T) {
	tests := []struct {
		name   string
		op     vfs.Op
		suffix string
		err    error
		cause  error
		roll   bool // the failing append must roll first
	}{
		{"ENOSPC on write", vfs.OpWrite, ".log", syscall.ENOSPC, syscall.ENOSPC, false},
		{"EIO on write", vfs.OpWrite, ".log", syscall.EIO, syscall.EIO, false},
		{"short write ENOSPC", vfs.OpWrite, ".log", vfs.PartialWrite(syscall.ENOSPC), syscall.ENOSPC, false},
		{"ENOSPC preallocating a new segment", vfs.OpAllocate, ".log", syscall.ENOSPC, syscall.ENOSPC, true},
		{"EIO sizing an index during a roll", vfs.OpTruncate, ".index", syscall.EIO, syscall.EIO, true},
		{"ENOSPC creating a new segment file", vfs.OpOpen, ".log", syscall.ENOSPC, syscall.ENOSPC, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "log")
			// Syncs only when asked (Sync), so that the unsynced
			// appends below stay unsynced until the fault.
			l, efs, logBuf := faultLog(t, dir, Options{SegmentBytes: 16 << 10, IndexIntervalBytes: 512, FlushMaxDelay: time.Hour})
			for range 20 {
				if _, err := appendDet(t, l, 2); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			durable := l.DurableOffset()
			if durable != l.EndOffset() {
				t.Fatalf("durable %d after Sync, end %d", durable, l.EndOffset())
			}
			// Unsynced appends that the failure must not let become
			// durable.
			for range 3 {
				if _, err := appendDet(t, l, 1); err != nil {
					t.Fatal(err)
				}
			}
			end := l.EndOffset()
			failedWaiter := make(chan error, 1)
			l.OnDurable(end-1, func(err error) { failedWaiter <- err })

			inject, arm, fired := oneShot(tc.op, tc.suffix, tc.err)
			efs.Inject(inject)
			arm()
			if tc.roll {
				err := l.Roll()
				if !fired() {
					t.Fatalf("the roll did not reach the fault (err %v)", err)
				}
				wantFailed(t, "roll", err, tc.cause)
			} else {
				_, err := appendDet(t, l, 2)
				if !fired() {
					t.Fatalf("the append did not reach the fault (err %v)", err)
				}
				wantFailed(t, "append", err, tc.cause)
			}
			if e := l.EndOffset(); e != end {
				t.Fatalf("end offset %d after the failed write, want %d", e, end)
			}
			// The file system is healthy again; the log must still
			// refuse.
			for range 2 {
				_, err := appendDet(t, l, 1)
				wantFailed(t, "append after the failure", err, tc.cause)
			}
			wantFailed(t, "Err", l.Err(), tc.cause)
			wantFailed(t, "roll after the failure", l.Roll(), nil)
			wantFailed(t, "Sync after the failure", l.Sync(), nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			wantFailed(t, "WaitDurable of unsynced data", l.WaitDurable(ctx, end-1), nil)
			if err := l.WaitDurable(ctx, durable-1); err != nil {
				t.Fatalf("WaitDurable of data durable before the failure: %v", err)
			}
			if err := waitCallback(failedWaiter); !errors.Is(err, ErrFailed) {
				t.Fatalf("OnDurable waiter got %v, want ErrFailed", err)
			}
			staysFailed(t, l, dir, durable, logBuf)
		})
	}
}

// waitCallback returns what an OnDurable callback reported; callbacks of
// failed waiters may run just after WaitDurable returned.
func waitCallback(ch <-chan error) error {
	select {
	case err := <-ch:
		return err
	case <-time.After(5 * time.Second):
		return errors.New("the OnDurable callback was never called")
	}
}

// TestFaultSync fails an fsync (of a segment, an index or the directory)
// or the checkpoint's rename with EIO or ENOSPC.
func TestFaultSync(t *testing.T) {
	tests := []struct {
		name   string
		op     vfs.Op
		suffix string
		err    error
		roll   bool // seal a segment before syncing, so indexes and the directory are synced
		always bool // FlushAlways: Append itself reports the failure
	}{
		{"EIO on segment fsync", vfs.OpSync, ".log", syscall.EIO, false, false},
		{"ENOSPC on segment fsync", vfs.OpSync, ".log", syscall.ENOSPC, false, false},
		{"EIO on segment fsync, flush always", vfs.OpSync, ".log", syscall.EIO, false, true},
		{"EIO on index fsync after a roll", vfs.OpSync, ".index", syscall.EIO, true, false},
		{"EIO on time index fsync after a roll", vfs.OpSync, ".timeindex", syscall.EIO, true, false},
		{"EIO on directory fsync after a roll", vfs.OpSyncDir, "log", syscall.EIO, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "log")
			// Large segments: no roll, so no background checkpoint
			// write, before the fault is armed.
			o := Options{SegmentBytes: 1 << 20, IndexIntervalBytes: 512}
			if tc.always {
				o.FlushPolicy = FlushAlways
			}
			if tc.roll {
				// Only the roll's flush may sync the append before
				// it: otherwise it could become durable first.
				o.FlushMaxDelay = time.Hour
			}
			l, efs, logBuf := faultLog(t, dir, o)
			for range 20 {
				if _, err := appendDet(t, l, 2); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			durable := l.DurableOffset()
			inject, arm, fired := oneShot(tc.op, tc.suffix, tc.err)
			efs.Inject(inject)
			arm()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			failedWaiter := make(chan error, 1)
			last := int64(-1) // an offset whose flush fails
			if tc.roll {
				res, err := appendDet(t, l, 1)
				if err != nil {
					t.Fatal(err)
				}
				last = res.LastOffset
				l.OnDurable(last, func(err error) { failedWaiter <- err })
				// The roll seals the segment and schedules the
				// flush that fails; it may run before the next
				// append.
				if err := l.Roll(); err != nil {
					t.Fatal(err)
				}
			}
			res, err := appendDet(t, l, 2)
			switch {
			case tc.always:
				wantFailed(t, "append with FlushAlways", err, tc.err)
			case tc.roll:
				if err != nil {
					wantFailed(t, "append after the failing roll", err, tc.err)
				}
			default:
				if err != nil {
					t.Fatalf("append: %v", err)
				}
				last = res.LastOffset
				l.OnDurable(last, func(err error) { failedWaiter <- err })
			}
			if last >= 0 {
				wantFailed(t, "WaitDurable", l.WaitDurable(ctx, last), tc.err)
				if err := waitCallback(failedWaiter); !errors.Is(err, ErrFailed) {
					t.Fatalf("OnDurable waiter got %v, want ErrFailed", err)
				}
			}
			if !fired() {
				t.Fatal("the fault was never reached")
			}
			d := l.DurableOffset()
			if d > durable {
				t.Fatalf("durable offset advanced from %d to %d over a failed fsync", durable, d)
			}
			// The file system is healthy again: nothing may become
			// durable, nothing may be appended.
			wantFailed(t, "Sync after the failure", l.Sync(), tc.err)
			_, err = appendDet(t, l, 1)
			wantFailed(t, "append after the failure", err, tc.err)
			wantFailed(t, "WaitDurable after the failure", l.WaitDurable(ctx, l.EndOffset()-1), nil)
			staysFailed(t, l, dir, d, logBuf)
		})
	}
}

// TestFaultCheckpoint fails the checkpoint write that the first append
// after Open makes (marking the log open for writing).
func TestFaultCheckpoint(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpSync, vfs.OpRename, vfs.OpWrite} {
		t.Run(op.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "log")
			l, efs, _ := faultLog(t, dir, Options{})
			suffix := CheckpointFile + ".tmp"
			inject, arm, fired := oneShot(op, suffix, syscall.EIO)
			efs.Inject(inject)
			arm()
			_, err := appendDet(t, l, 1)
			if !fired() {
				t.Fatalf("the fault was never reached (append: %v)", err)
			}
			wantFailed(t, "first append", err, syscall.EIO)
			if l.EndOffset() != 0 || l.DurableOffset() != 0 {
				t.Fatalf("after a failed first append: end %d durable %d", l.EndOffset(), l.DurableOffset())
			}
			_, err = appendDet(t, l, 1)
			wantFailed(t, "second append", err, syscall.EIO)
			l.Close()
			l = reopenHealthy(t, dir, 0)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
