package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// ErrCrashed is returned (wrapped in an *os.PathError) by every method of a
// File that was opened from a CrashFS before its last Crash. Such a handle
// never touches the disk again.
var ErrCrashed = errors.New("vfs: file handle used after simulated crash")

// CrashFS wraps a real file system and simulates a power loss: Crash makes
// the directory tree look as it would after the machine lost power, keeping
// only what was made durable.
//
// # Model
//
// A file identity (an inode) is created by OpenFile with O_CREATE of a name
// that does not exist. A file that already exists on disk when CrashFS first
// sees its name is a pre-existing identity, durable with the content it had
// at that moment. Each identity has a synced content: the whole real file as
// read at its last successful File.Sync (so bytes written through a MAP_SHARED
// mmap of Fd are captured too), empty if it was never synced.
//
// Each directory has a current set of entries (name -> identity), changed by
// OpenFile with O_CREATE, Remove and Rename, and a durable set, which SyncDir
// replaces with a copy of the current set. An identity renamed or removed
// keeps its synced content; open handles follow the identity, not the name.
//
// Crash removes every name of the current and durable sets and recreates each
// durable name with the synced content of its identity. Hence:
//   - data written but not synced is lost (unless torn writes are enabled,
//     see SetTornWrites);
//   - a file created without a later SyncDir of its directory disappears,
//     even if its data was synced;
//   - a file whose creation was made durable by SyncDir but whose data was
//     never synced is empty;
//   - a Remove or Rename not followed by SyncDir is undone: the old name
//     comes back with its durable content, the new name reverts to what it
//     durably was, or disappears.
//
// After Crash every File opened before it is dead (its methods return
// ErrCrashed; its real descriptor is closed), and the CrashFS is ready for a
// "reboot": tracking restarts from the restored files, which count as
// pre-existing. Since names are recreated rather than truncated in place, a
// stale mmap of a pre-crash file keeps mapping the old (now unlinked) inode
// instead of faulting.
//
// # Limits
//
// The underlying FS must map paths to the real file system (OS, or a wrapper
// of it): CrashFS reads and restores file contents through the os package
// directly, so its bookkeeping is never subject to faults injected below it.
// Prefer NewErrorFS(NewCrashFS(OS)) to layering the other way round.
// Directories are not crash-tracked: MkdirAll is durable at once, and
// directories are never removed by Crash. Only regular files are tracked.
// Contents are kept in memory, so files should be small (a few MB). Size
// changes (Truncate, Allocate) are data changes, durable at the next Sync.
//
// # Concurrency
//
// A CrashFS is safe for concurrent use. One RWMutex guards all state: data
// operations on files (ReadAt, WriteAt, Truncate, Allocate, Size, Fd) hold it
// shared so that Crash cannot close a descriptor under them; everything that
// changes tracking state (OpenFile, Remove, Rename, SyncDir, File.Sync,
// File.Close, Crash) holds it exclusively, I/O included, which is acceptable
// in a test layer.
type CrashFS struct {
	// under is the wrapped file system. Immutable; never nil.
	under FS

	mu struct {
		sync.RWMutex
		// gen counts crashes; a handle whose gen differs is dead.
		gen uint64
		// dirs maps an absolute, cleaned directory path to its entries.
		// Directories are added lazily when a name in them is first seen.
		dirs map[string]*crashDir
		// open holds the live handles, closed by Crash.
		open map[*crashFile]struct{}
		// torn, if not nil, makes Crash keep a random part of unsynced
		// writes. Used only with mu held exclusively.
		torn *rand.Rand
	}
}

// crashInode is a file identity.
type crashInode struct {
	// synced is the content as of the last successful Sync, or as first
	// seen for a pre-existing file. Never modified in place.
	synced []byte
}

// crashDir is a directory's current and durable entries.
type crashDir struct {
	current map[string]*crashInode
	durable map[string]*crashInode
}

// NewCrashFS returns a CrashFS over under, normally OS with the files of the
// test in a temporary directory.
func NewCrashFS(under FS) *CrashFS {
	c := &CrashFS{under: under}
	c.mu.dirs = make(map[string]*crashDir)
	c.mu.open = make(map[*crashFile]struct{})
	return c
}

