package log

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirhq/weir/internal/vfs"
)

// The power-loss test: a log on a vfs.CrashFS appends from a goroutine and
// records every offset WaitDurable or DurableOffset confirmed; Crash then
// drops everything not covered by an fsync (file data and directory
// entries), as a machine losing power does, and the log reopened under a new
// boot id must hold every confirmed offset intact, with nothing partial
// visible.

// errKilled is returned by a killFS after the simulated power loss.
var errKilled = errors.New("test: the process died in the simulated power loss")

// killFS passes operations to the file system below until kill is called;
// from then on every operation fails. In a real power loss the process
// dies with the machine; the Log of the test process goes on running, and
// must not touch the files of the "rebooted" machine (for example create a
// segment or rewrite the checkpoint), so kill cuts it off first. kill waits
// for the operations in progress: they happened before the power loss.
type killFS struct {
	under vfs.FS
	mu    sync.RWMutex // held shared by every operation, exclusively by kill
	dead  bool
}

func (k *killFS) enter() error {
	k.mu.RLock()
	if k.dead {
		k.mu.RUnlock()
		return errKilled
	}
	return nil
}

func (k *killFS) kill() {
	k.mu.Lock()
	k.dead = true
	k.mu.Unlock()
}

func (k *killFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	if err := k.enter(); err != nil {
		return nil, err
	}
	defer k.mu.RUnlock()
	f, err := k.under.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &killFile{k: k, f: f}, nil
}

func (k *killFS) Remove(name string) error {
	if err := k.enter(); err != nil {
		return err
	}
	defer k.mu.RUnlock()
	return k.under.Remove(name)
}

func (k *killFS) Rename(oldname, newname string) error {
	if err := k.enter(); err != nil {
		return err
	}
	defer k.mu.RUnlock()
	return k.under.Rename(oldname, newname)
}

func (k *killFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := k.enter(); err != nil {
		return err
	}
	defer k.mu.RUnlock()
	return k.under.MkdirAll(dir, perm)
}

func (k *killFS) ReadDir(dir string) ([]os.DirEntry, error) {
	if err := k.enter(); err != nil {
		return nil, err
	}
	defer k.mu.RUnlock()
	return k.under.ReadDir(dir)
}

func (k *killFS) SyncDir(dir string) error {
	if err := k.enter(); err != nil {
		return err
	}
	defer k.mu.RUnlock()
	return k.under.SyncDir(dir)
}

func (k *killFS) Stat(name string) (os.FileInfo, error) {
	if err := k.enter(); err != nil {
		return nil, err
	}
	defer k.mu.RUnlock()
	return k.under.Stat(name)
}

type killFile struct {
	k *killFS
	f vfs.File
}

func (f *killFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.k.enter(); err != nil {
		return 0, err
	}
	defer f.k.mu.RUnlock()
	return f.f.ReadAt(p, off)
}

func (f *killFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.k.enter(); err != nil {
		return 0, err
	}
	defer f.k.mu.RUnlock()
	return f.f.WriteAt(p, off)
}

func (f *killFile) Close() error {
	if err := f.k.enter(); err != nil {
		return err
	}
	defer f.k.mu.RUnlock()
	return f.f.Close()
}

func (f *killFile) Sync() error {
	if err := f.k.enter(); err != nil {
		return err
	}
	defer f.k.mu.RUnlock()
	return f.f.Sync()
}

func (f *killFile) Truncate(size int64) error {
	if err := f.k.enter(); err != nil {
		return err
	}
	defer f.k.mu.RUnlock()
	return f.f.Truncate(size)
}

func (f *killFile) Allocate(off, size int64) error {
	if err := f.k.enter(); err != nil {
		return err
	}
	defer f.k.mu.RUnlock()
	return f.f.Allocate(off, size)
}

func (f *killFile) Size() (int64, error) {
	if err := f.k.enter(); err != nil {
		return 0, err
	}
	defer f.k.mu.RUnlock()
	return f.f.Size()
}

func (f *killFile) Fd() uintptr  { return f.f.Fd() }
func (f *killFile) Name() string { return f.f.Name() }

// Moments at which a power-loss cycle crashes.
const (
	crashAtRandomTime   = iota // a timer fires, whatever the writer is doing
	crashAfterRoll             // right after Roll returned
	crashAfterDurable          // right after WaitDurable returned
	crashAfterAppend           // right after an Append, its data unsynced
	crashAfterManyRolls        // after several rolls in a row
	crashAtOpen                // right after Open, before any write
	numCrashMoments
)

// powerLossMaxEnd bounds the log so that CrashFS, which keeps synced
// contents in memory and rewrites every file at each crash, stays cheap.
const powerLossMaxEnd = 60_000

// TestPowerLoss crashes a CrashFS under a log that is being appended to, many
// times, at random moments, and checks each time that the log reopened under
// a new boot id holds every offset confirmed durable before the crash. The
// torn variant also keeps a random part of the unsynced writes.
func TestPowerLoss(t *testing.T) {
	cycles := 30
	if longTests() {
		cycles = 400
	}
	for _, torn := range []bool{false, true} {
		name := "strict"
		if torn {
			name = "torn"
		}
		t.Run(name, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			runPowerLoss(t, seed, cycles, torn)
		})
	}
}

