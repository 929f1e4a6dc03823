package vfs

import (
	"os"
	"sync/atomic"
)

// CountingFS is a pass-through file system that counts fsyncs: Sync of the
// files opened through it, and SyncDir. Benchmarks report fsyncs with it
// and tests check how many a group commit took. Its files are the
// underlying files, so IsReal looks through it and syncfs group commits
// still apply; those are not counted here (the log's Flusher counts them).
//
// A CountingFS is safe for concurrent use.
type CountingFS struct {
	FS
	// NoSync makes Sync and SyncDir count and return without syncing, for
	// building benchmark fixtures quickly; never set it for a measurement
	// or where durability matters. It changes what a sync means, so IsReal
	// does not look through a CountingFS with NoSync. Set it before use.
	NoSync bool

	fileSyncs atomic.Int64
	dirSyncs  atomic.Int64
}

// NewCountingFS returns a CountingFS over under with no fsyncs counted.
func NewCountingFS(under FS) *CountingFS { return &CountingFS{FS: under} }

// Unwrap returns the underlying file system, or nil with NoSync.
func (c *CountingFS) Unwrap() FS {
	if c.NoSync {
		return nil
	}
	return c.FS
}

// FileSyncs returns the number of File.Sync calls so far.
func (c *CountingFS) FileSyncs() int64 { return c.fileSyncs.Load() }

// DirSyncs returns the number of SyncDir calls so far.
func (c *CountingFS) DirSyncs() int64 { return c.dirSyncs.Load() }

// Syncs returns the number of File.Sync and SyncDir calls so far.
func (c *CountingFS) Syncs() int64 { return c.FileSyncs() + c.DirSyncs() }

// OpenFile opens a file whose Sync is counted.
func (c *CountingFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &countingFile{File: f, fs: c}, nil
}

// SyncDir counts the call, then syncs dir unless NoSync.
func (c *CountingFS) SyncDir(dir string) error {
	c.dirSyncs.Add(1)
	if c.NoSync {
		return nil
	}
	return c.FS.SyncDir(dir)
}

// countingFile is a File opened from a CountingFS.
type countingFile struct {
	File
	// fs is the CountingFS the file was opened from. Immutable; never nil.
	fs *CountingFS
}

// Sync counts the call, then syncs unless NoSync.
func (f *countingFile) Sync() error {
	f.fs.fileSyncs.Add(1)
	if f.fs.NoSync {
		return nil
	}
	return f.File.Sync()
}
