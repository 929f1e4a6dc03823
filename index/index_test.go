package index

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/weirhq/weir/internal/vfs"
)

const testBase = 1000

func offsetPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "00000000000000001000.index")
}

func timePath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "00000000000000001000.timeindex")
}

func openOffset(t *testing.T, path string, maxBytes int, writable bool) *OffsetIndex {
	t.Helper()
	o, err := OpenOffset(vfs.OS, path, testBase, maxBytes, writable)
	if err != nil {
		t.Fatalf("OpenOffset(%s, writable=%v): %v", path, writable, err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func openTime(t *testing.T, path string, maxBytes int, writable bool) *TimeIndex {
	t.Helper()
	ti, err := OpenTime(vfs.OS, path, testBase, maxBytes, writable)
	if err != nil {
		t.Fatalf("OpenTime(%s, writable=%v): %v", path, writable, err)
	}
	t.Cleanup(func() { ti.Close() })
	return ti
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

func offsetEntries(o *OffsetIndex) []OffsetEntry {
	var es []OffsetEntry
	for i := range o.Len() {
		es = append(es, o.Entry(i))
	}
	return es
}

func timeEntries(ti *TimeIndex) []TimeEntry {
	var es []TimeEntry
	for i := range ti.Len() {
		es = append(es, ti.Entry(i))
	}
	return es
}

func mustAppend(t *testing.T, o *OffsetIndex, offset, pos int64) {
	t.Helper()
	if err := o.Append(offset, pos); err != nil {
		t.Fatalf("Append(%d, %d): %v", offset, pos, err)
	}
}

func mustMaybeAppend(t *testing.T, ti *TimeIndex, ts, offset int64) {
	t.Helper()
	ok, err := ti.MaybeAppend(ts, offset)
	if err != nil || !ok {
		t.Fatalf("MaybeAppend(%d, %d) = %v, %v; want true, nil", ts, offset, ok, err)
	}
}

// filled returns a writable offset index with entries (base+10*(i+1),
// 100*(i+1)) for i < n.
func filledOffset(t *testing.T, n int) (*OffsetIndex, string) {
	t.Helper()
	path := offsetPath(t)
	o := openOffset(t, path, 4096, true)
	for i := 1; i <= n; i++ {
		mustAppend(t, o, testBase+10*int64(i), 100*int64(i))
	}
	return o, path
}

func TestOffsetLookup(t *testing.T) {
	o, _ := filledOffset(t, 0)
	for _, q := range []int64{math.MinInt64, 0, testBase, testBase + 5, math.MaxInt64} {
		if got := o.Lookup(q); got != (OffsetEntry{testBase, 0}) {
			t.Errorf("empty: Lookup(%d) = %+v, want {base, 0}", q, got)
		}
		if got := o.LookupPosition(q); got != (OffsetEntry{testBase, 0}) {
			t.Errorf("empty: LookupPosition(%d) = %+v, want {base, 0}", q, got)
		}
	}
	for i := 1; i <= 3; i++ {
		mustAppend(t, o, testBase+10*int64(i), 100*int64(i))
	}
	start := OffsetEntry{testBase, 0}
	e1, e2, e3 := OffsetEntry{1010, 100}, OffsetEntry{1020, 200}, OffsetEntry{1030, 300}
	for _, tc := range []struct {
		q    int64
		want OffsetEntry
	}{
		{math.MinInt64, start},
		{0, start},
		{testBase - 1, start},
		{testBase, start},
		{1009, start}, // before the first entry
		{1010, e1},    // exact hits
		{1020, e2},
		{1030, e3},
		{1011, e1}, // between entries
		{1019, e1},
		{1021, e2},
		{1029, e2},
		{1031, e3}, // after the last
		{math.MaxInt64, e3},
	} {
		if got := o.Lookup(tc.q); got != tc.want {
			t.Errorf("Lookup(%d) = %+v, want %+v", tc.q, got, tc.want)
		}
	}
	for _, tc := range []struct {
		pos  int64
		want OffsetEntry
	}{
		{-1, start}, {0, start}, {99, start}, {100, e1}, {101, e1}, {199, e1},
		{200, e2}, {299, e2}, {300, e3}, {math.MaxInt64, e3},
	} {
		if got := o.LookupPosition(tc.pos); got != tc.want {
			t.Errorf("LookupPosition(%d) = %+v, want %+v", tc.pos, got, tc.want)
		}
	}
	if last, ok := o.Last(); !ok || last != e3 {
		t.Errorf("Last() = %+v, %v; want %+v, true", last, ok, e3)
	}
	if o.Base() != testBase {
		t.Errorf("Base() = %d", o.Base())
	}
}

// TestOffsetLookupRandom compares Lookup and LookupPosition with a linear
// search over indexes of every size from 0 to 70 entries (odd and even sizes
// exercise both halves of the binary search).
func TestOffsetLookupRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 70 {
		path := filepath.Join(t.TempDir(), "x.index")
		o := openOffset(t, path, 8*n, true)
		var es []OffsetEntry
		off, pos := int64(testBase), int64(0)
		for range n {
			off += 1 + rng.Int64N(5)
			pos += 1 + rng.Int64N(5)
			mustAppend(t, o, off, pos)
			es = append(es, OffsetEntry{off, pos})
		}
		if !o.Full() {
			t.Fatalf("n=%d: index with capacity %d not Full after %d appends", n, n, n)
		}
		for q := int64(testBase - 2); q <= off+2; q++ {
			want := OffsetEntry{testBase, 0}
			for _, e := range es {
				if e.Offset <= q {
					want = e
				}
			}
			if got := o.Lookup(q); got != want {
				t.Fatalf("n=%d: Lookup(%d) = %+v, want %+v", n, q, got, want)
			}
		}
		for q := int64(-1); q <= pos+2; q++ {
			want := OffsetEntry{testBase, 0}
			for _, e := range es {
				if e.Position <= q {
					want = e
				}
			}
			if got := o.LookupPosition(q); got != want {
				t.Fatalf("n=%d: LookupPosition(%d) = %+v, want %+v", n, q, got, want)
			}
		}
	}
}

func TestOffsetAppendOrder(t *testing.T) {
	o, _ := filledOffset(t, 2) // (1010, 100), (1020, 200)
	for _, tc := range []struct {
		name        string
		offset, pos int64
	}{
		{"equal offset", 1020, 300},
		{"smaller offset", 1015, 300},
		{"equal position", 1030, 200},
		{"smaller position", 1030, 150},
		{"both equal", 1020, 200},
		{"negative position", 1030, -1},
		{"position over 32 bits", 1030, math.MaxUint32 + 1},
		{"offset below base", testBase - 1, 300},
		{"relative offset over 32 bits", testBase + math.MaxUint32 + 1, 300},
	} {
		if err := o.Append(tc.offset, tc.pos); !errors.Is(err, ErrOrder) {
			t.Errorf("%s: Append(%d, %d) = %v, want ErrOrder", tc.name, tc.offset, tc.pos, err)
		}
	}
	if o.Len() != 2 {
		t.Fatalf("Len() = %d after rejected appends, want 2", o.Len())
	}
	// The largest relative offset and position that fit are accepted.
	mustAppend(t, o, testBase+math.MaxUint32, math.MaxUint32)
	if e := o.Entry(2); e != (OffsetEntry{testBase + math.MaxUint32, math.MaxUint32}) {
		t.Fatalf("Entry(2) = %+v", e)
	}

	// The first entry may be anywhere in range, including {base, 0}.
	o2 := openOffset(t, filepath.Join(t.TempDir(), "y.index"), 64, true)
	if err := o2.Append(testBase-1, 0); !errors.Is(err, ErrOrder) {
		t.Errorf("first Append below base = %v, want ErrOrder", err)
	}
	mustAppend(t, o2, testBase, 0)
	if o2.Len() != 1 || o2.Entry(0) != (OffsetEntry{testBase, 0}) {
		t.Errorf("entries = %+v", offsetEntries(o2))
	}
}

func TestOffsetFull(t *testing.T) {
	path := offsetPath(t)
	// 5 whole entries and 3 bytes: the capacity is rounded down.
	o := openOffset(t, path, 5*OffsetEntrySize+3, true)
	if sz := fileSize(t, path); sz != 5*OffsetEntrySize {
		t.Errorf("preallocated size = %d, want %d", sz, 5*OffsetEntrySize)
	}
	for i := int64(1); i <= 5; i++ {
		if o.Full() {
			t.Fatalf("Full() before entry %d", i)
		}
		mustAppend(t, o, testBase+i, i)
	}
	if !o.Full() {
		t.Error("Full() = false at capacity")
	}
	if err := o.Append(testBase+6, 6); !errors.Is(err, ErrFull) {
		t.Errorf("Append at capacity = %v, want ErrFull", err)
	}
	if o.Len() != 5 {
		t.Errorf("Len() = %d, want 5", o.Len())
	}
	// A zero-capacity writable index is full from the start.
	z := openOffset(t, filepath.Join(t.TempDir(), "z.index"), 0, true)
	if !z.Full() {
		t.Error("zero-capacity index not Full")
	}
	if err := z.Append(testBase, 0); !errors.Is(err, ErrFull) {
		t.Errorf("Append to zero-capacity index = %v, want ErrFull", err)
	}
}

func TestOffsetTruncate(t *testing.T) {
	// Entries (1010,100) (1020,200) (1030,300) (1040,400) (1050,500).
	for _, tc := range []struct {
		offset int64
		want   int
	}{
		{math.MinInt64, 0}, {testBase, 0}, {1010, 0}, {1011, 1}, {1020, 1},
		{1025, 2}, {1050, 4}, {1051, 5}, {math.MaxInt64, 5},
	} {
		o, path := filledOffset(t, 5)
		o.TruncateTo(tc.offset)
		if o.Len() != tc.want {
			t.Errorf("TruncateTo(%d): Len() = %d, want %d", tc.offset, o.Len(), tc.want)
			continue
		}
		checkTruncated(t, o, path, tc.want, 5)
	}
	for _, tc := range []struct {
		pos  int64
		want int
	}{
		{-1, 0}, {0, 0}, {100, 0}, {101, 1}, {200, 1}, {450, 4}, {500, 4}, {501, 5},
	} {
		o, path := filledOffset(t, 5)
		o.TruncateToPosition(tc.pos)
		if o.Len() != tc.want {
			t.Errorf("TruncateToPosition(%d): Len() = %d, want %d", tc.pos, o.Len(), tc.want)
			continue
		}
		checkTruncated(t, o, path, tc.want, 5)
	}

	o, path := filledOffset(t, 5)
	o.Reset()
	if o.Len() != 0 {
		t.Fatalf("Reset: Len() = %d", o.Len())
	}
	if got := o.Lookup(1050); got != (OffsetEntry{testBase, 0}) {
		t.Errorf("Lookup after Reset = %+v", got)
	}
	if _, ok := o.Last(); ok {
		t.Error("Last() ok after Reset")
	}
	// After a reset, entries below the old ones are accepted.
	checkTruncated(t, o, path, 0, 5)
}

// checkTruncated checks that an index truncated from had to n entries zeroed
// the dropped entries in the file, accepts appends after its new last entry
// and rejects an append before it.
func checkTruncated(t *testing.T, o *OffsetIndex, path string, n, had int) {
	t.Helper()
	data := readFile(t, path) // the mapping is shared: the file shows it
	for i := n * OffsetEntrySize; i < had*OffsetEntrySize; i++ {
		if data[i] != 0 {
			t.Fatalf("truncated to %d entries: file byte %d = %#x, want 0", n, i, data[i])
		}
	}
	for i := range n {
		if e := o.Entry(i); e != (OffsetEntry{testBase + 10*int64(i+1), 100 * int64(i+1)}) {
			t.Fatalf("entry %d = %+v after truncation", i, e)
		}
	}
	if n > 0 {
		if err := o.Append(testBase+10*int64(n), 100*int64(n)+1); !errors.Is(err, ErrOrder) {
			t.Fatalf("Append at the last kept offset = %v, want ErrOrder", err)
		}
	}
	next := testBase + 10*int64(n) + 1
	mustAppend(t, o, next, 100*int64(n)+1)
	if got := o.Lookup(next + 100); got != (OffsetEntry{next, 100*int64(n) + 1}) {
		t.Fatalf("Lookup after re-append = %+v", got)
	}
}

func TestOffsetSealClose(t *testing.T) {
	o, path := filledOffset(t, 3)
	if sz := fileSize(t, path); sz != 4096 {
		t.Fatalf("preallocated size = %d, want 4096", sz)
	}
	if !o.Writable() {
		t.Fatal("new index not Writable")
	}
	if err := o.Seal(); err != nil {
		t.Fatal(err)
	}
	if o.Writable() {
		t.Error("Writable() after Seal")
	}
	if sz := fileSize(t, path); sz != 3*OffsetEntrySize {
		t.Errorf("size after Seal = %d, want %d", sz, 3*OffsetEntrySize)
	}
	if got := o.Lookup(1025); got != (OffsetEntry{1020, 200}) {
		t.Errorf("Lookup after Seal = %+v", got)
	}
	// Appending to a sealed index must fail, not write past the trimmed
	// end of the file through the mapping (SIGBUS).
	if err := o.Append(1040, 400); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Append after Seal = %v, want ErrReadOnly", err)
	}
	if o.Len() != 3 {
		t.Errorf("Len() = %d after rejected append", o.Len())
	}
	if err := o.Seal(); err != nil {
		t.Errorf("second Seal: %v", err)
	}
	if err := o.Sync(); err != nil {
		t.Errorf("Sync after Seal: %v", err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if sz := fileSize(t, path); sz != 3*OffsetEntrySize {
		t.Errorf("size after Close = %d", sz)
	}
	if err := o.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := o.Append(1050, 500); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	if err := o.Sync(); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync after Close = %v, want ErrClosed", err)
	}

	// Close trims a writable index that was never sealed.
	o2, path2 := filledOffset(t, 7)
	if err := o2.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := o2.Close(); err != nil {
		t.Fatal(err)
	}
	if sz := fileSize(t, path2); sz != 7*OffsetEntrySize {
		t.Errorf("size after Close = %d, want %d", sz, 7*OffsetEntrySize)
	}

	// Seal of an empty, zero-capacity index (nothing mapped).
	z := openOffset(t, filepath.Join(t.TempDir(), "z.index"), 0, true)
	if err := z.Seal(); err != nil {
		t.Errorf("Seal of a zero-capacity index: %v", err)
	}
}

func TestOffsetRemove(t *testing.T) {
	o, path := filledOffset(t, 2)
	if err := o.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file still exists after Remove: %v", err)
	}
	if o.Path() != path {
		t.Errorf("Path() = %q", o.Path())
	}
}

func TestOffsetReopen(t *testing.T) {
	o, path := filledOffset(t, 5)
	want := offsetEntries(o)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	ro := openOffset(t, path, 4096, false)
	if got := offsetEntries(ro); !slices.Equal(got, want) {
		t.Errorf("read-only reopen: %+v, want %+v", got, want)
	}
	if ro.Writable() {
		t.Error("read-only index Writable")
	}
	if err := ro.Append(2000, 2000); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Append to read-only index = %v, want ErrReadOnly", err)
	}
	if err := ro.Check(501); err != nil {
		t.Errorf("Check: %v", err)
	}
	ro.Close()

	rw := openOffset(t, path, 4096, true)
	if got := offsetEntries(rw); !slices.Equal(got, want) {
		t.Errorf("writable reopen: %+v, want %+v", got, want)
	}
	if sz := fileSize(t, path); sz != 4096 {
		t.Errorf("writable reopen: file size %d, want 4096", sz)
	}
	if err := rw.Append(1050, 600); !errors.Is(err, ErrOrder) {
		t.Errorf("Append at the last offset after reopen = %v, want ErrOrder", err)
	}
	mustAppend(t, rw, 1060, 600)
	if err := rw.Close(); err != nil {
		t.Fatal(err)
	}
	ro = openOffset(t, path, 0, false)
	if ro.Len() != 6 || ro.Entry(5) != (OffsetEntry{1060, 600}) {
		t.Errorf("after append and reopen: %+v", offsetEntries(ro))
	}
}

// TestOffsetUntrimmed reopens a preallocated file that was never trimmed (a
// crash before Close): the zero tail is not counted.
func TestOffsetUntrimmed(t *testing.T) {
	o, path := filledOffset(t, 3)
	if err := o.Sync(); err != nil {
		t.Fatal(err)
	}
	want := offsetEntries(o)
	for _, writable := range []bool{false, true} {
		// A second handle sees the untrimmed file, as after a crash.
		o2, err := OpenOffset(vfs.OS, path, testBase, 4096, writable)
		if err != nil {
			t.Fatal(err)
		}
		if got := offsetEntries(o2); !slices.Equal(got, want) {
			t.Errorf("writable=%v: entries %+v, want %+v", writable, got, want)
		}
		if !writable {
			o2.Close()
		} else {
			o2.x.writable = false // do not trim under the first handle
			o2.Close()
		}
	}

	for _, tc := range []struct {
		name string
		file []byte
		want []OffsetEntry
	}{
		{"empty", nil, nil},
		{"preallocated, never written", make([]byte, 4096), nil},
		{"one zero entry", make([]byte, 8), []OffsetEntry{{testBase, 0}}},
		{"one entry and zero tail", append(entryBytes(5, 50), make([]byte, 1000)...), []OffsetEntry{{testBase + 5, 50}}},
		// A zero first entry is {base, 0}, the same as no entry: a
		// writable open may count it as a preallocated tail.
		{"zero first entry, partial second", make([]byte, 12), []OffsetEntry{{testBase, 0}}},
		{"entry and partial entry", append(entryBytes(5, 50), 1, 2, 3), []OffsetEntry{{testBase + 5, 50}}},
		{"partial entry only", []byte{1, 2, 3}, nil},
	} {
		for _, writable := range []bool{false, true} {
			path := filepath.Join(t.TempDir(), "x.index")
			if err := os.WriteFile(path, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			o, err := OpenOffset(vfs.OS, path, testBase, 64, writable)
			if err != nil {
				t.Errorf("%s (writable=%v): %v", tc.name, writable, err)
				continue
			}
			want := tc.want
			if writable && len(want) == 1 && want[0] == (OffsetEntry{testBase, 0}) && o.Len() == 0 {
				want = nil
			}
			if got := offsetEntries(o); !slices.Equal(got, want) {
				t.Errorf("%s (writable=%v): entries %+v, want %+v", tc.name, writable, got, want)
			}
			if err := o.Close(); err != nil {
				t.Errorf("%s (writable=%v): Close: %v", tc.name, writable, err)
			}
			if writable {
				if sz := fileSize(t, path); sz != int64(len(want)*OffsetEntrySize) {
					t.Errorf("%s: size after writable Close = %d, want %d", tc.name, sz, len(want)*OffsetEntrySize)
				}
			}
		}
	}
}

func entryBytes(rel, pos uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, rel), pos)
}