// SetTornWrites enables torn writes when rng is not nil, and disables them
// (the default, strict forgetting) when it is nil.
//
// With torn writes, Crash models a page cache partially written back: for a
// file whose real content differs from its synced content, let p be the
// length of their common prefix. Crash keeps the current content up to a
// random point m in [p, current size] (p or the current size a quarter of the
// time each, so that losing nothing and keeping everything are both common),
// then the synced content beyond m, and, when something of the current
// content was left out, possibly a random number of zero bytes (the size
// reached the disk, the data did not), never growing the file past its
// current size. For the usual append-only file this is the synced content, a
// random prefix of the unsynced appended bytes, and maybe some zeros.
// Directory entries are never torn: creates, removes and renames follow
// SyncDir strictly.
//
// rng is used only under the CrashFS lock; Crash visits files in a
// deterministic order, so a seeded rng gives reproducible crashes.
func (c *CrashFS) SetTornWrites(rng *rand.Rand) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.torn = rng
}

// splitPath returns the absolute, cleaned directory and base name of name.
func splitPath(name string) (dir, base string, err error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return "", "", err
	}
	return filepath.Dir(abs), filepath.Base(abs), nil
}

// dirLocked returns the state of directory dir (absolute and cleaned),
// creating it empty. c.mu must be held exclusively.
func (c *CrashFS) dirLocked(dir string) *crashDir {
	d, ok := c.mu.dirs[dir]
	if !ok {
		d = &crashDir{
			current: make(map[string]*crashInode),
			durable: make(map[string]*crashInode),
		}
		c.mu.dirs[dir] = d
	}
	return d
}

// lookupLocked returns the identity currently named dir/base, or nil if there
// is none or it is not a regular file. A regular file existing on disk but
// unknown to c is registered as pre-existing: durable, with its current
// content. c.mu must be held exclusively.
func (c *CrashFS) lookupLocked(dir, base string) (*crashInode, error) {
	d := c.dirLocked(dir)
	if ino, ok := d.current[base]; ok {
		return ino, nil
	}
	if _, ok := d.durable[base]; ok {
		// Removed or renamed away through c: whatever is on disk now did
		// not come through c and is not tracked.
		return nil, nil
	}
	path := filepath.Join(dir, base)
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ino := &crashInode{synced: data}
	d.current[base] = ino
	d.durable[base] = ino
	return ino, nil
}

