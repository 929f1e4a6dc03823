// Package vfs is the seam between Weir's storage engine and the file system.
//
// Every file the storage engine touches is opened through an FS, so tests can
// swap the real file system for one that simulates a power loss (CrashFS,
// forgetting every write and every directory entry not covered by an fsync) or
// one that injects errors (ErrorFS, e.g. EIO or ENOSPC on write or fsync);
// benchmarks count fsyncs through CountingFS.
//
// The real path stays thin: OS returns *os.File-backed files, and Fd exposes
// the descriptor because mmap and sendfile need a real one. Wrappers must keep
// Fd pointing at the real descriptor of the same file.
//
// Concurrency: an FS is safe for concurrent use. A File may be read (ReadAt)
// concurrently with one writer (WriteAt, Allocate, Truncate, Sync); callers
// serialize writers.
package vfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// File is an open file.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Sync makes the file's data durable (fdatasync).
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Allocate reserves disk blocks for [off, off+size) and extends the
	// file's size to at least off+size (fallocate mode 0). Where the file
	// system cannot preallocate, it falls back to extending the size.
	Allocate(off, size int64) error
	// Size returns the file's current size.
	Size() (int64, error)
	// Fd returns the real file descriptor, for mmap and sendfile.
	Fd() uintptr
	// Name returns the path the file was opened with.
	Name() string
}

// FS is a file system.
type FS interface {
	// OpenFile opens a file like os.OpenFile.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Remove removes a file.
	Remove(name string) error
	// Rename renames a file, replacing newname if it exists.
	Rename(oldname, newname string) error
	// MkdirAll creates a directory and its parents.
	MkdirAll(dir string, perm os.FileMode) error
	// ReadDir lists a directory, sorted by name.
	ReadDir(dir string) ([]os.DirEntry, error)
	// SyncDir makes the directory's entries (creates, removes, renames)
	// durable.
	SyncDir(dir string) error
	// Stat returns a file's information.
	Stat(name string) (os.FileInfo, error)
}

// Unwrapper is implemented by pass-through wrappers of a file system (for
// instance one that only counts calls) whose files are the underlying
// files: IsReal looks through them. Layers that change what a sync means
// (CrashFS, ErrorFS) must not implement it.
type Unwrapper interface {
	Unwrap() FS
}

// IsReal reports whether fs is the real file system, possibly behind
// pass-through wrappers: then a file-system-wide sync (syncfs) covers its
// files.
func IsReal(fs FS) bool {
	for {
		if fs == OS {
			return true
		}
		u, ok := fs.(Unwrapper)
		if !ok {
			return false
		}
		fs = u.Unwrap()
	}
}

// OS is the real file system.
var OS FS = osFS{}

type osFS struct{}

// OpenFile opens with O_NOATIME where the file's owner allows it: the
// engine rereads what it just wrote (fetches, index rebuilds), and under
// relatime every such read after a write would update the access time,
// dirtying the inode and adding to the next journal commit. Without the
// permission (a file owned by another user) it opens without the flag.
func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag|unix.O_NOATIME, perm)
	if errors.Is(err, unix.EPERM) {
		f, err = os.OpenFile(name, flag, perm)
	}
	if err != nil {
		return nil, err
	}
	return &osFile{f}, nil
}

func (osFS) Remove(name string) error                    { return os.Remove(name) }
func (osFS) Rename(oldname, newname string) error        { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }
func (osFS) ReadDir(dir string) ([]os.DirEntry, error)   { return os.ReadDir(dir) }
func (osFS) Stat(name string) (os.FileInfo, error)       { return os.Stat(name) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

type osFile struct{ f *os.File }

func (o *osFile) ReadAt(p []byte, off int64) (int, error)  { return o.f.ReadAt(p, off) }
func (o *osFile) WriteAt(p []byte, off int64) (int, error) { return o.f.WriteAt(p, off) }
func (o *osFile) Close() error                             { return o.f.Close() }
func (o *osFile) Truncate(size int64) error                { return o.f.Truncate(size) }
func (o *osFile) Fd() uintptr                              { return o.f.Fd() }
func (o *osFile) Name() string                             { return o.f.Name() }

func (o *osFile) Sync() error {
	for {
		err := unix.Fdatasync(int(o.f.Fd()))
		if err != unix.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: o.f.Name(), Err: err}
			}
			return nil
		}
	}
}

func (o *osFile) Size() (int64, error) {
	fi, err := o.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (o *osFile) Allocate(off, size int64) error {
	err := unix.Fallocate(int(o.f.Fd()), 0, off, size)
	if err == nil {
		return nil
	}
	if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
		cur, serr := o.Size()
		if serr != nil {
			return serr
		}
		if cur < off+size {
			return o.f.Truncate(off + size)
		}
		return nil
	}
	return &os.PathError{Op: "fallocate", Path: o.f.Name(), Err: err}
}

// WriteFileAtomic writes data to path durably and atomically: a temporary
// file in the same directory is written and fsynced, renamed over path, and
// the directory is fsynced. Readers see either the old or the new content.
func WriteFileAtomic(fs FS, path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := fs.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, path); err != nil {
		return err
	}
	return fs.SyncDir(filepath.Dir(path))
}