func TestOffsetCheck(t *testing.T) {
	o, path := filledOffset(t, 5) // last position 500
	if err := o.Check(501); err != nil {
		t.Errorf("Check(501): %v", err)
	}
	if err := o.Check(500); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Check with position == segment size = %v, want ErrCorrupt", err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	good := readFile(t, path)

	// Entry 2 no longer follows entry 1.
	for _, tc := range []struct {
		name     string
		rel, pos uint32
	}{
		{"offset equal to previous", 20, 300},
		{"offset below previous", 15, 300},
		{"position equal to previous", 30, 200},
		{"position below previous", 30, 150},
	} {
		bad := bytes.Clone(good)
		copy(bad[2*OffsetEntrySize:], entryBytes(tc.rel, tc.pos))
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		ro := openOffset(t, path, 0, false)
		if err := ro.Check(1 << 30); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Check = %v, want ErrCorrupt", tc.name, err)
		}
		ro.Close()
	}

	// Random garbage. A random file of 64 entries is increasing in both
	// fields with probability about 2^-128.
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20 {
		garbage := make([]byte, 64*OffsetEntrySize)
		for j := range garbage {
			garbage[j] = byte(rng.Uint32())
		}
		if err := os.WriteFile(path, garbage, 0o644); err != nil {
			t.Fatal(err)
		}
		ro := openOffset(t, path, 0, false)
		if err := ro.Check(math.MaxInt64); !errors.Is(err, ErrCorrupt) {
			t.Errorf("garbage %d: Check = %v, want ErrCorrupt", i, err)
		}
		ro.Close()
	}
	// Garbage written over the entries of a live writable index, once
	// they are in the file (Sync moves the in-memory tail there).
	o, path = filledOffset(t, 5)
	if err := o.Sync(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef}, 3*OffsetEntrySize); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := o.Check(math.MaxInt64); !errors.Is(err, ErrCorrupt) {
		t.Errorf("garbage in a live index: Check = %v, want ErrCorrupt", err)
	}
}