// OpenFile opens a file through the underlying FS. Creating a new name makes
// a new identity, present in its directory's current set only.
func (c *CrashFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	dir, base, err := splitPath(name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Register a pre-existing file before O_TRUNC can change it.
	ino, err := c.lookupLocked(dir, base)
	if err != nil {
		return nil, err
	}
	f, err := c.under.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if ino == nil && flag&os.O_CREATE != 0 {
		if fi, err := os.Stat(filepath.Join(dir, base)); err == nil && fi.Mode().IsRegular() {
			ino = &crashInode{}
			c.dirLocked(dir).current[base] = ino
		}
	}
	cf := &crashFile{fs: c, f: f, ino: ino, gen: c.mu.gen, name: name}
	c.mu.open[cf] = struct{}{}
	return cf, nil
}

// Remove removes name from its directory's current set.
func (c *CrashFS) Remove(name string) error {
	dir, base, err := splitPath(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.lookupLocked(dir, base); err != nil {
		return err
	}
	if err := c.under.Remove(name); err != nil {
		return err
	}
	delete(c.dirLocked(dir).current, base)
	return nil
}

// Rename moves the identity named oldname to newname in the current sets,
// replacing whatever newname named.
func (c *CrashFS) Rename(oldname, newname string) error {
	oldDir, oldBase, err := splitPath(oldname)
	if err != nil {
		return err
	}
	newDir, newBase, err := splitPath(newname)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ino, err := c.lookupLocked(oldDir, oldBase)
	if err != nil {
		return err
	}
	// Register a pre-existing target so that Crash can bring it back.
	if _, err := c.lookupLocked(newDir, newBase); err != nil {
		return err
	}
	if err := c.under.Rename(oldname, newname); err != nil {
		return err
	}
	if oldDir == newDir && oldBase == newBase {
		return nil
	}
	delete(c.dirLocked(oldDir).current, oldBase)
	if ino != nil {
		c.dirLocked(newDir).current[newBase] = ino
	} else {
		delete(c.dirLocked(newDir).current, newBase)
	}
	return nil
}

// MkdirAll creates dir and its parents. Directories are durable at once.
func (c *CrashFS) MkdirAll(dir string, perm os.FileMode) error {
	return c.under.MkdirAll(dir, perm)
}

// ReadDir lists dir through the underlying FS.
func (c *CrashFS) ReadDir(dir string) ([]os.DirEntry, error) { return c.under.ReadDir(dir) }

// Stat returns a file's information through the underlying FS.
func (c *CrashFS) Stat(name string) (os.FileInfo, error) { return c.under.Stat(name) }

// SyncDir syncs dir and, on success, makes its current set of entries
// durable.
func (c *CrashFS) SyncDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.under.SyncDir(dir); err != nil {
		return err
	}
	d := c.dirLocked(abs)
	d.durable = maps.Clone(d.current)
	return nil
}

// Crash simulates a power loss, as described on CrashFS: it kills every open
// handle, removes every name not durable, and rewrites every durable name
// with the synced content of its identity. It returns the errors met while
// restoring; the CrashFS is usable afterwards either way.
func (c *CrashFS) Crash() error {
	c.mu.Lock()
	defer c.mu.Unlock()

	// Read what torn writes need before anything changes on disk.
	var handleOf map[*crashInode]*crashFile
	var pathOf map[*crashInode]string
	if c.mu.torn != nil {
		handleOf = make(map[*crashInode]*crashFile)
		for h := range c.mu.open {
			if h.ino != nil {
				handleOf[h.ino] = h
			}
		}
		pathOf = make(map[*crashInode]string)
		for dir, d := range c.mu.dirs {
			for base, ino := range d.current {
				pathOf[ino] = filepath.Join(dir, base)
			}
		}
	}
	type restore struct {
		path string
		data []byte
	}
	var (
		restores []restore
		removes  []string
		errs     []error
		torn     = make(map[*crashInode][]byte)
	)
	for _, dir := range slices.Sorted(maps.Keys(c.mu.dirs)) {
		d := c.mu.dirs[dir]
		for base := range d.current {
			if _, ok := d.durable[base]; !ok {
				removes = append(removes, filepath.Join(dir, base))
			}
		}
		for _, base := range slices.Sorted(maps.Keys(d.durable)) {
			ino := d.durable[base]
			data := ino.synced
			if c.mu.torn != nil {
				if t, ok := torn[ino]; ok {
					data = t
				} else if cur, ok := currentContent(handleOf[ino], pathOf[ino]); ok {
					data = tornContent(c.mu.torn, ino.synced, cur)
					torn[ino] = data
				}
			}
			path := filepath.Join(dir, base)
			removes = append(removes, path)
			restores = append(restores, restore{path, data})
		}
	}

	// Kill every handle. Their mmaps, if any, keep the old inodes alive.
	c.mu.gen++
	for h := range c.mu.open {
		h.f.Close()
	}
	clear(c.mu.open)

	for _, path := range removes {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for _, r := range restores {
		if err := os.WriteFile(r.path, r.data, 0o644); err != nil {
			errs = append(errs, err)
		}
	}

	// Reboot: the restored files are the new pre-existing baseline.
	clear(c.mu.dirs)
	if len(errs) > 0 {
		return fmt.Errorf("vfs: crash: %w", errors.Join(errs...))
	}
	return nil
}

// currentContent returns the real current content of an identity, read
// through a live handle h or else its current path; ok is false if neither is
// available or readable.
func currentContent(h *crashFile, path string) (data []byte, ok bool) {
	if h != nil {
		if data, err := readHandle(h.f); err == nil {
			return data, true
		}
	}
	if path != "" {
		if data, err := os.ReadFile(path); err == nil {
			return data, true
		}
	}
	return nil, false
}

// tornContent returns what a partially written-back file may contain after a
// crash, given its synced and current content; see SetTornWrites.
func tornContent(rng *rand.Rand, synced, cur []byte) []byte {
	p := 0
	for p < len(synced) && p < len(cur) && synced[p] == cur[p] {
		p++
	}
	if p == len(synced) && p == len(cur) {
		return synced
	}
	var m int
	switch rng.IntN(4) {
	case 0:
		m = p // nothing written back
	case 1:
		m = len(cur) // everything written back
	default:
		m = p + rng.IntN(len(cur)-p+1)
	}
	out := slices.Clone(cur[:m])
	if m < len(synced) {
		out = append(out, synced[m:]...)
	}
	if m < len(cur) && len(out) < len(cur) && rng.IntN(2) == 0 {
		out = append(out, make([]byte, 1+rng.IntN(len(cur)-len(out)))...)
	}
	return out
}

// readHandle reads the whole real file behind f. It reopens the descriptor
// through /proc/self/fd, which works for write-only and unlinked files and
// bypasses any fault injection below; where that fails it reads through f.
func readHandle(f File) ([]byte, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err == nil {
		return data, nil
	}
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return buf[:n], nil
}

// crashFile is a File opened from a CrashFS.
type crashFile struct {
	// fs is the CrashFS f was opened from. Immutable; never nil.
	fs *CrashFS
	// f is the underlying file. Immutable; never nil.
	f File
	// ino is the file's identity, nil for an untracked file (not regular,
	// or not created through fs). Immutable.
	ino *crashInode
	// gen is fs.mu.gen when f was opened. Immutable.
	gen uint64
	// name is the path f was opened with. Immutable.
	name string
}

// deadLocked returns an error wrapping ErrCrashed if a crash happened since
// f was opened. f.fs.mu must be held, shared or exclusively.
func (f *crashFile) deadLocked(op string) error {
	if f.gen != f.fs.mu.gen {
		return &os.PathError{Op: op, Path: f.name, Err: ErrCrashed}
	}
	return nil
}

// ReadAt reads from the underlying file.
func (f *crashFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.RLock()
	defer f.fs.mu.RUnlock()
	if err := f.deadLocked("read"); err != nil {
		return 0, err
	}
	return f.f.ReadAt(p, off)
}

// WriteAt writes to the underlying file; the data is durable at the next
// successful Sync.
func (f *crashFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.RLock()
	defer f.fs.mu.RUnlock()
	if err := f.deadLocked("write"); err != nil {
		return 0, err
	}
	return f.f.WriteAt(p, off)
}

// Truncate changes the underlying file's size; the change is durable at the
// next successful Sync.
func (f *crashFile) Truncate(size int64) error {
	f.fs.mu.RLock()
	defer f.fs.mu.RUnlock()
	if err := f.deadLocked("truncate"); err != nil {
		return err
	}
	return f.f.Truncate(size)
}

// Allocate preallocates through the underlying file; the size change is
// durable at the next successful Sync.
func (f *crashFile) Allocate(off, size int64) error {
	f.fs.mu.RLock()
	defer f.fs.mu.RUnlock()
	if err := f.deadLocked("allocate"); err != nil {
		return err
	}
	return f.f.Allocate(off, size)
}

// Size returns the underlying file's size.
func (f *crashFile) Size() (int64, error) {
	f.fs.mu.RLock()
	defer f.fs.mu.RUnlock()
	if err := f.deadLocked("stat"); err != nil {
		return 0, err
	}
	return f.f.Size()
}

// Fd returns the real descriptor, or ^uintptr(0) (an invalid descriptor, -1)
// if the handle is dead, so that mmap or sendfile on it fails with EBADF.
func (f *crashFile) Fd() uintptr {
	f.fs.mu.RLock()
	defer f.fs.mu.RUnlock()
	if f.deadLocked("fd") != nil {
		return ^uintptr(0)
	}
	return f.f.Fd()
}

// Name returns the path the file was opened with, even if the handle is
// dead.
func (f *crashFile) Name() string { return f.name }

// Sync syncs the underlying file and, on success, records the whole real
// file (including writes made through an mmap of Fd) as its identity's
// synced content.
func (f *crashFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.deadLocked("sync"); err != nil {
		return err
	}
	if err := f.f.Sync(); err != nil {
		return err
	}
	if f.ino == nil {
		return nil
	}
	data, err := readHandle(f.f)
	if err != nil {
		return err
	}
	f.ino.synced = data
	return nil
}

// Close closes the underlying file.
func (f *crashFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.deadLocked("close"); err != nil {
		return err
	}
	delete(f.fs.mu.open, f)
	return f.f.Close()
}
