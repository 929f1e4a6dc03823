package storagebench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirhq/weir/internal/batchgen"
	"github.com/weirhq/weir/internal/vfs"
	"github.com/weirhq/weir/log"
	"golang.org/x/sys/unix"
)

const (
	// durableSize is the batch size of the durable benchmarks.
	durableSize = 16 << 10
	// durableCap ends a durable sample early once this many bytes were
	// acknowledged, bounding the disk space a fast disk fills.
	durableCap = 1 << 30
	// manyLogsSegment and manyLogsIndex are the segment and index sizes
	// of many-logs: the segment is preallocated whole (PreallocateBytes
	// defaults to 16 MiB).
	manyLogsSegment = 16 << 20
	manyLogsIndex   = 128 << 10
)

// durableSample is one timed durable sample.
type durableSample struct {
	mbps    float64 // acknowledged MB/s
	fsyncs  float64 // fsyncs per second (file, directory and syncfs)
	perSync float64 // acknowledgements per fsync
}

// measureDurable times acknowledged durable appends: workers goroutines
// each call op(ctx, w) (append one batch of size bytes and wait until it
// is durable) in a loop. After a warm-up of min(200 ms, d/4) it counts the
// acknowledgements for d, or until durableCap bytes were acknowledged.
// syncs returns the running count of fsyncs.
func measureDurable(ctx context.Context, workers, size int, d time.Duration, syncs func() int64, op func(ctx context.Context, w int) error) (durableSample, error) {
	var acks atomic.Int64
	var stop atomic.Bool
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for !stop.Load() {
				if err := op(ctx, w); err != nil {
					errc <- err
					return
				}
				acks.Add(1)
			}
		})
	}
	halt := func() {
		stop.Store(true)
		wg.Wait()
	}
	// wait sleeps until deadline, returning early with an error from a
	// worker or the context, or when until reports true.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	wait := func(deadline time.Time, until func() bool) error {
		for time.Now().Before(deadline) && !until() {
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-tick.C:
			}
		}
		return nil
	}
	never := func() bool { return false }
	if err := wait(time.Now().Add(min(200*time.Millisecond, d/4)), never); err != nil {
		halt()
		return durableSample{}, err
	}
	a0, s0, t0 := acks.Load(), syncs(), time.Now()
	err := wait(t0.Add(d), func() bool { return (acks.Load()-a0)*int64(size) >= durableCap })
	a1, s1, elapsed := acks.Load(), syncs(), time.Since(t0)
	halt()
	if err != nil {
		return durableSample{}, err
	}
	select {
	case err := <-errc:
		return durableSample{}, err
	default:
	}
	n, ns := a1-a0, s1-s0
	if n == 0 {
		return durableSample{}, fmt.Errorf("no append became durable in %v", elapsed)
	}
	res := durableSample{
		mbps:   float64(n*int64(size)) / elapsed.Seconds() / 1e6,
		fsyncs: float64(ns) / elapsed.Seconds(),
	}
	if ns > 0 {
		res.perSync = float64(n) / float64(ns)
	}
	return res, nil
}

// makeBatches returns n batches of size bytes, one per appender: Append
// patches the base offset in place, so appenders cannot share one.
func makeBatches(n, size int) ([][]byte, error) {
	bufs := make([][]byte, n)
	for i := range bufs {
		b, err := batchgen.Sized(size)
		if err != nil {
			return nil, err
		}
		bufs[i] = b
	}
	return bufs, nil
}

