package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/index"
	"github.com/weirhq/weir/internal/vfs"
	"github.com/weirhq/weir/segment"
)

// runDump implements "weir dump": the tool an operator reaches for when a
// log looks wrong. It never modifies files.
func runDump(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("dump", flag.ContinueOnError)
	fl.SetOutput(stderr)
	records := fl.Bool("records", false, "print every record (key, value, headers)")
	maxBatch := fl.Int("max-batch-bytes", 64<<20, "batches larger than this are reported as corrupt")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: weir dump [flags] PATH\n\nPATH is a segment (.log), an index (.index, .timeindex) or a partition directory.")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() != 1 {
		fl.Usage()
		return 2
	}
	d := &dumper{w: stdout, records: *records, maxBatch: *maxBatch}
	path := fl.Arg(0)
	info, err := os.Stat(path)
	if err != nil {
		fmt.Fprintf(stderr, "weir dump: %v\n", err)
		return 1
	}
	if info.IsDir() {
		err = d.dir(path)
	} else {
		err = d.file(path)
	}
	if err != nil {
		fmt.Fprintf(stderr, "weir dump: %v\n", err)
		return 1
	}
	if d.problems > 0 {
		fmt.Fprintf(stdout, "\n%d problem(s) found\n", d.problems)
		return 3
	}
	return 0
}

type dumper struct {
	w        io.Writer
	records  bool
	maxBatch int
	problems int
}

func (d *dumper) flag(format string, args ...any) {
	d.problems++
	fmt.Fprintf(d.w, "PROBLEM: "+format+"\n", args...)
}

func (d *dumper) dir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasSuffix(n, ".log") || strings.HasSuffix(n, ".index") || strings.HasSuffix(n, ".timeindex") {
			if err := d.file(filepath.Join(dir, n)); err != nil {
				return err
			}
			fmt.Fprintln(d.w)
		} else if n == "weir-log.checkpoint" {
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				return err
			}
			fmt.Fprintf(d.w, "Checkpoint %s:\n%s\n", n, indent(string(b)))
		}
	}
	return nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

func baseOf(path string) (int64, error) {
	name := filepath.Base(path)
	stem := name
	if i := strings.IndexByte(name, '.'); i >= 0 {
		stem = name[:i]
	}
	base, ok := segment.ParseName(stem + segment.Suffix)
	if !ok {
		return 0, fmt.Errorf("%s: file name is not a 20-digit base offset", name)
	}
	return base, nil
}

func (d *dumper) file(path string) error {
	base, err := baseOf(path)
	if err != nil {
		return err
	}
	switch {
	case strings.HasSuffix(path, ".log"):
		return d.segment(path, base)
	case strings.HasSuffix(path, ".timeindex"):
		return d.timeIndex(path, base)
	case strings.HasSuffix(path, ".index"):
		return d.offsetIndex(path, base)
	}
	return fmt.Errorf("%s: not a .log, .index or .timeindex file", path)
}

