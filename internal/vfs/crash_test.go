package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// newCrash returns a CrashFS over OS and an empty temporary directory.
func newCrash(t *testing.T) (*CrashFS, string) {
	t.Helper()
	return NewCrashFS(OS), t.TempDir()
}

// create creates path through fs and writes data at offset 0, syncing the
// data if syncData. The handle is closed.
func create(t *testing.T, fs FS, path string, data []byte, syncData bool) {
	t.Helper()
	f, err := fs.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if syncData {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// appendTo appends data to path through fs, syncing it if syncData.
func appendTo(t *testing.T, fs FS, path string, data []byte, syncData bool) {
	t.Helper()
	f, err := fs.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	size, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data, size); err != nil {
		t.Fatal(err)
	}
	if syncData {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func syncDir(t *testing.T, fs FS, dir string) {
	t.Helper()
	if err := fs.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
}

func crash(t *testing.T, c *CrashFS) {
	t.Helper()
	if err := c.Crash(); err != nil {
		t.Fatal(err)
	}
}

// wantFile checks the real content of path.
func wantFile(t *testing.T, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	if string(got) != want {
		t.Fatalf("%s = %q, want %q", filepath.Base(path), got, want)
	}
}

// wantGone checks that path does not exist.
func wantGone(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s: stat error %v, want not exist", filepath.Base(path), err)
	}
}

func TestCrashSyncedDataSurvives(t *testing.T) {
	c, dir := newCrash(t)
	p := filepath.Join(dir, "a")
	create(t, c, p, []byte("hello"), true)
	syncDir(t, c, dir)
	crash(t, c)
	wantFile(t, p, "hello")
}

func TestCrashUnsyncedAppendLost(t *testing.T) {
	c, dir := newCrash(t)
	p := filepath.Join(dir, "a")
	create(t, c, p, []byte("hello"), true)
	syncDir(t, c, dir)
	appendTo(t, c, p, []byte(" world"), false)
	wantFile(t, p, "hello world")
	crash(t, c)
	wantFile(t, p, "hello")
}

func TestCrashUnsyncedTruncateLost(t *testing.T) {
	c, dir := newCrash(t)
	p := filepath.Join(dir, "a")
	create(t, c, p, []byte("hello"), true)
	syncDir(t, c, dir)
	f, err := c.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(2); err != nil {
		t.Fatal(err)
	}
	crash(t, c)
	wantFile(t, p, "hello")
}

func TestCrashCreateWithoutSyncDir(t *testing.T) {
	c, dir := newCrash(t)
	p := filepath.Join(dir, "a")
	create(t, c, p, []byte("hello"), true) // data synced, entry not
	crash(t, c)
	wantGone(t, p)
}

func TestCrashCreateSyncDirWithoutDataSync(t *testing.T) {
	c, dir := newCrash(t)
	p := filepath.Join(dir, "a")
	create(t, c, p, []byte("hello"), false)
	syncDir(t, c, dir)
	crash(t, c)
	wantFile(t, p, "")
}

func TestCrashSyncDirOnlyCoversItsDirectory(t *testing.T) {
	c, dir := newCrash(t)
	sub := filepath.Join(dir, "sub")
	if err := c.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(sub, "a")
	create(t, c, p, []byte("hello"), true)
	syncDir(t, c, dir) // not sub
	crash(t, c)
	wantGone(t, p)
}

func TestCrashRename(t *testing.T) {
	c, dir := newCrash(t)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	create(t, c, a, []byte("A"), true)
	syncDir(t, c, dir)

	// Not covered by SyncDir: reverted.
	if err := c.Rename(a, b); err != nil {
		t.Fatal(err)
	}
	crash(t, c)
	wantFile(t, a, "A")
	wantGone(t, b)

	// Covered by SyncDir: kept.
	if err := c.Rename(a, b); err != nil {
		t.Fatal(err)
	}
	syncDir(t, c, dir)
	crash(t, c)
	wantGone(t, a)
	wantFile(t, b, "A")
}

func TestCrashRenameOverExistingReverts(t *testing.T) {
	c, dir := newCrash(t)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	create(t, c, a, []byte("A"), true)
	create(t, c, b, []byte("B"), true)
	syncDir(t, c, dir)
	if err := c.Rename(a, b); err != nil {
		t.Fatal(err)
	}
	wantFile(t, b, "A")
	crash(t, c)
	wantFile(t, a, "A")
	wantFile(t, b, "B")
}

func TestCrashRenameFollowsOpenHandle(t *testing.T) {
	c, dir := newCrash(t)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	f, err := c.OpenFile(a, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Rename(a, b); err != nil {
		t.Fatal(err)
	}
	syncDir(t, c, dir)
	if _, err := f.WriteAt([]byte("data"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil { // the identity now named b
		t.Fatal(err)
	}
	crash(t, c)
	wantGone(t, a)
	wantFile(t, b, "data")
}

func TestCrashRemove(t *testing.T) {
	c, dir := newCrash(t)
	p := filepath.Join(dir, "a")
	create(t, c, p, []byte("hello"), true)
	syncDir(t, c, dir)
	appendTo(t, c, p, []byte(" world"), false)

	// Not covered by SyncDir: comes back with its durable content.
	if err := c.Remove(p); err != nil {
		t.Fatal(err)
	}
	wantGone(t, p)
	crash(t, c)
	wantFile(t, p, "hello")

	// Covered by SyncDir: gone.
	if err := c.Remove(p); err != nil {
		t.Fatal(err)
	}
	syncDir(t, c, dir)
	crash(t, c)
	wantGone(t, p)
}

func TestCrashRemoveThenRecreate(t *testing.T) {
	c, dir := newCrash(t)
	p := filepath.Join(dir, "a")
	create(t, c, p, []byte("old"), true)
	syncDir(t, c, dir)
	if err := c.Remove(p); err != nil {
		t.Fatal(err)
	}
	create(t, c, p, []byte("new"), true) // a new identity, entry not durable
	crash(t, c)
	wantFile(t, p, "old")
}

func TestCrashPreExistingFiles(t *testing.T) {
	_, dir := newCrash(t)
	a, b, d := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "d")
	for _, p := range []string{a, b, d} {
		if err := os.WriteFile(p, []byte("orig "+filepath.Base(p)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := NewCrashFS(OS)

	// Overwritten with O_TRUNC, not synced: reverts to what was first seen.
	f, err := c.OpenFile(a, os.O_TRUNC|os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("changed"), 0); err != nil {
		t.Fatal(err)
	}
	// Removed without SyncDir: comes back.
	if err := c.Remove(b); err != nil {
		t.Fatal(err)
	}
	crash(t, c)
	wantFile(t, a, "orig a")
	wantFile(t, b, "orig b")
	wantFile(t, d, "orig d") // never touched
}

func TestCrashWriteFileAtomic(t *testing.T) {
	c, dir := newCrash(t)
	p := filepath.Join(dir, "meta")
	if err := WriteFileAtomic(c, p, []byte("v1")); err != nil {
		t.Fatal(err)
	}
	crash(t, c)
	wantFile(t, p, "v1")
	if err := WriteFileAtomic(c, p, []byte("v2")); err != nil {
		t.Fatal(err)
	}
	crash(t, c)
	wantFile(t, p, "v2")
	wantGone(t, p+".tmp")
}

func TestCrashMmapWritesCapturedBySync(t *testing.T) {
	c, dir := newCrash(t)
	p := filepath.Join(dir, "idx")
	const size = 4096
	f, err := c.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Allocate(0, size); err != nil {
		t.Fatal(err)
	}
	syncDir(t, c, dir)
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	copy(m, "synced via mmap")
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	copy(m[100:], "lost") // after the last Sync
	if err := unix.Munmap(m); err != nil {
		t.Fatal(err)
	}
	crash(t, c)

	want := make([]byte, size)
	copy(want, "synced via mmap")
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("after crash: len %d, first bytes %q, bytes 100..104 %q", len(got), got[:16], got[100:104])
	}
}

func TestCrashStaleMmapSurvivesCrash(t *testing.T) {
	c, dir := newCrash(t)
	p := filepath.Join(dir, "idx")
	f, err := c.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Allocate(0, 4096); err != nil {
		t.Fatal(err)
	}
	syncDir(t, c, dir) // durable, but its data (size) is not
	m, err := unix.Mmap(int(f.Fd()), 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	crash(t, c)
	wantFile(t, p, "")
	// The restored file is a new inode: the stale mapping does not fault.
	m[0] = 1
	wantFile(t, p, "")
}

func TestCrashOldHandlesAreDead(t *testing.T) {
	c, dir := newCrash(t)
	p := filepath.Join(dir, "a")
	create(t, c, p, []byte("hello"), true)
	syncDir(t, c, dir)
	f, err := c.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	crash(t, c)

	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrCrashed) {
			t.Errorf("%s after crash: %v, want ErrCrashed", what, err)
		}
		var pe *os.PathError
		if !errors.As(err, &pe) || pe.Path != p {
			t.Errorf("%s after crash: %v, want an *os.PathError for %s", what, err, p)
		}
	}
	_, err = f.WriteAt([]byte("XXXXX"), 0)
	check("WriteAt", err)
	_, err = f.ReadAt(make([]byte, 5), 0)
	check("ReadAt", err)
	check("Sync", f.Sync())
	check("Truncate", f.Truncate(0))
	check("Allocate", f.Allocate(0, 100))
	_, err = f.Size()
	check("Size", err)
	check("Close", f.Close())
	if fd := f.Fd(); fd != ^uintptr(0) {
		t.Errorf("Fd after crash = %d, want ^uintptr(0)", fd)
	}
	if f.Name() != p {
		t.Errorf("Name after crash = %q, want %q", f.Name(), p)
	}
	wantFile(t, p, "hello")

	// Reboot: the FS works and tracks again, from the restored state.
	appendTo(t, c, p, []byte(" world"), true)
	appendTo(t, c, p, []byte(" again"), false)
	q := filepath.Join(dir, "b")
	create(t, c, q, []byte("new"), true)
	crash(t, c)
	wantFile(t, p, "hello world")
	wantGone(t, q)
}

func TestCrashWriteOnlyHandle(t *testing.T) {
	c, dir := newCrash(t)
	p := filepath.Join(dir, "a")
	f, err := c.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("write-only"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	syncDir(t, c, dir)
	crash(t, c)
	wantFile(t, p, "write-only")
}

func TestCrashTornWrites(t *testing.T) {
	synced := []byte("synced|")
	appended := bytes.Repeat([]byte("0123456789"), 100)
	var sawPartial, sawZeros, sawNone, sawAll bool
	for seed := range uint64(100) {
		c, dir := newCrash(t)
		c.SetTornWrites(rand.New(rand.NewPCG(seed, 0)))
		p := filepath.Join(dir, "log")
		create(t, c, p, synced, true)
		syncDir(t, c, dir)
		appendTo(t, c, p, appended, false)
		orphan := filepath.Join(dir, "orphan")
		create(t, c, orphan, []byte("x"), false)
		crash(t, c)
		wantGone(t, orphan) // directory entries are never torn

		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(got, synced) || len(got) > len(synced)+len(appended) {
			t.Fatalf("seed %d: got %d bytes %q..., want the synced content then at most %d bytes",
				seed, len(got), got[:min(len(got), 20)], len(appended))
		}
		tail := got[len(synced):]
		k := 0
		for k < len(tail) && tail[k] == appended[k] {
			k++
		}
		if z := tail[k:]; !bytes.Equal(z, make([]byte, len(z))) {
			t.Fatalf("seed %d: after a %d-byte prefix of the appended bytes, %d bytes are not zero", seed, k, len(z))
		}
		switch {
		case k == 0 && len(tail) == 0:
			sawNone = true
		case k == len(appended):
			sawAll = true
		default:
			sawPartial = true
		}
		if len(tail) > k {
			sawZeros = true
		}
	}
	if !sawPartial || !sawZeros {
		t.Errorf("over 100 seeds: partial prefix seen %v, zero tail seen %v; want both", sawPartial, sawZeros)
	}
	t.Logf("none %v, all %v, partial %v, zeros %v", sawNone, sawAll, sawPartial, sawZeros)
}

func TestCrashTornWritesDeterministic(t *testing.T) {
	run := func() []byte {
		c, dir := newCrash(t)
		c.SetTornWrites(rand.New(rand.NewPCG(7, 7)))
		for i := range 5 {
			p := filepath.Join(dir, fmt.Sprint(i))
			create(t, c, p, []byte("s"), true)
			syncDir(t, c, dir)
			appendTo(t, c, p, bytes.Repeat([]byte{'a'}, 500), false)
		}
		crash(t, c)
		var all []byte
		for i := range 5 {
			data, err := os.ReadFile(filepath.Join(dir, fmt.Sprint(i)))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, data...)
			all = append(all, '/')
		}
		return all
	}
	if a, b := run(), run(); !bytes.Equal(a, b) {
		t.Fatal("same seed gave different torn contents")
	}
}

func TestTornContentOverwrite(t *testing.T) {
	// An unsynced overwrite in the middle keeps the old bytes past the
	// written-back point.
	synced := []byte("aaaaaaaaaa")
	cur := []byte("aaaabbbbaa")
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		got := tornContent(rng, synced, cur)
		if len(got) != len(synced) {
			t.Fatalf("got %q, want 10 bytes", got)
		}
		m := 0
		for m < len(got) && got[m] == cur[m] {
			m++
		}
		if !bytes.Equal(got[m:], synced[m:]) {
			t.Fatalf("got %q: not a prefix of %q then the rest of %q", got, cur, synced)
		}
	}
}

func TestCrashConcurrent(t *testing.T) {
	c, dir := newCrash(t)
	const workers, writes = 4, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			p := filepath.Join(dir, fmt.Sprint(w))
			f, err := c.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			for i := range writes {
				if _, err := f.WriteAt([]byte{byte(i)}, int64(i)); err != nil {
					t.Error(err)
					return
				}
				if i%10 == 9 {
					if err := f.Sync(); err != nil {
						t.Error(err)
						return
					}
					if err := c.SyncDir(dir); err != nil {
						t.Error(err)
						return
					}
				}
				buf := make([]byte, 1)
				if _, err := f.ReadAt(buf, int64(i)); err != nil || buf[0] != byte(i) {
					t.Errorf("read back %d: %v %v", i, buf, err)
					return
				}
			}
		})
	}
	wg.Wait()
	crash(t, c)
	for w := range workers {
		got, err := os.ReadFile(filepath.Join(dir, fmt.Sprint(w)))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != writes {
			t.Fatalf("file %d: %d bytes, want %d", w, len(got), writes)
		}
	}
}
