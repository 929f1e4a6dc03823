package segment

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/internal/vfs"
)

// mkBatch builds a valid batch of n records with offsets base..base+n-1 and
// timestamps ts..ts+n-1.
func mkBatch(tb testing.TB, c batch.Compression, base int64, n int, ts int64) []byte {
	tb.Helper()
	b, err := batch.NewBuilder(&batch.BuilderOptions{Compression: c})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		key := fmt.Appendf(nil, "key-%d-%d", base, i)
		val := bytes.Repeat([]byte{byte('a' + i%26)}, 20+i)
		if err := b.Append(key, val, []batch.RecordHeader{{Key: []byte("h"), Value: []byte("v")}}, ts+int64(i)); err != nil {
			tb.Fatal(err)
		}
	}
	out := b.AppendTo(nil)
	batch.SetBaseOffset(out, base)
	if _, err := batch.Validate(out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// testBatches returns k batches of 1..k records following each other from
// base, with timestamps 1000*(i+1).., and their concatenation.
func testBatches(tb testing.TB, base int64, k int) ([][]byte, []byte) {
	tb.Helper()
	var bs [][]byte
	var all []byte
	off := base
	for i := range k {
		b := mkBatch(tb, batch.None, off, i+1, 1000*int64(i+1))
		bs = append(bs, b)
		all = append(all, b...)
		off += int64(i + 1)
	}
	return bs, all
}

func create(t *testing.T, fs vfs.FS, base int64, opts Options) *Segment {
	t.Helper()
	s, err := Create(fs, t.TempDir(), base, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// writeSegment writes data as the segment file for base in a new directory
// and opens it.
func writeSegment(t *testing.T, base int64, data []byte, writable bool) *Segment {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName(base))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return open(t, path, base, writable)
}

func open(t *testing.T, path string, base int64, writable bool) *Segment {
	t.Helper()
	s, err := Open(vfs.OS, path, base, writable, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustAppend(t *testing.T, s *Segment, b []byte) int64 {
	t.Helper()
	pos, err := s.Append(b)
	if err != nil {
		t.Fatalf("Append of %d bytes at %d: %v", len(b), s.Size(), err)
	}
	return pos
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestName(t *testing.T) {
	for _, base := range []int64{0, 1, 42, 1 << 40, math.MaxInt64} {
		name := FileName(base)
		if len(name) != 24 || name[20:] != ".log" || Name(base) != name[:20] {
			t.Errorf("FileName(%d) = %q", base, name)
		}
		if got, ok := ParseName(name); !ok || got != base {
			t.Errorf("ParseName(%q) = %d, %v; want %d, true", name, got, ok, base)
		}
	}
	if got := FileName(42); got != "00000000000000000042.log" {
		t.Errorf("FileName(42) = %q", got)
	}
	for _, name := range []string{
		"",
		".log",
		"42.log",
		"0000000000000000042.log",   // 19 digits
		"000000000000000000042.log", // 21 digits
		"00000000000000000042.index",
		"00000000000000000042.timeindex",
		"00000000000000000042.log.deleted",
		"00000000000000000042.LOG",
		"0000000000000000004a.log",
		"0000000000000000004 .log",
		" 0000000000000000042.log",
		"-0000000000000000042.log",
		"+0000000000000000042.log",
		"99999999999999999999.log", // overflows int64
		"09223372036854775808.log", // MaxInt64 + 1
	} {
		if got, ok := ParseName(name); ok {
			t.Errorf("ParseName(%q) = %d, true; want false", name, got)
		}
	}
}

func TestAppendRead(t *testing.T) {
	const base = 100
	s := create(t, vfs.OS, base, Options{})
	if s.Size() != 0 || s.Base() != base || !s.Writable() || s.Err() != nil {
		t.Fatalf("new segment: Size %d Base %d Writable %v Err %v", s.Size(), s.Base(), s.Writable(), s.Err())
	}
	if want := FileName(base); filepath.Base(s.Path()) != want || s.File().Name() != s.Path() {
		t.Errorf("Path() = %q, File().Name() = %q", s.Path(), s.File().Name())
	}
	bs, _ := testBatches(t, base, 5)
	var poss []int64
	// Batches 0 and 1 one at a time, 2..4 with one call.
	poss = append(poss, mustAppend(t, s, bs[0]), mustAppend(t, s, bs[1]))
	multi := bytes.Join(bs[2:], nil)
	p := mustAppend(t, s, multi)
	poss = append(poss, p, p+int64(len(bs[2])), p+int64(len(bs[2])+len(bs[3])))
	var want []byte
	for i, b := range bs {
		if poss[i] != int64(len(want)) {
			t.Errorf("batch %d at %d, want %d", i, poss[i], len(want))
		}
		want = append(want, b...)
	}
	if s.Size() != int64(len(want)) {
		t.Fatalf("Size() = %d, want %d", s.Size(), len(want))
	}
	for i, b := range bs {
		got, err := s.Bytes(poss[i], int64(len(b)))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("Bytes(batch %d) = %v; equal %v", i, err, bytes.Equal(got, b))
		}
		if cap(got) != len(b) {
			t.Errorf("Bytes(batch %d) has cap %d, want %d (callers must not append into the map)", i, cap(got), len(b))
		}
		buf := make([]byte, len(b))
		if n, err := s.ReadAt(buf, poss[i]); err != nil || n != len(b) || !bytes.Equal(buf, b) {
			t.Errorf("ReadAt(batch %d) = %d, %v", i, n, err)
		}
		h, err := s.Header(poss[i])
		wantH, _ := batch.ParseHeader(b)
		if err != nil || h != wantH {
			t.Errorf("Header(batch %d) = %+v, %v; want %+v", i, h, err, wantH)
		}
	}
	all, err := s.Bytes(0, s.Size())
	if err != nil || !bytes.Equal(all, want) {
		t.Errorf("Bytes(0, Size) = %v, equal %v", err, bytes.Equal(all, want))
	}
	if got := readFile(t, s.Path()); !bytes.Equal(got, want) {
		t.Errorf("file content differs from the appended batches")
	}
	// Ranges.
	size := s.Size()
	for _, r := range [][2]int64{{-1, 1}, {0, size + 1}, {size, 1}, {size - 1, 2}, {0, -1}, {size + 1, 0},
		{math.MaxInt64, 1}, {1, math.MaxInt64}, {math.MaxInt64, math.MaxInt64}} {
		if _, err := s.Bytes(r[0], r[1]); !errors.Is(err, ErrRange) {
			t.Errorf("Bytes(%d, %d) = %v, want ErrRange", r[0], r[1], err)
		}
		if r[1] >= 0 && r[1] < 1<<20 {
			if _, err := s.ReadAt(make([]byte, r[1]), r[0]); !errors.Is(err, ErrRange) {
				t.Errorf("ReadAt(%d bytes at %d) = %v, want ErrRange", r[1], r[0], err)
			}
		}
	}
	if b, err := s.Bytes(size, 0); err != nil || len(b) != 0 {
		t.Errorf("Bytes(Size, 0) = %v, %v", b, err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestHeaderErrors(t *testing.T) {
	bs, all := testBatches(t, 0, 2)
	s := create(t, vfs.OS, 0, Options{})
	mustAppend(t, s, all)
	if _, err := s.Header(s.Size()); !errors.Is(err, batch.ErrShort) {
		t.Errorf("Header(Size) = %v, want ErrShort", err)
	}
	if _, err := s.Header(s.Size() - batch.HeaderSize + 1); !errors.Is(err, batch.ErrShort) {
		t.Errorf("Header near Size = %v, want ErrShort", err)
	}
	// A header whose batch runs past Size.
	tail := bytes.Clone(bs[1][:batch.HeaderSize])
	pos := mustAppend(t, s, tail)
	if _, err := s.Header(pos); !errors.Is(err, batch.ErrShort) {
		t.Errorf("Header of a batch past Size = %v, want ErrShort", err)
	}
	// Bad magic.
	bad := bytes.Clone(bs[0])
	bad[16] = 1
	s2 := create(t, vfs.OS, 0, Options{})
	mustAppend(t, s2, bad)
	if _, err := s2.Header(0); !errors.Is(err, batch.ErrMagic) {
		t.Errorf("Header with magic 1 = %v, want ErrMagic", err)
	}
	if _, _, _, err := s2.Find(0, 5); !errors.Is(err, batch.ErrMagic) {
		t.Errorf("Find over a bad header = %v, want ErrMagic", err)
	}
}

func TestFind(t *testing.T) {
	const base = 100
	// Offsets 100-102, 103-107, a gap, 110-111; max timestamps 12, 25, 31.
	b1 := mkBatch(t, batch.None, 100, 3, 10)
	b2 := mkBatch(t, batch.Zstd, 103, 5, 21)
	b3 := mkBatch(t, batch.Gzip, 110, 2, 30)
	s := create(t, vfs.OS, base, Options{})
	p1, p2, p3 := mustAppend(t, s, b1), mustAppend(t, s, b2), mustAppend(t, s, b3)
	size := s.Size()
	for _, tc := range []struct {
		from, offset, want int64
		found              bool
	}{
		{0, math.MinInt64, p1, true},
		{0, 0, p1, true},
		{0, 100, p1, true},
		{0, 102, p1, true},
		{0, 103, p2, true},
		{0, 107, p2, true},
		{0, 108, p3, true}, // in the gap: the next batch
		{0, 111, p3, true},
		{0, 112, size, false},
		{0, math.MaxInt64, size, false},
		{p2, 100, p2, true}, // starts at from
		{p2, 110, p3, true},
		{p3, 112, size, false},
		{size, 0, size, false},
	} {
		pos, h, found, err := s.Find(tc.from, tc.offset)
		if err != nil || pos != tc.want || found != tc.found {
			t.Errorf("Find(%d, %d) = %d, %v, %v; want %d, %v", tc.from, tc.offset, pos, found, err, tc.want, tc.found)
			continue
		}
		if found {
			wantH, _ := s.Header(pos)
			if h != wantH || h.LastOffset() < tc.offset {
				t.Errorf("Find(%d, %d) header %+v", tc.from, tc.offset, h)
			}
		}
	}
	for _, tc := range []struct {
		from, ts, want int64
		found          bool
	}{
		{0, math.MinInt64, p1, true},
		{0, 12, p1, true},
		{0, 13, p2, true},
		{0, 25, p2, true},
		{0, 26, p3, true},
		{0, 31, p3, true},
		{0, 32, size, false},
		{p3, 0, p3, true},
	} {
		pos, h, found, err := s.FindTime(tc.from, tc.ts)
		if err != nil || pos != tc.want || found != tc.found {
			t.Errorf("FindTime(%d, %d) = %d, %v, %v; want %d, %v", tc.from, tc.ts, pos, found, err, tc.want, tc.found)
			continue
		}
		if found && h.MaxTimestamp < tc.ts {
			t.Errorf("FindTime(%d, %d) header max timestamp %d", tc.from, tc.ts, h.MaxTimestamp)
		}
	}
}

func TestFull(t *testing.T) {
	const max = 2 << 20
	s := create(t, vfs.OS, 0, Options{MaxSize: max})
	if s.MaxSize() != max {
		t.Fatalf("MaxSize() = %d", s.MaxSize())
	}
	// Append does not parse: raw bytes fill the segment exactly.
	mustAppend(t, s, make([]byte, max-10))
	if _, err := s.Append(make([]byte, 11)); !errors.Is(err, ErrFull) {
		t.Fatalf("Append past MaxSize = %v, want ErrFull", err)
	}
	if s.Size() != max-10 || s.Err() != nil {
		t.Fatalf("after ErrFull: Size %d, Err %v", s.Size(), s.Err())
	}
	mustAppend(t, s, make([]byte, 10))
	if _, err := s.Append([]byte{1}); !errors.Is(err, ErrFull) {
		t.Fatalf("Append to a full segment = %v, want ErrFull", err)
	}
	if s.Size() != max {
		t.Fatalf("Size() = %d, want %d", s.Size(), max)
	}

	// MaxSize has a floor of 1 MiB.
	s2 := create(t, vfs.OS, 0, Options{MaxSize: 100})
	if s2.MaxSize() != 1<<20 {
		t.Errorf("MaxSize() with MaxSize 100 = %d, want 1 MiB", s2.MaxSize())
	}
	// A batch that would pass MaxSize is refused whole.
	bs, _ := testBatches(t, 0, 1)
	mustAppend(t, s2, make([]byte, 1<<20-len(bs[0])+1))
	if _, err := s2.Append(bs[0]); !errors.Is(err, ErrFull) {
		t.Errorf("Append = %v, want ErrFull", err)
	}
}

func TestPreallocate(t *testing.T) {
	const step, max = 64 << 10, 1 << 20
	s := create(t, vfs.OS, 0, Options{Preallocate: step, MaxSize: max})
	path := s.Path()
	if sz := fileSize(t, path); sz != step {
		t.Fatalf("file size after Create = %d, want %d", sz, step)
	}
	chunk := bytes.Repeat([]byte{0xab}, 10<<10)
	for range 6 { // 60 KiB: within the first step
		mustAppend(t, s, chunk)
	}
	if sz := fileSize(t, path); sz != step {
		t.Fatalf("file size at Size %d = %d, want %d", s.Size(), sz, step)
	}
	mustAppend(t, s, chunk) // 70 KiB: past the reserved end
	if sz, want := fileSize(t, path), s.Size()+step; sz != want {
		t.Fatalf("file size at Size %d = %d, want %d", s.Size(), sz, want)
	}

	// The reservation never passes MaxSize, and an append to exactly
	// MaxSize succeeds.
	mustAppend(t, s, make([]byte, max-s.Size()-100))
	if sz := fileSize(t, path); sz != max {
		t.Fatalf("file size near MaxSize = %d, want %d", sz, max)
	}
	mustAppend(t, s, make([]byte, 100))
	if _, err := s.Append([]byte{1}); !errors.Is(err, ErrFull) {
		t.Fatalf("Append past MaxSize = %v", err)
	}

	// Close trims to Size.
	s2 := create(t, vfs.OS, 0, Options{Preallocate: step})
	mustAppend(t, s2, chunk)
	if sz := fileSize(t, s2.Path()); sz != step {
		t.Fatalf("file size = %d, want %d", sz, step)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if sz := fileSize(t, s2.Path()); sz != int64(len(chunk)) {
		t.Errorf("file size after Close = %d, want %d", sz, len(chunk))
	}

	// A preallocation larger than MaxSize stops at MaxSize.
	s3 := create(t, vfs.OS, 0, Options{Preallocate: 4 << 20, MaxSize: 2 << 20})
	if sz := fileSize(t, s3.Path()); sz != 2<<20 {
		t.Errorf("file size with Preallocate > MaxSize = %d, want %d", sz, 2<<20)
	}

	// Scan sees the preallocated tail as zeros, not lost data.
	s5 := create(t, vfs.OS, 0, Options{Preallocate: step})
	_, all := testBatches(t, 0, 3)
	mustAppend(t, s5, all)
	res, err := s5.Scan(0, ScanOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.ZeroTail || res.Stop != nil || res.Cut() != 0 || res.ValidEnd != int64(len(all)) || res.FileSize != step || res.Batches != 3 {
		t.Errorf("Scan of a preallocated segment: %+v", res)
	}

	// No preallocation: the file grows with the appends.
	s4 := create(t, vfs.OS, 0, Options{})
	if sz := fileSize(t, s4.Path()); sz != 0 {
		t.Errorf("file size without preallocation = %d", sz)
	}
	mustAppend(t, s4, chunk)
	if sz := fileSize(t, s4.Path()); sz != int64(len(chunk)) {
		t.Errorf("file size without preallocation = %d, want %d", sz, len(chunk))
	}
}

// TestPreallocatedCrash reopens a preallocated segment that was never
// trimmed, as after a crash: Recover cuts the zero tail and appends resume
// at the end of the data, preallocating again.
func TestPreallocatedCrash(t *testing.T) {
	const step = 64 << 10
	s := create(t, vfs.OS, 0, Options{Preallocate: step})
	_, all := testBatches(t, 0, 4)
	mustAppend(t, s, all)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(vfs.OS, s.Path(), 0, true, Options{Preallocate: step})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Size() != step {
		t.Fatalf("Open of an untrimmed file: Size() = %d, want the file size %d", s2.Size(), step)
	}
	res, err := s2.Recover(0, ScanOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.ValidEnd != int64(len(all)) || res.Stop != nil || !res.ZeroTail || res.Batches != 4 || res.NextOffset != 10 {
		t.Fatalf("Recover: %+v", res)
	}
	if s2.Size() != int64(len(all)) || fileSize(t, s.Path()) != int64(len(all)) {
		t.Fatalf("after Recover: Size %d, file size %d; want %d", s2.Size(), fileSize(t, s.Path()), len(all))
	}
	b := mkBatch(t, batch.None, 10, 1, 9000)
	if pos := mustAppend(t, s2, b); pos != int64(len(all)) {
		t.Fatalf("Append after Recover at %d, want %d", pos, len(all))
	}
	if sz, want := fileSize(t, s.Path()), s2.Size()+step; sz != want {
		t.Errorf("file size after Append = %d, want %d (preallocated again)", sz, want)
	}
}

func TestSeal(t *testing.T) {
	_, all := testBatches(t, 0, 3)
	s := create(t, vfs.OS, 0, Options{Preallocate: 1 << 20})
	mustAppend(t, s, all)
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	if s.Writable() {
		t.Error("Writable() after Seal")
	}
	if sz := fileSize(t, s.Path()); sz != int64(len(all)) {
		t.Errorf("file size after Seal = %d, want %d", sz, len(all))
	}
	if _, err := s.Append(all); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Append after Seal = %v, want ErrReadOnly", err)
	}
	if s.Size() != int64(len(all)) {
		t.Errorf("Size() = %d after a refused append", s.Size())
	}
	if b, err := s.Bytes(0, s.Size()); err != nil || !bytes.Equal(b, all) {
		t.Errorf("Bytes after Seal: %v", err)
	}
	if err := s.Seal(); err != nil {
		t.Errorf("second Seal: %v", err)
	}
	if err := s.Sync(); err != nil {
		t.Errorf("Sync after Seal: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Opened read-only.
	ro := open(t, s.Path(), 0, false)
	if ro.Writable() || ro.Size() != int64(len(all)) {
		t.Fatalf("read-only Open: Writable %v Size %d", ro.Writable(), ro.Size())
	}
	if _, err := ro.Append(all); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Append to a read-only segment = %v, want ErrReadOnly", err)
	}
	if b, err := ro.Bytes(0, ro.Size()); err != nil || !bytes.Equal(b, all) {
		t.Errorf("Bytes of a read-only segment: %v", err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if sz := fileSize(t, s.Path()); sz != int64(len(all)) {
		t.Errorf("file size after closing a read-only segment = %d", sz)
	}
}

func TestTruncateTo(t *testing.T) {
	bs, all := testBatches(t, 0, 4) // offsets 0, 1-2, 3-5, 6-9
	s := create(t, vfs.OS, 0, Options{})
	mustAppend(t, s, all)
	cut := int64(len(bs[0]) + len(bs[1]))
	held, err := s.Bytes(cut, int64(len(all))-cut) // a reader's slice into the cut range
	if err != nil {
		t.Fatal(err)
	}
	if err := s.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	if s.Size() != cut {
		t.Fatalf("Size() = %d, want %d", s.Size(), cut)
	}
	data := readFile(t, s.Path())
	if !bytes.Equal(data[:cut], all[:cut]) {
		t.Error("TruncateTo changed the kept bytes")
	}
	if int64(len(data)) != int64(len(all)) {
		t.Errorf("file size after TruncateTo = %d; the file is not cut while mapped", len(data))
	}
	for i := cut; i < int64(len(data)); i++ {
		if data[i] != 0 {
			t.Fatalf("file byte %d = %#x after TruncateTo(%d), want 0", i, data[i], cut)
		}
	}
	for i, c := range held {
		if c != 0 {
			t.Fatalf("held slice byte %d = %#x after TruncateTo, want 0", i, c)
		}
	}
	if _, _, found, err := s.Find(0, 3); found || err != nil {
		t.Errorf("Find of a truncated offset: found %v, %v", found, err)
	}
	for _, p := range []int64{-1, cut + 1} {
		if err := s.TruncateTo(p); !errors.Is(err, ErrRange) {
			t.Errorf("TruncateTo(%d) = %v, want ErrRange", p, err)
		}
	}
	if err := s.TruncateTo(cut); err != nil {
		t.Errorf("TruncateTo(Size) = %v", err)
	}

	// Appends overwrite the zeroed range.
	nb := mkBatch(t, batch.Snappy, 3, 2, 5000)
	if pos := mustAppend(t, s, nb); pos != cut {
		t.Fatalf("Append after TruncateTo at %d, want %d", pos, cut)
	}
	want := append(bytes.Clone(all[:cut]), nb...)
	data = readFile(t, s.Path())
	if !bytes.Equal(data[:len(want)], want) || !isZero(data[len(want):]) {
		t.Error("file after truncate and append is not the kept bytes, the new batch and zeros")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, s.Path()); !bytes.Equal(got, want) {
		t.Errorf("file after Close: %d bytes, want %d", len(got), len(want))
	}
	s2 := open(t, s.Path(), 0, true)
	res, err := s2.Recover(0, ScanOptions{}, nil)
	if err != nil || res.Stop != nil || res.ValidEnd != int64(len(want)) || res.NextOffset != 5 {
		t.Errorf("Recover after truncate and append: %+v, %v", res, err)
	}

	// To zero, on a read-only segment.
	if err := s2.TruncateTo(0); err != nil || s2.Size() != 0 {
		t.Errorf("TruncateTo(0) = %v, Size %d", err, s2.Size())
	}
	ro := open(t, s.Path(), 0, false)
	if err := ro.TruncateTo(1); !errors.Is(err, ErrReadOnly) {
		t.Errorf("TruncateTo on a read-only segment = %v, want ErrReadOnly", err)
	}
}

func TestWriteErrors(t *testing.T) {
	bs, _ := testBatches(t, 0, 3)
	t.Run("ENOSPC on write", func(t *testing.T) {
		efs := vfs.NewErrorFS(vfs.OS)
		s := create(t, efs, 0, Options{})
		efs.FailAfter(vfs.OpWrite, Suffix, 1, syscall.ENOSPC)
		mustAppend(t, s, bs[0])
		_, err := s.Append(bs[1])
		if !errors.Is(err, ErrWriteFailed) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Append = %v, want ErrWriteFailed and ENOSPC", err)
		}
		if s.Size() != int64(len(bs[0])) {
			t.Errorf("Size() = %d after a failed append, want %d", s.Size(), len(bs[0]))
		}
		efs.Reset() // the disk has room again; the segment must still refuse
		checkSticky(t, s, bs[2], syscall.ENOSPC)
	})
	t.Run("EIO on sync", func(t *testing.T) {
		efs := vfs.NewErrorFS(vfs.OS)
		s := create(t, efs, 0, Options{})
		efs.FailAfter(vfs.OpSync, Suffix, 0, syscall.EIO)
		mustAppend(t, s, bs[0])
		err := s.Sync()
		if !errors.Is(err, ErrWriteFailed) || !errors.Is(err, syscall.EIO) {
			t.Fatalf("Sync = %v, want ErrWriteFailed and EIO", err)
		}
		efs.Reset()
		checkSticky(t, s, bs[1], syscall.EIO)
	})
	t.Run("partial write", func(t *testing.T) {
		efs := vfs.NewErrorFS(vfs.OS)
		s := create(t, efs, 0, Options{})
		mustAppend(t, s, bs[0])
		efs.FailAfter(vfs.OpWrite, Suffix, 0, vfs.PartialWrite(syscall.ENOSPC))
		if _, err := s.Append(bs[1]); !errors.Is(err, ErrWriteFailed) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Append = %v", err)
		}
		efs.Reset()
		checkSticky(t, s, bs[2], syscall.ENOSPC)
		s.Close()
		// Half of the batch reached the file; recovery cuts it.
		if sz := fileSize(t, s.Path()); sz != int64(len(bs[0])+len(bs[1])/2) {
			t.Fatalf("file size %d", sz)
		}
		s2 := open(t, s.Path(), 0, true)
		res, err := s2.Recover(0, ScanOptions{}, nil)
		if err != nil || !errors.Is(res.Stop, ErrTornTail) || res.ValidEnd != int64(len(bs[0])) {
			t.Errorf("Recover after a partial write: %+v, %v", res, err)
		}
	})
	t.Run("ENOSPC on preallocate", func(t *testing.T) {
		efs := vfs.NewErrorFS(vfs.OS)
		s := create(t, efs, 0, Options{Preallocate: 4096})
		efs.FailAfter(vfs.OpAllocate, Suffix, 0, syscall.ENOSPC)
		_, err := s.Append(make([]byte, 5000))
		if !errors.Is(err, ErrWriteFailed) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Append needing a preallocation = %v", err)
		}
		if s.Size() != 0 {
			t.Errorf("Size() = %d", s.Size())
		}
		efs.Reset()
		checkSticky(t, s, bs[0], syscall.ENOSPC)
	})
	t.Run("EIO zeroing in TruncateTo", func(t *testing.T) {
		efs := vfs.NewErrorFS(vfs.OS)
		s := create(t, efs, 0, Options{})
		mustAppend(t, s, bytes.Join(bs, nil))
		efs.FailAfter(vfs.OpWrite, Suffix, 0, syscall.EIO)
		if err := s.TruncateTo(int64(len(bs[0]))); !errors.Is(err, ErrWriteFailed) || !errors.Is(err, syscall.EIO) {
			t.Fatalf("TruncateTo = %v", err)
		}
		efs.Reset()
		checkSticky(t, s, bs[1], syscall.EIO)
	})
	t.Run("error path not matched", func(t *testing.T) {
		// An injector for another file leaves the segment alone.
		efs := vfs.NewErrorFS(vfs.OS)
		s := create(t, efs, 0, Options{})
		efs.FailAfter(vfs.OpWrite, ".index", 0, syscall.EIO)
		mustAppend(t, s, bs[0])
		if err := s.Sync(); err != nil || s.Err() != nil {
			t.Fatalf("Sync = %v, Err = %v", err, s.Err())
		}
	})
}

// checkSticky checks that s, which failed with errno, refuses every later
// write with an error wrapping ErrWriteFailed and errno, and still serves
// reads of what it has.
func checkSticky(t *testing.T, s *Segment, b []byte, errno syscall.Errno) {
	t.Helper()
	size := s.Size()
	first := s.Err()
	if !errors.Is(first, ErrWriteFailed) || !errors.Is(first, errno) {
		t.Fatalf("Err() = %v, want ErrWriteFailed and %v", first, errno)
	}
	for i := range 2 {
		if _, err := s.Append(b); err != first {
			t.Errorf("Append %d after the failure = %v, want the first error %v", i, err, first)
		}
		if err := s.Sync(); err != first {
			t.Errorf("Sync %d after the failure = %v, want the first error %v", i, err, first)
		}
	}
	if size > 0 {
		if err := s.TruncateTo(0); err != first {
			t.Errorf("TruncateTo after the failure = %v", err)
		}
	}
	if s.Size() != size {
		t.Errorf("Size() changed from %d to %d after the failure", size, s.Size())
	}
	if _, err := s.Bytes(0, size); err != nil {
		t.Errorf("Bytes after a write failure: %v", err)
	}
	if err := s.Seal(); err != first {
		t.Errorf("Seal after the failure = %v, want the first error", err)
	}
}

func TestCloseRemove(t *testing.T) {
	_, all := testBatches(t, 0, 2)
	s := create(t, vfs.OS, 0, Options{})
	mustAppend(t, s, all)
	if _, err := s.Bytes(0, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	s2 := open(t, s.Path(), 0, false)
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Bytes(0, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Bytes after Close (never mapped) = %v, want ErrClosed", err)
	}
	s3 := open(t, s.Path(), 0, true)
	if err := s3.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file exists after Remove: %v", err)
	}
	// Create refuses an existing file.
	s4 := create(t, vfs.OS, 7, Options{})
	if _, err := Create(vfs.OS, filepath.Dir(s4.Path()), 7, Options{}); !errors.Is(err, os.ErrExist) {
		t.Errorf("Create of an existing segment = %v, want ErrExist", err)
	}
}

// TestConcurrentReaders runs readers (Size, Bytes, Find, ReadAt, Header)
// against one appender. Every batch a reader finds below Size must be whole
// and valid, and Find must find every offset below the batches it saw.
func TestConcurrentReaders(t *testing.T) {
	const n = 1500
	batches := make([][]byte, n)
	for i := range batches {
		batches[i] = mkBatch(t, batch.Compression(i%5), 2*int64(i), 2, int64(i))
	}
	s := create(t, vfs.OS, 0, Options{Preallocate: 64 << 10, MaxSize: 8 << 20})
	var done atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	for r := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			var hdr [batch.HeaderSize]byte
			for !done.Load() {
				size := s.Size()
				b, err := s.Bytes(0, size)
				if err != nil {
					fail(err)
					return
				}
				var count int64
				for len(b) > 0 {
					h, err := batch.Validate(b)
					if err != nil {
						fail(fmt.Errorf("batch %d below Size %d: %w", count, size, err))
						return
					}
					if h.BaseOffset != 2*count {
						fail(fmt.Errorf("batch %d has base offset %d", count, h.BaseOffset))
						return
					}
					b = b[h.Size():]
					count++
				}
				if count == 0 {
					continue
				}
				off := rng.Int64N(2 * count)
				pos, h, found, err := s.Find(0, off)
				if err != nil || !found || h.BaseOffset != off&^1 {
					fail(fmt.Errorf("Find(0, %d) = %d, %+v, %v, %v", off, pos, h, found, err))
					return
				}
				if _, err := s.ReadAt(hdr[:], pos); err != nil {
					fail(err)
					return
				}
				if hb, _ := batch.ParseHeader(hdr[:]); hb != h {
					fail(fmt.Errorf("ReadAt header %+v, Find header %+v", hb, h))
					return
				}
			}
		})
	}
	for i, b := range batches {
		if i%3 == 0 && i+1 < n {
			// Some appends carry two batches.
			if _, err := s.Append(append(bytes.Clone(b), batches[i+1]...)); err != nil {
				t.Error(err)
				break
			}
			batches[i+1] = nil
			continue
		}
		if b == nil {
			continue
		}
		if _, err := s.Append(b); err != nil {
			t.Error(err)
			break
		}
	}
	done.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
