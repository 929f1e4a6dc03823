package log

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/segment"
)

// Corruption: damaged files found at Open (flipped bytes, truncated files,
// missing or garbage indexes, a zero-filled tail, a missing or garbage
// checkpoint) must give a working log with a clear message, no panic, and
// every batch before the damage intact.

// fileBatch is a batch found in a segment file.
type fileBatch struct {
	pos, size int
	base      int64
	last      int64
}

// fileBatches parses the valid batches at the start of a segment file.
func fileBatches(t *testing.T, path string) []fileBatch {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []fileBatch
	for p := 0; p < len(data); {
		h, err := batch.Validate(data[p:])
		if err != nil {
			break
		}
		out = append(out, fileBatch{pos: p, size: h.Size(), base: h.BaseOffset, last: h.LastOffset()})
		p += h.Size()
	}
	return out
}

// segmentFiles returns the paths of the segment files of dir, in order.
func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if _, ok := segment.ParseName(e.Name()); ok {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	return out
}

func indexFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, p := range segmentFiles(t, dir) {
		stem := strings.TrimSuffix(p, segment.Suffix)
		out = append(out, stem+IndexSuffix, stem+TimeIndexSuffix)
	}
	return out
}

// corruptCase is one kind of damage.
type corruptCase struct {
	name string
	// unclean leaves the log without Close (after a Sync), as a crash
	// does; newBoot then opens it under another boot id (full scan).
	unclean, newBoot bool
	// prealloc keeps the preallocated tail of the active segment.
	prealloc bool
	// damage changes the files and returns the expected end offset after
	// recovery (end is the end before the damage).
	damage func(t *testing.T, dir string, end int64) int64
	// wantLog, if set, must appear in the recovery log; noLog must not.
	wantLog, noLog string
	// readErr, if set, is the error a read of the damaged data must give
	// (damage that Open does not look for, found by the reader).
	readErr error
	// after runs extra checks on the reopened log.
	after func(t *testing.T, dir string, l *Log)
}

// activeLast returns the path of the active segment and its batches.
func activeLast(t *testing.T, dir string) (string, []fileBatch) {
	t.Helper()
	segs := segmentFiles(t, dir)
	p := segs[len(segs)-1]
	bs := fileBatches(t, p)
	if len(bs) < 3 {
		t.Fatalf("active segment %s has %d batches; the test wants several", p, len(bs))
	}
	return p, bs
}

func flipByte(t *testing.T, path string, pos int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], int64(pos)); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b[:], int64(pos)); err != nil {
		t.Fatal(err)
	}
}

func appendZeros(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
}

// usedEnd returns the end of the valid batches of a file (ignoring a
// preallocated tail).
func usedEnd(bs []fileBatch) int {
	l := bs[len(bs)-1]
	return l.pos + l.size
}