func (d *dumper) segment(path string, base int64) error {
	s, err := segment.Open(vfs.OS, path, base, false, segment.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(d.w, "Segment %s (base offset %d, %d bytes)\n", path, base, s.Size())
	var it batch.Iter
	var buf []byte
	res, err := s.Scan(0, segment.ScanOptions{MaxBatchBytes: d.maxBatch}, func(pos int64, h *batch.Header) error {
		fmt.Fprintf(d.w, "batch pos=%d base=%d last=%d count=%d size=%d crc=%08x valid magic=%d compression=%s "+
			"first_ts=%s max_ts=%s ts_type=%s producer_id=%d epoch=%d seq=%d leader_epoch=%d txn=%t control=%t\n",
			pos, h.BaseOffset, h.LastOffset(), h.NumRecords, h.Size(), h.CRC, h.Magic, h.Compression(),
			fmtTs(h.BaseTimestamp), fmtTs(h.MaxTimestamp), tsType(h), h.ProducerID, h.ProducerEpoch, h.BaseSequence,
			h.PartitionLeaderEpoch, h.IsTransactional(), h.IsControl())
		if !d.records {
			return nil
		}
		buf = append(buf[:0], make([]byte, h.Size())...)
		if _, err := s.ReadAt(buf, pos); err != nil {
			return err
		}
		if err := it.Reset(buf); err != nil {
			d.flag("batch at %d: records: %v", pos, err)
			return nil
		}
		var r batch.Record
		for it.Next(&r) {
			fmt.Fprintf(d.w, "  offset=%d ts=%s key=%q value=%q", r.Offset, fmtTs(r.Timestamp), r.Key, r.Value)
			for _, hd := range r.Headers {
				fmt.Fprintf(d.w, " header[%q]=%q", hd.Key, hd.Value)
			}
			fmt.Fprintln(d.w)
		}
		if err := it.Err(); err != nil {
			d.flag("batch at %d: records: %v", pos, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(d.w, "%d valid batches, valid bytes [0, %d), next offset %d\n", res.Batches, res.ValidEnd, res.NextOffset)
	switch {
	case res.ValidEnd == res.FileSize:
	case res.ZeroTail:
		fmt.Fprintf(d.w, "zero-filled tail of %d bytes (preallocated space; recovery trims it, no data lost)\n", res.FileSize-res.ValidEnd)
	default:
		d.flag("recovery would cut %d bytes at position %d: %v", res.Cut(), res.ValidEnd, res.Stop)
	}
	return nil
}

func tsType(h *batch.Header) string {
	if h.IsLogAppendTime() {
		return "LogAppendTime"
	}
	return "CreateTime"
}

func fmtTs(ms int64) string {
	if ms < 0 {
		return fmt.Sprint(ms)
	}
	return fmt.Sprintf("%d(%s)", ms, time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z"))
}

// sibling opens the segment next to an index file, if present.
func sibling(path string, base int64) *segment.Segment {
	dir := filepath.Dir(path)
	s, err := segment.Open(vfs.OS, filepath.Join(dir, segment.FileName(base)), base, false, segment.Options{})
	if err != nil {
		return nil
	}
	return s
}

func (d *dumper) offsetIndex(path string, base int64) error {
	oi, err := index.OpenOffset(vfs.OS, path, base, 0, false)
	if err != nil {
		return err
	}
	defer oi.Close()
	s := sibling(path, base)
	if s != nil {
		defer s.Close()
	}
	fmt.Fprintf(d.w, "Offset index %s (base offset %d, %d entries)\n", path, base, oi.Len())
	prev := index.OffsetEntry{Offset: base - 1, Position: -1}
	for i := 0; i < oi.Len(); i++ {
		e := oi.Entry(i)
		fmt.Fprintf(d.w, "offset=%d position=%d\n", e.Offset, e.Position)
		if e.Offset <= prev.Offset || e.Position <= prev.Position {
			d.flag("index entry %d (%d, %d) does not follow (%d, %d); recovery rebuilds this index", i, e.Offset, e.Position, prev.Offset, prev.Position)
		}
		prev = e
		if s == nil {
			continue
		}
		h, err := s.Header(e.Position)
		switch {
		case err != nil:
			d.flag("index entry %d points at position %d: %v", i, e.Position, err)
		case h.LastOffset() != e.Offset:
			d.flag("index entry %d: batch at position %d has last offset %d, entry says %d", i, e.Position, h.LastOffset(), e.Offset)
		}
	}
	if s == nil {
		fmt.Fprintln(d.w, "(segment file not found; entries not checked against it)")
	}
	return nil
}

func (d *dumper) timeIndex(path string, base int64) error {
	ti, err := index.OpenTime(vfs.OS, path, base, 0, false)
	if err != nil {
		return err
	}
	defer ti.Close()
	fmt.Fprintf(d.w, "Time index %s (base offset %d, %d entries)\n", path, base, ti.Len())
	err = ti.Check(1 << 62)
	for i := 0; i < ti.Len(); i++ {
		e := ti.Entry(i)
		fmt.Fprintf(d.w, "timestamp=%s offset=%d\n", fmtTs(e.Timestamp), e.Offset)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		d.flag("%v; recovery rebuilds this index", err)
	}
	return nil
}