// TestOffsetLayout checks the bytes on disk against Kafka's format: 4-byte
// big-endian relative offset, 4-byte big-endian position.
func TestOffsetLayout(t *testing.T) {
	path := offsetPath(t)
	o := openOffset(t, path, 4096, true)
	mustAppend(t, o, testBase, 0)
	mustAppend(t, o, testBase+5, 77)
	mustAppend(t, o, testBase+0x01020304, 0x0a0b0c0d)
	mustAppend(t, o, testBase+math.MaxUint32, math.MaxUint32)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString("" +
		"00000000" + "00000000" +
		"00000005" + "0000004d" +
		"01020304" + "0a0b0c0d" +
		"ffffffff" + "ffffffff")
	if got := readFile(t, path); !bytes.Equal(got, want) {
		t.Errorf("file bytes\n got %x\nwant %x", got, want)
	}
}

func TestTimeLayout(t *testing.T) {
	path := timePath(t)
	ti := openTime(t, path, 4096, true)
	mustMaybeAppend(t, ti, -1, testBase)
	mustMaybeAppend(t, ti, 0x0102030405060708, testBase+9)
	mustMaybeAppend(t, ti, math.MaxInt64, testBase+0xa0b0c0d0)
	if err := ti.Close(); err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString("" +
		"ffffffffffffffff" + "00000000" +
		"0102030405060708" + "00000009" +
		"7fffffffffffffff" + "a0b0c0d0")
	if got := readFile(t, path); !bytes.Equal(got, want) {
		t.Errorf("file bytes\n got %x\nwant %x", got, want)
	}
}

