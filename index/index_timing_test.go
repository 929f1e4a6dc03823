package index

import (
	"path/filepath"
	"testing"

	"github.com/weirhq/weir/internal/vfs"
)

// Sink keeps benchmark results alive against dead-code elimination.
var Sink int64

const benchEntries = 1 << 17 // a full 1 MiB offset index

func benchOffset(b *testing.B, n int) *OffsetIndex {
	b.Helper()
	o, err := OpenOffset(vfs.OS, filepath.Join(b.TempDir(), "x.index"), 0, n*OffsetEntrySize, true)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { o.Close() })
	return o
}

// BenchmarkOffsetLookup searches a full index; SetBytes counts the entry
// returned.
func BenchmarkOffsetLookup(b *testing.B) {
	o := benchOffset(b, benchEntries)
	for i := int64(1); i <= benchEntries; i++ {
		if err := o.Append(10*i, 100*i); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(OffsetEntrySize)
	b.ReportAllocs()
	q := int64(0)
	for b.Loop() {
		q = (q + 7919) % (10 * benchEntries)
		Sink += o.Lookup(q).Position
	}
}

func BenchmarkOffsetAppend(b *testing.B) {
	o := benchOffset(b, benchEntries)
	b.SetBytes(OffsetEntrySize)
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		if o.Full() {
			b.StopTimer()
			o.Reset()
			i = 0
			b.StartTimer()
		}
		i++
		if err := o.Append(i, i); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTimeLookupBefore(b *testing.B) {
	ti, err := OpenTime(vfs.OS, filepath.Join(b.TempDir(), "x.timeindex"), 0, benchEntries*TimeEntrySize, true)
	if err != nil {
		b.Fatal(err)
	}
	defer ti.Close()
	for i := int64(1); i <= benchEntries; i++ {
		if _, err := ti.MaybeAppend(1000*i, i); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(TimeEntrySize)
	b.ReportAllocs()
	q := int64(0)
	for b.Loop() {
		q = (q + 7919) % (1000 * benchEntries)
		e, _ := ti.LookupBefore(q)
		Sink += e.Offset
	}
}