var (
	// flip a byte in the CRC-covered part of the last batch of the active
	// segment: recovery cuts that batch.
	damageFlipLast = func(t *testing.T, dir string, end int64) int64 {
		p, bs := activeLast(t, dir)
		last := bs[len(bs)-1]
		flipByte(t, p, last.pos+batch.HeaderSize+last.size/3%max(last.size-batch.HeaderSize, 1))
		return last.base
	}
	damageFlipHeader = func(t *testing.T, dir string, end int64) int64 {
		p, bs := activeLast(t, dir)
		last := bs[len(bs)-1]
		flipByte(t, p, last.pos+30) // baseTimestamp: covered by the CRC
		return last.base
	}
	damageFlipMiddle = func(t *testing.T, dir string, end int64) int64 {
		p, bs := activeLast(t, dir)
		mid := bs[len(bs)/2]
		flipByte(t, p, mid.pos+mid.size-1)
		return mid.base
	}
	damageTruncateLast = func(t *testing.T, dir string, end int64) int64 {
		p, bs := activeLast(t, dir)
		last := bs[len(bs)-1]
		if err := os.Truncate(p, int64(last.pos+last.size/2)); err != nil {
			t.Fatal(err)
		}
		return last.base
	}
	damageTruncateHeader = func(t *testing.T, dir string, end int64) int64 {
		p, bs := activeLast(t, dir)
		last := bs[len(bs)-1]
		if err := os.Truncate(p, int64(last.pos+7)); err != nil {
			t.Fatal(err)
		}
		return last.base
	}
	damageZeroTail = func(t *testing.T, dir string, end int64) int64 {
		p, bs := activeLast(t, dir)
		if err := os.Truncate(p, int64(usedEnd(bs))); err != nil {
			t.Fatal(err)
		}
		appendZeros(t, p, 1<<20)
		return end
	}
	damageDeleteIndexes = func(t *testing.T, dir string, end int64) int64 {
		for _, p := range indexFiles(t, dir) {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		}
		return end
	}
	damageGarbageIndexes = func(t *testing.T, dir string, end int64) int64 {
		rng := rand.New(rand.NewPCG(uint64(end), 9))
		for _, p := range indexFiles(t, dir) {
			size := 64 + rng.IntN(4000)
			if info, err := os.Stat(p); err == nil && info.Size() > 0 && rng.IntN(2) == 0 {
				size = int(info.Size())
			}
			g := make([]byte, size)
			for i := range g {
				g[i] = byte(rng.Uint32())
			}
			if err := os.WriteFile(p, g, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return end
	}
	damageDeleteCheckpoint = func(t *testing.T, dir string, end int64) int64 {
		if err := os.Remove(filepath.Join(dir, CheckpointFile)); err != nil {
			t.Fatal(err)
		}
		return end
	}
	damageGarbageCheckpoint = func(t *testing.T, dir string, end int64) int64 {
		if err := os.WriteFile(filepath.Join(dir, CheckpointFile), []byte("\x00\xffgarbage\nclean 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return end
	}
	// A byte flipped in a sealed, fsynced segment below the recovery
	// point: Open does not scan it (Kafka does not either), so a reader
	// must see the CRC error.
	damageFlipSealed = func(t *testing.T, dir string, end int64) int64 {
		segs := segmentFiles(t, dir)
		p := segs[1]
		bs := fileBatches(t, p)
		b := bs[len(bs)/2]
		flipByte(t, p, b.pos+b.size-2)
		return end
	}
)

// checkIndexesRebuilt reads the whole log and OffsetForTimestamp for every
// offset, then checks that every segment has its index files again.
func checkIndexesRebuilt(t *testing.T, dir string, l *Log) {
	t.Helper()
	for _, sg := range l.segments() {
		if _, err := sg.offsetIndex(); err != nil {
			t.Fatalf("segment %d: offset index: %v", sg.base, err)
		}
	}
	for _, p := range indexFiles(t, dir) {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("index file not rebuilt: %v", err)
		}
	}
}

func TestCorruption(t *testing.T) {
	tests := []corruptCase{
		{name: "flipped byte in last batch, same boot", unclean: true, damage: damageFlipLast, wantLog: "cut"},
		{name: "flipped byte in last batch, new boot", unclean: true, newBoot: true, damage: damageFlipLast, wantLog: "cut"},
		{name: "flipped header byte in last batch, preallocated", unclean: true, prealloc: true, damage: damageFlipHeader, wantLog: "cut"},
		{name: "flipped byte mid-segment, new boot", unclean: true, newBoot: true, damage: damageFlipMiddle, wantLog: "cut"},
		{name: "truncated mid-batch, unclean", unclean: true, damage: damageTruncateLast, wantLog: "cut"},
		{name: "truncated mid-header, unclean, new boot", unclean: true, newBoot: true, damage: damageTruncateHeader, wantLog: "cut"},
		{name: "truncated mid-batch after clean close", damage: damageTruncateLast},
		{name: "truncated mid-header after clean close", damage: damageTruncateHeader},
		{name: "zero tail, unclean", unclean: true, damage: damageZeroTail, noLog: "cut"},
		{name: "zero tail, unclean, new boot", unclean: true, newBoot: true, damage: damageZeroTail, noLog: "cut"},
		{name: "preallocated zero tail, unclean, new boot", unclean: true, newBoot: true, prealloc: true, damage: func(t *testing.T, dir string, end int64) int64 { return end }, noLog: "cut"},
		{name: "zero tail after clean close", damage: damageZeroTail, noLog: "cut_bytes"},
		{name: "missing indexes after clean close", damage: damageDeleteIndexes, after: checkIndexesRebuilt},
		{name: "missing indexes, unclean", unclean: true, damage: damageDeleteIndexes, after: checkIndexesRebuilt},
		{name: "missing indexes, unclean, new boot", unclean: true, newBoot: true, damage: damageDeleteIndexes, after: checkIndexesRebuilt},
		{name: "garbage indexes after clean close", damage: damageGarbageIndexes, after: checkIndexesRebuilt},
		{name: "garbage indexes, unclean", unclean: true, damage: damageGarbageIndexes, after: checkIndexesRebuilt},
		{name: "garbage indexes, unclean, new boot", unclean: true, newBoot: true, damage: damageGarbageIndexes, after: checkIndexesRebuilt},
		{name: "missing checkpoint after clean close", damage: damageDeleteCheckpoint},
		{name: "missing checkpoint, unclean", unclean: true, damage: damageDeleteCheckpoint},
		{name: "garbage checkpoint", damage: damageGarbageCheckpoint, wantLog: "checkpoint"},
		{name: "flipped byte in a sealed segment after clean close", damage: damageFlipSealed, readErr: batch.ErrCRC},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runCorruptCase(t, tc) })
	}
}

func runCorruptCase(t *testing.T, tc corruptCase) {
	dir := filepath.Join(t.TempDir(), "log")
	opts := Options{
		SegmentBytes:       12 << 10,
		IndexIntervalBytes: 512,
		MaxIndexBytes:      4096,
		NoPreallocate:      !tc.prealloc,
		BootID:             func() string { return "boot-a" },
		Logger:             quietLogger,
	}
	l, err := Open(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	for range 40 {
		if _, err := appendDet(t, l, 2); err != nil {
			t.Fatal(err)
		}
	}
	// Several batches in the active segment, with index entries.
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		if _, err := appendDet(t, l, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if l.NumSegments() < 3 {
		t.Fatalf("want several segments, have %d", l.NumSegments())
	}
	end := l.EndOffset()
	if tc.unclean {
		abandon(l)
	} else if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	wantEnd := tc.damage(t, dir, end)

	var logBuf syncBuffer
	o := opts
	o.Logger = slog.New(slog.NewTextHandler(&logBuf, nil))
	if tc.newBoot {
		o.BootID = func() string { return "boot-b" }
	}
	l, err = Open(dir, &o)
	if err != nil {
		t.Fatalf("open after damage: %v", err)
	}
	defer func() {
		if l != nil {
			l.Close()
		}
	}()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\nfiles:\n%s\nlog:\n%s", fmt.Sprintf(format, args...), listDir(dir), logBuf.String())
	}
	if tc.readErr != nil {
		if _, err := scanLog(l); !errors.Is(err, tc.readErr) {
			fail("reading the damaged log: err %v, want %v", err, tc.readErr)
		}
		return
	}
	if e := l.EndOffset(); e != wantEnd {
		fail("end offset %d after recovery, want %d (end before the damage %d)", e, wantEnd, end)
	}
	if err := checkDet(l, wantEnd); err != nil {
		fail("after recovery: %v", err)
	}
	if tc.wantLog != "" && !strings.Contains(logBuf.String(), tc.wantLog) {
		fail("the recovery log does not mention %q", tc.wantLog)
	}
	if tc.noLog != "" && strings.Contains(logBuf.String(), tc.noLog) {
		fail("the recovery log mentions %q", tc.noLog)
	}
	// OffsetForTimestamp: detBatch gives offset o the timestamp
	// tsBase+o.
	for _, off := range []int64{0, 1, wantEnd / 3, wantEnd / 2, wantEnd - 1, wantEnd, wantEnd + 5} {
		got, ts, found, err := l.OffsetForTimestamp(tsBase + off)
		if err != nil {
			fail("offset for timestamp of %d: %v", off, err)
		}
		if want := off < wantEnd; found != want || (found && (got != off || ts != tsBase+off)) {
			fail("offset for timestamp of %d: got (%d, %d, %v)", off, got, ts, found)
		}
	}
	if ts, off, found, err := l.MaxTimestamp(); err != nil || !found || ts != tsBase+wantEnd-1 || off != wantEnd-1 {
		fail("max timestamp: (%d, %d, %v, %v), want (%d, %d)", ts, off, found, err, tsBase+wantEnd-1, wantEnd-1)
	}
	if tc.after != nil {
		tc.after(t, dir, l)
	}
	// The log keeps working: append, reopen cleanly, read everything.
	for range 3 {
		if _, err := appendDet(t, l, 2); err != nil {
			fail("append after recovery: %v", err)
		}
	}
	newEnd := l.EndOffset()
	if err := checkDet(l, newEnd); err != nil {
		fail("after appending to the recovered log: %v", err)
	}
	if err := l.Close(); err != nil {
		fail("close: %v", err)
	}
	l, err = Open(dir, &o)
	if err != nil {
		fail("reopen: %v", err)
	}
	if e := l.EndOffset(); e != newEnd {
		fail("end offset %d after reopening, want %d", e, newEnd)
	}
	if err := checkDet(l, newEnd); err != nil {
		fail("after reopening: %v", err)
	}
}
