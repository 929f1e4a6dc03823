package log

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/internal/vfs"
)

// This file holds the model-based property test of the partition log and
// the helpers shared by the other robustness tests of this package
// (crash_test.go, powerloss_test.go, faults_test.go, corrupt_test.go,
// badinput_test.go).

// longTests reports whether the long loops were asked for (make test-long).
func longTests() bool { return os.Getenv("WEIR_LONG") != "" }

// mrec is one record as the model knows it.
type mrec struct {
	off      int64
	ts       int64
	key, val []byte
}

// mbatch is one batch as the model knows it: the exact bytes Append wrote
// (after it patched the base offset) and the records put into it.
type mbatch struct {
	base int64
	data []byte
	recs []mrec
}

func (b *mbatch) last() int64 { return b.base + int64(len(b.recs)) - 1 }

// gotBatch is one batch read back from a log.
type gotBatch struct {
	base int64
	data []byte // a copy
}

// scanLog reads the whole log from its start offset through Read and
// View.Batches and returns its batches. It checks the invariants every read
// must keep: the first batch of a view holds the offset read, a view read
// with a large maxBytes ends exactly at a batch boundary (no partial or
// garbage bytes), every batch validates (length, magic, CRC), batches are
// contiguous (each starts at the previous one's next offset), and the last
// one ends at the end offset.
func scanLog(l *Log) ([]gotBatch, error) {
	start, end := l.StartOffset(), l.EndOffset()
	var out []gotBatch
	off := start
	next := int64(-1) // next offset expected, -1 before the first batch
	for off < end {
		v, err := l.Read(off, 1<<30)
		if err != nil {
			return out, fmt.Errorf("read %d (log [%d, %d)): %w", off, start, end, err)
		}
		all, err := v.Bytes()
		if err != nil {
			v.Release()
			return out, fmt.Errorf("read %d: bytes: %w", off, err)
		}
		whole, after, err := v.Batches()
		if err != nil {
			v.Release()
			return out, fmt.Errorf("read %d: batches: %w", off, err)
		}
		if len(whole) == 0 {
			v.Release()
			return out, fmt.Errorf("read %d (log [%d, %d)): empty view (len %d)", off, start, end, v.Len())
		}
		if len(whole) != len(all) {
			v.Release()
			return out, fmt.Errorf("read %d: view of %d bytes holds only %d bytes of whole batches", off, len(all), len(whole))
		}
		if v.BaseOffset() > off {
			v.Release()
			return out, fmt.Errorf("read %d: view base offset %d above the offset read", off, v.BaseOffset())
		}
		first := true
		for p := 0; p < len(whole); {
			h, err := batch.Validate(whole[p:])
			if err != nil {
				v.Release()
				return out, fmt.Errorf("read %d: batch at view byte %d: %w", off, p, err)
			}
			if first {
				if h.BaseOffset > off || h.LastOffset() < off {
					v.Release()
					return out, fmt.Errorf("read %d: first batch [%d, %d] does not hold it", off, h.BaseOffset, h.LastOffset())
				}
				if h.BaseOffset != v.BaseOffset() {
					v.Release()
					return out, fmt.Errorf("read %d: View.BaseOffset %d, first batch %d", off, v.BaseOffset(), h.BaseOffset)
				}
				first = false
			}
			if next >= 0 && h.BaseOffset != next {
				v.Release()
				return out, fmt.Errorf("batch at %d follows a batch ending before %d: gap or overlap", h.BaseOffset, next)
			}
			out = append(out, gotBatch{base: h.BaseOffset, data: bytes.Clone(whole[p : p+h.Size()])})
			next = h.NextOffset()
			p += h.Size()
		}
		v.Release()
		if after != next {
			return out, fmt.Errorf("read %d: Batches returned next offset %d, batches end at %d", off, after, next)
		}
		off = after
	}
	if off != end {
		return out, fmt.Errorf("log batches end at %d, EndOffset %d", off, end)
	}
	return out, nil
}

