package segment

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/internal/vfs"
)

// FuzzRecover writes arbitrary bytes as a segment file and recovers it.
// Recover must not panic or fail, and must leave a file that is a prefix of
// the input made only of valid batches with increasing offsets, which a
// second scan accepts whole.
//
// The seed corpus in testdata/fuzz/FuzzRecover holds valid segments of
// every codec and torn, corrupt, zero-tailed and garbage-tailed variants.
//
//	go test -run '^$' -fuzz '^FuzzRecover$' -fuzztime 60s ./segment/
func FuzzRecover(f *testing.F) {
	// One file per process, rewritten by each input (inputs run one at a
	// time): a directory per input makes the fuzzer disk-bound.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		const base = 0
		path := filepath.Join(dir, FileName(base))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(vfs.OS, path, base, true, Options{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Recover(0, ScanOptions{}, nil)
		if err != nil {
			t.Fatalf("Recover: %v", err)
		}
		n := int64(len(data))
		switch {
		case res.ValidEnd < 0 || res.ValidEnd > n || res.FileSize != n:
			t.Fatalf("ValidEnd %d, FileSize %d for %d bytes", res.ValidEnd, res.FileSize, n)
		case s.Size() != res.ValidEnd:
			t.Fatalf("Size() = %d after Recover, ValidEnd %d", s.Size(), res.ValidEnd)
		case res.ZeroTail:
			if res.Stop != nil || res.Cut() != 0 || !isZero(data[res.ValidEnd:min(n, res.ValidEnd+zeroProbe)]) {
				t.Fatalf("ZeroTail with Stop %v, Cut %d, tail %x", res.Stop, res.Cut(), data[res.ValidEnd:])
			}
		case res.Stop == nil:
			if res.ValidEnd != n {
				t.Fatalf("Stop nil without a zero tail, but ValidEnd %d < %d", res.ValidEnd, n)
			}
		default:
			if !errors.Is(res.Stop, batch.ErrCorrupt) || res.Cut() != n-res.ValidEnd {
				t.Fatalf("Stop %v (corrupt: %v), Cut %d", res.Stop, batch.IsCorrupt(res.Stop), res.Cut())
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data[:res.ValidEnd]) {
			t.Fatalf("recovered file (%d bytes) is not the input's first %d bytes", len(got), res.ValidEnd)
		}

		// Every batch of the recovered file validates, offsets increase
		// from the base, and the scan's summary matches.
		next, batches, maxTs, maxTsOff := int64(base), 0, int64(-1), int64(-1)
		for rest := got; len(rest) > 0; batches++ {
			h, err := batch.Validate(rest)
			if err != nil {
				t.Fatalf("batch %d at %d: %v", batches, len(got)-len(rest), err)
			}
			if h.BaseOffset < next || h.NextOffset() <= h.BaseOffset {
				t.Fatalf("batch %d offsets %d..%d after next offset %d", batches, h.BaseOffset, h.LastOffset(), next)
			}
			next = h.NextOffset()
			if h.MaxTimestamp > maxTs {
				maxTs, maxTsOff = h.MaxTimestamp, h.LastOffset()
			}
			rest = rest[h.Size():]
		}
		if batches != res.Batches || (batches > 0 && next != res.NextOffset) || maxTs != res.MaxTimestamp || maxTsOff != res.MaxTimestampOffset {
			t.Fatalf("walked %d batches to %d (max ts %d at %d); Recover reported %+v", batches, next, maxTs, maxTsOff, res)
		}

		// A second scan accepts the recovered file whole.
		s2, err := Open(vfs.OS, path, base, false, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		res2, err := s2.Scan(0, ScanOptions{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res2.Stop != nil || res2.ZeroTail || res2.ValidEnd != s2.Size() || res2.ValidEnd != res.ValidEnd ||
			res2.Batches != res.Batches || res2.NextOffset != res.NextOffset {
			t.Fatalf("rescan: %+v\nrecover: %+v", res2, res)
		}
	})
}