// runGroupCommit measures durable appends with group commit against a
// pwrite + fdatasync loop with the same cadence, for each appender count.
func (r *runner) runGroupCommit(ctx context.Context) error {
	for _, workers := range r.o.GroupAppenders {
		if err := r.groupCommit(ctx, workers); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) groupCommit(ctx context.Context, workers int) error {
	params := fmt.Sprintf("appenders=%d size=%s max-delay=1ms", workers, sizeName(durableSize))
	if !r.fits("group-commit "+params, durableCap+64<<20) {
		return nil
	}
	bufs, err := makeBatches(workers, durableSize)
	if err != nil {
		return err
	}
	var opts log.Options
	opts.EnsureDefaults()
	step := opts.PreallocateBytes
	var vals [2][]durableSample // 0: log, 1: reference
	err = r.alternate(ctx, 2, func(ctx context.Context, round, s int) error {
		return r.phase(ctx, fmt.Sprintf("group-commit %s round %d", params, round+1), func(ctx context.Context, _ *atomic.Bool) (err error) {
			dir, err := os.MkdirTemp(r.work, "group-commit-")
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
			var res durableSample
			if s == 0 {
				res, err = groupCommitLog(ctx, dir, bufs, r.o.Duration)
			} else {
				res, err = groupCommitRef(ctx, dir, bufs, step, r.o.Duration)
			}
			if err != nil {
				return err
			}
			vals[s] = append(vals[s], res)
			r.logf("group-commit %s round %d: %s %.1f MB/s, %.0f fsyncs/s",
				params, round+1, [2]string{"log", "fdatasync"}[s], res.mbps, res.fsyncs)
			return nil
		})
	})
	if err != nil {
		return err
	}
	get := func(s []durableSample, f func(durableSample) float64) []float64 {
		out := make([]float64, len(s))
		for i := range s {
			out[i] = f(s[i])
		}
		return out
	}
	mbps := func(d durableSample) float64 { return d.mbps }
	fsyncs := func(d durableSample) float64 { return d.fsyncs }
	perSync := func(d durableSample) float64 { return d.perSync }
	r.add(Result{
		Name:      NameGroupCommit,
		Params:    params,
		Value:     median(get(vals[0], mbps)),
		Unit:      "MB/s",
		Reference: median(get(vals[1], mbps)),
		RefName:   "pwrite(2) + fdatasync(2) every ≤1 ms",
		Ratio:     median(ratios(get(vals[0], mbps), get(vals[1], mbps), false)),
		Extra: map[string]float64{
			"fsyncs/s":       median(get(vals[0], fsyncs)),
			"ref fsyncs/s":   median(get(vals[1], fsyncs)),
			"acks/fsync":     median(get(vals[0], perSync)),
			"ref acks/fsync": median(get(vals[1], perSync)),
		},
		Rounds: len(vals[0]),
	})
	return nil
}

// groupCommitLog is one sample of the engine: a fresh log with group
// commit (FlushMaxDelay 1 ms, its private flusher), len(bufs) appenders.
func groupCommitLog(ctx context.Context, dir string, bufs [][]byte, d time.Duration) (res durableSample, err error) {
	fs := vfs.NewCountingFS(vfs.OS)
	l, err := log.Open(filepath.Join(dir, "log"), &log.Options{
		FlushPolicy:   log.FlushGroup,
		FlushMaxDelay: time.Millisecond,
		Logger:        quietLogger(),
		FS:            fs,
	})
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, l.Close()) }()
	return measureDurable(ctx, len(bufs), durableSize, d, fs.Syncs, func(ctx context.Context, w int) error {
		res, err := l.Append(bufs[w])
		if err != nil {
			return err
		}
		return l.WaitDurable(ctx, res.LastOffset)
	})
}

// groupCommitRef is one sample of the reference.
func groupCommitRef(ctx context.Context, dir string, bufs [][]byte, step int64, d time.Duration) (res durableSample, err error) {
	g, err := newRefGroup(filepath.Join(dir, "ref.group"), step, time.Millisecond)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, g.close()) }()
	return measureDurable(ctx, len(bufs), durableSize, d, g.syncs.Load, func(ctx context.Context, w int) error {
		return g.writeWait(ctx, bufs[w])
	})
}

