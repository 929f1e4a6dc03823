package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestBuilderEmpty(t *testing.T) {
	var b Builder
	dst := []byte("prefix")
	out := b.AppendTo(dst)
	if len(out) != len(dst) || &out[0] != &dst[0] {
		t.Fatalf("empty builder changed dst: %q", out)
	}
	if b.AppendTo(nil) != nil || b.Len() != 0 || b.Size() != HeaderSize {
		t.Fatalf("empty builder: Len %d Size %d", b.Len(), b.Size())
	}
}

func TestBuilderAppendToAppends(t *testing.T) {
	for _, c := range codecs {
		b, err := NewBuilder(&BuilderOptions{Compression: c})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recordSets()["headers"] {
			if err := b.Append(r.Key, r.Value, r.Headers, r.Timestamp); err != nil {
				t.Fatal(err)
			}
		}
		one := b.AppendTo(nil)
		// AppendTo leaves the Builder as it was: twice gives the same
		// batch twice, after whatever dst held.
		two := b.AppendTo(b.AppendTo([]byte("xyz")))
		if !bytes.Equal(two, bytes.Join([][]byte{[]byte("xyz"), one, one}, nil)) {
			t.Fatalf("%s: AppendTo is not repeatable", c)
		}
		if b.Len() != 3 {
			t.Fatalf("Len = %d", b.Len())
		}
		if c == None && b.Size() != len(one) {
			t.Fatalf("Size = %d, batch is %d bytes", b.Size(), len(one))
		}
		b.Reset()
		if b.Len() != 0 || b.Size() != HeaderSize || b.AppendTo(nil) != nil {
			t.Fatalf("after Reset: Len %d Size %d", b.Len(), b.Size())
		}
		// After Reset the next batch starts afresh (timestamps included).
		if err := b.Append(nil, []byte("v"), nil, 5); err != nil {
			t.Fatal(err)
		}
		h, err := Validate(b.AppendTo(nil))
		if err != nil || h.BaseTimestamp != 5 || h.MaxTimestamp != 5 || h.NumRecords != 1 || h.LastOffsetDelta != 0 {
			t.Fatalf("after Reset: %+v, %v", h, err)
		}
	}
}