// records decodes every record of the batch in b with batch.Iter.
func records(b []byte) ([]mrec, error) {
	var it batch.Iter
	if err := it.Reset(b); err != nil {
		return nil, err
	}
	var out []mrec
	var r batch.Record
	for it.Next(&r) {
		out = append(out, mrec{off: r.Offset, ts: r.Timestamp, key: bytes.Clone(r.Key), val: bytes.Clone(r.Value)})
	}
	return out, it.Err()
}

// abandon simulates a process that died without closing l: its private
// flusher is stopped so that nothing more happens in the background, and
// its files and mappings are left open, as a killed process leaves them for
// the kernel.
func abandon(l *Log) {
	if l.ownFlusher {
		l.fl.Close()
	}
}

// model is the in-memory model of a log.
type model struct {
	start, end int64
	batches    []mbatch // every batch with an offset >= start, in order
}

func (m *model) append(bs []mbatch) {
	m.batches = append(m.batches, bs...)
	m.end = bs[len(bs)-1].last() + 1
}

// truncateTo is TruncateTo as documented: every batch whose last offset is
// >= x goes; below the start offset, the log restarts empty at x.
func (m *model) truncateTo(x int64) {
	if x >= m.end {
		return
	}
	if x <= m.start {
		m.batches = nil
		m.start, m.end = x, x
		return
	}
	i := slices.IndexFunc(m.batches, func(b mbatch) bool { return b.last() >= x })
	newEnd := m.batches[i].base
	m.batches = m.batches[:i]
	if newEnd < m.start {
		// The batch holding x also holds the start offset: everything
		// readable is gone, and the log is empty at its start offset.
		newEnd = m.start
	}
	m.end = newEnd
}

func (m *model) deleteBefore(x int64) {
	if x <= m.start {
		return
	}
	m.start = x
	i := 0
	for i < len(m.batches) && m.batches[i].last() < x {
		i++
	}
	m.batches = m.batches[i:]
}

// firstAtOrAfter returns the first record (in offset order, at or after the
// start offset) with a timestamp >= ts.
func (m *model) firstAtOrAfter(ts int64) (mrec, bool) {
	for _, b := range m.batches {
		for _, r := range b.recs {
			if r.off >= m.start && r.ts >= ts {
				return r, true
			}
		}
	}
	return mrec{}, false
}

// batchOf returns the batch holding offset off.
func (m *model) batchOf(off int64) *mbatch {
	for i := range m.batches {
		if m.batches[i].base <= off && off <= m.batches[i].last() {
			return &m.batches[i]
		}
	}
	return nil
}

var codecs = []batch.Compression{batch.None, batch.Gzip, batch.Snappy, batch.LZ4, batch.Zstd}

// modelRun is one seeded run of the model test.
type modelRun struct {
	t    *testing.T
	seed uint64
	rng  *rand.Rand
	dir  string
	opts Options
	l    *Log
	m    model
	ts   int64    // timestamp clock for new records
	ops  []string // history, for failure reports

	// With crash set, the log runs on it (through kfs), and an unclean
	// reopen is a power loss: kill the process's file access, Crash,
	// reopen under a new boot id.
	crash *vfs.CrashFS
	kfs   *killFS
	boots int
}

func (r *modelRun) fatalf(format string, args ...any) {
	r.t.Helper()
	hist := r.ops
	if len(hist) > 25 {
		hist = hist[len(hist)-25:]
	}
	r.t.Fatalf("seed %d, op %d: %s\nlast ops:\n  %s", r.seed, len(r.ops), fmt.Sprintf(format, args...), strings.Join(hist, "\n  "))
}

func (r *modelRun) op(format string, args ...any) {
	r.ops = append(r.ops, fmt.Sprintf(format, args...))
}

// randomOptions picks small segments and index intervals so that rolls,
// index entries and multi-segment reads are frequent.
func (r *modelRun) randomOptions() Options {
	o := Options{
		SegmentBytes:       int64(2048 + r.rng.IntN(6*1024)),
		IndexIntervalBytes: []int64{64, 128, 128, 512}[r.rng.IntN(4)],
		MaxIndexBytes:      4096,
		RetentionBytes:     []int64{-1, -1, 4096, 16384, 65536}[r.rng.IntN(5)],
		RetentionMs:        -1,
		NoPreallocate:      r.rng.IntN(4) == 0,
		Logger:             quietLogger,
	}
	return o
}

