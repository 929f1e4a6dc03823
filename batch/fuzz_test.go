package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// The seed corpora under testdata/fuzz are written by TestWriteFuzzCorpus:
//
//	go test -run '^TestWriteFuzzCorpus$' ./batch/ -args -update-corpus
var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpora in testdata/fuzz")

// fuzzLimit bounds decompression while fuzzing, to keep memory small.
const fuzzLimit = 1 << 20

// checkBatch is the property both fuzz targets check on arbitrary bytes:
// Validate and Iter never panic and fail only with their documented errors;
// and a batch that validates and iterates re-encodes, through Builder, into
// a batch with the same records.
func checkBatch(t *testing.T, data []byte) {
	h, err := Validate(data)
	if err != nil {
		if !IsCorrupt(err) {
			t.Fatalf("Validate: %v is not corruption", err)
		}
		return
	}
	recs, err := readAll(data, fuzzLimit)
	if err != nil {
		if !IsCorrupt(err) && !errors.Is(err, ErrDecompressedTooLarge) {
			t.Fatalf("Iter: unexpected error %v", err)
		}
		return
	}
	if len(recs) != int(h.NumRecords) {
		t.Fatalf("Iter returned %d records, header says %d", len(recs), h.NumRecords)
	}
	b, err := NewBuilder(&BuilderOptions{Compression: h.Compression()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := b.Add(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	out := b.AppendTo(nil)
	if len(recs) == 0 {
		if len(out) != 0 {
			t.Fatalf("empty Builder appended %d bytes", len(out))
		}
		return
	}
	h2, err := Validate(out)
	if err != nil {
		t.Fatalf("re-encoded batch: %v", err)
	}
	if h2.NumRecords != h.NumRecords || h2.LastOffsetDelta != h.NumRecords-1 || h2.Size() != len(out) {
		t.Fatalf("re-encoded header %+v from %+v", h2, h)
	}
	again, err := readAll(out, 0)
	if err != nil {
		t.Fatalf("re-encoded batch: %v", err)
	}
	for i := range recs {
		if d := diffRecord(&again[i], &recs[i]); d != "" {
			t.Fatalf("re-encoded record %d: %s", i, d)
		}
	}
}

// FuzzValidate feeds arbitrary bytes to Validate and, if they pass, to Iter.
// Mutations rarely keep the CRC right, so a batch failing only its CRC is
// also checked re-signed; FuzzIter explores the records more directly.
func FuzzValidate(f *testing.F) {
	for _, s := range validateSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkBatch(t, data)
		if h, err := Validate(data); errors.Is(err, ErrCRC) {
			checkBatch(t, resign(bytes.Clone(data[:h.Size()])))
		}
	})
}

// FuzzIter wraps an arbitrary records section in a header with the given
// attributes and counts and a correct CRC, then iterates it, so that mutated
// records reach the record parser and the decompressors.
func FuzzIter(f *testing.F) {
	for _, s := range iterSeeds(f) {
		f.Add(s.recs, s.attrs, s.count, s.last)
	}
	f.Fuzz(func(t *testing.T, recs []byte, attrs int16, count, last int32) {
		checkBatch(t, iterBatch(recs, attrs, count, last))
	})
}

// iterBatch builds FuzzIter's batch.
func iterBatch(recs []byte, attrs int16, count, last int32) []byte {
	b := rawBatch(0, count, last, recs)
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(attrs))
	binary.BigEndian.PutUint64(b[offBaseOffset:], 1<<32)
	return resign(b)
}

type iterSeed struct {
	recs        []byte
	attrs       int16
	count, last int32
}

func seedRecords() []Record {
	return []Record{
		{Timestamp: 1000, Key: []byte("key"), Value: []byte("value"),
			Headers: []RecordHeader{{Key: []byte("h1"), Value: []byte("v")}, {Key: []byte{}, Value: nil}}},
		{Timestamp: 999, Key: nil, Value: []byte{}},
		{Timestamp: 1005, Key: []byte{}, Value: nil},
		{Timestamp: 1001, Key: []byte("k"), Value: []byte("compressible compressible compressible")},
	}
}

func validateSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	for _, c := range codecs {
		seeds = append(seeds, build(tb, &BuilderOptions{Compression: c}, seedRecords()))
	}
	txn := build(tb, &BuilderOptions{Idempotent: true, ProducerID: 1, ProducerEpoch: 2, BaseSequence: 3,
		Transactional: true, Control: true}, []Record{{Timestamp: 7, Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 1}}})
	lat := build(tb, &BuilderOptions{Compression: Zstd}, seedRecords())
	SetLogAppendTime(lat, 123456)
	SetBaseOffset(lat, 99)
	seeds = append(seeds, txn, lat, rawBatch(Gzip, 0, 3, nil))

	good := seeds[0]
	badCRC := append([]byte{}, good...)
	badCRC[len(badCRC)-1] ^= 1
	badMagic := append([]byte{}, good...)
	badMagic[offMagic] = 1
	badLength := append([]byte{}, good...)
	binary.BigEndian.PutUint32(badLength[offLength:], 10)
	two := append(append([]byte{}, good...), seeds[4]...)
	return append(seeds, badCRC, badMagic, badLength, good[:len(good)-1], good[:HeaderSize-1], two, nil)
}

func iterSeeds(tb testing.TB) []iterSeed {
	var seeds []iterSeed
	for _, c := range codecs {
		b := build(tb, &BuilderOptions{Compression: c}, seedRecords())
		h, _ := Validate(b)
		seeds = append(seeds, iterSeed{b[HeaderSize:], h.Attributes, h.NumRecords, h.LastOffsetDelta})
	}
	plain := seeds[0].recs
	seeds = append(seeds,
		iterSeed{plain, AttrLogAppendTime, 4, 3},
		iterSeed{plain, 0, 5, 9},
		iterSeed{plain[:len(plain)-2], 0, 4, 3},
		iterSeed{rec(byte(0), 0, 0, -2, -1, 0), 0, 1, 0},
		iterSeed{rec(byte(0), 0, 0, -1, -1, 3, 1, "h", -1), 0, 1, 0},
		iterSeed{nil, int16(Zstd), 0, 0},
	)
	return seeds
}

// TestWriteFuzzCorpus writes the seeds as files in go test fuzz v1 format,
// so that they are committed and run as plain tests.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	write := func(target string, i int, lines ...string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		text := "go test fuzz v1\n"
		for _, l := range lines {
			text += l + "\n"
		}
		name := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	quote := func(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")" }
	for i, s := range validateSeeds(t) {
		write("FuzzValidate", i, quote(s))
	}
	for i, s := range iterSeeds(t) {
		write("FuzzIter", i, quote(s.recs),
			fmt.Sprintf("int16(%d)", s.attrs), fmt.Sprintf("int32(%d)", s.count), fmt.Sprintf("int32(%d)", s.last))
	}
}
