package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/weirhq/weir/batch"
)

// bigBase has no zero byte, so that no prefix of a batch header is all
// zeros and every torn cut is visible as data.
const bigBase = 0x0102030405060708

type scanned struct {
	pos int64
	h   batch.Header
}

func scanAll(t *testing.T, s *Segment, pos int64, opts ScanOptions) (ScanResult, []scanned) {
	t.Helper()
	var got []scanned
	res, err := s.Scan(pos, opts, func(pos int64, h *batch.Header) error {
		got = append(got, scanned{pos, *h})
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%d): %v", pos, err)
	}
	return res, got
}

func TestScanClean(t *testing.T) {
	bs, all := testBatches(t, 50, 4) // offsets 50..59, timestamps up to 4003
	s := writeSegment(t, 50, all, false)
	res, got := scanAll(t, s, 0, ScanOptions{})
	want := ScanResult{ValidEnd: int64(len(all)), FileSize: int64(len(all)), Batches: 4, NextOffset: 60,
		MaxTimestamp: 4003, MaxTimestampOffset: 59}
	if res != want {
		t.Errorf("Scan = %+v\nwant %+v", res, want)
	}
	if res.Cut() != 0 {
		t.Errorf("Cut() = %d", res.Cut())
	}
	pos := int64(0)
	for i, b := range bs {
		h, _ := batch.ParseHeader(b)
		if i >= len(got) || got[i] != (scanned{pos, h}) {
			t.Fatalf("callback %d = %+v, want pos %d header %+v", i, got, pos, h)
		}
		pos += int64(len(b))
	}

	// From the third batch.
	from := int64(len(bs[0]) + len(bs[1]))
	res, got = scanAll(t, s, from, ScanOptions{PrevNextOffset: 53})
	if res.Batches != 2 || res.ValidEnd != int64(len(all)) || res.NextOffset != 60 || len(got) != 2 || got[0].pos != from || res.Stop != nil {
		t.Errorf("Scan from %d: %+v", from, res)
	}
	// From the end, and from an empty file.
	res, _ = scanAll(t, s, int64(len(all)), ScanOptions{})
	if res.Batches != 0 || res.NextOffset != -1 || res.MaxTimestamp != -1 || res.MaxTimestampOffset != -1 || res.Stop != nil || res.ValidEnd != int64(len(all)) {
		t.Errorf("Scan from the end: %+v", res)
	}
	e := writeSegment(t, 0, nil, true)
	res, err := e.Recover(0, ScanOptions{}, nil)
	if err != nil || res != (ScanResult{NextOffset: -1, MaxTimestamp: -1, MaxTimestampOffset: -1}) {
		t.Errorf("Recover of an empty file: %+v, %v", res, err)
	}

	// Scan modifies nothing.
	if s.Size() != int64(len(all)) || !bytes.Equal(readFile(t, s.Path()), all) {
		t.Error("Scan changed the segment")
	}

	// An error from the callback stops the scan and is returned.
	stop := errors.New("stop")
	calls := 0
	if _, err := s.Scan(0, ScanOptions{}, func(int64, *batch.Header) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	}); err != stop || calls != 2 {
		t.Errorf("Scan with a failing callback = %v after %d calls", err, calls)
	}
}