func (r *modelRun) open() {
	r.t.Helper()
	if r.crash != nil {
		r.kfs = &killFS{under: r.crash}
		r.opts.FS = r.kfs
		boot := fmt.Sprintf("power-boot-%d", r.boots)
		r.opts.BootID = func() string { return boot }
	}
	l, err := Open(r.dir, &r.opts)
	if err != nil {
		r.fatalf("open: %v", err)
	}
	r.l = l
}

// newBatches builds 1..5 batches of random records, some compressed.
func (r *modelRun) newBatches() ([]byte, []mbatch) {
	var buf []byte
	var bs []mbatch
	next := r.m.end
	for range 1 + r.rng.IntN(5) {
		bo := batch.BuilderOptions{}
		if r.rng.IntN(2) == 0 {
			bo.Compression = codecs[1+r.rng.IntN(len(codecs)-1)]
		}
		bld, err := batch.NewBuilder(&bo)
		if err != nil {
			r.fatalf("builder: %v", err)
		}
		mb := mbatch{base: next}
		n := 1 + r.rng.IntN(20)
		if r.rng.IntN(10) == 0 {
			n = 1 + r.rng.IntN(200)
		}
		for i := range n {
			r.ts += int64(r.rng.IntN(4))
			ts := r.ts + int64(r.rng.IntN(41)) - 20 // not monotonic
			key := []byte(fmt.Sprintf("key-%d", next+int64(i)))
			var val []byte
			switch size := r.rng.IntN(200); r.rng.IntN(3) {
			case 0:
				val = bytes.Repeat([]byte{byte('a' + i%26)}, size)
			default:
				val = make([]byte, size)
				for j := range val {
					val[j] = byte(r.rng.Uint32())
				}
			}
			if err := bld.Append(key, val, nil, ts); err != nil {
				r.fatalf("builder append: %v", err)
			}
			mb.recs = append(mb.recs, mrec{off: next + int64(i), ts: ts, key: key, val: val})
		}
		start := len(buf)
		buf = bld.AppendTo(buf)
		mb.data = buf[start:len(buf):len(buf)] // re-sliced below: buf may still move
		bs = append(bs, mb)
		next += int64(n)
	}
	// Slice the final buffer, which Append patches in place: the model
	// keeps the bytes exactly as written.
	p := 0
	for i := range bs {
		n := len(bs[i].data)
		bs[i].data = buf[p : p+n : p+n]
		p += n
	}
	return buf, bs
}

