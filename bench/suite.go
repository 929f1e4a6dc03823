package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
)

// Suite runs workloads against targets, repeating and alternating so that
// drifts of the machine cancel out of the same-repetition ratios: within
// each repetition every workload runs on every target in turn, and the
// order of the targets rotates from one repetition to the next.
type Suite struct {
	Workloads []Workload
	Targets   []Target
	Reps      int // default 1
	DataDir   string
	Log       io.Writer
	Progress  func(Progress)
	// KeepTopics leaves each run's topics on the target (Result.Topics).
	KeepTopics bool
	// CPUProfileDir, if set, receives a CPU profile of every run on a
	// KindWeirHelper target: WORKLOAD-TARGET-REP.pprof.
	CPUProfileDir string
}

// Run runs the suite. It returns the results of the runs that completed
// and one error per run that failed; runs a target cannot do
// (ErrUnsupported) are skipped with a log line. ctx cancels between and
// within runs.
func (s *Suite) Run(ctx context.Context) ([]Result, []error) {
	reps := max(s.Reps, 1)
	log := s.Log
	if log == nil {
		log = io.Discard
	}
	var results []Result
	var errs []error
	skipped := map[string]bool{}
	for rep := 1; rep <= reps; rep++ {
		for _, w := range s.Workloads {
			for i := range s.Targets {
				t := s.Targets[(i+rep-1)%len(s.Targets)]
				if s.CPUProfileDir != "" && t.Kind == KindWeirHelper {
					t.CPUProfile = filepath.Join(s.CPUProfileDir, fmt.Sprintf("%s-%s-%d.pprof", slug(w.Name), t.Name, rep))
				}
				res, err := Run(ctx, Config{Workload: w, Target: t, DataDir: s.DataDir, Log: log, Progress: s.Progress, KeepTopics: s.KeepTopics})
				if ctx.Err() != nil {
					return results, append(errs, ctx.Err())
				}
				if errors.Is(err, ErrUnsupported) {
					if key := w.Name + "/" + t.Name; !skipped[key] {
						skipped[key] = true
						fmt.Fprintf(log, "skipping %s on %s: %v\n", w.Name, t.Name, err)
					}
					continue
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("%s on %s, run %d: %w", w.Name, t.Name, rep, err))
					continue
				}
				res.Rep = rep
				results = append(results, res)
			}
		}
	}
	return results, errs
}