func TestTimeMaybeAppend(t *testing.T) {
	path := timePath(t)
	ti := openTime(t, path, 3*TimeEntrySize, true)
	check := func(want ...TimeEntry) {
		t.Helper()
		if got := timeEntries(ti); !slices.Equal(got, want) {
			t.Fatalf("entries %+v, want %+v", got, want)
		}
	}
	if err := func() error { _, err := ti.MaybeAppend(5, testBase-1); return err }(); !errors.Is(err, ErrOrder) {
		t.Errorf("MaybeAppend below base = %v, want ErrOrder", err)
	}
	mustMaybeAppend(t, ti, 100, 1010)
	for _, tc := range []struct {
		ts, off int64
	}{{100, 1020}, {99, 1020}, {math.MinInt64, 1030}, {100, 1010}} {
		ok, err := ti.MaybeAppend(tc.ts, tc.off)
		if ok || err != nil {
			t.Errorf("MaybeAppend(%d, %d) = %v, %v; want false, nil (timestamp not increasing)", tc.ts, tc.off, ok, err)
		}
	}
	check(TimeEntry{100, 1010})
	// A larger timestamp for the same offset overwrites in place.
	mustMaybeAppend(t, ti, 150, 1010)
	check(TimeEntry{150, 1010})
	// A larger timestamp at a smaller offset is out of order.
	if ok, err := ti.MaybeAppend(200, 1009); ok || !errors.Is(err, ErrOrder) {
		t.Errorf("MaybeAppend(200, 1009) = %v, %v; want ErrOrder", ok, err)
	}
	if ok, err := ti.MaybeAppend(200, testBase+math.MaxUint32+1); ok || !errors.Is(err, ErrOrder) {
		t.Errorf("MaybeAppend with relative offset over 32 bits = %v, %v; want ErrOrder", ok, err)
	}
	mustMaybeAppend(t, ti, 200, 1020)
	mustMaybeAppend(t, ti, 300, 1030)
	check(TimeEntry{150, 1010}, TimeEntry{200, 1020}, TimeEntry{300, 1030})
	if !ti.Full() {
		t.Error("Full() = false at capacity")
	}
	if ok, err := ti.MaybeAppend(400, 1040); ok || !errors.Is(err, ErrFull) {
		t.Errorf("MaybeAppend at capacity = %v, %v; want ErrFull", ok, err)
	}
	// Still a no-op for a smaller timestamp, and an overwrite for the last
	// offset, even when full.
	if ok, err := ti.MaybeAppend(250, 1040); ok || err != nil {
		t.Errorf("MaybeAppend(250, 1040) when full = %v, %v; want false, nil", ok, err)
	}
	mustMaybeAppend(t, ti, 350, 1030)
	check(TimeEntry{150, 1010}, TimeEntry{200, 1020}, TimeEntry{350, 1030})
	if last, ok := ti.Last(); !ok || last != (TimeEntry{350, 1030}) {
		t.Errorf("Last() = %+v, %v", last, ok)
	}
	if err := ti.Check(1031); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestTimeLookupBefore(t *testing.T) {
	ti := openTime(t, timePath(t), 4096, true)
	if e, ok := ti.LookupBefore(math.MaxInt64); ok {
		t.Errorf("empty: LookupBefore = %+v, true", e)
	}
	mustMaybeAppend(t, ti, 100, 1010)
	mustMaybeAppend(t, ti, 200, 1020)
	mustMaybeAppend(t, ti, 300, 1020+5)
	e1, e2, e3 := TimeEntry{100, 1010}, TimeEntry{200, 1020}, TimeEntry{300, 1025}
	for _, tc := range []struct {
		ts   int64
		want TimeEntry
		ok   bool
	}{
		{math.MinInt64, TimeEntry{}, false},
		{0, TimeEntry{}, false},
		{100, TimeEntry{}, false}, // strictly below
		{101, e1, true},
		{200, e1, true},
		{201, e2, true},
		{300, e2, true},
		{301, e3, true},
		{math.MaxInt64, e3, true},
	} {
		if got, ok := ti.LookupBefore(tc.ts); got != tc.want || ok != tc.ok {
			t.Errorf("LookupBefore(%d) = %+v, %v; want %+v, %v", tc.ts, got, ok, tc.want, tc.ok)
		}
	}

	// Against a linear search, for every size up to 40.
	rng := rand.New(rand.NewPCG(5, 6))
	for n := range 40 {
		ti := openTime(t, filepath.Join(t.TempDir(), "x.timeindex"), n*TimeEntrySize, true)
		var es []TimeEntry
		ts, off := int64(-10), int64(testBase)
		for range n {
			ts += 1 + rng.Int64N(4)
			off += 1 + rng.Int64N(3)
			mustMaybeAppend(t, ti, ts, off)
			es = append(es, TimeEntry{ts, off})
		}
		for q := int64(-12); q <= ts+2; q++ {
			var want TimeEntry
			ok := false
			for _, e := range es {
				if e.Timestamp < q {
					want, ok = e, true
				}
			}
			if got, gotOK := ti.LookupBefore(q); got != want || gotOK != ok {
				t.Fatalf("n=%d: LookupBefore(%d) = %+v, %v; want %+v, %v", n, q, got, gotOK, want, ok)
			}
		}
	}
}

func TestTimeTruncateSealReopen(t *testing.T) {
	path := timePath(t)
	ti := openTime(t, path, 4096, true)
	for i := int64(1); i <= 5; i++ {
		mustMaybeAppend(t, ti, 100*i, testBase+10*i)
	}
	ti.TruncateTo(1031)
	if ti.Len() != 3 {
		t.Fatalf("TruncateTo(1031): Len() = %d, want 3", ti.Len())
	}
	ti.TruncateTo(1030)
	if ti.Len() != 2 {
		t.Fatalf("TruncateTo(1030): Len() = %d, want 2", ti.Len())
	}
	data := readFile(t, path)
	if !isAllZero(data[2*TimeEntrySize : 5*TimeEntrySize]) {
		t.Errorf("truncated entries not zeroed: %x", data[:5*TimeEntrySize])
	}
	// The timestamp need only exceed the kept entries'.
	mustMaybeAppend(t, ti, 250, 1030)
	ti.TruncateTo(math.MaxInt64)
	if ti.Len() != 3 {
		t.Fatalf("TruncateTo(max): Len() = %d", ti.Len())
	}

	// Untrimmed: a second handle sees the entries but not the zero tail.
	if err := ti.Sync(); err != nil {
		t.Fatal(err)
	}
	want := timeEntries(ti)
	ro := openTime(t, path, 0, false)
	if got := timeEntries(ro); !slices.Equal(got, want) {
		t.Errorf("untrimmed reopen: %+v, want %+v", got, want)
	}
	if ok, err := ro.MaybeAppend(1000, 2000); ok || !errors.Is(err, ErrReadOnly) {
		t.Errorf("MaybeAppend to read-only index = %v, %v; want ErrReadOnly", ok, err)
	}
	ro.Close()

	if err := ti.Seal(); err != nil {
		t.Fatal(err)
	}
	if sz := fileSize(t, path); sz != 3*TimeEntrySize {
		t.Errorf("size after Seal = %d, want %d", sz, 3*TimeEntrySize)
	}
	if e, ok := ti.LookupBefore(251); !ok || e != (TimeEntry{250, 1030}) {
		t.Errorf("LookupBefore after Seal = %+v, %v", e, ok)
	}
	if ok, err := ti.MaybeAppend(1000, 2000); ok || !errors.Is(err, ErrReadOnly) {
		t.Errorf("MaybeAppend after Seal = %v, %v; want ErrReadOnly", ok, err)
	}
	if ok, err := ti.MaybeAppend(1000, 1030); ok || !errors.Is(err, ErrReadOnly) {
		t.Errorf("MaybeAppend overwrite after Seal = %v, %v; want ErrReadOnly", ok, err)
	}
	if err := ti.Close(); err != nil {
		t.Fatal(err)
	}

	for _, writable := range []bool{false, true} {
		ti := openTime(t, path, 4096, writable)
		if got := timeEntries(ti); !slices.Equal(got, want) {
			t.Errorf("reopen writable=%v: %+v, want %+v", writable, got, want)
		}
		ti.Close()
	}

	// Reset, Close trims to nothing.
	ti = openTime(t, path, 4096, true)
	ti.Reset()
	if ti.Len() != 0 {
		t.Fatal("Reset: Len() != 0")
	}
	if _, ok := ti.LookupBefore(math.MaxInt64); ok {
		t.Error("LookupBefore ok after Reset")
	}
	mustMaybeAppend(t, ti, 1, testBase)
	ti.Reset()
	if err := ti.Close(); err != nil {
		t.Fatal(err)
	}
	if sz := fileSize(t, path); sz != 0 {
		t.Errorf("size after Reset and Close = %d, want 0", sz)
	}
	if ok, err := ti.MaybeAppend(5, testBase); ok || !errors.Is(err, ErrClosed) {
		t.Errorf("MaybeAppend after Close = %v, %v; want ErrClosed", ok, err)
	}

	// Preallocated, never written, and partial files.
	for _, tc := range []struct {
		name string
		file []byte
		want int
	}{
		{"preallocated", make([]byte, 4096), 0},
		{"zero first entry, partial second", make([]byte, 20), 1},
		{"partial", []byte{1}, 0},
	} {
		p := filepath.Join(t.TempDir(), "x.timeindex")
		if err := os.WriteFile(p, tc.file, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, writable := range []bool{false, true} {
			ti, err := OpenTime(vfs.OS, p, testBase, 0, writable)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if ti.Len() != tc.want {
				t.Errorf("%s (writable=%v): Len() = %d, want %d", tc.name, writable, ti.Len(), tc.want)
			}
			ti.Close()
		}
	}
}

func TestTimeCheck(t *testing.T) {
	path := timePath(t)
	ti := openTime(t, path, 4096, true)
	mustMaybeAppend(t, ti, 100, 1010)
	mustMaybeAppend(t, ti, 200, 1020)
	if err := ti.Check(1021); err != nil {
		t.Errorf("Check(1021): %v", err)
	}
	if err := ti.Check(1020); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Check with offset == next offset = %v, want ErrCorrupt", err)
	}
	if err := ti.Close(); err != nil {
		t.Fatal(err)
	}
	good := readFile(t, path)
	te := func(ts int64, rel uint32) []byte {
		return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, uint64(ts)), rel)
	}
	for _, tc := range []struct {
		name string
		e    []byte
	}{
		{"timestamp equal", te(100, 20)},
		{"timestamp decreasing", te(50, 20)},
		{"offset decreasing", te(200, 5)},
	} {
		bad := bytes.Clone(good)
		copy(bad[TimeEntrySize:], tc.e)
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		ro := openTime(t, path, 0, false)
		if err := ro.Check(math.MaxInt64); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Check = %v, want ErrCorrupt", tc.name, err)
		}
		ro.Close()
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 20 {
		garbage := make([]byte, 64*TimeEntrySize)
		for j := range garbage {
			garbage[j] = byte(rng.Uint32())
		}
		if err := os.WriteFile(path, garbage, 0o644); err != nil {
			t.Fatal(err)
		}
		ro := openTime(t, path, 0, false)
		if err := ro.Check(math.MaxInt64); !errors.Is(err, ErrCorrupt) {
			t.Errorf("garbage %d: Check = %v, want ErrCorrupt", i, err)
		}
		ro.Close()
	}
}

