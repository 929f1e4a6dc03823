package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/weirhq/weir/batch"
)

// Bad input to Append (bad CRC, bad magic, wrong length, oversize, no
// records, empty input) returns a typed error and writes nothing; the log
// keeps working afterwards.

func TestAppendBadInput(t *testing.T) {
	good := func() []byte { return makeBatch(t, "g", 3, tsBase) }
	// Byte positions in the batch header (see the batch package doc).
	const (
		offLength      = 8
		offMagic       = 16
		offCRC         = 17
		offLastDelta   = 23
		offRecordCount = 57
	)
	put32 := func(b []byte, off int, v uint32) []byte {
		binary.BigEndian.PutUint32(b[off:], v)
		return b
	}
	tests := []struct {
		name  string
		input func() []byte
		want  []error // every one must match
	}{
		{"empty", func() []byte { return []byte{} }, []error{ErrInvalidBatch}},
		{"nil", func() []byte { return nil }, []error{ErrInvalidBatch}},
		{"shorter than a header", func() []byte { return good()[:40] }, []error{ErrInvalidBatch, batch.ErrShort}},
		{"one byte", func() []byte { return []byte{0} }, []error{ErrInvalidBatch, batch.ErrShort}},
		{"truncated batch", func() []byte { b := good(); return b[:len(b)-1] }, []error{ErrInvalidBatch, batch.ErrShort}},
		{"bad CRC in records", func() []byte { b := good(); b[len(b)-2] ^= 1; return b }, []error{ErrInvalidBatch, batch.ErrCRC}},
		{"bad CRC field", func() []byte { b := good(); b[offCRC] ^= 0x80; return b }, []error{ErrInvalidBatch, batch.ErrCRC}},
		{"bad CRC in attributes", func() []byte { b := good(); b[22] ^= 0x01; return b }, []error{ErrInvalidBatch, batch.ErrCRC}},
		{"magic 1", func() []byte { b := good(); b[offMagic] = 1; return b }, []error{ErrInvalidBatch, batch.ErrMagic}},
		{"magic 3", func() []byte { b := good(); b[offMagic] = 3; return b }, []error{ErrInvalidBatch, batch.ErrMagic}},
		{"length below a header", func() []byte { return put32(good(), offLength, 10) }, []error{ErrInvalidBatch, batch.ErrLength}},
		{"negative length", func() []byte { return put32(good(), offLength, 0xffffffff) }, []error{ErrInvalidBatch, batch.ErrLength}},
		{"length past the input", func() []byte { b := good(); return put32(b, offLength, uint32(len(b))) }, []error{ErrInvalidBatch, batch.ErrShort}},
		{"huge length", func() []byte { return put32(good(), offLength, 0x7fffffff) }, []error{ErrInvalidBatch, batch.ErrShort}},
		{"length one short", func() []byte { b := good(); return put32(b, offLength, uint32(len(b)-batch.LogOverhead-1)) }, []error{ErrInvalidBatch}},
		{"trailing garbage", func() []byte { return append(good(), 1, 2, 3, 4, 5) }, []error{ErrInvalidBatch, batch.ErrShort}},
		{"trailing zeros", func() []byte { return append(good(), make([]byte, 100)...) }, []error{ErrInvalidBatch}},
		{"negative lastOffsetDelta", func() []byte {
			b := put32(good(), offLastDelta, 0xffffffff)
			batch.SetCRC(b)
			return b
		}, []error{ErrInvalidBatch, batch.ErrRecords}},
		{"header without records", func() []byte {
			b := good()[:batch.HeaderSize]
			put32(b, offLength, batch.HeaderSize-batch.LogOverhead)
			put32(b, offLastDelta, 0)
			put32(b, offRecordCount, 0)
			batch.SetCRC(b)
			return b
		}, []error{ErrInvalidBatch, batch.ErrRecords}},
		{"oversize", func() []byte {
			bld, _ := batch.NewBuilder(nil)
			bld.Append(nil, make([]byte, 5000), nil, tsBase)
			return bld.AppendTo(nil)
		}, []error{ErrTooLarge}},
		{"valid then bad CRC", func() []byte {
			bad := good()
			bad[len(bad)-1] ^= 0xff
			return append(append(good(), good()...), bad...)
		}, []error{ErrInvalidBatch, batch.ErrCRC}},
		{"valid then bad magic", func() []byte {
			bad := good()
			bad[offMagic] = 0
			return append(good(), bad...)
		}, []error{ErrInvalidBatch, batch.ErrMagic}},
		{"valid then truncated", func() []byte {
			return append(good(), good()[:70]...)
		}, []error{ErrInvalidBatch, batch.ErrShort}},
		{"valid then oversize", func() []byte {
			bld, _ := batch.NewBuilder(nil)
			bld.Append(nil, make([]byte, 5000), nil, tsBase)
			return append(append(good(), good()...), bld.AppendTo(nil)...)
		}, []error{ErrTooLarge}},
	}

	dir := filepath.Join(t.TempDir(), "log")
	opts := &Options{MaxBatchBytes: 4096, SegmentBytes: 64 << 10, MaxIndexBytes: 4096, Logger: quietLogger}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	var want []string // record values expected in the log
	appendGood := func(tag string) {
		t.Helper()
		b := makeBatch(t, tag, 2, tsBase)
		res, err := l.Append(b)
		if err != nil {
			t.Fatalf("append a valid batch: %v", err)
		}
		for i := range 2 {
			want = append(want, fmtRec(res.FirstOffset+int64(i), tag, i))
		}
	}
	appendGood("first")

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			end, size := l.EndOffset(), l.Size()
			in := tc.input()
			res, err := l.Append(in)
			if err == nil {
				t.Fatalf("Append accepted bad input: %+v", res)
			}
			t.Logf("error: %v", err)
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Fatalf("Append: err %v, want errors.Is %v", err, w)
				}
			}
			if errors.Is(err, ErrFailed) {
				t.Fatalf("bad input failed the log: %v", err)
			}
			if e := l.EndOffset(); e != end {
				t.Fatalf("end offset %d after rejected input, want %d", e, end)
			}
			if s := l.Size(); s != size {
				t.Fatalf("log size %d after rejected input, want %d", s, size)
			}
			if l.Err() != nil {
				t.Fatalf("log failed after bad input: %v", l.Err())
			}
			// It keeps working.
			appendGood(tc.name)
			check(t, readAll(t, l), want)
		})
	}

	// Nothing of the rejected input reached the files: after a clean
	// reopen the log holds exactly the valid batches.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	check(t, readAll(t, l), want)
	var total int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".log" {
			info, _ := e.Info()
			total += info.Size()
		}
	}
	if total != l.Size() {
		t.Fatalf("segment files hold %d bytes, the log %d", total, l.Size())
	}
}

// TestAppendRejectedInputUnchanged checks that a rejected multi-batch input
// is not patched: offsets are assigned only once everything validated.
func TestAppendRejectedInputUnchanged(t *testing.T) {
	l, err := Open(t.TempDir(), &Options{MaxIndexBytes: 4096, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 3 {
		if _, err := l.Append(makeBatch(t, "x", 4, tsBase)); err != nil {
			t.Fatal(err)
		}
	}
	bad := makeBatch(t, "bad", 2, tsBase)
	bad[len(bad)-1] ^= 1
	in := append(makeBatch(t, "ok", 2, tsBase), bad...)
	orig := bytes.Clone(in)
	if _, err := l.Append(in); !errors.Is(err, batch.ErrCRC) {
		t.Fatalf("err %v, want ErrCRC", err)
	}
	if !bytes.Equal(in, orig) {
		t.Fatal("Append patched input it rejected")
	}
}