// refGroup is the group-commit reference: writers pwrite to the end of one
// file under a mutex and wait; a syncer fdatasyncs once the oldest unsynced
// write has waited delay (the log's FlushMaxDelay cadence, including writes
// that arrive during an fdatasync) and releases every writer it covers. The
// file reserves space with fallocate in steps of step bytes ahead of the
// writes, as a segment does.
type refGroup struct {
	f     *os.File
	delay time.Duration
	step  int64
	syncs atomic.Int64

	mu       sync.Mutex
	end      int64         // bytes written; guarded by mu
	reserved int64         // bytes fallocated; guarded by mu
	synced   int64         // bytes durable; guarded by mu
	dirtyAt  time.Time     // first unsynced write, zero if none; guarded by mu
	ch       chan struct{} // closed when synced advances; guarded by mu
	err      error         // sticky; guarded by mu

	wake chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

// errRefClosed is given to writers still waiting when the reference
// closes.
var errRefClosed = errors.New("storagebench: reference closed")

func newRefGroup(path string, step int64, delay time.Duration) (*refGroup, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	g := &refGroup{f: f, delay: delay, step: step, ch: make(chan struct{}), wake: make(chan struct{}, 1), done: make(chan struct{})}
	g.wg.Go(g.syncer)
	return g, nil
}

// writeWait appends p and waits until it is durable.
func (g *refGroup) writeWait(ctx context.Context, p []byte) error {
	g.mu.Lock()
	if g.err != nil {
		err := g.err
		g.mu.Unlock()
		return err
	}
	if end := g.end + int64(len(p)); end > g.reserved {
		n := max(end, g.reserved+g.step) - g.reserved
		if err := unix.Fallocate(int(g.f.Fd()), 0, g.reserved, n); err != nil {
			g.mu.Unlock()
			return err
		}
		g.reserved += n
	}
	if _, err := g.f.WriteAt(p, g.end); err != nil {
		g.mu.Unlock()
		return err
	}
	g.end += int64(len(p))
	target := g.end
	if g.dirtyAt.IsZero() {
		g.dirtyAt = time.Now()
		select {
		case g.wake <- struct{}{}:
		default:
		}
	}
	for g.synced < target && g.err == nil {
		ch := g.ch
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		g.mu.Lock()
	}
	err := g.err
	g.mu.Unlock()
	return err
}

func (g *refGroup) syncer() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		g.mu.Lock()
		at := g.dirtyAt
		g.mu.Unlock()
		if at.IsZero() {
			select {
			case <-g.wake:
				continue
			case <-g.done:
				return
			}
		}
		if d := time.Until(at.Add(g.delay)); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-g.done:
				return
			}
		}
		g.mu.Lock()
		snap := g.end
		g.dirtyAt = time.Time{}
		g.mu.Unlock()
		err := unix.Fdatasync(int(g.f.Fd()))
		g.syncs.Add(1)
		g.mu.Lock()
		if err != nil {
			g.err = err
		} else {
			g.synced = snap
		}
		close(g.ch)
		g.ch = make(chan struct{})
		g.mu.Unlock()
	}
}

func (g *refGroup) close() error {
	close(g.done)
	g.wg.Wait()
	g.mu.Lock()
	if g.err == nil {
		g.err = errRefClosed
	}
	close(g.ch)
	g.ch = make(chan struct{})
	g.mu.Unlock()
	return g.f.Close()
}

