package storagebench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/weirhq/weir/internal/batchgen"
	"github.com/weirhq/weir/internal/vfs"
	"github.com/weirhq/weir/log"
	"golang.org/x/sys/unix"
)

// runAppend measures Append and AppendValidated without fsync against
// pwrite(2), for each batch size.
func (r *runner) runAppend(ctx context.Context) error {
	for _, size := range r.o.Sizes {
		if err := r.appendSize(ctx, size); err != nil {
			return err
		}
	}
	return nil
}

// Subjects of the append benchmark.
const (
	appendLog = iota
	appendValidated
	appendWrite
	appendSubjects
)

// appendSize measures one batch size. The log (a 1 GiB segment that never
// fsyncs: FlushInterval of an hour, no FlushMaxBytes trigger) and the
// reference file each get a region of Bytes (whole batches), written once
// untimed. A timed pass of the log appends batches after the first until
// the region is full; then, untimed, TruncateTo cuts the log back to its
// first batch in place (zeroing the rest of the region and fsyncing it),
// so that every timed write lands in page cache that is resident and
// clean. A pass of the reference pwrites the region from its start, and
// is followed, untimed, by an fdatasync.
func (r *runner) appendSize(ctx context.Context, size int) (err error) {
	sz := "size=" + sizeName(int64(size))
	per := int(r.o.Bytes / int64(size))
	region := int64(per) * int64(size)
	if !r.fits("append "+sz, 2*region+64<<20) {
		return nil
	}
	buf, err := batchgen.Sized(size)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(r.work, "append-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()

	fs := vfs.NewCountingFS(vfs.OS)
	l, err := log.Open(filepath.Join(dir, "log"), &log.Options{
		SegmentBytes:  max(log.DefaultSegmentBytes, region+2*int64(size)),
		MaxBatchBytes: max(log.DefaultMaxBatchBytes, size),
		FlushPolicy:   log.FlushInterval,
		FlushInterval: time.Hour,
		FlushMaxBytes: math.MaxInt64,
		Logger:        quietLogger(),
		FS:            fs,
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, l.Close()) }()
	ref, err := newRefWriter(filepath.Join(dir, "ref.write"), region)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, ref.close()) }()

	records := recordsIn(buf)
	reset := func() error {
		if err := l.TruncateTo(records); err != nil {
			return err
		}
		if l.EndOffset() != records || l.Size() != int64(size) || l.NumSegments() != 1 {
			return fmt.Errorf("TruncateTo(%d) did not truncate in place: end offset %d, size %d, %d segments",
				records, l.EndOffset(), l.Size(), l.NumSegments())
		}
		return nil
	}
	err = r.phase(ctx, "append "+sz+" warm-up", func(ctx context.Context, done *atomic.Bool) error {
		for i := range per {
			if i&63 == 0 && done.Load() {
				return errStopped
			}
			if _, err := l.Append(buf); err != nil {
				return err
			}
		}
		if err := reset(); err != nil {
			return err
		}
		if err := ref.pass(buf, per, done); err != nil {
			return err
		}
		return ref.sync()
	})
	if err != nil {
		return err
	}

	var vals [appendSubjects][]float64
	var timedSyncs int64
	names := [appendSubjects]string{"Append", "AppendValidated", "pwrite"}
	err = r.alternate(ctx, appendSubjects, func(ctx context.Context, round, s int) error {
		return r.phase(ctx, fmt.Sprintf("append %s round %d", sz, round+1), func(ctx context.Context, done *atomic.Bool) error {
			var n int64
			var elapsed time.Duration
			if s == appendWrite {
				t0 := time.Now()
				if err := ref.pass(buf, per, done); err != nil {
					return err
				}
				elapsed, n = time.Since(t0), region
				if err := ref.sync(); err != nil {
					return err
				}
			} else {
				fn := l.Append
				if s == appendValidated {
					fn = l.AppendValidated
				}
				s0 := fs.Syncs()
				t0 := time.Now()
				for i := 1; i < per; i++ { // the first batch stays
					if i&255 == 0 && done.Load() {
						return errStopped
					}
					if _, err := fn(buf); err != nil {
						return err
					}
				}
				elapsed, n = time.Since(t0), int64(per-1)*int64(size)
				timedSyncs += fs.Syncs() - s0
				if err := reset(); err != nil {
					return err
				}
			}
			v := float64(n) / elapsed.Seconds() / 1e6
			vals[s] = append(vals[s], v)
			r.logf("append %s round %d: %s %.0f MB/s", sz, round+1, names[s], v)
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, s := range []int{appendLog, appendValidated} {
		r.add(Result{
			Name:      NameAppend,
			Params:    sz + " api=" + names[s],
			Value:     median(vals[s]),
			Unit:      "MB/s",
			Reference: median(vals[appendWrite]),
			RefName:   "pwrite(2) to a preallocated file",
			Ratio:     median(ratios(vals[s], vals[appendWrite], false)),
			Extra:     map[string]float64{"timed fsyncs": float64(timedSyncs)},
			Rounds:    len(vals[s]),
		})
	}
	return nil
}

// refWriter is the append reference: pwrite(2) (os.File.WriteAt, through
// the same os/internal/poll path as the log's files) of whole batches to a
// file preallocated with fallocate.
type refWriter struct {
	f *os.File
}

func newRefWriter(path string, size int64) (*refWriter, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		f.Close()
		return nil, fmt.Errorf("fallocate %s: %w", path, err)
	}
	return &refWriter{f: f}, nil
}

// pass writes buf n times from the start of the file.
func (w *refWriter) pass(buf []byte, n int, done *atomic.Bool) error {
	var pos int64
	for i := range n {
		if i&255 == 0 && done.Load() {
			return errStopped
		}
		if _, err := w.f.WriteAt(buf, pos); err != nil {
			return err
		}
		pos += int64(len(buf))
	}
	return nil
}

// sync fdatasyncs the file.
func (w *refWriter) sync() error { return unix.Fdatasync(int(w.f.Fd())) }

func (w *refWriter) close() error { return w.f.Close() }
