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
	"github.com/weirhq/weir/log"
)

const (
	// fixtureBatch is the batch size of the read/open log.
	fixtureBatch = 16 << 10
	// readView is the maxBytes of each Read, and the chunk of the
	// in-memory reference loop.
	readView = 1 << 20
	// Open samples repeat at least minOpenReps and at most maxOpenReps
	// times.
	minOpenReps = 3
	maxOpenReps = 1000
)

// fixtureOptions are the options the read/open log is written and opened
// with: it never fsyncs while written (Close does).
func fixtureOptions() *log.Options {
	return &log.Options{
		FlushPolicy:   log.FlushInterval,
		FlushInterval: time.Hour,
		FlushMaxBytes: math.MaxInt64,
		Logger:        quietLogger(),
	}
}

// buildFixture writes, once, the cleanly closed log of ReadBytes (whole
// 16 KiB batches) that read and open share. It reports false, with a
// note, when the log does not fit the free space.
func (r *runner) buildFixture(ctx context.Context) (bool, error) {
	if r.fixture != "" {
		return true, nil
	}
	n := r.o.ReadBytes / fixtureBatch
	size := n * fixtureBatch
	if !r.fits("read and open", size+64<<20) {
		return false, nil
	}
	buf, err := batchgen.Sized(fixtureBatch)
	if err != nil {
		return false, err
	}
	dir := filepath.Join(r.work, "fixture")
	start := time.Now()
	var end int64
	err = r.phase(ctx, "building the "+sizeName(r.o.ReadBytes)+" log", func(ctx context.Context, done *atomic.Bool) (err error) {
		l, err := log.Open(dir, fixtureOptions())
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, l.Close()) }()
		for i := range n {
			if i&63 == 0 && done.Load() {
				return errStopped
			}
			if _, err := l.Append(buf); err != nil {
				return err
			}
		}
		end = l.EndOffset()
		return nil
	})
	if err != nil {
		return false, err
	}
	r.fixture, r.fixtureBytes, r.fixtureEnd = dir, size, end
	r.logf("built the %s log (%d batches) in %v", sizeName(r.o.ReadBytes), n, time.Since(start).Round(time.Millisecond))
	return true, nil
}

// readAllViews reads l from start to end in views of readView bytes
// through the public API and touches every byte; each view's whole
// batches are also passed to keep, if not nil.
func readAllViews(l *log.Log, done *atomic.Bool, keep func([]byte)) (x uint64, n int64, err error) {
	off, end := l.StartOffset(), l.EndOffset()
	for off < end {
		if done.Load() {
			return x, n, errStopped
		}
		v, err := l.Read(off, readView)
		if err != nil {
			return x, n, err
		}
		data, next, err := v.Batches()
		if err != nil {
			v.Release()
			return x, n, err
		}
		x ^= xorWords(data)
		n += int64(len(data))
		if keep != nil {
			keep(data)
		}
		v.Release()
		if next <= off {
			return x, n, fmt.Errorf("read at offset %d made no progress", off)
		}
		off = next
	}
	return x, n, nil
}

// readAllSlice is the same loop over an in-memory copy, in chunks of
// readView bytes.
func readAllSlice(mem []byte, done *atomic.Bool) (uint64, error) {
	var x uint64
	for p := 0; p < len(mem); p += readView {
		if done.Load() {
			return x, errStopped
		}
		x ^= xorWords(mem[p:min(p+readView, len(mem))])
	}
	return x, nil
}