func runPowerLoss(t *testing.T, seed uint64, cycles int, torn bool) {
	rng := rand.New(rand.NewPCG(seed, 3))
	dir := filepath.Join(t.TempDir(), "log")
	crash := vfs.NewCrashFS(vfs.OS)
	if torn {
		crash.SetTornWrites(rand.New(rand.NewPCG(seed, 4)))
	}
	var logBuf syncBuffer
	logger := slog.New(slog.NewTextHandler(&logBuf, nil))
	var durable atomic.Int64 // the largest offset confirmed durable before a crash
	moments := make([]int, numCrashMoments)
	boots, deaths := 1, 0
	var history []string
	for cycle := range cycles {
		boot := fmt.Sprintf("boot-%d", boots)
		kfs := &killFS{under: crash}
		opts := &Options{
			SegmentBytes:       int64(8<<10 + rng.IntN(24<<10)),
			IndexIntervalBytes: 512,
			MaxIndexBytes:      4096,
			NoPreallocate:      rng.IntN(3) == 0,
			FS:                 kfs,
			BootID:             func() string { return boot },
			Logger:             logger,
		}
		logBuf.Reset()
		l, err := Open(dir, opts)
		if err != nil {
			t.Fatalf("cycle %d: open after power loss: %v\nhistory:\n  %s\nfiles:\n%s\nlog:\n%s",
				cycle, err, strings.Join(history, "\n  "), listDir(dir), logBuf.String())
		}
		openEnd := l.EndOffset()
		if err := checkDet(l, durable.Load()); err != nil {
			t.Fatalf("cycle %d: after power loss (durable %d): %v\nhistory:\n  %s\nfiles:\n%s\nrecovery log:\n%s",
				cycle, durable.Load(), err, strings.Join(history, "\n  "), listDir(dir), logBuf.String())
		}
		if d, e := l.DurableOffset(), l.EndOffset(); d != e {
			t.Fatalf("cycle %d: after recovery durable offset %d, end offset %d", cycle, d, e)
		}
		t.Logf("cycle %d: recovered end %d (durable %d), %d segments", cycle, l.EndOffset(), durable.Load(), l.NumSegments())

		moment := rng.IntN(numCrashMoments)
		moments[moment]++
		wrng := rand.New(rand.NewPCG(rng.Uint64(), 5))
		ops := 1 + wrng.IntN(60)
		sleep := time.Duration(wrng.IntN(30000)) * time.Microsecond // wrng is the writer's from now on
		trigger := make(chan struct{}, 1)
		done := make(chan struct{})
		if moment == crashAtOpen {
			close(done)
		} else {
			go func() {
				defer close(done)
				powerLossWriter(l, wrng, moment, ops, &durable, trigger)
			}()
		}
		switch moment {
		case crashAtOpen:
		case crashAtRandomTime:
			time.Sleep(sleep)
		default:
			select {
			case <-trigger:
			case <-done:
			}
		}
		// What DurableOffset says before the crash was promised too
		// (after a recovery, it covers everything recovered).
		setMax(&durable, l.DurableOffset())
		kfs.kill()
		history = append(history, fmt.Sprintf("cycle %d: opened at end %d, moment %d after %d ops, durable %d, end %d at the crash",
			cycle, openEnd, moment, ops, durable.Load(), l.EndOffset()))
		if len(history) > 6 {
			history = history[1:]
		}
		if rng.IntN(4) == 0 {
			// Only the process dies: unsynced writes stay in the
			// page cache, and the next open runs in the same boot.
			// A later power loss must still not lose what that
			// open declares durable.
			deaths++
			history[len(history)-1] += ", process death"
		} else {
			if err := crash.Crash(); err != nil {
				t.Fatalf("cycle %d: crash: %v", cycle, err)
			}
			boots++
		}
		<-done
		abandon(l)
	}
	t.Logf("crash moments (random time, after roll, after durable, after append, after rolls, at open): %v; %d power losses, %d process deaths", moments, boots-1, deaths)
	if durable.Load() == 0 {
		t.Fatal("nothing was ever confirmed durable")
	}
	// Finally a clean cycle: everything durable, then a clean close.
	l, err := Open(dir, &Options{FS: crash, BootID: func() string { return "final" }, MaxIndexBytes: 4096, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := checkDet(l, durable.Load()); err != nil {
		t.Fatal(err)
	}
}

func setMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// powerLossWriter appends detBatch content to l and records confirmed
// durable offsets, until the FS is killed under it; for the moments other
// than a random time it signals trigger at that moment after ops operations.
func powerLossWriter(l *Log, rng *rand.Rand, moment, ops int, durable *atomic.Int64, trigger chan<- struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fire := func() { trigger <- struct{}{} }
	rolls := 0
	for i := 0; ; i++ {
		if ctx.Err() != nil {
			return
		}
		base := l.EndOffset()
		if base >= powerLossMaxEnd {
			if moment != crashAtRandomTime {
				fire()
			}
			return
		}
		buf, next := detBatches(base, 1+rng.IntN(3))
		res, err := l.Append(buf)
		if err != nil {
			return // killed
		}
		if res.FirstOffset != base || res.LastOffset != next-1 {
			panic(fmt.Sprintf("append at %d: result %+v", base, res))
		}
		last := res.LastOffset
		l.OnDurable(last, func(err error) {
			if err == nil {
				setMax(durable, last+1)
			}
		})
		due := i >= ops
		if moment == crashAfterAppend && due {
			fire()
			return
		}
		if p := rng.IntN(12); p == 0 || (due && (moment == crashAfterRoll || moment == crashAfterManyRolls)) {
			if err := l.Roll(); err != nil {
				return
			}
			rolls++
			if due && (moment == crashAfterRoll || (moment == crashAfterManyRolls && rolls >= 3)) {
				fire()
				return
			}
		}
		if rng.IntN(4) == 0 || (due && moment == crashAfterDurable) {
			if err := l.WaitDurable(ctx, last); err != nil {
				return
			}
			setMax(durable, last+1)
			if due && moment == crashAfterDurable {
				fire()
				return
			}
		}
	}
}

// listDir describes the files of dir, for failure reports.
func listDir(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "  %s %d\n", e.Name(), info.Size())
	}
	return b.String()
}
