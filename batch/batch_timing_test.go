package batch

import (
	"fmt"
	"testing"
)

// Sink keeps benchmark results alive against dead-code elimination.
var Sink int64

// benchRecords returns records of about 100-byte compressible values whose
// uncompressed batch is about size bytes.
func benchRecords(size int) []Record {
	var recs []Record
	total := HeaderSize
	for i := 0; total < size; i++ {
		r := Record{
			Timestamp: 1_700_000_000_000 + int64(i),
			Key:       fmt.Appendf(nil, "user-%06d", i*7919%100000),
			Value:     fmt.Appendf(nil, `{"id":%d,"event":"page_view","path":"/products/%d","ms":%d}`, i, i%500, i*37%1000),
		}
		if i%4 == 0 {
			r.Headers = []RecordHeader{{Key: []byte("trace-id"), Value: fmt.Appendf(nil, "%016x", i)}}
		}
		recs = append(recs, r)
		total += 20 + len(r.Key) + len(r.Value) + 16*len(r.Headers)
	}
	return recs
}

var benchSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"16KiB", 16 << 10}}

func BenchmarkValidate(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			batch := build(b, nil, benchRecords(s.size))
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				h, err := Validate(batch)
				if err != nil {
					b.Fatal(err)
				}
				Sink += int64(h.NumRecords)
			}
		})
	}
}

// BenchmarkIter iterates every record of a 16 KiB batch (uncompressed size,
// which b.SetBytes reports for every codec), decompression included.
func BenchmarkIter(b *testing.B) {
	recs := benchRecords(16 << 10)
	plain := len(build(b, nil, recs))
	for _, c := range codecs {
		b.Run(c.String(), func(b *testing.B) {
			batch := build(b, &BuilderOptions{Compression: c}, recs)
			var it Iter
			var r Record
			b.SetBytes(int64(plain))
			b.ReportAllocs()
			for b.Loop() {
				if err := it.Reset(batch); err != nil {
					b.Fatal(err)
				}
				for it.Next(&r) {
					Sink += int64(len(r.Value))
				}
				if it.Err() != nil {
					b.Fatal(it.Err())
				}
			}
		})
	}
}

// BenchmarkBuilder builds a 16 KiB (uncompressed) batch from its records.
func BenchmarkBuilder(b *testing.B) {
	recs := benchRecords(16 << 10)
	plain := len(build(b, nil, recs))
	for _, c := range codecs {
		b.Run(c.String(), func(b *testing.B) {
			bld, _ := NewBuilder(&BuilderOptions{Compression: c})
			var out []byte
			b.SetBytes(int64(plain))
			b.ReportAllocs()
			for b.Loop() {
				bld.Reset()
				for i := range recs {
					if err := bld.Add(&recs[i]); err != nil {
						b.Fatal(err)
					}
				}
				out = bld.AppendTo(out[:0])
			}
			b.ReportMetric(float64(len(out))/float64(plain), "ratio")
		})
	}
}