// runRead measures reading the cached log end to end against the same
// loop over an in-memory copy of its bytes.
func (r *runner) runRead(ctx context.Context) (err error) {
	ok, err := r.buildFixture(ctx)
	if !ok || err != nil {
		return err
	}
	l, err := log.Open(r.fixture, fixtureOptions())
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, l.Close()) }()

	// Warm: map the segment, fault its pages in, and copy its bytes.
	mem := make([]byte, 0, r.fixtureBytes)
	var want uint64
	err = r.phase(ctx, "read warm-up", func(ctx context.Context, done *atomic.Bool) error {
		x, n, err := readAllViews(l, done, func(b []byte) { mem = append(mem, b...) })
		if err != nil {
			return err
		}
		if n != r.fixtureBytes {
			return fmt.Errorf("read %d bytes of the log, want %d", n, r.fixtureBytes)
		}
		want = x
		return nil
	})
	if err != nil {
		return err
	}

	var vals [2][]float64 // 0: log, 1: memory
	minTime := r.o.Duration / 2
	err = r.alternate(ctx, 2, func(ctx context.Context, round, s int) error {
		return r.phase(ctx, fmt.Sprintf("read round %d", round+1), func(ctx context.Context, done *atomic.Bool) error {
			var bytes int64
			t0 := time.Now()
			for bytes == 0 || time.Since(t0) < minTime {
				var x uint64
				var err error
				if s == 0 {
					x, _, err = readAllViews(l, done, nil)
				} else {
					x, err = readAllSlice(mem, done)
				}
				if err != nil {
					return err
				}
				if x != want {
					return fmt.Errorf("checksum %#x of a pass differs from the first pass's %#x", x, want)
				}
				bytes += r.fixtureBytes
			}
			v := float64(bytes) / time.Since(t0).Seconds() / 1e9
			vals[s] = append(vals[s], v)
			r.logf("read round %d: %s %.2f GB/s", round+1, [2]string{"log", "memory"}[s], v)
			return nil
		})
	})
	if err != nil {
		return err
	}
	r.add(Result{
		Name:      NameRead,
		Params:    fmt.Sprintf("log=%s batch=%s view=%s", sizeName(r.o.ReadBytes), sizeName(fixtureBatch), sizeName(readView)),
		Value:     median(vals[0]),
		Unit:      "GB/s",
		Reference: median(vals[1]),
		RefName:   "the same loop over a []byte copy",
		Ratio:     median(ratios(vals[0], vals[1], false)),
		Rounds:    len(vals[0]),
	})
	return nil
}

// runOpen measures Open of the cleanly closed log against the system-call
// floor of opening it.
func (r *runner) runOpen(ctx context.Context) error {
	ok, err := r.buildFixture(ctx)
	if !ok || err != nil {
		return err
	}
	var vals [2][]float64 // ms; 0: log, 1: floor
	minTime := r.o.Duration / 2
	err = r.alternate(ctx, 2, func(ctx context.Context, round, s int) error {
		return r.phase(ctx, fmt.Sprintf("open round %d", round+1), func(ctx context.Context, done *atomic.Bool) error {
			// Fault the files into the page cache first: a file
			// system may have evicted pages idle for a while.
			if err := warmDir(r.fixture, done); err != nil {
				return err
			}
			var reps []float64
			start := time.Now()
			for len(reps) < minOpenReps || len(reps) < maxOpenReps && time.Since(start) < minTime {
				if done.Load() {
					return errStopped
				}
				var d time.Duration
				var err error
				if s == 0 {
					d, err = r.openLog()
				} else {
					d, err = openFloor(r.fixture)
				}
				if err != nil {
					return err
				}
				reps = append(reps, float64(d)/1e6)
			}
			v := median(reps)
			vals[s] = append(vals[s], v)
			r.logf("open round %d: %s %.3f ms (median of %d)", round+1, [2]string{"log", "floor"}[s], v, len(reps))
			return nil
		})
	})
	if err != nil {
		return err
	}
	r.add(Result{
		Name:      NameOpen,
		Params:    fmt.Sprintf("log=%s state=clean", sizeName(r.o.ReadBytes)),
		Value:     median(vals[0]),
		Unit:      "ms",
		Reference: median(vals[1]),
		RefName:   "ReadDir + open/fstat/close of each file + reading the checkpoint",
		Ratio:     median(ratios(vals[0], vals[1], true)),
		Rounds:    len(vals[0]),
	})
	return nil
}

// openLog times one Open of the fixture; the Close that follows is not
// timed.
func (r *runner) openLog() (time.Duration, error) {
	t0 := time.Now()
	l, err := log.Open(r.fixture, fixtureOptions())
	d := time.Since(t0)
	if err != nil {
		return 0, err
	}
	end := l.EndOffset()
	if err := l.Close(); err != nil {
		return 0, err
	}
	if end != r.fixtureEnd {
		return 0, fmt.Errorf("end offset %d after open, want %d", end, r.fixtureEnd)
	}
	return d, nil
}

// openFloor times the system calls any open of the log needs: list the
// directory, open and stat each file, read the checkpoint.
func openFloor(dir string) (time.Duration, error) {
	t0 := time.Now()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return 0, err
		}
		_, err = f.Stat()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return 0, err
		}
	}
	if _, err := os.ReadFile(filepath.Join(dir, log.CheckpointFile)); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// warmDir reads every file in dir once.
func warmDir(dir string, done *atomic.Bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		for off := int64(0); ; off += int64(len(buf)) {
			if done.Load() {
				f.Close()
				return errStopped
			}
			n, err := f.ReadAt(buf, off)
			if n < len(buf) || err != nil {
				break
			}
		}
		f.Close()
	}
	return nil
}
