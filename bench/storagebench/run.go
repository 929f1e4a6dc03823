package storagebench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Run runs the selected benchmarks in a temporary directory under
// o.Dir, which it removes before returning. It returns an error wrapping
// ErrInvalidOptions for invalid options; on any other error (a failed
// system call, ctx done, a phase over Options.Timeout) it returns the
// rows measured so far together with the error.
func Run(ctx context.Context, o Options) (*Results, error) {
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if st, err := os.Stat(o.Dir); err != nil {
		return nil, fmt.Errorf("storagebench: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("storagebench: %s is not a directory", o.Dir)
	}
	work, err := os.MkdirTemp(o.Dir, "weir-storagebench-")
	if err != nil {
		return nil, fmt.Errorf("storagebench: %w", err)
	}
	progress := o.Progress
	o.Progress = nil // not part of the reported options
	r := &runner{
		o:        o,
		progress: progress,
		work:     work,
		res:      &Results{Options: o, Machine: machine(o.Dir), Started: time.Now()},
	}
	r.logf("working in %s (%s)", work, r.res.Machine.FileSystem)
	benches := []struct {
		name string
		run  func(context.Context) error
	}{
		{NameAppend, r.runAppend},
		{NameGroupCommit, r.runGroupCommit},
		{NameManyLogs, r.runManyLogs},
		{NameRead, r.runRead},
		{NameOpen, r.runOpen},
	}
	for _, bench := range benches {
		if !o.selected(bench.name) {
			continue
		}
		if err = ctx.Err(); err != nil {
			err = context.Cause(ctx)
			break
		}
		r.logf("== %s", bench.name)
		if err = bench.run(ctx); err != nil {
			err = fmt.Errorf("storagebench: %s: %w", bench.name, err)
			break
		}
	}
	if rerr := os.RemoveAll(work); rerr != nil {
		err = errors.Join(err, fmt.Errorf("storagebench: removing %s: %w", work, rerr))
	}
	r.res.Elapsed = time.Since(r.res.Started)
	return r.res, err
}

// runner is the state of one Run. Its benchmarks run one at a time, on
// Run's goroutine.
type runner struct {
	o        Options
	progress io.Writer // Options.Progress; nil: silent
	work     string    // temporary directory, removed by Run
	res      *Results

	// fixture is the cleanly closed log shared by read and open ("" until
	// built); fixtureBytes its size and fixtureEnd its end offset.
	fixture      string
	fixtureBytes int64
	fixtureEnd   int64
}

func (r *runner) logf(format string, args ...any) {
	if r.progress != nil {
		fmt.Fprintf(r.progress, format+"\n", args...)
	}
}

// note records something skipped or worth knowing, in the results and in
// the progress output.
func (r *runner) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	r.res.Notes = append(r.res.Notes, n)
	r.logf("note: %s", n)
}

func (r *runner) add(res Result) {
	r.res.Rows = append(r.res.Rows, res)
}

// phase runs fn with a context bounded by Options.Timeout and a flag that
// is set once that context is done, for hot loops to poll cheaply (they
// then return phaseErr).
func (r *runner) phase(ctx context.Context, what string, fn func(ctx context.Context, done *atomic.Bool) error) error {
	ctx, cancel := context.WithTimeoutCause(ctx, r.o.Timeout,
		fmt.Errorf("%s took longer than Timeout (%v): %w", what, r.o.Timeout, context.DeadlineExceeded))
	defer cancel()
	var done atomic.Bool
	stop := context.AfterFunc(ctx, func() { done.Store(true) })
	defer stop()
	if err := fn(ctx, &done); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// errStopped is returned by hot loops that saw their phase's done flag;
// phase replaces it with the context's cause.
var errStopped = errors.New("storagebench: stopped")

// alternate calls sample(ctx, round, subject) for every round and every
// subject in [0, n): forwards in even rounds, backwards in odd ones, so
// that drift of the machine hits every subject alike. It stops at the
// first error.
func (r *runner) alternate(ctx context.Context, n int, sample func(ctx context.Context, round, subject int) error) error {
	for round := range r.o.Rounds {
		for i := range n {
			s := i
			if round%2 == 1 {
				s = n - 1 - i
			}
			if err := ctx.Err(); err != nil {
				return context.Cause(ctx)
			}
			if err := sample(ctx, round, s); err != nil {
				return err
			}
		}
	}
	return nil
}

// ratios returns the per-round ratios a[i]/b[i] (or b[i]/a[i] if inverse).
func ratios(a, b []float64, inverse bool) []float64 {
	out := make([]float64, 0, len(a))
	for i := range min(len(a), len(b)) {
		if inverse {
			out = append(out, b[i]/a[i])
		} else {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

// quietLogger returns a logger that discards the log's own reports
// (TruncateTo logs every reset).
func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// freeBytes returns the bytes available to unprivileged users in dir's
// file system.
func freeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// diskMargin is left free for everyone else when deciding whether a
// benchmark fits.
const diskMargin = 1 << 30

// fits reports whether need bytes fit in the work directory's file system
// with diskMargin to spare; if not, it notes why what is skipped.
func (r *runner) fits(what string, need int64) bool {
	free, err := freeBytes(r.work)
	if err != nil {
		r.note("%s skipped: statfs %s: %v", what, r.work, err)
		return false
	}
	if free < need+diskMargin {
		r.note("%s skipped: needs %d MiB free in %s plus a %d MiB margin, %d MiB available",
			what, need>>20, r.o.Dir, diskMargin>>20, free>>20)
		return false
	}
	return true
}

// fdLimit returns the soft limit on open files (RLIMIT_NOFILE).
func fdLimit() int64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	return int64(min(rl.Cur, 1<<40))
}

// machine describes this machine and dir's file system.
func machine(dir string) Machine {
	m := Machine{
		GOOS:       runtime.GOOS,
		GOARCH:     runtime.GOARCH,
		GoVersion:  runtime.Version(),
		NumCPU:     runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Dir:        dir,
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) == nil {
		m.FileSystem = fsName(int64(st.Type))
	}
	return m
}

// fsName names common file system magic numbers (statfs(2) f_type).
func fsName(magic int64) string {
	switch magic {
	case 0xef53:
		return "ext4"
	case 0x58465342:
		return "xfs"
	case 0x9123683e:
		return "btrfs"
	case 0x01021994:
		return "tmpfs"
	case 0x794c7630:
		return "overlayfs"
	case 0x2fc12fc1:
		return "zfs"
	case 0xf2f52010:
		return "f2fs"
	case 0x6969:
		return "nfs"
	}
	return fmt.Sprintf("0x%x", magic)
}

// parallel calls fn(0..n-1) on at most workers goroutines and returns the
// errors joined.
func parallel(workers, n int, fn func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
