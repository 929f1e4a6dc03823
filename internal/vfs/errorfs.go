package vfs

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Op is a kind of file system operation, as seen by an ErrorFS injector.
type Op int

// The operations an ErrorFS can fail. The path an injector sees is the name
// given to the FS method, or, for file methods, the name the file was opened
// with.
const (
	// OpOpen is FS.OpenFile.
	OpOpen Op = iota
	// OpWrite is File.WriteAt.
	OpWrite
	// OpRead is File.ReadAt.
	OpRead
	// OpSync is File.Sync.
	OpSync
	// OpTruncate is File.Truncate.
	OpTruncate
	// OpAllocate is File.Allocate.
	OpAllocate
	// OpRemove is FS.Remove.
	OpRemove
	// OpRename is FS.Rename; the path is the old name.
	OpRename
	// OpSyncDir is FS.SyncDir; the path is the directory.
	OpSyncDir
	// OpClose is File.Close.
	OpClose
	// OpMkdirAll is FS.MkdirAll; the path is the directory.
	OpMkdirAll
	// OpReadDir is FS.ReadDir; the path is the directory.
	OpReadDir
	// OpStat is FS.Stat and File.Size.
	OpStat
)

var opNames = [...]string{
	OpOpen:     "open",
	OpWrite:    "write",
	OpRead:     "read",
	OpSync:     "sync",
	OpTruncate: "truncate",
	OpAllocate: "allocate",
	OpRemove:   "remove",
	OpRename:   "rename",
	OpSyncDir:  "syncdir",
	OpClose:    "close",
	OpMkdirAll: "mkdirall",
	OpReadDir:  "readdir",
	OpStat:     "stat",
}

// String returns the operation's name, as used in the Op field of the
// *os.PathError of an injected error.
func (op Op) String() string {
	if op >= 0 && int(op) < len(opNames) {
		return opNames[op]
	}
	return fmt.Sprintf("Op(%d)", int(op))
}

// ErrorFS wraps an FS and injects errors: before every operation it consults
// the installed injectors, and if one returns an error the operation fails
// with it instead of reaching the underlying FS.
//
// An injected error is returned wrapped in an *os.PathError naming the
// operation and path (unless it already is an *os.PathError or
// *os.LinkError), as the real file system does, so errors.Is(err,
// syscall.ENOSPC) works.
//
// A failed operation does nothing, with two exceptions. A failed WriteAt
// returns (0, err) and writes nothing, unless the injected error was made by
// PartialWrite, in which case the first half of the bytes is written and
// WriteAt returns (len(p)/2, err), like a write cut short by ENOSPC. A failed
// Close still closes the underlying file (as close(2) releases the descriptor
// even when it reports an error), then returns the injected error.
//
// Fd and Name are never failed. File handles are not affected by a failure
// (a failed Sync does not poison later calls); an injector wanting sticky
// failures keeps its own state.
//
// An ErrorFS is safe for concurrent use. Injectors may be called concurrently
// and without any ErrorFS lock held; they must be safe for that.
type ErrorFS struct {
	// under is the wrapped file system. Immutable; never nil.
	under FS

	mu struct {
		sync.Mutex
		// injectors are consulted in order; never modified in place, so a
		// copy of the slice header may be used without the lock.
		injectors []func(op Op, path string) error
	}
}

// NewErrorFS returns an ErrorFS over under with no injectors: every
// operation passes through.
func NewErrorFS(under FS) *ErrorFS {
	return &ErrorFS{under: under}
}

// Inject adds fn to the injectors. Before every operation, the injectors are
// called in the order they were added until one returns a non-nil error,
// which the operation then fails with; if all return nil, the operation
// passes through. Wrap an error with PartialWrite for a short write.
func (e *ErrorFS) Inject(fn func(op Op, path string) error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mu.injectors = append(slices.Clip(e.mu.injectors), fn)
}

// Reset removes every injector, including those added by FailAfter.
func (e *ErrorFS) Reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mu.injectors = nil
}

// FailAfter adds an injector that lets the first n operations of kind op on
// paths ending in pathSuffix succeed and fails every later one with err. An
// empty pathSuffix matches every path. Operations failed by an earlier
// injector are not counted.
func (e *ErrorFS) FailAfter(op Op, pathSuffix string, n int, err error) {
	var calls atomic.Int64
	e.Inject(func(o Op, path string) error {
		if o != op || !strings.HasSuffix(path, pathSuffix) {
			return nil
		}
		if calls.Add(1) <= int64(n) {
			return nil
		}
		return err
	})
}

// partialWriteError marks an injected error as a short write.
type partialWriteError struct{ err error }

func (p *partialWriteError) Error() string { return "partial write: " + p.err.Error() }
func (p *partialWriteError) Unwrap() error { return p.err }

// PartialWrite wraps err so that, injected into OpWrite, WriteAt first writes
// half of its bytes, then fails with err (the marker itself is stripped). For
// other operations it is the same as err.
func PartialWrite(err error) error { return &partialWriteError{err} }