// TestScanTornTail cuts the last batch at every length and checks that
// Recover removes exactly the torn batch.
func TestScanTornTail(t *testing.T) {
	for _, base := range []int64{bigBase, 0} {
		bs, all := testBatches(t, base, 3)
		last := len(bs[2])
		start := len(all) - last
		for cut := 1; cut < last; cut++ {
			data := all[:start+cut]
			s := writeSegment(t, base, data, true)
			res, err := s.Recover(0, ScanOptions{}, nil)
			if err != nil {
				t.Fatalf("base %#x cut %d: Recover: %v", base, cut, err)
			}
			if res.ValidEnd != int64(start) || res.Batches != 2 || res.NextOffset != base+3 || res.FileSize != int64(len(data)) {
				t.Fatalf("base %#x cut %d: %+v", base, cut, res)
			}
			if isZero(data[start:]) {
				// Only the leading zero bytes of a small base
				// offset reached the disk: indistinguishable from a
				// preallocated tail.
				if base == bigBase || !res.ZeroTail || res.Stop != nil || res.Cut() != 0 {
					t.Fatalf("base %#x cut %d (zeros): %+v", base, cut, res)
				}
			} else {
				if res.ZeroTail || !errors.Is(res.Stop, ErrTornTail) || !errors.Is(res.Stop, batch.ErrCorrupt) || res.Cut() != int64(cut) {
					t.Fatalf("base %#x cut %d: Stop %v, ZeroTail %v, Cut %d; want ErrTornTail, false, %d", base, cut, res.Stop, res.ZeroTail, res.Cut(), cut)
				}
			}
			if s.Size() != int64(start) {
				t.Fatalf("base %#x cut %d: Size() = %d after Recover, want %d", base, cut, s.Size(), start)
			}
			if got := readFile(t, s.Path()); !bytes.Equal(got, all[:start]) {
				t.Fatalf("base %#x cut %d: file is %d bytes after Recover, want the first %d", base, cut, len(got), start)
			}
			// Appending resumes where the torn batch began.
			if pos := mustAppend(t, s, bs[2]); pos != int64(start) {
				t.Fatalf("Append after Recover at %d", pos)
			}
			s.Close()
		}
	}
}

