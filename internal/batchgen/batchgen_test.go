package batchgen

import (
	"testing"

	"github.com/weirhq/weir/batch"
)

func TestSized(t *testing.T) {
	for _, size := range []int{128, 256, 1 << 10, 16 << 10, 1 << 20} {
		b, err := Sized(size)
		if err != nil {
			t.Fatal(err)
		}
		h, err := batch.Validate(b)
		if err != nil || len(b) != size || h.Size() != size || h.NumRecords < 2 || h.BaseOffset != 0 {
			t.Fatalf("Sized(%d): %d bytes, %+v, %v", size, len(b), h, err)
		}
	}
	if _, err := Sized(batch.HeaderSize); err == nil {
		t.Fatalf("Sized(%d) built a batch of two records", batch.HeaderSize)
	}
}