// check compares the log with the model: offsets, every batch byte for byte
// and record by record, reads at random offsets, and OffsetForTimestamp.
func (r *modelRun) check() {
	r.t.Helper()
	l, m := r.l, &r.m
	if s, e := l.StartOffset(), l.EndOffset(); s != m.start || e != m.end {
		r.fatalf("offsets: log [%d, %d), model [%d, %d)", s, e, m.start, m.end)
	}
	got, err := scanLog(l)
	if err != nil {
		r.fatalf("scan: %v", err)
	}
	if len(got) != len(m.batches) {
		r.fatalf("log has %d batches, model %d", len(got), len(m.batches))
	}
	for i, g := range got {
		mb := &m.batches[i]
		if g.base != mb.base || !bytes.Equal(g.data, mb.data) {
			r.fatalf("batch %d: log base %d (%d bytes), model base %d (%d bytes); bytes differ", i, g.base, len(g.data), mb.base, len(mb.data))
		}
		recs, err := records(g.data)
		if err != nil {
			r.fatalf("batch %d at %d: iter: %v", i, g.base, err)
		}
		if len(recs) != len(mb.recs) {
			r.fatalf("batch at %d: %d records, model %d", g.base, len(recs), len(mb.recs))
		}
		for j, rec := range recs {
			w := mb.recs[j]
			if rec.off != w.off || rec.ts != w.ts || !bytes.Equal(rec.key, w.key) || !bytes.Equal(rec.val, w.val) {
				r.fatalf("record %d: got off %d ts %d key %q, model off %d ts %d key %q", w.off, rec.off, rec.ts, rec.key, w.off, w.ts, w.key)
			}
		}
	}
	// Reads at random offsets, with a tiny and a large maxBytes.
	for range 4 {
		if m.end == m.start {
			break
		}
		off := m.start + r.rng.Int64N(m.end-m.start)
		want := m.batchOf(off)
		maxBytes := 1
		if r.rng.IntN(2) == 0 {
			maxBytes = 1 + r.rng.IntN(4096)
		}
		v, err := l.Read(off, maxBytes)
		if err != nil {
			r.fatalf("read %d: %v", off, err)
		}
		b, err := v.Bytes()
		if err != nil {
			r.fatalf("read %d: %v", off, err)
		}
		if v.Offset() != off || v.BaseOffset() != want.base || v.BaseOffset() > off {
			r.fatalf("read %d: view offset %d base %d, want base %d", off, v.Offset(), v.BaseOffset(), want.base)
		}
		if len(b) < len(want.data) || !bytes.Equal(b[:len(want.data)], want.data) {
			r.fatalf("read %d (maxBytes %d): view of %d bytes does not start with the whole %d-byte batch at %d", off, maxBytes, len(b), len(want.data), want.base)
		}
		if maxBytes <= len(want.data) && len(b) != len(want.data) {
			r.fatalf("read %d (maxBytes %d): view of %d bytes, want exactly the first batch (%d)", off, maxBytes, len(b), len(want.data))
		}
		v.Release()
	}
	// OffsetForTimestamp against the model.
	for range 4 {
		ts := tsBase - 40 + r.rng.Int64N(r.ts-tsBase+80)
		if r.rng.IntN(2) == 0 {
			ts = r.ts - r.rng.Int64N(200) // recent
		}
		off, rts, found, err := l.OffsetForTimestamp(ts)
		if err != nil {
			r.fatalf("offset for timestamp %d: %v", ts, err)
		}
		want, ok := m.firstAtOrAfter(ts)
		if found != ok || (ok && (off != want.off || rts != want.ts)) {
			r.fatalf("offset for timestamp %d: got (%d, %d, %v), model (%d, %d, %v)", ts, off, rts, found, want.off, want.ts, ok)
		}
	}
}

const tsBase = 1_700_000_000_000

func runModel(t *testing.T, seed uint64, steps int) {
	runModelOn(t, seed, steps, nil)
}