func TestScanCorrupt(t *testing.T) {
	bs, all := testBatches(t, bigBase, 3)
	b1 := int64(len(bs[0])) // start of the middle batch
	type tc struct {
		name  string
		at    int64 // byte of the middle batch to change
		xor   byte
		want  error
		valid int64
	}
	cases := []tc{
		{"base offset backwards", 0, 0x01, ErrOffsetOrder, b1}, // not covered by the CRC
		{"length larger", 8 + 3, 0x01, batch.ErrCRC, b1},
		{"length below a header", 8, 0x80, batch.ErrLength, b1},
		{"magic", 16, 0x03, batch.ErrMagic, b1},
		{"CRC field", 17, 0x01, batch.ErrCRC, b1},
		{"attributes", 21, 0x01, batch.ErrCRC, b1},
		{"last byte", int64(len(bs[1]) - 1), 0x01, batch.ErrCRC, b1},
	}
	// Every byte covered by the CRC, one bit each.
	for i := 21; i < len(bs[1]); i++ {
		cases = append(cases, tc{"covered byte", int64(i), 1 << (i % 8), batch.ErrCRC, b1})
	}
	for _, c := range cases {
		data := bytes.Clone(all)
		data[b1+c.at] ^= c.xor
		s := writeSegment(t, bigBase, data, true)
		res, err := s.Recover(0, ScanOptions{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(res.Stop, c.want) || !errors.Is(res.Stop, batch.ErrCorrupt) || res.ValidEnd != c.valid || res.Batches != 1 || res.ZeroTail {
			t.Errorf("%s (byte %d): Stop %v, ValidEnd %d, Batches %d; want %v, %d, 1", c.name, c.at, res.Stop, res.ValidEnd, res.Batches, c.want, c.valid)
			continue
		}
		// The valid third batch is lost with the corrupt one.
		if res.Cut() != int64(len(all))-b1 || fileSize(t, s.Path()) != b1 || s.Size() != b1 {
			t.Errorf("%s: Cut %d, file size %d, Size %d; want everything from %d cut", c.name, res.Cut(), fileSize(t, s.Path()), s.Size(), b1)
		}
		s.Close()
	}
}

func TestScanZeroTail(t *testing.T) {
	_, all := testBatches(t, 0, 3)
	for _, n := range []int{1, 11, 12, 100, 4096, zeroProbe, zeroProbe + 5000} {
		data := append(bytes.Clone(all), make([]byte, n)...)
		s := writeSegment(t, 0, data, true)
		res, err := s.Recover(0, ScanOptions{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !res.ZeroTail || res.Stop != nil || res.Cut() != 0 || res.ValidEnd != int64(len(all)) || res.FileSize != int64(len(data)) || res.Batches != 3 {
			t.Errorf("%d zero bytes: %+v", n, res)
		}
		if fileSize(t, s.Path()) != int64(len(all)) || s.Size() != int64(len(all)) {
			t.Errorf("%d zero bytes: Recover left file size %d, Size %d; want %d", n, fileSize(t, s.Path()), s.Size(), len(all))
		}
		s.Close()
	}
	// Zeros then data within the probe: not a preallocated tail.
	data := append(bytes.Clone(all), make([]byte, 5000)...)
	data = append(data, 1)
	s := writeSegment(t, 0, data, false)
	res, _ := scanAll(t, s, 0, ScanOptions{})
	if res.ZeroTail || !errors.Is(res.Stop, batch.ErrLength) || res.Cut() != 5001 {
		t.Errorf("zeros then a byte: %+v", res)
	}
	// A whole file of zeros.
	s = writeSegment(t, 0, make([]byte, 1000), false)
	res, _ = scanAll(t, s, 0, ScanOptions{})
	if !res.ZeroTail || res.Stop != nil || res.ValidEnd != 0 || res.Batches != 0 {
		t.Errorf("all zeros: %+v", res)
	}
}

func TestScanGarbageTail(t *testing.T) {
	_, all := testBatches(t, 0, 3)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{1, 11, 12, 61, 500, 70000} {
		garbage := make([]byte, n)
		for i := range garbage {
			garbage[i] = byte(rng.Uint32())
		}
		garbage[0] |= 1 // not a zero tail
		data := append(bytes.Clone(all), garbage...)
		s := writeSegment(t, 0, data, true)
		res, err := s.Recover(0, ScanOptions{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.ZeroTail || !errors.Is(res.Stop, batch.ErrCorrupt) || res.Cut() != int64(n) || res.ValidEnd != int64(len(all)) || res.Batches != 3 {
			t.Errorf("%d garbage bytes: %+v", n, res)
		}
		if fileSize(t, s.Path()) != int64(len(all)) {
			t.Errorf("%d garbage bytes: file size %d after Recover", n, fileSize(t, s.Path()))
		}
		s.Close()
	}
}

func TestScanOffsetOrder(t *testing.T) {
	const base = 100
	b1 := mkBatch(t, batch.None, 100, 3, 1) // 100-102
	for _, tc := range []struct {
		name   string
		second int64 // base offset of the second batch
		ok     bool
	}{
		{"next offset", 103, true},
		{"gap", 200, true},
		{"overlap", 102, false},
		{"backwards", 101, false},
		{"repeat", 100, false},
		{"below the segment", 50, false},
		{"negative", -1, false},
	} {
		b2 := mkBatch(t, batch.LZ4, tc.second, 2, 5)
		s := writeSegment(t, base, append(bytes.Clone(b1), b2...), false)
		res, _ := scanAll(t, s, 0, ScanOptions{})
		if tc.ok {
			if res.Stop != nil || res.Batches != 2 || res.NextOffset != tc.second+2 {
				t.Errorf("%s: %+v", tc.name, res)
			}
		} else if !errors.Is(res.Stop, ErrOffsetOrder) || !errors.Is(res.Stop, batch.ErrCorrupt) || res.Batches != 1 || res.ValidEnd != int64(len(b1)) {
			t.Errorf("%s: Stop %v, Batches %d, ValidEnd %d; want ErrOffsetOrder after the first batch", tc.name, res.Stop, res.Batches, res.ValidEnd)
		}
	}

	// The first batch below the segment's base offset.
	s := writeSegment(t, 101, b1, false)
	if res, _ := scanAll(t, s, 0, ScanOptions{}); !errors.Is(res.Stop, ErrOffsetOrder) || res.Batches != 0 || res.ValidEnd != 0 {
		t.Errorf("batch below the base offset: %+v", res)
	}

	// A batch whose last offset overflows int64 must not let the next
	// batch go backwards (the base offset is not covered by the CRC).
	for _, first := range []int64{math.MaxInt64 - 1, math.MaxInt64 - 2, math.MaxInt64} {
		big := mkBatch(t, batch.None, first, 3, 1)
		small := mkBatch(t, batch.None, 5, 1, 1)
		s := writeSegment(t, 0, append(big, small...), false)
		res, got := scanAll(t, s, 0, ScanOptions{})
		if !errors.Is(res.Stop, ErrOffsetOrder) || res.Batches != 0 || len(got) != 0 || res.ValidEnd != 0 {
			t.Errorf("batch at %d with 3 records: Stop %v, Batches %d, ValidEnd %d; want ErrOffsetOrder at 0", first, res.Stop, res.Batches, res.ValidEnd)
		}
	}
	// The largest last offset whose next offset fits is accepted.
	top := mkBatch(t, batch.None, math.MaxInt64-3, 3, 1)
	s = writeSegment(t, 0, top, false)
	if res, _ := scanAll(t, s, 0, ScanOptions{}); res.Stop != nil || res.NextOffset != math.MaxInt64 {
		t.Errorf("batch ending at MaxInt64-1: %+v", res)
	}
}

func TestScanPrevNextOffset(t *testing.T) {
	bs, all := testBatches(t, 10, 3) // 10, 11-12, 13-15
	s := writeSegment(t, 10, all, false)
	from := int64(len(bs[0]))
	for _, tc := range []struct {
		prev int64
		ok   bool
	}{
		{math.MinInt64, true}, // below the base: the base applies
		{0, true},
		{10, true},
		{11, true},
		{12, false},
		{100, false},
	} {
		res, _ := scanAll(t, s, from, ScanOptions{PrevNextOffset: tc.prev})
		if tc.ok && (res.Stop != nil || res.Batches != 2 || res.NextOffset != 16) {
			t.Errorf("PrevNextOffset %d: %+v", tc.prev, res)
		}
		if !tc.ok && (!errors.Is(res.Stop, ErrOffsetOrder) || res.Batches != 0 || res.ValidEnd != from) {
			t.Errorf("PrevNextOffset %d: %+v; want ErrOffsetOrder at %d", tc.prev, res, from)
		}
	}
	// The base still applies from position 0.
	s2 := writeSegment(t, 11, all, false)
	if res, _ := scanAll(t, s2, 0, ScanOptions{PrevNextOffset: 0}); !errors.Is(res.Stop, ErrOffsetOrder) {
		t.Errorf("PrevNextOffset below a base the batch is below: %+v", res)
	}
}

func TestScanOversize(t *testing.T) {
	bs, all := testBatches(t, 0, 2)
	s := writeSegment(t, 0, all, false)
	n := len(bs[0])
	// The limit is inclusive; the second batch is larger.
	res, _ := scanAll(t, s, 0, ScanOptions{MaxBatchBytes: n})
	if !errors.Is(res.Stop, ErrOversize) || res.Batches != 1 || res.ValidEnd != int64(n) {
		t.Errorf("MaxBatchBytes %d: %+v", n, res)
	}
	res, _ = scanAll(t, s, 0, ScanOptions{MaxBatchBytes: len(bs[1])})
	if res.Stop != nil || res.Batches != 2 {
		t.Errorf("MaxBatchBytes %d: %+v", len(bs[1]), res)
	}
	res, _ = scanAll(t, s, 0, ScanOptions{MaxBatchBytes: n - 1})
	if !errors.Is(res.Stop, ErrOversize) || !errors.Is(res.Stop, batch.ErrCorrupt) || res.Batches != 0 || res.ValidEnd != 0 {
		t.Errorf("MaxBatchBytes %d: %+v", n-1, res)
	}

	// A huge length field: oversize under the default limit, not a torn
	// tail to wait for, and no huge buffer.
	for _, l := range []uint32{64<<20 + batch.HeaderSize, math.MaxInt32} {
		bad := bytes.Clone(all)
		binary.BigEndian.PutUint32(bad[len(bs[0])+8:], l)
		s := writeSegment(t, 0, bad, true)
		res, err := s.Recover(0, ScanOptions{}, nil)
		if err != nil || !errors.Is(res.Stop, ErrOversize) || res.ValidEnd != int64(len(bs[0])) || res.Batches != 1 {
			t.Errorf("length %d: %+v, %v; want ErrOversize after the first batch", l, res, err)
		}
		if fileSize(t, s.Path()) != int64(len(bs[0])) {
			t.Errorf("length %d: file size after Recover = %d", l, fileSize(t, s.Path()))
		}
		s.Close()
	}
	// Just within the default limit but past the file: a torn tail.
	bad := bytes.Clone(all)
	binary.BigEndian.PutUint32(bad[len(bs[0])+8:], 64<<20)
	s = writeSegment(t, 0, bad, false)
	if res, _ := scanAll(t, s, 0, ScanOptions{}); !errors.Is(res.Stop, ErrTornTail) || res.ValidEnd != int64(len(bs[0])) {
		t.Errorf("length 64 MiB: %+v; want ErrTornTail", res)
	}
	// A negative length field.
	binary.BigEndian.PutUint32(bad[len(bs[0])+8:], 0xffffffff)
	s = writeSegment(t, 0, bad, false)
	if res, _ := scanAll(t, s, 0, ScanOptions{}); !errors.Is(res.Stop, batch.ErrLength) || res.ValidEnd != int64(len(bs[0])) {
		t.Errorf("length -1: %+v; want ErrLength", res)
	}
}

// TestScanLargeBatch scans batches larger than Scan's 1 MiB read buffer,
// mixed with small ones.
func TestScanLargeBatch(t *testing.T) {
	b, err := batch.NewBuilder(nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	val := make([]byte, 3<<20)
	for i := range val {
		val[i] = byte(rng.Uint32())
	}
	if err := b.Append(nil, val, nil, 7); err != nil {
		t.Fatal(err)
	}
	large := b.AppendTo(nil)
	batch.SetBaseOffset(large, 1)
	small := mkBatch(t, batch.None, 0, 1, 1)
	after := mkBatch(t, batch.None, 2, 2, 1)
	data := append(append(append(bytes.Clone(small), large...), after...), after[:30]...)
	s := writeSegment(t, 0, data, true)
	res, err := s.Recover(0, ScanOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := int64(len(small) + len(large) + len(after))
	if res.Batches != 3 || res.ValidEnd != want || !errors.Is(res.Stop, ErrTornTail) || res.NextOffset != 4 {
		t.Errorf("Recover: %+v", res)
	}
}

func TestSetSize(t *testing.T) {
	_, all := testBatches(t, 0, 2)
	s := writeSegment(t, 0, append(bytes.Clone(all), make([]byte, 100)...), true)
	if err := s.SetSize(int64(len(all)), false); err != nil {
		t.Fatal(err)
	}
	if s.Size() != int64(len(all)) || fileSize(t, s.Path()) != int64(len(all))+100 {
		t.Errorf("SetSize without cut: Size %d, file size %d", s.Size(), fileSize(t, s.Path()))
	}
	if err := s.SetSize(int64(len(all)), true); err != nil {
		t.Fatal(err)
	}
	if fileSize(t, s.Path()) != int64(len(all)) {
		t.Errorf("SetSize with cut: file size %d", fileSize(t, s.Path()))
	}
	if _, err := s.Bytes(0, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSize(0, true); err == nil {
		t.Error("SetSize after the segment was mapped succeeded")
	}
	if _, err := s.Recover(0, ScanOptions{}, nil); err == nil {
		t.Error("Recover after the segment was mapped succeeded")
	}
	if fileSize(t, s.Path()) != int64(len(all)) || s.Size() != int64(len(all)) {
		t.Error("a refused SetSize changed the segment")
	}
}