// runManyLogs measures group commit across many logs sharing one Flusher
// (the broker's case): a fixed pool of appenders appends 16 KiB batches
// round-robin across the logs, each waiting until durable. Every log
// count is one subject of each round; ratios are to the smallest count of
// the same round.
func (r *runner) runManyLogs(ctx context.Context) error {
	counts := slices.Clone(r.o.Logs)
	slices.Sort(counts)
	counts = slices.Compact(counts)
	perLog := int64(manyLogsSegment + manyLogsIndex*5/2)
	limit := fdLimit()
	var keep []int
	for _, n := range counts {
		what := fmt.Sprintf("many-logs logs=%d", n)
		// Three files per segment, a segment or two per log, plus
		// everything else the process has open.
		if need := int64(n)*6 + 256; need > limit {
			r.note("%s skipped: needs about %d open files, RLIMIT_NOFILE is %d", what, need, limit)
			continue
		}
		if !r.fits(what, int64(n)*perLog+durableCap) {
			continue
		}
		keep = append(keep, n)
	}
	if len(keep) == 0 {
		return nil
	}
	bufs, err := makeBatches(r.o.ManyLogsAppenders, durableSize)
	if err != nil {
		return err
	}
	vals := make([][]durableSample, len(keep))
	err = r.alternate(ctx, len(keep), func(ctx context.Context, round, s int) error {
		n := keep[s]
		return r.phase(ctx, fmt.Sprintf("many-logs logs=%d round %d", n, round+1), func(ctx context.Context, _ *atomic.Bool) (err error) {
			dir, err := os.MkdirTemp(r.work, "many-logs-")
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
			res, err := manyLogs(ctx, dir, n, bufs, r.o.Duration)
			if err != nil {
				return err
			}
			vals[s] = append(vals[s], res)
			r.logf("many-logs logs=%d round %d: %.1f MB/s, %.0f fsyncs/s", n, round+1, res.mbps, res.fsyncs)
			return nil
		})
	})
	if err != nil {
		return err
	}
	base := make([]float64, len(vals[0]))
	for i, v := range vals[0] {
		base[i] = v.mbps
	}
	for s, n := range keep {
		var mbps, fsyncs, perSync []float64
		for _, v := range vals[s] {
			mbps = append(mbps, v.mbps)
			fsyncs = append(fsyncs, v.fsyncs)
			perSync = append(perSync, v.perSync)
		}
		r.add(Result{
			Name:      NameManyLogs,
			Params:    fmt.Sprintf("logs=%d appenders=%d size=%s", n, r.o.ManyLogsAppenders, sizeName(durableSize)),
			Value:     median(mbps),
			Unit:      "MB/s",
			Reference: median(base),
			RefName:   fmt.Sprintf("logs=%d", keep[0]),
			Ratio:     median(ratios(mbps, base, false)),
			Extra: map[string]float64{
				"fsyncs/s":   median(fsyncs),
				"acks/fsync": median(perSync),
			},
			Rounds: len(mbps),
		})
	}
	return nil
}

// manyLogs is one many-logs sample: nlogs fresh logs in dir sharing one
// Flusher (default options: 64 workers, syncfs for 8 or more logs due
// together), each warmed by one durable append, then len(bufs) appenders.
func manyLogs(ctx context.Context, dir string, nlogs int, bufs [][]byte, d time.Duration) (res durableSample, err error) {
	fs := vfs.NewCountingFS(vfs.OS)
	fl := log.NewFlusher(log.FlusherOptions{})
	defer func() { err = errors.Join(err, fl.Close()) }()
	opts := &log.Options{
		SegmentBytes:  manyLogsSegment,
		MaxIndexBytes: manyLogsIndex,
		FlushPolicy:   log.FlushGroup,
		FlushMaxDelay: time.Millisecond,
		Flusher:       fl,
		Logger:        quietLogger(),
		FS:            fs,
	}
	logs := make([]*log.Log, nlogs)
	defer func() {
		// Close in parallel: each Close fsyncs.
		err = errors.Join(err, parallel(64, nlogs, func(i int) error {
			if logs[i] == nil {
				return nil
			}
			return logs[i].Close()
		}))
	}()
	err = parallel(8, nlogs, func(i int) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l, err := log.Open(filepath.Join(dir, fmt.Sprintf("p%05d", i)), opts)
		logs[i] = l
		return err
	})
	if err != nil {
		return res, err
	}
	// Warm up every log: the first append writes the checkpoint and the
	// first flush syncs the directory.
	warm, err := batchgen.Sized(durableSize)
	if err != nil {
		return res, err
	}
	err = parallel(len(bufs), nlogs, func(i int) error {
		res, err := logs[i].Append(slices.Clone(warm))
		if err != nil {
			return err
		}
		return logs[i].WaitDurable(ctx, res.LastOffset)
	})
	if err != nil {
		return res, err
	}
	var next atomic.Uint64
	return measureDurable(ctx, len(bufs), durableSize, d,
		func() int64 { return fs.Syncs() + fl.SyncFSCalls() },
		func(ctx context.Context, w int) error {
			l := logs[next.Add(1)%uint64(nlogs)]
			res, err := l.Append(bufs[w])
			if err != nil {
				return err
			}
			return l.WaitDurable(ctx, res.LastOffset)
		})
}
