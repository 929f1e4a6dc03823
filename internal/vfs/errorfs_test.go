package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// wantInjected checks that err is an *os.PathError for op on path wrapping
// target.
func wantInjected(t *testing.T, err error, op Op, path string, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%v: error %v, want %v", op, err, target)
	}
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != op.String() || pe.Path != path {
		t.Fatalf("%v: error %#v, want an *os.PathError{Op: %q, Path: %q}", op, err, op.String(), path)
	}
}

func TestErrorFSPassThrough(t *testing.T) {
	e, dir := NewErrorFS(OS), t.TempDir()
	p := filepath.Join(dir, "a")
	if err := WriteFileAtomic(e, p, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	wantFile(t, p, "hello")
}

func TestErrorFSInjectPerOpAndPath(t *testing.T) {
	e, dir := NewErrorFS(OS), t.TempDir()
	e.Inject(func(op Op, path string) error {
		if op == OpSync && strings.HasSuffix(path, ".log") {
			return syscall.EIO
		}
		return nil
	})
	log, idx := filepath.Join(dir, "0.log"), filepath.Join(dir, "0.index")
	for _, p := range []string{log, idx} {
		f, err := e.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("x"), 0); err != nil {
			t.Fatal(err)
		}
		err = f.Sync()
		if p == log {
			wantInjected(t, err, OpSync, log, syscall.EIO)
		} else if err != nil {
			t.Fatalf("sync %s: %v", p, err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}

	e.Reset()
	f, err := e.OpenFile(log, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatalf("sync after Reset: %v", err)
	}
}

func TestErrorFSEveryOp(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.WriteFile(a, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := NewErrorFS(OS)
	f, err := e.OpenFile(a, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var failing Op = -1
	e.Inject(func(op Op, path string) error {
		if op == failing {
			return syscall.EIO
		}
		return nil
	})
	tests := []struct {
		op   Op
		path string
		do   func() error
	}{
		{OpOpen, b, func() error { _, err := e.OpenFile(b, os.O_CREATE|os.O_RDWR, 0o644); return err }},
		{OpWrite, a, func() error { _, err := f.WriteAt([]byte("XX"), 0); return err }},
		{OpRead, a, func() error { _, err := f.ReadAt(make([]byte, 2), 0); return err }},
		{OpSync, a, func() error { return f.Sync() }},
		{OpTruncate, a, func() error { return f.Truncate(0) }},
		{OpAllocate, a, func() error { return f.Allocate(0, 100) }},
		{OpStat, a, func() error { _, err := f.Size(); return err }},
		{OpStat, a, func() error { _, err := e.Stat(a); return err }},
		{OpRemove, a, func() error { return e.Remove(a) }},
		{OpRename, a, func() error { return e.Rename(a, b) }},
		{OpSyncDir, dir, func() error { return e.SyncDir(dir) }},
		{OpMkdirAll, filepath.Join(dir, "d"), func() error { return e.MkdirAll(filepath.Join(dir, "d"), 0o755) }},
		{OpReadDir, dir, func() error { _, err := e.ReadDir(dir); return err }},
	}
	for _, tt := range tests {
		failing = tt.op
		wantInjected(t, tt.do(), tt.op, tt.path, syscall.EIO)
	}
	failing = -1
	// Nothing reached the disk.
	wantFile(t, a, "hello")
	wantGone(t, b)
	wantGone(t, filepath.Join(dir, "d"))

	// A failed Close still releases the file.
	failing = OpClose
	wantInjected(t, f.Close(), OpClose, a, syscall.EIO)
	failing = -1
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second Close: %v, want os.ErrClosed", err)
	}
}

func TestErrorFSFailAfter(t *testing.T) {
	e, dir := NewErrorFS(OS), t.TempDir()
	e.FailAfter(OpWrite, ".log", 2, syscall.ENOSPC)
	log, idx := filepath.Join(dir, "0.log"), filepath.Join(dir, "0.index")
	open := func(p string) File {
		f, err := e.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	lf, xf := open(log), open(idx)
	for i := range 5 {
		// Writes to other paths neither fail nor count.
		if _, err := xf.WriteAt([]byte{'i'}, int64(i)); err != nil {
			t.Fatalf("index write %d: %v", i, err)
		}
		n, err := lf.WriteAt([]byte{'l'}, int64(i))
		if i < 2 {
			if err != nil || n != 1 {
				t.Fatalf("log write %d: %d, %v; want success", i, n, err)
			}
			continue
		}
		if n != 0 {
			t.Fatalf("log write %d: wrote %d bytes, want 0", i, n)
		}
		wantInjected(t, err, OpWrite, log, syscall.ENOSPC)
	}
	wantFile(t, log, "ll")
	wantFile(t, idx, "iiiii")
}

func TestErrorFSFailAfterEmptySuffix(t *testing.T) {
	e, dir := NewErrorFS(OS), t.TempDir()
	e.FailAfter(OpOpen, "", 1, syscall.EMFILE)
	f, err := e.OpenFile(filepath.Join(dir, "a"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	p := filepath.Join(dir, "b")
	_, err = e.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	wantInjected(t, err, OpOpen, p, syscall.EMFILE)
}

func TestErrorFSPartialWrite(t *testing.T) {
	e, dir := NewErrorFS(OS), t.TempDir()
	e.FailAfter(OpWrite, "", 0, PartialWrite(syscall.ENOSPC))
	p := filepath.Join(dir, "a")
	f, err := e.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := f.WriteAt([]byte("0123456789"), 0)
	if n != 5 {
		t.Fatalf("wrote %d bytes, want 5", n)
	}
	wantInjected(t, err, OpWrite, p, syscall.ENOSPC)
	wantFile(t, p, "01234")

	// For other operations the marker is just the error.
	e.Reset()
	e.FailAfter(OpSync, "", 0, PartialWrite(syscall.EIO))
	wantInjected(t, f.Sync(), OpSync, p, syscall.EIO)
}

func TestErrorFSKeepsPathErrors(t *testing.T) {
	e, dir := NewErrorFS(OS), t.TempDir()
	injected := &os.PathError{Op: "fdatasync", Path: "custom", Err: syscall.EIO}
	e.FailAfter(OpRemove, "", 0, injected)
	err := e.Remove(filepath.Join(dir, "a"))
	if err != injected {
		t.Fatalf("got %v, want the injected *os.PathError unchanged", err)
	}
}

// TestErrorFSOverCrashFS checks the recommended layering: a failed Sync does
// not make data durable, so it is lost at the crash.
func TestErrorFSOverCrashFS(t *testing.T) {
	c, dir := newCrash(t)
	e := NewErrorFS(c)
	p := filepath.Join(dir, "a")
	create(t, e, p, []byte("hello"), true)
	syncDir(t, e, dir)

	e.FailAfter(OpSync, "", 0, syscall.EIO)
	f, err := e.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(" world"), 5); err != nil {
		t.Fatal(err)
	}
	wantInjected(t, f.Sync(), OpSync, p, syscall.EIO)
	crash(t, c)
	wantFile(t, p, "hello")
}

func TestOpString(t *testing.T) {
	for op := OpOpen; op <= OpStat; op++ {
		if s := op.String(); s == "" || strings.HasPrefix(s, "Op(") {
			t.Errorf("Op %d has no name", int(op))
		}
	}
	if s := Op(99).String(); s != "Op(99)" {
		t.Errorf("Op(99).String() = %q", s)
	}
}