// TestConcurrentLookup runs one appender against several readers. Every
// entry has Position == 3*(Offset-base), so a reader that saw a half-written
// entry, or an entry beyond the published count, would notice.
func TestConcurrentLookup(t *testing.T) {
	const n = 20000
	o := openOffset(t, offsetPath(t), n*OffsetEntrySize, true)
	ti := openTime(t, timePath(t), n*TimeEntrySize, true)
	var done atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	fail := func(format string, args ...any) {
		select {
		case errc <- fmt.Errorf(format, args...):
		default:
		}
	}
	for r := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for !done.Load() {
				last, ok := o.Last()
				q := testBase + rng.Int64N(2*n+2)
				e := o.Lookup(q)
				if e.Position != 3*(e.Offset-testBase) || e.Offset > q {
					fail("Lookup(%d) = %+v", q, e)
					return
				}
				if ok && q >= last.Offset && e.Offset < last.Offset {
					fail("Lookup(%d) = %+v, below the earlier-seen last entry %+v", q, e, last)
					return
				}
				if p := o.LookupPosition(3 * (q - testBase)); p.Position != 3*(p.Offset-testBase) {
					fail("LookupPosition = %+v", p)
					return
				}
				if te, ok := ti.LookupBefore(q); ok && (te.Timestamp != te.Offset || te.Timestamp >= q) {
					fail("LookupBefore(%d) = %+v", q, te)
					return
				}
			}
		})
	}
	for i := int64(1); i <= n; i++ {
		off := testBase + 2*i
		if err := o.Append(off, 3*(off-testBase)); err != nil {
			t.Error(err)
			break
		}
		// Timestamp == offset.
		if _, err := ti.MaybeAppend(off, off); err != nil {
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
	if o.Len() != n || ti.Len() != n {
		t.Errorf("Len() = %d, %d; want %d", o.Len(), ti.Len(), n)
	}
}

func TestAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	o, _ := filledOffset(t, 100)
	ti := openTime(t, timePath(t), 1<<20, true)
	for i := int64(1); i <= 100; i++ {
		mustMaybeAppend(t, ti, i, testBase+i)
	}
	var sink OffsetEntry
	var tsink TimeEntry
	q := int64(testBase)
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"OffsetIndex.Lookup", func() { q += 7; sink = o.Lookup(q) }},
		{"OffsetIndex.LookupPosition", func() { q += 7; sink = o.LookupPosition(q) }},
		{"OffsetIndex.Entry", func() { sink = o.Entry(50) }},
		{"OffsetIndex.Append", func() {
			e, _ := o.Last()
			if err := o.Append(e.Offset+1, e.Position+1); err != nil {
				panic(err)
			}
		}},
		{"TimeIndex.LookupBefore", func() { q += 7; tsink, _ = ti.LookupBefore(q % 200) }},
		{"TimeIndex.MaybeAppend", func() {
			e, _ := ti.Last()
			if _, err := ti.MaybeAppend(e.Timestamp+1, e.Offset+1); err != nil {
				panic(err)
			}
		}},
	} {
		if a := testing.AllocsPerRun(100, tc.fn); a != 0 {
			t.Errorf("%s: %v allocations per call, want 0", tc.name, a)
		}
	}
	_, _ = sink, tsink
}

func isAllZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// TestTailInMemory checks that the newest entries of a writable index stay
// in memory (the mapped file, and so its pages, is written tailEntries at a
// time), yet every entry reads back at once, after a truncation into the
// tail or below it, and after Sync and Close.
func TestTailInMemory(t *testing.T) {
	for _, kind := range []string{"offset", "time"} {
		t.Run(kind, func(t *testing.T) {
			path := offsetPath(t)
			if kind == "time" {
				path = timePath(t)
			}
			var o *OffsetIndex
			var ti *TimeIndex
			var size int
			if kind == "offset" {
				o, size = openOffset(t, path, 1<<20, true), OffsetEntrySize
			} else {
				ti, size = openTime(t, path, 1<<20, true), TimeEntrySize
			}
			add := func(i int64) {
				t.Helper()
				if o != nil {
					mustAppend(t, o, testBase+i, 10*i)
				} else {
					mustMaybeAppend(t, ti, 100+i, testBase+i)
				}
			}
			n := func() int {
				if o != nil {
					return o.Len()
				}
				return ti.Len()
			}
			check := func(want int) {
				t.Helper()
				if n() != want {
					t.Fatalf("Len() = %d, want %d", n(), want)
				}
				for i := int64(1); i <= int64(want); i++ {
					if o != nil {
						if e := o.Lookup(testBase + i); e != (OffsetEntry{testBase + i, 10 * i}) {
							t.Fatalf("Lookup(%d) = %+v", testBase+i, e)
						}
					} else if e, ok := ti.LookupBefore(100 + i + 1); !ok || e != (TimeEntry{100 + i, testBase + i}) {
						t.Fatalf("LookupBefore(%d) = %+v, %v", 100+i+1, e, ok)
					}
				}
			}
			// fileEntries counts the non-zero entries in the file.
			fileEntries := func() int {
				t.Helper()
				b := readFile(t, path)
				k := 0
				for k*size+size <= len(b) && !allZero(b[k*size:(k+1)*size]) {
					k++
				}
				return k
			}
			for i := int64(1); i < tailEntries; i++ {
				add(i)
			}
			check(tailEntries - 1)
			if got := fileEntries(); got != 0 {
				t.Fatalf("%d entries in the file before the tail filled, want 0", got)
			}
			for i := int64(tailEntries); i <= 3*tailEntries+5; i++ {
				add(i)
			}
			check(3*tailEntries + 5)
			if got := fileEntries(); got != 3*tailEntries {
				t.Fatalf("%d entries in the file, want the %d of three full tails", got, 3*tailEntries)
			}
			// Truncate into the tail, then below it; append again.
			for _, keep := range []int64{3*tailEntries + 2, 2*tailEntries - 7} {
				if o != nil {
					o.TruncateTo(testBase + keep + 1)
				} else {
					ti.TruncateTo(testBase + keep + 1)
				}
				check(int(keep))
			}
			for i := int64(2*tailEntries - 6); i <= 2*tailEntries+10; i++ {
				add(i)
			}
			check(2*tailEntries + 10)
			if o != nil {
				err := o.Sync()
				if err != nil {
					t.Fatal(err)
				}
			} else if err := ti.Sync(); err != nil {
				t.Fatal(err)
			}
			if got := fileEntries(); got != 2*tailEntries+10 {
				t.Fatalf("%d entries in the file after Sync, want %d", got, 2*tailEntries+10)
			}
			add(2*tailEntries + 11)
			var err error
			if o != nil {
				err = o.Close()
				o = openOffset(t, path, 1<<20, false)
			} else {
				err = ti.Close()
				ti = openTime(t, path, 1<<20, false)
			}
			if err != nil {
				t.Fatal(err)
			}
			check(2*tailEntries + 11)
		})
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
