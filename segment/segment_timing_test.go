package segment

import (
	"errors"
	"fmt"
	"testing"

	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/internal/vfs"
)

// Sink keeps benchmark results alive against dead-code elimination.
var Sink int64

// BenchmarkAppend appends one batch per op to a segment, rolling to a new
// segment when it is full (the roll is not timed).
func BenchmarkAppend(b *testing.B) {
	for _, records := range []int{10, 160} { // about 1 KiB and 16 KiB
		for _, prealloc := range []int64{0, 4 << 20} {
			b.Run(fmt.Sprintf("records=%d/prealloc=%dMiB", records, prealloc>>20), func(b *testing.B) {
				bt := mkBatch(b, batch.None, 0, records, 1)
				dir := b.TempDir()
				opts := Options{Preallocate: prealloc, MaxSize: 64 << 20}
				base := int64(0)
				s, err := Create(vfs.OS, dir, base, opts)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(bt)))
				b.ReportAllocs()
				for b.Loop() {
					pos, err := s.Append(bt)
					if errors.Is(err, ErrFull) {
						b.StopTimer()
						if err := s.Remove(); err != nil {
							b.Fatal(err)
						}
						base++
						if s, err = Create(vfs.OS, dir, base, opts); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
						pos, err = s.Append(bt)
					}
					if err != nil {
						b.Fatal(err)
					}
					Sink += pos
				}
				b.StopTimer()
				s.Remove()
			})
		}
	}
}

// BenchmarkFind looks up an offset from an index position `dist` batches
// before its batch, as a fetch does after a sparse index lookup: each op
// reads dist batch headers. SetBytes counts the segment bytes stepped over.
func BenchmarkFind(b *testing.B) {
	const n = 4096 // batches of 5 records, about 400 bytes each
	s, err := Create(vfs.OS, b.TempDir(), 0, Options{MaxSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	pos := make([]int64, n+1)
	for i := range n {
		p, err := s.Append(mkBatch(b, batch.None, 5*int64(i), 5, int64(i)))
		if err != nil {
			b.Fatal(err)
		}
		pos[i] = p
	}
	pos[n] = s.Size()
	for _, dist := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("dist=%d", dist), func(b *testing.B) {
			b.SetBytes(s.Size() / n * int64(dist))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				from := i * dist
				target := from + dist - 1
				p, _, found, err := s.Find(pos[from], 5*int64(target)+4)
				if err != nil || !found || p != pos[target] {
					b.Fatalf("Find = %d, %v, %v; want %d", p, found, err, pos[target])
				}
				Sink += p
				if i++; (i+1)*dist > n {
					i = 0
				}
			}
		})
	}
}

// BenchmarkScan measures recovery's validation speed over a 16 MiB
// segment.
func BenchmarkScan(b *testing.B) {
	s, err := Create(vfs.OS, b.TempDir(), 0, Options{MaxSize: 32 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for i := int64(0); s.Size() < 16<<20; i++ {
		if _, err := s.Append(mkBatch(b, batch.None, 160*i, 160, i)); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(s.Size())
	b.ReportAllocs()
	for b.Loop() {
		res, err := s.Scan(0, ScanOptions{}, nil)
		if err != nil || res.Stop != nil || res.ValidEnd != s.Size() {
			b.Fatalf("Scan = %+v, %v", res, err)
		}
		Sink += res.ValidEnd
	}
}
