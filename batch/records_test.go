package batch

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// recordSets are the record lists every codec must round-trip.
func recordSets() map[string][]Record {
	rng := rand.New(rand.NewPCG(1, 2))
	text := func(n int) []byte {
		words := []string{"weir ", "kafka ", "batch ", "record ", "offset ", "segment "}
		var b []byte
		for len(b) < n {
			b = append(b, words[rng.IntN(len(words))]...)
		}
		return b[:n]
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	many := make([]Record, 2000)
	for i := range many {
		many[i] = Record{Timestamp: 1_700_000_000_000 + int64(i), Key: fmt.Appendf(nil, "key-%d", i%37), Value: text(rng.IntN(200))}
	}
	return map[string][]Record{
		"one": {{Timestamp: 1, Key: []byte("k"), Value: []byte("v")}},
		"nulls": {
			{Timestamp: 5},
			{Timestamp: 5, Key: []byte("only-key")},
			{Timestamp: 5, Value: []byte("only-value")},
		},
		"empties": {
			{Timestamp: 0, Key: []byte{}, Value: []byte{}},
			{Timestamp: 0, Key: []byte{}, Value: nil},
			{Timestamp: 0, Key: nil, Value: []byte{}},
		},
		"headers": {
			{Timestamp: 10, Value: []byte("a"), Headers: []RecordHeader{
				{Key: []byte("trace"), Value: []byte("abc")},
				{Key: []byte("null"), Value: nil},
				{Key: []byte{}, Value: []byte{}},
				{Key: []byte("dup"), Value: []byte("1")},
				{Key: []byte("dup"), Value: []byte("2")},
			}},
			{Timestamp: 11, Key: []byte("k"), Headers: []RecordHeader{{Key: []byte("x"), Value: bytes.Repeat([]byte("h"), 300)}}},
			{Timestamp: 12},
		},
		"timestamps": {
			{Timestamp: 1_700_000_000_000, Value: []byte("base")},
			{Timestamp: 1_699_999_999_000, Value: []byte("earlier: negative delta")},
			{Timestamp: 1_800_000_000_000, Value: []byte("later")},
			{Timestamp: -1, Value: []byte("no timestamp")},
			{Timestamp: math.MaxInt64, Value: []byte("max")},
			{Timestamp: math.MinInt64, Value: []byte("min")},
		},
		"attributes": {{Attributes: 0x7f, Timestamp: 3, Value: []byte("x")}, {Attributes: -1, Timestamp: 3}},
		"many":       many,
		"large": {
			{Timestamp: 1, Key: []byte("text"), Value: text(300 << 10)},
			{Timestamp: 2, Key: []byte("random"), Value: random(200 << 10)},
			{Timestamp: 3, Key: random(70 << 10), Value: text(10)},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	for name, recs := range recordSets() {
		for _, c := range codecs {
			t.Run(name+"/"+c.String(), func(t *testing.T) {
				b := build(t, &BuilderOptions{Compression: c}, recs)
				h, err := Validate(b)
				if err != nil {
					t.Fatal(err)
				}
				if h.Size() != len(b) || h.Compression() != c || int(h.NumRecords) != len(recs) ||
					h.LastOffsetDelta != int32(len(recs)-1) || h.BaseTimestamp != recs[0].Timestamp ||
					h.PartitionLeaderEpoch != -1 || h.BaseOffset != 0 || h.ProducerID != -1 ||
					h.ProducerEpoch != -1 || h.BaseSequence != -1 || h.Attributes != int16(c) {
					t.Fatalf("header %+v", h)
				}
				maxTS := recs[0].Timestamp
				for _, r := range recs {
					maxTS = max(maxTS, r.Timestamp)
				}
				if h.MaxTimestamp != maxTS {
					t.Fatalf("maxTimestamp %d, want %d", h.MaxTimestamp, maxTS)
				}

				SetBaseOffset(b, 1000)
				got, err := readAll(b, 0)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(recs) {
					t.Fatalf("%d records, want %d", len(got), len(recs))
				}
				for i := range got {
					if d := diffRecord(&got[i], &recs[i]); d != "" {
						t.Fatalf("record %d: %s", i, d)
					}
					if got[i].OffsetDelta != int32(i) || got[i].Offset != 1000+int64(i) ||
						got[i].TimestampDelta != recs[i].Timestamp-recs[0].Timestamp {
						t.Fatalf("record %d: offsetDelta %d offset %d timestampDelta %d",
							i, got[i].OffsetDelta, got[i].Offset, got[i].TimestampDelta)
					}
				}
			})
		}
	}
}

// TestIterReuse runs one Iter and one Record over batches of every codec in
// turn, checking that nothing leaks from one batch into the next.
func TestIterReuse(t *testing.T) {
	sets := recordSets()
	var it Iter
	var r Record
	for range 2 {
		for _, name := range []string{"headers", "large", "nulls", "many", "one"} {
			for _, c := range codecs {
				recs := sets[name]
				b := build(t, &BuilderOptions{Compression: c}, recs)
				if err := it.Reset(b); err != nil {
					t.Fatal(err)
				}
				if it.Header().NumRecords != int32(len(recs)) {
					t.Fatalf("Header().NumRecords = %d", it.Header().NumRecords)
				}
				i := 0
				for ; it.Next(&r); i++ {
					if d := diffRecord(&r, &recs[i]); d != "" {
						t.Fatalf("%s/%s record %d: %s", name, c, i, d)
					}
				}
				if it.Err() != nil || i != len(recs) {
					t.Fatalf("%s/%s: %d records, %v", name, c, i, it.Err())
				}
				if it.Next(&r) {
					t.Fatal("Next after the end returned true")
				}
			}
		}
	}
}

func TestIterZeroValue(t *testing.T) {
	var it Iter
	var r Record
	if it.Next(&r) || it.Err() != nil {
		t.Fatalf("zero Iter: Next true or Err %v", it.Err())
	}
}

func TestIterAllocs(t *testing.T) {
	b := build(t, nil, recordSets()["headers"])
	var it Iter
	var r Record
	run := func() {
		if err := it.Reset(b); err != nil {
			t.Fatal(err)
		}
		for it.Next(&r) {
		}
		if it.Err() != nil {
			t.Fatal(it.Err())
		}
	}
	run() // grow r.Headers
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("iterating an uncompressed batch allocates %v times", n)
	}
}

// TestIterCompressedSteadyState checks that decoders and buffers are reused:
// iterating a compressed batch again allocates (next to) nothing.
func TestIterCompressedSteadyState(t *testing.T) {
	recs := recordSets()["many"]
	for _, c := range codecs[1:] {
		b := build(t, &BuilderOptions{Compression: c}, recs)
		var it Iter
		var r Record
		run := func() {
			if err := it.Reset(b); err != nil {
				t.Fatal(err)
			}
			for it.Next(&r) {
			}
		}
		run()
		n := testing.AllocsPerRun(20, run)
		t.Logf("%s: %v allocs per batch", c, n)
		// Pooled decoders and the Iter's buffer make this 0; a GC
		// emptying the pools mid-run may add a fraction. The race
		// detector makes sync.Pool drop items at random.
		if n > 2 && !raceEnabled {
			t.Errorf("%s: %v allocs per batch in steady state", c, n)
		}
	}
}

func TestIterTransactionalAndControl(t *testing.T) {
	opts := &BuilderOptions{Idempotent: true, ProducerID: 7, ProducerEpoch: 3, BaseSequence: 40,
		Transactional: true, Control: true, Compression: Snappy}
	// A COMMIT marker: key = version 0, type 1; value = version 0,
	// coordinator epoch 5.
	b := build(t, opts, []Record{{Timestamp: 9, Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 5}}})
	h, err := Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	if !h.IsTransactional() || !h.IsControl() || h.ProducerID != 7 || h.ProducerEpoch != 3 ||
		h.BaseSequence != 40 || h.Compression() != Snappy {
		t.Fatalf("header %+v", h)
	}
	recs, err := readAll(b, 0)
	if err != nil || len(recs) != 1 || !bytes.Equal(recs[0].Key, []byte{0, 0, 0, 1}) {
		t.Fatalf("records %v, %v", recs, err)
	}
}

// rawBatch wraps a records section (already compressed, if c is not None)
// in a header with a correct CRC.
func rawBatch(c Compression, count, lastOffsetDelta int32, recs []byte) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(recs))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], math.MaxUint32)
	b[offMagic] = Magic
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(c))
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(lastOffsetDelta))
	binary.BigEndian.PutUint64(b[offBaseTimestamp:], 1000)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], 1000)
	binary.BigEndian.PutUint64(b[offProducerID:], math.MaxUint64)
	binary.BigEndian.PutUint16(b[offProducerEpoch:], math.MaxUint16)
	binary.BigEndian.PutUint32(b[offBaseSequence:], math.MaxUint32)
	binary.BigEndian.PutUint32(b[offRecordCount:], uint32(count))
	b = append(b, recs...)
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-LogOverhead))
	return resign(b)
}