// runModelOn runs the model test; crash, if not nil, is the file system
// and unclean reopens are power losses.
func runModelOn(t *testing.T, seed uint64, steps int, crash *vfs.CrashFS) {
	r := &modelRun{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x5eed)), dir: t.TempDir(), ts: tsBase, crash: crash}
	r.opts = r.randomOptions()
	r.open()
	defer func() {
		if r.l != nil {
			r.l.Close()
		}
	}()
	r.check()
	for step := 0; step < steps; step++ {
		l, m := r.l, &r.m
		switch p := r.rng.IntN(100); {
		case p < 50: // append
			buf, bs := r.newBatches()
			r.op("append %d batches at %d (%d bytes)", len(bs), m.end, len(buf))
			res, err := l.Append(buf)
			if err != nil {
				r.fatalf("append: %v", err)
			}
			if res.FirstOffset != m.end || res.LastOffset != bs[len(bs)-1].last() || res.Batches != len(bs) {
				r.fatalf("append result %+v, model first %d last %d batches %d", res, m.end, bs[len(bs)-1].last(), len(bs))
			}
			m.append(bs)
		case p < 57: // roll
			r.op("roll (segments %d)", l.NumSegments())
			if err := l.Roll(); err != nil {
				r.fatalf("roll: %v", err)
			}
		case p < 64: // clean reopen, maybe with other options
			if err := l.Close(); err != nil {
				r.fatalf("close: %v", err)
			}
			r.opts = r.randomOptions()
			r.op("reopen clean, options %+v", r.optsString())
			r.open()
		case p < 67: // unclean reopen after a sync
			if err := l.Sync(); err != nil {
				r.fatalf("sync: %v", err)
			}
			r.opts = r.randomOptions()
			if r.crash != nil {
				// Everything is durable: a power loss now must
				// lose nothing, and bring nothing back (truncated
				// data, deleted records).
				r.kfs.kill()
				if err := r.crash.Crash(); err != nil {
					r.fatalf("crash: %v", err)
				}
				abandon(l)
				r.boots++
				r.op("power loss after sync, options %+v", r.optsString())
				r.open()
				break
			}
			abandon(l)
			boot := "model-boot"
			if r.rng.IntN(2) == 0 {
				boot = fmt.Sprintf("model-boot-%d", step)
			}
			r.opts.BootID = func() string { return boot }
			r.op("reopen unclean after sync, boot %s, options %+v", boot, r.optsString())
			r.open()
		case p < 75: // truncate
			lo := max(m.start-5, 0)
			x := lo + r.rng.Int64N(m.end-lo+3)
			r.op("truncate to %d (log [%d, %d))", x, m.start, m.end)
			if err := l.TruncateTo(x); err != nil {
				r.fatalf("truncate to %d: %v", x, err)
			}
			m.truncateTo(x)
			if e := l.EndOffset(); e > x && x < m.end {
				r.fatalf("truncate to %d left end offset %d", x, e)
			}
		case p < 83: // delete records
			lo := max(m.start-3, 0)
			x := lo + r.rng.Int64N(m.end-lo+1)
			if r.rng.IntN(10) == 0 {
				x = m.end + 1 + r.rng.Int64N(3)
			}
			r.op("delete records before %d (log [%d, %d))", x, m.start, m.end)
			err := l.DeleteRecordsBefore(x)
			if x > m.end {
				if !errors.Is(err, ErrOffsetOutOfRange) {
					r.fatalf("delete records before %d past end %d: got %v, want ErrOffsetOutOfRange", x, m.end, err)
				}
				break
			}
			if err != nil {
				r.fatalf("delete records before %d: %v", x, err)
			}
			m.deleteBefore(x)
		case p < 91 && r.crash == nil: // retention
			// (Not with power losses: deleting whole segments is not
			// made durable, so a crash may bring them back, as in
			// Kafka.)
			// Predict Kafka's rule from the segment list: drop the oldest
			// segment while the log stays at or above RetentionBytes
			// without it; never the active one.
			segs := l.segments()
			newStart := m.start
			if rb := r.opts.RetentionBytes; rb >= 0 {
				var total int64
				for _, sg := range segs {
					total += sg.size.Load()
				}
				n := 0
				for n < len(segs)-1 && total-segs[n].size.Load() >= rb {
					total -= segs[n].size.Load()
					n++
				}
				if n > 0 {
					newStart = max(newStart, segs[n].base)
				}
			}
			r.op("apply retention (bytes %d, size %d, %d segments): start %d -> %d", r.opts.RetentionBytes, l.Size(), len(segs), m.start, newStart)
			if err := l.ApplyRetention(); err != nil {
				r.fatalf("retention: %v", err)
			}
			m.deleteBefore(newStart)
			if rb := r.opts.RetentionBytes; rb >= 0 && l.NumSegments() > 1 {
				first := l.segments()[0].size.Load()
				if l.Size()-first >= rb {
					r.fatalf("after retention the log is %d bytes, %d without its oldest segment, limit %d", l.Size(), l.Size()-first, rb)
				}
			}
		default: // sync
			r.op("sync")
			if err := l.Sync(); err != nil {
				r.fatalf("sync: %v", err)
			}
			if d := l.DurableOffset(); d != m.end {
				r.fatalf("durable offset %d after Sync, end %d", d, m.end)
			}
		}
		r.check()
	}
	if err := r.l.Close(); err != nil {
		r.fatalf("close: %v", err)
	}
	r.opts = r.randomOptions()
	r.open()
	r.check()
}

func (r *modelRun) optsString() string {
	o := r.opts
	return fmt.Sprintf("{SegmentBytes:%d IndexIntervalBytes:%d RetentionBytes:%d NoPreallocate:%v}",
		o.SegmentBytes, o.IndexIntervalBytes, o.RetentionBytes, o.NoPreallocate)
}