// check consults the injectors for op on path. It returns whether a partial
// write was asked for, and the error to fail with, wrapped for the caller.
func (e *ErrorFS) check(op Op, path string) (partial bool, err error) {
	e.mu.Lock()
	injectors := e.mu.injectors
	e.mu.Unlock()
	for _, fn := range injectors {
		if err = fn(op, path); err != nil {
			break
		}
	}
	if err == nil {
		return false, nil
	}
	var pw *partialWriteError
	if errors.As(err, &pw) {
		err, partial = pw.err, true
	}
	var pe *os.PathError
	var le *os.LinkError
	if errors.As(err, &pe) || errors.As(err, &le) {
		return partial, err
	}
	return partial, &os.PathError{Op: op.String(), Path: path, Err: err}
}

// OpenFile opens a file unless OpOpen is failed.
func (e *ErrorFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if _, err := e.check(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := e.under.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &errorFile{fs: e, f: f, name: name}, nil
}

// Remove removes a file unless OpRemove is failed.
func (e *ErrorFS) Remove(name string) error {
	if _, err := e.check(OpRemove, name); err != nil {
		return err
	}
	return e.under.Remove(name)
}

// Rename renames a file unless OpRename is failed for oldname.
func (e *ErrorFS) Rename(oldname, newname string) error {
	if _, err := e.check(OpRename, oldname); err != nil {
		return err
	}
	return e.under.Rename(oldname, newname)
}

// MkdirAll creates a directory unless OpMkdirAll is failed.
func (e *ErrorFS) MkdirAll(dir string, perm os.FileMode) error {
	if _, err := e.check(OpMkdirAll, dir); err != nil {
		return err
	}
	return e.under.MkdirAll(dir, perm)
}

// ReadDir lists a directory unless OpReadDir is failed.
func (e *ErrorFS) ReadDir(dir string) ([]os.DirEntry, error) {
	if _, err := e.check(OpReadDir, dir); err != nil {
		return nil, err
	}
	return e.under.ReadDir(dir)
}

// SyncDir syncs a directory unless OpSyncDir is failed.
func (e *ErrorFS) SyncDir(dir string) error {
	if _, err := e.check(OpSyncDir, dir); err != nil {
		return err
	}
	return e.under.SyncDir(dir)
}

// Stat returns a file's information unless OpStat is failed.
func (e *ErrorFS) Stat(name string) (os.FileInfo, error) {
	if _, err := e.check(OpStat, name); err != nil {
		return nil, err
	}
	return e.under.Stat(name)
}

// errorFile is a File opened from an ErrorFS.
type errorFile struct {
	// fs is the ErrorFS f was opened from. Immutable; never nil.
	fs *ErrorFS
	// f is the underlying file. Immutable; never nil.
	f File
	// name is the path f was opened with, shown to injectors. Immutable.
	name string
}

// ReadAt reads unless OpRead is failed.
func (f *errorFile) ReadAt(p []byte, off int64) (int, error) {
	if _, err := f.fs.check(OpRead, f.name); err != nil {
		return 0, err
	}
	return f.f.ReadAt(p, off)
}

// WriteAt writes unless OpWrite is failed: then it writes nothing, or half
// of p for a PartialWrite error.
func (f *errorFile) WriteAt(p []byte, off int64) (int, error) {
	partial, err := f.fs.check(OpWrite, f.name)
	if err == nil {
		return f.f.WriteAt(p, off)
	}
	if !partial {
		return 0, err
	}
	n, werr := f.f.WriteAt(p[:len(p)/2], off)
	if werr != nil {
		return n, werr
	}
	return n, err
}

// Sync syncs unless OpSync is failed.
func (f *errorFile) Sync() error {
	if _, err := f.fs.check(OpSync, f.name); err != nil {
		return err
	}
	return f.f.Sync()
}

// Truncate changes the size unless OpTruncate is failed.
func (f *errorFile) Truncate(size int64) error {
	if _, err := f.fs.check(OpTruncate, f.name); err != nil {
		return err
	}
	return f.f.Truncate(size)
}

// Allocate preallocates unless OpAllocate is failed.
func (f *errorFile) Allocate(off, size int64) error {
	if _, err := f.fs.check(OpAllocate, f.name); err != nil {
		return err
	}
	return f.f.Allocate(off, size)
}

// Size returns the size unless OpStat is failed.
func (f *errorFile) Size() (int64, error) {
	if _, err := f.fs.check(OpStat, f.name); err != nil {
		return 0, err
	}
	return f.f.Size()
}

// Close closes the underlying file, then returns the injected error if
// OpClose is failed.
func (f *errorFile) Close() error {
	_, err := f.fs.check(OpClose, f.name)
	cerr := f.f.Close()
	if err != nil {
		return err
	}
	return cerr
}

// Fd returns the real descriptor; it is never failed.
func (f *errorFile) Fd() uintptr { return f.f.Fd() }

// Name returns the path the file was opened with.
func (f *errorFile) Name() string { return f.name }