// rewrap replaces the records section of the batch full with recs,
// compressed with c, keeping the rest of its header, and re-signs it.
func rewrap(full []byte, c Compression, recs []byte) []byte {
	b := append(bytes.Clone(full[:HeaderSize]), recs...)
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(c))
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-LogOverhead))
	return resign(b)
}

// rec hand-encodes one record from raw varint fields, for malformed input.
func rec(fields ...any) []byte {
	var body []byte
	for _, f := range fields {
		switch f := f.(type) {
		case int: // a varint
			body = binary.AppendVarint(body, int64(f))
		case byte: // a raw byte
			body = append(body, f)
		case string: // raw bytes
			body = append(body, f...)
		default:
			panic(fmt.Sprintf("rec: %T", f))
		}
	}
	return append(binary.AppendVarint(nil, int64(len(body))), body...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestIterMalformed(t *testing.T) {
	// attributes, timestampDelta, offsetDelta, key, value, headers
	good0 := rec(byte(0), 0, 0, 1, "k", 1, "v", 0)
	good1 := rec(byte(0), 0, 1, -1, -1, 1, 1, "h", -1)
	tests := []struct {
		name  string
		count int32
		last  int32
		recs  []byte
		want  error
	}{
		{"fewer records than count", 3, 2, cat(good0, good1), ErrRecords},
		{"more records than count", 1, 1, cat(good0, good1), ErrRecords},
		{"no records, count 1", 1, 0, nil, ErrRecords},
		{"trailing garbage", 2, 1, cat(good0, good1, []byte{0}), ErrRecords},
		{"length varint cut", 1, 0, []byte{0x80}, ErrMalformedRecord},
		{"length varint too long", 1, 0, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, ErrMalformedRecord},
		{"length varint over 32 bits", 1, 0, []byte{0xff, 0xff, 0xff, 0xff, 0x7f}, ErrMalformedRecord},
		{"negative length", 1, 0, cat(binary.AppendVarint(nil, -7), good0), ErrMalformedRecord},
		{"length too small", 1, 0, cat([]byte{2}, good0[1:]), ErrMalformedRecord},
		{"length past end", 1, 0, cat([]byte{40}, good0[1:]), ErrMalformedRecord},
		{"length longer than fields", 1, 0, rec(byte(0), 0, 0, -1, -1, 0, byte(9)), ErrMalformedRecord},
		{"timestamp varint cut", 1, 0, rec(byte(0), byte(0x80), byte(0x80), byte(0x80), byte(0x80), byte(0x80), byte(0x80)), ErrMalformedRecord},
		{"timestamp varint overflow", 1, 0, rec(byte(0), "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 0, -1, -1, 0), ErrMalformedRecord},
		{"key length past end", 1, 0, rec(byte(0), 0, 0, 100, "k", -1, 0), ErrMalformedRecord},
		{"key length -2", 1, 0, rec(byte(0), 0, 0, -2, -1, 0), ErrMalformedRecord},
		{"value length past end", 1, 0, rec(byte(0), 0, 0, -1, 5, "v", 0), ErrMalformedRecord},
		{"value length -5", 1, 0, rec(byte(0), 0, 0, -1, -5, 0), ErrMalformedRecord},
		{"negative header count", 1, 0, rec(byte(0), 0, 0, -1, -1, -1), ErrMalformedRecord},
		{"header count past end", 1, 0, rec(byte(0), 0, 0, -1, -1, 1_000_000, 0, 0), ErrMalformedRecord},
		{"null header key", 1, 0, rec(byte(0), 0, 0, -1, -1, 1, -1, -1), ErrMalformedRecord},
		{"header value past end", 1, 0, rec(byte(0), 0, 0, -1, -1, 1, 1, "h", 9), ErrMalformedRecord},
		{"header count missing", 1, 0, rec(byte(0), 0, 0, -1, -1, "\x80"), ErrMalformedRecord},
		{"offset delta repeated", 2, 1, cat(good0, good0), ErrMalformedRecord},
		{"offset delta decreasing", 2, 1, cat(good1, good0), ErrMalformedRecord},
		{"offset delta negative", 1, 0, rec(byte(0), 0, -1, -1, -1, 0), ErrMalformedRecord},
		{"offset delta past lastOffsetDelta", 2, 0, cat(good0, good1), ErrMalformedRecord},
	}
	for _, tc := range tests {
		for _, c := range codecs {
			data := tc.recs
			if c != None {
				data = compress(nil, c, tc.recs)
			}
			b := rawBatch(c, tc.count, tc.last, data)
			if _, err := Validate(b); err != nil {
				t.Fatalf("%s/%s: Validate: %v", tc.name, c, err)
			}
			_, err := readAll(b, 0)
			checkErr(t, err, tc.want, tc.name+"/"+c.String())
		}
	}
	// The good records themselves parse, gaps in offsets included.
	for _, c := range codecs {
		data := cat(good0, rec(byte(0), 0, 5, -1, -1, 0))
		if c != None {
			data = compress(nil, c, data)
		}
		recs, err := readAll(rawBatch(c, 2, 9, data), 0)
		if err != nil || len(recs) != 2 || recs[1].OffsetDelta != 5 || recs[1].Offset != 5 {
			t.Fatalf("%s: gapped offsets: %v, %v", c, recs, err)
		}
	}
}

// TestIterTruncatedRecords cuts a records section at every length, re-signs
// the batch, and expects corruption errors, never a panic.
func TestIterTruncatedRecords(t *testing.T) {
	for _, c := range codecs {
		full := build(t, &BuilderOptions{Compression: c}, recordSets()["headers"])
		h, _ := Validate(full)
		recs := full[HeaderSize:]
		for n := range len(recs) {
			b := rawBatch(c, h.NumRecords, h.LastOffsetDelta, recs[:n])
			_, err := readAll(b, 0)
			if err == nil || !IsCorrupt(err) {
				t.Fatalf("%s cut to %d of %d: %v", c, n, len(recs), err)
			}
		}
	}
}

func TestIterUnknownCodec(t *testing.T) {
	for c := Compression(5); c <= 7; c++ {
		b := rawBatch(c, 1, 0, rec(byte(0), 0, 0, -1, -1, 0))
		_, err := readAll(b, 0)
		checkErr(t, err, ErrCompression, fmt.Sprint("codec ", int(c)))
		if c.String() != "unknown" {
			t.Fatalf("String() = %q", c.String())
		}
	}
}

func TestIterBadCompressedData(t *testing.T) {
	for _, c := range codecs[1:] {
		good := compress(nil, c, []byte("some records, or so the codec thinks"))
		for _, data := range [][]byte{
			[]byte("this is not compressed data at all"),
			{0xff, 0xff, 0xff, 0xff, 0xff},
			good[:len(good)/2],
		} {
			b := rawBatch(c, 1, 0, data)
			_, err := readAll(b, 0)
			if err == nil || !IsCorrupt(err) {
				t.Fatalf("%s %q: %v", c, data, err)
			}
		}
		// A compressed section cut short never decodes.
		full := build(t, &BuilderOptions{Compression: c}, recordSets()["many"])
		h, _ := Validate(full)
		b := rawBatch(c, h.NumRecords, h.LastOffsetDelta, full[HeaderSize:len(full)-20])
		_, err := readAll(b, 0)
		if err == nil || !IsCorrupt(err) {
			t.Fatalf("%s cut short: %v", c, err)
		}
	}
}

// TestIterDecompressLimit checks the bomb guard: a small batch that expands
// past the limit fails with ErrDecompressedTooLarge, which is not corruption.
func TestIterDecompressLimit(t *testing.T) {
	recs := []Record{{Timestamp: 1, Value: make([]byte, 1<<20)}}
	for _, c := range codecs[1:] {
		b := build(t, &BuilderOptions{Compression: c}, recs)
		if len(b) > 100<<10 {
			t.Fatalf("%s: %d bytes: zeros did not compress", c, len(b))
		}
		for _, limit := range []int{1, 4 << 10, 1 << 20} {
			_, err := readAll(b, limit)
			if !errors.Is(err, ErrDecompressedTooLarge) || IsCorrupt(err) {
				t.Fatalf("%s limit %d: %v, want ErrDecompressedTooLarge", c, limit, err)
			}
		}
		// The exact size passes.
		exact := Size0(build(t, nil, recs)) - HeaderSize
		if _, err := readAll(b, exact); err != nil {
			t.Fatalf("%s limit %d (exact): %v", c, exact, err)
		}
		if _, err := readAll(b, exact-1); !errors.Is(err, ErrDecompressedTooLarge) {
			t.Fatalf("%s limit %d (exact-1): %v", c, exact-1, err)
		}
	}
}

// TestSnappyXerial decodes the xerial framing the Java client writes: a
// 16-byte header, then chunks of a 4-byte length and a raw snappy block.
func TestSnappyXerial(t *testing.T) {
	want := recordSets()["many"]
	full := build(t, nil, want)
	plain := full[HeaderSize:]
	framed := append([]byte{}, xerialMagic...)
	framed = binary.BigEndian.AppendUint32(framed, 1) // version
	framed = binary.BigEndian.AppendUint32(framed, 1) // compatible version
	for rest := plain; len(rest) > 0; {
		n := min(len(rest), 32<<10)
		block := s2.EncodeSnappy(nil, rest[:n])
		framed = binary.BigEndian.AppendUint32(framed, uint32(len(block)))
		framed = append(framed, block...)
		rest = rest[n:]
	}
	b := rewrap(full, Snappy, framed)
	got, err := readAll(b, 0)
	if err != nil || len(got) != len(want) {
		t.Fatalf("%d records, %v", len(got), err)
	}
	for i := range got {
		if d := diffRecord(&got[i], &want[i]); d != "" {
			t.Fatalf("record %d: %s", i, d)
		}
	}
	// Corrupt chunk lengths.
	for _, cut := range []int{17, 19, len(framed) - 1} {
		_, err := readAll(rewrap(full, Snappy, framed[:cut]), 0)
		checkErr(t, err, ErrCorrupt, fmt.Sprint("xerial cut at ", cut))
	}
	big := bytes.Clone(framed)
	binary.BigEndian.PutUint32(big[16:], math.MaxUint32)
	_, err = readAll(rewrap(full, Snappy, big), 0)
	checkErr(t, err, ErrDecompress, "xerial chunk length past the end")
	// The limit applies across chunks.
	_, err = readAll(b, len(plain)-1)
	if !errors.Is(err, ErrDecompressedTooLarge) {
		t.Fatalf("xerial over the limit: %v", err)
	}
}

// TestForeignEncoders decodes records sections compressed by other encoders
// or with other settings than Builder's: the standard library's gzip (two
// members), lz4 with 4 MiB blocks and checksums.
func TestForeignEncoders(t *testing.T) {
	want := recordSets()["many"]
	full := build(t, nil, want)
	plain := full[HeaderSize:]
	half := len(plain) / 2

	var gz bytes.Buffer
	for _, part := range [][]byte{plain[:half], plain[half:]} {
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
		zw.Write(part)
		zw.Close()
	}
	var lz bytes.Buffer
	zw := lz4.NewWriter(&lz)
	if err := zw.Apply(lz4.BlockSizeOption(lz4.Block4Mb), lz4.ChecksumOption(true), lz4.BlockChecksumOption(true)); err != nil {
		t.Fatal(err)
	}
	zw.Write(plain)
	zw.Close()

	for _, tc := range []struct {
		c    Compression
		data []byte
	}{{Gzip, gz.Bytes()}, {LZ4, lz.Bytes()}} {
		got, err := readAll(rewrap(full, tc.c, tc.data), 0)
		if err != nil || len(got) != len(want) {
			t.Fatalf("%s: %d records, %v", tc.c, len(got), err)
		}
		for i := range got {
			if d := diffRecord(&got[i], &want[i]); d != "" {
				t.Fatalf("%s record %d: %s", tc.c, i, d)
			}
		}
	}

	// And the standard library reads Builder's gzip.
	b := build(t, &BuilderOptions{Compression: Gzip}, want)
	zr, err := gzip.NewReader(bytes.NewReader(b[HeaderSize:]))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := out.ReadFrom(zr); err != nil || !bytes.Equal(out.Bytes(), plain) {
		t.Fatalf("compress/gzip reads %d bytes, %v; want %d", out.Len(), err, len(plain))
	}
}

// TestEmptyBatch iterates the header-only batch compaction leaves behind to
// keep a producer's state: no records, for every codec bit.
func TestEmptyBatch(t *testing.T) {
	for _, c := range codecs {
		b := rawBatch(c, 0, 4, nil)
		recs, err := readAll(b, 0)
		if err != nil || len(recs) != 0 {
			t.Fatalf("%s: %v, %v", c, recs, err)
		}
	}
}

// TestIterKmsg builds batches with franz-go's kmsg, an independent encoder,
// and checks that Validate and Iter read them.
func TestIterKmsg(t *testing.T) {
	type in struct {
		tsDelta int64
		off     int32
		key     []byte
		value   []byte
		headers []kmsg.Header
	}
	ins := []in{
		{0, 0, []byte("k0"), []byte("v0"), nil},
		{-5, 1, nil, []byte("v1"), []kmsg.Header{{Key: "a", Value: []byte("1")}, {Key: "", Value: nil}}},
		{1 << 40, 2, []byte{}, nil, nil},
		{7, 4, []byte("k3"), bytes.Repeat([]byte("x"), 1000), []kmsg.Header{{Key: "z", Value: []byte{}}}},
	}
	var recs []byte
	for _, r := range ins {
		kr := kmsg.Record{TimestampDelta64: r.tsDelta, OffsetDelta: r.off, Key: r.key, Value: r.value, Headers: r.headers}
		kr.Length = int32(len(kr.AppendTo(nil)) - 1) // Length 0 takes one byte
		recs = kr.AppendTo(recs)
	}
	kb := kmsg.RecordBatch{
		FirstOffset: 500, PartitionLeaderEpoch: 9, Magic: 2, Attributes: 0,
		LastOffsetDelta: 5, FirstTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_000 + 1<<40,
		ProducerID: 77, ProducerEpoch: 2, FirstSequence: 10, NumRecords: int32(len(ins)), Records: recs,
	}
	kb.Length = int32(len(kb.AppendTo(nil)) - LogOverhead)
	b := kb.AppendTo(nil)
	kb.CRC = int32(stdCRC32C(b[offAttributes:]))
	b = kb.AppendTo(nil)

	h, err := Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.BaseOffset != 500 || h.PartitionLeaderEpoch != 9 || h.ProducerID != 77 || h.ProducerEpoch != 2 ||
		h.BaseSequence != 10 || h.NumRecords != 4 || h.LastOffsetDelta != 5 {
		t.Fatalf("header %+v", h)
	}
	got, err := readAll(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ins) {
		t.Fatalf("%d records, want %d", len(got), len(ins))
	}
	for i, r := range ins {
		g := got[i]
		want := Record{Timestamp: kb.FirstTimestamp + r.tsDelta, Key: r.key, Value: r.value}
		for _, h := range r.headers {
			want.Headers = append(want.Headers, RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		if d := diffRecord(&g, &want); d != "" {
			t.Fatalf("record %d: %s", i, d)
		}
		if g.TimestampDelta != r.tsDelta || g.OffsetDelta != r.off || g.Offset != 500+int64(r.off) {
			t.Fatalf("record %d: %+v", i, g)
		}
	}
}