// TestModel runs random appends, rolls, clean and unclean reopens,
// truncations, DeleteRecordsBefore and retention against an in-memory model
// and compares everything readable after every step. Set WEIR_MODEL_SEED to
// replay one seed.
func TestModel(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 6}
	steps := 250
	if s := os.Getenv("WEIR_MODEL_SEED"); s != "" {
		var seed uint64
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("WEIR_MODEL_SEED: %v", err)
		}
		seeds = []uint64{seed}
	} else if longTests() {
		seeds = nil
		now := uint64(time.Now().UnixNano())
		for i := range uint64(40) {
			seeds = append(seeds, now+i)
		}
		steps = 600
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Logf("seed %d (replay with WEIR_MODEL_SEED=%d)", seed, seed)
			runModel(t, seed, steps)
		})
	}
}

// TestModelPowerLoss runs the model test on a CrashFS, where an unclean
// reopen (after a Sync) is a power loss: everything appended, truncated
// and deleted before the Sync must be exactly as the model says.
func TestModelPowerLoss(t *testing.T) {
	seeds := []uint64{101, 102, 103}
	if longTests() {
		seeds = nil
		now := uint64(time.Now().UnixNano())
		for i := range uint64(20) {
			seeds = append(seeds, now+i)
		}
	}
	for i, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Logf("seed %d", seed)
			crash := vfs.NewCrashFS(vfs.OS)
			if i%2 == 1 {
				crash.SetTornWrites(rand.New(rand.NewPCG(seed, 1)))
			}
			steps := 150
			if longTests() {
				steps = 500
			}
			runModelOn(t, seed, steps, crash)
		})
	}
}

// TestReadBounds is a table of reads at the edges of the log.
func TestReadBounds(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, &Options{SegmentBytes: 1024, IndexIntervalBytes: 128, MaxIndexBytes: 4096, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var sizes []int
	for i := range 30 {
		b := makeBatch(t, fmt.Sprint(i), 5, tsBase+int64(i*5))
		sizes = append(sizes, len(b))
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.DeleteRecordsBefore(12); err != nil {
		t.Fatal(err)
	}
	if l.NumSegments() < 2 {
		t.Fatalf("want several segments, got %d", l.NumSegments())
	}
	tests := []struct {
		name     string
		offset   int64
		maxBytes int
		wantErr  error
		empty    bool
		base     int64 // base offset of the first batch
		n        int   // expected view length, 0: don't check
	}{
		{name: "at end", offset: 150, maxBytes: 1 << 20, empty: true, base: 150},
		{name: "at end, zero maxBytes", offset: 150, maxBytes: 0, empty: true, base: 150},
		{name: "past end", offset: 151, maxBytes: 1 << 20, wantErr: ErrOffsetOutOfRange},
		{name: "far past end", offset: 1 << 40, maxBytes: 1 << 20, wantErr: ErrOffsetOutOfRange},
		{name: "below start", offset: 11, maxBytes: 1 << 20, wantErr: ErrOffsetOutOfRange},
		{name: "zero below start", offset: 0, maxBytes: 1 << 20, wantErr: ErrOffsetOutOfRange},
		{name: "negative", offset: -1, maxBytes: 1 << 20, wantErr: ErrOffsetOutOfRange},
		{name: "at start mid-batch", offset: 12, maxBytes: 1, base: 10, n: sizes[2]},
		{name: "maxBytes 1 gives whole first batch", offset: 100, maxBytes: 1, base: 100, n: sizes[20]},
		{name: "maxBytes 0 gives whole first batch", offset: 103, maxBytes: 0, base: 100, n: sizes[20]},
		{name: "maxBytes one short of the batch", offset: 104, maxBytes: sizes[20] - 1, base: 100, n: sizes[20]},
		{name: "last offset", offset: 149, maxBytes: 1 << 20, base: 145, n: sizes[29]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := l.Read(tc.offset, tc.maxBytes)
			defer v.Release()
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Read(%d): err %v, want %v", tc.offset, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read(%d): %v", tc.offset, err)
			}
			if v.Empty() != tc.empty {
				t.Fatalf("Read(%d): Empty %v, want %v (len %d)", tc.offset, v.Empty(), tc.empty, v.Len())
			}
			if tc.empty {
				b, next, err := v.Batches()
				if err != nil || len(b) != 0 || next != tc.offset || v.Len() != 0 {
					t.Fatalf("empty view: batches %d bytes, next %d, err %v, len %d", len(b), next, err, v.Len())
				}
				return
			}
			if v.BaseOffset() != tc.base || v.BaseOffset() > tc.offset {
				t.Fatalf("Read(%d): base %d, want %d", tc.offset, v.BaseOffset(), tc.base)
			}
			b, err := v.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if tc.n > 0 && len(b) != tc.n {
				t.Fatalf("Read(%d, %d): %d bytes, want %d", tc.offset, tc.maxBytes, len(b), tc.n)
			}
			whole, next, err := v.Batches()
			if err != nil || len(whole) == 0 {
				t.Fatalf("Read(%d): no whole batch (err %v)", tc.offset, err)
			}
			if h, err := batch.Validate(whole); err != nil || h.BaseOffset != tc.base || next <= tc.offset {
				t.Fatalf("Read(%d): first batch %+v err %v next %d", tc.offset, h, err, next)
			}
		})
	}
	// A read limited below the offset is empty, not an error.
	v, err := l.ReadUntil(120, 1<<20, 110)
	if err != nil || !v.Empty() {
		t.Fatalf("ReadUntil past the limit: empty %v err %v", v.Empty(), err)
	}
	v.Release()
}

