package vfs

import (
	"path/filepath"
	"testing"
)

func TestCountingFS(t *testing.T) {
	c, dir := NewCountingFS(OS), t.TempDir()
	if !IsReal(c) {
		t.Fatal("IsReal does not look through a CountingFS")
	}
	p := filepath.Join(dir, "a")
	if err := WriteFileAtomic(c, p, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	wantFile(t, p, "hello")
	if c.FileSyncs() != 1 || c.DirSyncs() != 1 || c.Syncs() != 2 {
		t.Fatalf("%d file syncs, %d directory syncs, %d in all; want 1, 1, 2", c.FileSyncs(), c.DirSyncs(), c.Syncs())
	}
}

// TestCountingFSNoSync: with NoSync, syncs are counted but do nothing (a
// crash loses what they would have made durable), and IsReal no longer
// looks through the layer.
func TestCountingFSNoSync(t *testing.T) {
	crashFS, dir := newCrash(t)
	c := NewCountingFS(crashFS)
	c.NoSync = true
	if IsReal(&CountingFS{FS: OS, NoSync: true}) {
		t.Fatal("IsReal looks through a CountingFS with NoSync")
	}
	p := filepath.Join(dir, "a")
	if err := WriteFileAtomic(c, p, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if c.Syncs() != 2 {
		t.Fatalf("%d syncs counted, want 2", c.Syncs())
	}
	crash(t, crashFS)
	wantGone(t, p)
}