func TestBuilderOptions(t *testing.T) {
	bad := []BuilderOptions{
		{Compression: 5},
		{Compression: -1},
		{Transactional: true},
		{Control: true, Transactional: true},
		{Control: true, Idempotent: true},
		{Idempotent: true, ProducerID: -1},
		{Idempotent: true, ProducerEpoch: -1},
		{Idempotent: true, BaseSequence: -1},
	}
	for _, o := range bad {
		if b, err := NewBuilder(&o); !errors.Is(err, ErrInvalidOptions) || b != nil {
			t.Errorf("%+v: %v, want ErrInvalidOptions", o, err)
		}
	}
	opts := &BuilderOptions{Idempotent: true, ProducerID: 0, ProducerEpoch: 0, BaseSequence: 0, Transactional: true}
	b, err := NewBuilder(opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.ProducerID = 99 // NewBuilder copied the options
	if b.Options().ProducerID != 0 {
		t.Fatal("NewBuilder kept a reference to the caller's options")
	}
	b.Append(nil, []byte("a"), nil, 1)
	b.Append(nil, []byte("b"), nil, 1)
	h, err := Validate(b.AppendTo(nil))
	if err != nil || h.ProducerID != 0 || h.ProducerEpoch != 0 || h.BaseSequence != 0 || !h.IsTransactional() {
		t.Fatalf("%+v, %v", h, err)
	}
	b.Reset()
	b.SetBaseSequence(2)
	b.Append(nil, []byte("c"), nil, 1)
	if h, _ := Validate(b.AppendTo(nil)); h.BaseSequence != 2 {
		t.Fatalf("BaseSequence %d after SetBaseSequence(2)", h.BaseSequence)
	}
	// Without Idempotent, producer fields are ignored.
	b, _ = NewBuilder(&BuilderOptions{ProducerID: 5, ProducerEpoch: 5, BaseSequence: 5})
	b.Append(nil, nil, nil, 0)
	if h, _ := Validate(b.AppendTo(nil)); h.ProducerID != -1 || h.ProducerEpoch != -1 || h.BaseSequence != -1 {
		t.Fatalf("non-idempotent header %+v", h)
	}
	if b, err := NewBuilder(nil); err != nil || b.Options() != (BuilderOptions{}) {
		t.Fatalf("NewBuilder(nil): %+v, %v", b, err)
	}
}

func TestBuilderLimits(t *testing.T) {
	var b Builder
	b.n = math.MaxInt32
	if err := b.Append(nil, nil, nil, 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("record 2^31: %v", err)
	}
	if b.Len() != math.MaxInt32 || b.Size() != HeaderSize {
		t.Fatal("a refused record was added")
	}
	// The size limit, checked on the arithmetic rather than with 2 GiB of
	// memory: the int32 length field counts 49 header bytes, the records,
	// and the new record's length varint and body.
	const room = math.MaxInt32 - (HeaderSize - LogOverhead)
	const big = room - 5         // largest body alone: its varint takes 5 bytes
	const rest = room - 2 - 1000 // records room left for a 1000-byte body (2-byte varint)
	for _, tc := range []struct {
		recsLen, body int
		ok            bool
	}{
		{0, 100, true},
		{0, big, true},
		{0, big + 1, false},
		{rest, 1000, true},
		{rest + 1, 1000, false},
		{0, math.MaxInt32 + 1, false},
		{0, math.MaxInt, false},
	} {
		if got := fits(0, tc.recsLen, tc.body); got != tc.ok {
			t.Errorf("fits(0, %d, %d) = %v, want %v", tc.recsLen, tc.body, got, tc.ok)
		}
	}
	if got := varintLen(math.MaxInt64); got != 10 {
		t.Fatalf("varintLen(MaxInt64) = %d", got)
	}
	for _, v := range []int64{0, -1, 1, 63, -64, 64, -65, 1 << 20, -1 << 40, math.MinInt64} {
		if got, want := varintLen(v), len(binary.AppendVarint(nil, v)); got != want {
			t.Fatalf("varintLen(%d) = %d, want %d", v, got, want)
		}
	}
}

func TestBuilderAllocs(t *testing.T) {
	b, _ := NewBuilder(nil)
	key, value := []byte("key"), bytes.Repeat([]byte("v"), 100)
	headers := []RecordHeader{{Key: []byte("h"), Value: []byte("x")}}
	var out []byte
	run := func() {
		b.Reset()
		for i := range 50 {
			if err := b.Append(key, value, headers, int64(i)); err != nil {
				t.Fatal(err)
			}
		}
		out = b.AppendTo(out[:0])
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("building an uncompressed batch allocates %v times", n)
	}
	if _, err := Validate(out); err != nil {
		t.Fatal(err)
	}
}

// TestBuilderKmsg decodes Builder output with franz-go's kmsg, an
// independent decoder.
func TestBuilderKmsg(t *testing.T) {
	for _, name := range []string{"headers", "nulls", "empties", "timestamps", "many"} {
		want := recordSets()[name]
		b := build(t, &BuilderOptions{Idempotent: true, ProducerID: 3, ProducerEpoch: 1, BaseSequence: 8}, want)
		var kb kmsg.RecordBatch
		if err := kb.ReadFrom(b); err != nil {
			t.Fatal(err)
		}
		if kb.FirstOffset != 0 || int(kb.Length) != len(b)-LogOverhead || kb.PartitionLeaderEpoch != -1 ||
			kb.Magic != 2 || uint32(kb.CRC) != stdCRC32C(b[offAttributes:]) || kb.Attributes != 0 ||
			kb.LastOffsetDelta != int32(len(want)-1) || kb.FirstTimestamp != want[0].Timestamp ||
			kb.ProducerID != 3 || kb.ProducerEpoch != 1 || kb.FirstSequence != 8 ||
			kb.NumRecords != int32(len(want)) || len(kb.Records) != len(b)-HeaderSize {
			t.Fatalf("%s: kmsg batch %+v", name, kb)
		}
		recs := kb.Records
		for i := range want {
			l, n := binary.Varint(recs)
			if n <= 0 || int(l) > len(recs)-n {
				t.Fatalf("%s record %d: length %d, %d", name, i, l, n)
			}
			var kr kmsg.Record
			if err := kr.ReadFrom(recs[:n+int(l)]); err != nil {
				t.Fatalf("%s record %d: %v", name, i, err)
			}
			recs = recs[n+int(l):]
			got := Record{
				Attributes: kr.Attributes,
				Timestamp:  kb.FirstTimestamp + kr.TimestampDelta64,
				Key:        kr.Key,
				Value:      kr.Value,
			}
			for _, h := range kr.Headers {
				got.Headers = append(got.Headers, RecordHeader{Key: []byte(h.Key), Value: h.Value})
			}
			if d := diffRecord(&got, &want[i]); d != "" {
				t.Fatalf("%s record %d: %s", name, i, d)
			}
			if kr.OffsetDelta != int32(i) || int(kr.Length) != int(l) {
				t.Fatalf("%s record %d: offsetDelta %d length %d", name, i, kr.OffsetDelta, kr.Length)
			}
		}
		if len(recs) != 0 {
			t.Fatalf("%s: %d bytes after the records", name, len(recs))
		}
	}
}