// syncBuffer is a bytes.Buffer safe for concurrent use, to capture a
// log's slog output (the flusher logs from its own goroutines).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// TestConcurrentWriters runs appends with frequent rolls (each roll makes
// the flusher rewrite the checkpoint) against DeleteRecordsBefore and
// TruncateTo (which rewrite it too) and concurrent readers. No operation
// may fail, and after an unclean reopen the log start offset must be the
// last one set: a checkpoint written late must not bring back an older one.
func TestConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{SegmentBytes: 4096, IndexIntervalBytes: 256, MaxIndexBytes: 4096, NoPreallocate: true,
		RetentionMs: -1, Logger: quietLogger, BootID: func() string { return "b" }}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // appender
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				errs <- nil
				return
			default:
			}
			if _, err := l.Append(makeBatch(t, "c", 1+i%5, tsBase+int64(i))); err != nil {
				errs <- fmt.Errorf("append: %w", err)
				return
			}
			if i%4 == 0 {
				if err := l.Roll(); err != nil {
					errs <- fmt.Errorf("roll: %w", err)
					return
				}
			}
		}
	}()
	go func() { // reader
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			off := l.StartOffset()
			v, err := l.Read(off, 1<<16)
			if err != nil && !errors.Is(err, ErrOffsetOutOfRange) {
				errs <- fmt.Errorf("read %d: %w", off, err)
				return
			}
			if err == nil {
				_, _, err := v.Batches()
				v.Release()
				if err != nil {
					errs <- fmt.Errorf("read %d: %w", off, err)
					return
				}
			}
		}
	}()
	var lastStart int64
	deadline := time.Now().Add(400 * time.Millisecond)
	for i := 0; time.Now().Before(deadline); i++ {
		end := l.EndOffset()
		if i%50 == 49 {
			if err := l.TruncateTo(max(end-3, l.StartOffset()+1)); err != nil {
				t.Fatalf("truncate: %v", err)
			}
			continue
		}
		x := max(l.StartOffset(), end-20)
		if err := l.DeleteRecordsBefore(x); err != nil {
			t.Fatalf("delete records before %d: %v", x, err)
		}
		time.Sleep(200 * time.Microsecond)
	}
	close(stop)
	wg.Wait()
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	// Wait for the flush of the last roll (and its checkpoint), then set
	// the start once more and crash.
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	lastStart = l.EndOffset() - 1
	if err := l.DeleteRecordsBefore(lastStart); err != nil {
		t.Fatal(err)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(makeBatch(t, "z", 2, tsBase)); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // let a late checkpoint land
	if err := l.Err(); err != nil {
		t.Fatalf("log failed: %v", err)
	}
	end := l.EndOffset()
	abandon(l)
	l, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if s, e := l.StartOffset(), l.EndOffset(); s != lastStart || e != end {
		t.Fatalf("after unclean reopen: log [%d, %d), want [%d, %d)", s, e, lastStart, end)
	}
}
