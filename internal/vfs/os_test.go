package vfs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestOSReadKeepsAccessTime checks that reading a file opened through OS
// does not update its access time, which under relatime every read after a
// write would (dirtying the inode for the next journal commit).
func TestOSReadKeepsAccessTime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := OS.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	// An access time before the modification time: relatime updates it on
	// the next read, unless the file was opened with O_NOATIME.
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, time.Now()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := f.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if string(buf) != "hello" {
		t.Fatalf("read %q", buf)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if at := time.Unix(sys.Atim.Sec, sys.Atim.Nsec); !at.Equal(old) {
		t.Fatalf("access time moved from %v to %v on a read", old, at)
	}
}
