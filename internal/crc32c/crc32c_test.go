package crc32c

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

var std = crc32.MakeTable(crc32.Castagnoli)

// TestAgainstStdlib compares Update with hash/crc32 for every length up to
// a few folds past foldMin, at several alignments and initial values, and
// for random long inputs.
func TestAgainstStdlib(t *testing.T) {
	if !canFold {
		t.Log("no AVX-512 VPCLMULQDQ on this CPU: only the fallback is compared")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 1<<20+64)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	for n := 0; n <= foldMin+3*256+130; n++ {
		for _, align := range []int{0, 1, 7, 21} {
			p := buf[align : align+n]
			for _, crc := range []uint32{0, 0xFFFFFFFF, 0x12345678} {
				if got, want := Update(crc, p), crc32.Update(crc, std, p); got != want {
					t.Fatalf("Update(%#x, len %d, align %d) = %#x, want %#x", crc, n, align, got, want)
				}
			}
		}
	}
	for range 200 {
		off := rng.IntN(64)
		n := rng.IntN(len(buf) - off)
		p := buf[off : off+n]
		if got, want := Checksum(p), crc32.Checksum(p, std); got != want {
			t.Fatalf("Checksum(len %d, offset %d) = %#x, want %#x", n, off, got, want)
		}
	}
	// All zeros and all ones: no structure in the data hides a wrong key.
	for _, b := range []byte{0, 0xFF} {
		p := make([]byte, 4096)
		for i := range p {
			p[i] = b
		}
		if got, want := Checksum(p), crc32.Checksum(p, std); got != want {
			t.Fatalf("Checksum(4096 x %#x) = %#x, want %#x", b, got, want)
		}
	}
}

// TestSingleBit flips each bit of a folded input in turn: every flip must
// change the result exactly as it changes the standard library's.
func TestSingleBit(t *testing.T) {
	p := make([]byte, foldMin+256+64+5)
	for i := range p {
		p[i] = byte(i * 31)
	}
	for i := range len(p) * 8 {
		p[i/8] ^= 1 << (i % 8)
		if got, want := Checksum(p), crc32.Checksum(p, std); got != want {
			t.Fatalf("bit %d flipped: %#x, want %#x", i, got, want)
		}
		p[i/8] ^= 1 << (i % 8)
	}
}

func FuzzUpdate(f *testing.F) {
	f.Add(uint32(0), make([]byte, 1000))
	f.Add(uint32(7), make([]byte, foldMin))
	f.Fuzz(func(t *testing.T, crc uint32, p []byte) {
		if got, want := Update(crc, p), crc32.Update(crc, std, p); got != want {
			t.Fatalf("Update(%#x, len %d) = %#x, want %#x", crc, len(p), got, want)
		}
	})
}

var sink uint32

func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{256, 512, 1 << 10, 4 << 10, 16 << 10, 1 << 20} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i)
		}
		b.Run(sizeName(n)+"/crc32c", func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				sink = Checksum(p)
			}
		})
		b.Run(sizeName(n)+"/stdlib", func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				sink = crc32.Checksum(p, std)
			}
		})
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return itoa(n>>20) + "MiB"
	case n >= 1<<10:
		return itoa(n>>10) + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
