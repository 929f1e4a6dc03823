package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"
)

// codecs lists every codec, for tests that run once per codec.
var codecs = []Compression{None, Gzip, Snappy, LZ4, Zstd}

// build encodes recs (using Attributes, Timestamp, Key, Value, Headers) into
// one batch with opts.
func build(t testing.TB, opts *BuilderOptions, recs []Record) []byte {
	t.Helper()
	b, err := NewBuilder(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := b.Add(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return b.AppendTo(nil)
}

// smallBatch is a two-record uncompressed batch with a header, for the
// corruption tests.
func smallBatch(t testing.TB) []byte {
	return build(t, nil, []Record{
		{Timestamp: 1000, Key: []byte("k"), Value: []byte("v1"),
			Headers: []RecordHeader{{Key: []byte("h"), Value: []byte("x")}}},
		{Timestamp: 1001, Value: []byte("v2")},
	})
}

// cloneRecord deep-copies r so that it outlives the Iter that filled it.
func cloneRecord(r *Record) Record {
	c := *r
	c.Key = bytes.Clone(r.Key)
	c.Value = bytes.Clone(r.Value)
	c.Headers = nil
	for _, h := range r.Headers {
		c.Headers = append(c.Headers, RecordHeader{Key: bytes.Clone(h.Key), Value: bytes.Clone(h.Value)})
	}
	return c
}

// readAll iterates the batch b with an Iter bounded by limit (0: default)
// and returns deep copies of its records.
func readAll(b []byte, limit int) ([]Record, error) {
	it := Iter{MaxDecompressed: limit}
	if err := it.Reset(b); err != nil {
		return nil, err
	}
	var out []Record
	var r Record
	for it.Next(&r) {
		out = append(out, cloneRecord(&r))
	}
	return out, it.Err()
}

// sameBytes reports whether a and b are equal, null-ness included.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// diffRecord describes how got differs from want in the fields a Builder
// encodes (attributes, timestamp, key, value, headers), or returns "".
func diffRecord(got, want *Record) string {
	switch {
	case got.Attributes != want.Attributes:
		return fmt.Sprintf("attributes %d, want %d", got.Attributes, want.Attributes)
	case got.Timestamp != want.Timestamp:
		return fmt.Sprintf("timestamp %d, want %d", got.Timestamp, want.Timestamp)
	case !sameBytes(got.Key, want.Key):
		return fmt.Sprintf("key %q, want %q", got.Key, want.Key)
	case !sameBytes(got.Value, want.Value):
		return fmt.Sprintf("value %q, want %q", trunc(got.Value), trunc(want.Value))
	case len(got.Headers) != len(want.Headers):
		return fmt.Sprintf("%d headers, want %d", len(got.Headers), len(want.Headers))
	}
	for i := range got.Headers {
		g, w := got.Headers[i], want.Headers[i]
		if !bytes.Equal(g.Key, w.Key) || g.Key == nil || !sameBytes(g.Value, w.Value) {
			return fmt.Sprintf("header %d = %q:%q, want %q:%q", i, g.Key, g.Value, w.Key, w.Value)
		}
	}
	return ""
}

func trunc(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

// stdCRC32C is an independent CRC-32C, for checking the package's.
func stdCRC32C(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// resign recomputes the CRC of the single batch b after a test edits it.
func resign(b []byte) []byte { SetCRC(b); return b }

// checkErr fails unless err wraps ErrCorrupt and want.
func checkErr(t *testing.T, err, want error, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %v", what, want)
	}
	if !errors.Is(err, ErrCorrupt) || !IsCorrupt(err) {
		t.Fatalf("%s: %v does not wrap ErrCorrupt", what, err)
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}

func TestValidateHeader(t *testing.T) {
	b := smallBatch(t)
	h, err := Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{
		Length: int32(len(b) - LogOverhead), PartitionLeaderEpoch: -1, Magic: 2,
		CRC:             stdCRC32C(b[21:]),
		LastOffsetDelta: 1, BaseTimestamp: 1000, MaxTimestamp: 1001,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, NumRecords: 2,
	}
	if h != want {
		t.Fatalf("header\n got %+v\nwant %+v", h, want)
	}
	if h.Size() != len(b) || h.LastOffset() != 1 || h.NextOffset() != 2 {
		t.Fatalf("Size %d LastOffset %d NextOffset %d", h.Size(), h.LastOffset(), h.NextOffset())
	}
	if n, err := Size(b); err != nil || n != len(b) || Size0(b) != len(b) {
		t.Fatalf("Size = %d, %v; Size0 = %d; want %d", n, err, Size0(b), len(b))
	}
	if Checksum(b) != h.CRC {
		t.Fatalf("Checksum = %x, want %x", Checksum(b), h.CRC)
	}
	if h.Compression() != None || h.IsControl() || h.IsTransactional() || h.IsLogAppendTime() {
		t.Fatalf("attributes %#x", h.Attributes)
	}
}

func TestValidateCRC(t *testing.T) {
	b := smallBatch(t)
	for i := offAttributes; i < len(b); i++ {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			c := bytes.Clone(b)
			c[i] ^= flip
			_, err := Validate(c)
			checkErr(t, err, ErrCRC, fmt.Sprintf("flip %#x at %d", flip, i))
		}
	}
	// The CRC field itself.
	for i := offCRC; i < offAttributes; i++ {
		c := bytes.Clone(b)
		c[i] ^= 0xff
		_, err := Validate(c)
		checkErr(t, err, ErrCRC, fmt.Sprintf("flip CRC byte %d", i))
	}
	// Outside the CRC: base offset and leader epoch may change freely.
	c := bytes.Clone(b)
	SetBaseOffset(c, 1<<40)
	SetPartitionLeaderEpoch(c, 7)
	if h, err := Validate(c); err != nil || h.BaseOffset != 1<<40 || h.PartitionLeaderEpoch != 7 {
		t.Fatalf("after patching: %+v, %v", h, err)
	}
	if BaseOffset(c) != 1<<40 {
		t.Fatalf("BaseOffset = %d", BaseOffset(c))
	}
}

func TestValidateMagic(t *testing.T) {
	b := smallBatch(t)
	for _, m := range []byte{0, 1, 3, 0xff} {
		c := bytes.Clone(b)
		c[offMagic] = m
		_, err := Validate(c)
		checkErr(t, err, ErrMagic, fmt.Sprintf("magic %d", m))
		_, err = ParseHeader(c)
		checkErr(t, err, ErrMagic, fmt.Sprintf("ParseHeader magic %d", m))
	}
}

func TestValidateShort(t *testing.T) {
	b := smallBatch(t)
	for n := 0; n < len(b); n++ {
		_, err := Validate(b[:n])
		checkErr(t, err, ErrShort, fmt.Sprintf("truncated to %d", n))
		var it Iter
		checkErr(t, it.Reset(b[:n]), ErrShort, fmt.Sprintf("Iter truncated to %d", n))
	}
	for n := 0; n < LogOverhead; n++ {
		_, err := Size(b[:n])
		checkErr(t, err, ErrShort, fmt.Sprintf("Size truncated to %d", n))
	}
	// Trailing bytes belong to the next batch.
	if _, err := Validate(append(bytes.Clone(b), 1, 2, 3)); err != nil {
		t.Fatalf("with trailing bytes: %v", err)
	}
}

func TestValidateLength(t *testing.T) {
	b := smallBatch(t)
	for _, l := range []int32{-1 << 31, -1, 0, 1, HeaderSize - LogOverhead - 1} {
		c := bytes.Clone(b)
		binary.BigEndian.PutUint32(c[offLength:], uint32(l))
		_, err := Validate(c)
		checkErr(t, err, ErrLength, fmt.Sprintf("length %d", l))
		_, err = Size(c)
		checkErr(t, err, ErrLength, fmt.Sprintf("Size with length %d", l))
	}
	// A length past the end of the buffer is a short batch.
	c := bytes.Clone(b)
	binary.BigEndian.PutUint32(c[offLength:], uint32(len(b)))
	_, err := Validate(c)
	checkErr(t, err, ErrShort, "length past the end")
	// A length shorter than the records: the CRC no longer matches.
	c = bytes.Clone(b)
	binary.BigEndian.PutUint32(c[offLength:], uint32(len(b)-LogOverhead-1))
	_, err = Validate(c)
	checkErr(t, err, ErrCRC, "length one short")
}

func TestValidateRecordCount(t *testing.T) {
	b := smallBatch(t)
	for _, d := range []int32{-1, -2, -1 << 31} {
		c := bytes.Clone(b)
		binary.BigEndian.PutUint32(c[offLastOffsetDelta:], uint32(d))
		_, err := Validate(resign(c))
		checkErr(t, err, ErrRecords, fmt.Sprintf("lastOffsetDelta %d", d))
	}
	c := bytes.Clone(b)
	binary.BigEndian.PutUint32(c[offRecordCount:], uint32(0xffffffff))
	_, err := Validate(resign(c))
	checkErr(t, err, ErrRecords, "negative record count")
	c = bytes.Clone(b)
	binary.BigEndian.PutUint32(c[offRecordCount:], 0)
	_, err = Validate(resign(c))
	checkErr(t, err, ErrRecords, "zero records with a records section")
}

func TestValidateAllocs(t *testing.T) {
	b := smallBatch(t)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := Validate(b); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Validate allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		SetBaseOffset(b, 42)
		SetPartitionLeaderEpoch(b, 3)
	}); n != 0 {
		t.Fatalf("SetBaseOffset allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { SetLogAppendTime(b, 5) }); n != 0 {
		t.Fatalf("SetLogAppendTime allocates %v times", n)
	}
}

func TestSetLogAppendTime(t *testing.T) {
	b := smallBatch(t)
	SetLogAppendTime(b, 99999)
	h, err := Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	if !h.IsLogAppendTime() || h.MaxTimestamp != 99999 || MaxTimestamp(b) != 99999 {
		t.Fatalf("header %+v", h)
	}
	recs, err := readAll(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if r.Timestamp != 99999 || r.TimestampDelta != int64(i) {
			t.Fatalf("record %d: timestamp %d delta %d", i, r.Timestamp, r.TimestampDelta)
		}
	}
}

// TestValidateSequence walks a buffer of several batches the way segment
// recovery does: Validate, step by Size, stop at the first bad one.
func TestValidateSequence(t *testing.T) {
	var buf []byte
	var sizes []int
	for i := range 5 {
		b, _ := NewBuilder(&BuilderOptions{Compression: codecs[i]})
		for j := range i + 1 {
			if err := b.Append(nil, []byte(fmt.Sprint(i, j)), nil, int64(j)); err != nil {
				t.Fatal(err)
			}
		}
		n := len(buf)
		buf = b.AppendTo(buf)
		SetBaseOffset(buf[n:], int64(i*10))
		sizes = append(sizes, len(buf)-n)
	}
	torn := buf[:len(buf)-3]
	var got []int
	var err error
	for rest := torn; len(rest) > 0; {
		var h Header
		if h, err = Validate(rest); err != nil {
			break
		}
		got = append(got, h.Size())
		rest = rest[h.Size():]
	}
	if !errors.Is(err, ErrShort) || fmt.Sprint(got) != fmt.Sprint(sizes[:4]) {
		t.Fatalf("walked %v then %v; want %v then ErrShort", got, err, sizes[:4])
	}
}
