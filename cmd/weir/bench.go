package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/weirhq/weir/bench"
)

const benchUsage = `usage: weir bench [flags] [WORKLOAD | FILE.yaml ...]
       weir bench storage [flags]

Runs benchmark workloads against Kafka-protocol brokers and writes a report
(report.md, results.json and SVG plots) to --out. With no workload it runs
the standard suite (weir bench --list); with no --target it starts
"weir serve" itself. The null broker (the ceiling: what this load generator
can drive on this machine) is added unless --ceiling=false.

Targets (--target, repeatable or comma-separated):
  weir, weir-net     start weir serve (epoll or net transport) from this binary
  kfake              start franz-go's in-memory kfake broker
  null               start the null broker (the ceiling)
  nats               start nats-server (JetStream, file storage) from PATH
  NAME=HOST:PORT     an already running broker, e.g. kafka=127.0.0.1:9092
  --target NAME=HOST:PORT --pid NAME=PID measures that broker's CPU and memory

Examples:
  weir bench                                   # the standard suite on weir
  weir bench --target weir,kfake --reps 3      # compare, ratios per repetition
  weir bench --target redpanda=127.0.0.1:19092 max-throughput latency
  weir bench --print max-throughput > my.yaml  # start your own workload
  weir bench storage --dir /mnt/disk           # the storage engine alone

flags:
`

func runBench(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "storage":
			return runBenchStorage(args[1:], stdout, stderr)
		case "serve-null", "serve-kfake":
			return runBenchServe(args[0], args[1:], stderr)
		}
	}
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, benchUsage); fl.PrintDefaults() }
	var targets, pids multiFlag
	fl.Var(&targets, "target", "target(s) to run against (default weir)")
	fl.Var(&pids, "pid", "NAME=PID: the process of an external target, to measure its CPU and memory")
	ceiling := fl.Bool("ceiling", true, "also run the null broker, the load generator's ceiling")
	reps := fl.Int("reps", 1, "repetitions (targets alternate within each)")
	out := fl.String("out", "", "report directory (default bench-results/DATE-TIME)")
	duration := fl.Duration("duration", 0, "override every workload's measured duration")
	warmup := fl.Duration("warmup", -1, "override every workload's warm-up")
	backlog := fl.String("backlog", "", "override catch-up workloads' backlog size, e.g. 500MB")
	baseline := fl.String("baseline", "", "target the ratios are relative to (default the first)")
	dataDir := fl.String("data", "", "parent of the started brokers' data directories (default the temp dir)")
	list := fl.Bool("list", false, "list the standard suite and exit")
	print := fl.String("print", "", "print a standard workload file (by name) and exit")
	natsBin := fl.String("nats-bin", "", "nats-server binary (default from PATH or /usr/sbin)")
	natsSync := fl.String("nats-sync", "", `JetStream sync_interval, e.g. "always" (nats-server 2.10+)`)
	helperBin := fl.String("helper-bin", "", "bench test binary (go test -c ./bench) for weir-helper targets")
	profDir := fl.String("cpuprofile-dir", "", "write a CPU profile of each weir-helper run here")
	keep := fl.Bool("keep-topics", false, "leave each run's topics on the target")
	quiet := fl.Bool("q", false, "no progress or log lines")
	posArgs, err := parseFlags(fl, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	warmupSet := false
	fl.Visit(func(f *flag.Flag) { warmupSet = warmupSet || f.Name == "warmup" })
	if warmupSet && *warmup < 0 {
		return usageErr(stderr, "bench", "--warmup %v is negative", *warmup)
	}
	var backlogBytes int64
	if *backlog != "" {
		n, err := bench.ParseSize(*backlog)
		if err == nil && n <= 0 {
			err = fmt.Errorf("%q must be positive", *backlog)
		}
		if err != nil {
			return usageErr(stderr, "bench", "--backlog: %v", err)
		}
		backlogBytes = n
	}
	if *list {
		suite, err := bench.StandardSuite()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		for _, w := range suite {
			fmt.Fprintf(stdout, "%-22s %s\n", w.Name, w.Description)
		}
		return 0
	}
	if *print != "" {
		b, err := bench.StandardFile(*print)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		stdout.Write(b)
		return 0
	}

	workloads, err := benchWorkloads(posArgs)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	for i := range workloads {
		w := &workloads[i]
		if *duration > 0 && w.BacklogBytes == 0 {
			w.Duration = *duration
		}
		if warmupSet {
			w.Warmup = *warmup
		}
		if backlogBytes > 0 && w.BacklogBytes > 0 {
			w.BacklogBytes = backlogBytes
		}
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if len(targets) == 0 {
		targets = multiFlag{"weir"}
	}
	pidOf := map[string]int{}
	for _, p := range pids {
		name, v, ok := strings.Cut(p, "=")
		var pid int
		if _, err := fmt.Sscan(v, &pid); !ok || err != nil || pid <= 0 {
			return usageErr(stderr, "bench", "--pid %q: want NAME=PID", p)
		}
		pidOf[name] = pid
	}
	var tgs []bench.Target
	for _, spec := range targets {
		t, err := benchTarget(spec, self, *natsBin, *natsSync, *helperBin)
		if err != nil {
			return usageErr(stderr, "bench", "%v", err)
		}
		t.PID = pidOf[t.Name]
		tgs = append(tgs, t)
	}
	for name := range pidOf {
		if !slices.ContainsFunc(tgs, func(t bench.Target) bool { return t.Name == name }) {
			return usageErr(stderr, "bench", "--pid %s: no target of that name", name)
		}
	}
	if *baseline != "" && !slices.ContainsFunc(tgs, func(t bench.Target) bool { return t.Name == *baseline }) && !(*baseline == "null" && *ceiling) {
		return usageErr(stderr, "bench", "--baseline %s: no target of that name", *baseline)
	}
	if *ceiling && !containsKind(tgs, bench.KindNull) {
		tgs = append(tgs, bench.Target{Name: "null", Kind: bench.KindNull, Binary: self, Args: []string{"bench", "serve-null"}})
	}
	if *out == "" {
		*out = filepath.Join("bench-results", time.Now().Format("20060102-150405"))
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logw := stderr
	var progress func(bench.Progress)
	if *quiet {
		logw = io.Discard
	} else {
		progress, logw = progressPrinter(stderr)
	}
	if *profDir != "" {
		if err := os.MkdirAll(*profDir, 0o755); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	suite := bench.Suite{Workloads: workloads, Targets: tgs, Reps: *reps, DataDir: *dataDir, Log: logw, Progress: progress,
		KeepTopics: *keep, CPUProfileDir: *profDir}
	fmt.Fprintf(logw, "weir bench: %d workloads × %d targets × %d repetitions; report in %s\n", len(workloads), len(tgs), max(*reps, 1), *out)
	results, errs := suite.Run(ctx)
	logw.Write(nil) // on a terminal, clear the last progress line
	for _, err := range errs {
		fmt.Fprintf(stderr, "weir bench: %v\n", err)
	}
	if len(results) == 0 {
		fmt.Fprintln(stderr, "weir bench: no run completed")
		return 1
	}
	files, err := bench.WriteOutputs(*out, results, bench.ReportOptions{Baseline: *baseline})
	if err != nil {
		fmt.Fprintf(stderr, "weir bench: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, bench.Report(results, bench.ReportOptions{Baseline: *baseline}))
	fmt.Fprintf(stdout, "\nwrote %s\n", strings.Join(files, ", "))
	if len(errs) > 0 {
		return 1
	}
	return 0
}

// benchWorkloads resolves arguments: standard workload names (or aliases,
// or a sweep's base name for all its rates) and YAML files.
func benchWorkloads(args []string) ([]bench.Workload, error) {
	suite, err := bench.StandardSuite()
	if err != nil {
		return nil, err
	}
	if len(args) == 0 {
		return suite, nil
	}
	var out []bench.Workload
	for _, a := range args {
		// A standard name (latency@20MB/s has a slash) before a file.
		n := len(out)
		for _, w := range suite {
			if strings.EqualFold(w.Base, a) {
				out = append(out, w)
			}
		}
		if len(out) > n {
			continue
		}
		if w, err := bench.StandardWorkload(a); err == nil {
			out = append(out, w)
			continue
		} else if !strings.HasSuffix(a, ".yaml") && !strings.HasSuffix(a, ".yml") && !strings.ContainsRune(a, os.PathSeparator) {
			return nil, err
		}
		ws, err := bench.LoadWorkloads(a)
		if err != nil {
			return nil, err
		}
		out = append(out, ws...)
	}
	return out, nil
}

func benchTarget(spec, self, natsBin, natsSync, helperBin string) (bench.Target, error) {
	switch spec {
	case "weir":
		return bench.Target{Name: spec, Kind: bench.KindWeir, Binary: self}, nil
	case "weir-net":
		return bench.Target{Name: spec, Kind: bench.KindWeir, Binary: self, Transport: "net"}, nil
	case "weir-helper", "weir-helper-net":
		if helperBin == "" {
			return bench.Target{}, fmt.Errorf("target %s needs --helper-bin (go test -c -o bench.test ./bench)", spec)
		}
		t := bench.Target{Name: spec, Kind: bench.KindWeirHelper, Binary: helperBin}
		if spec == "weir-helper-net" {
			t.Transport = "net"
		}
		return t, nil
	case "kfake":
		return bench.Target{Name: spec, Kind: bench.KindKfake, Binary: self, Args: []string{"bench", "serve-kfake"}}, nil
	case "null":
		return bench.Target{Name: spec, Kind: bench.KindNull, Binary: self, Args: []string{"bench", "serve-null"}}, nil
	case "nats":
		return bench.Target{Name: spec, Kind: bench.KindNATS, Binary: natsBin, NATSSync: natsSync}, nil
	}
	name, addr, ok := strings.Cut(spec, "=")
	if !ok {
		name, addr = "kafka", spec
	}
	if !strings.Contains(addr, ":") || name == "" {
		return bench.Target{}, fmt.Errorf("unknown target %q (want weir, weir-net, kfake, null, nats or NAME=HOST:PORT)", spec)
	}
	return bench.Target{Name: name, Kind: bench.KindKafka, Addr: addr}, nil
}

func containsKind(ts []bench.Target, k bench.Kind) bool {
	for _, t := range ts {
		if t.Kind == k {
			return true
		}
	}
	return false
}

// progressPrinter renders progress: a line rewritten in place on a
// terminal, a line every 5 seconds otherwise. Log lines go through the
// writer it returns, which on a terminal first clears the progress line.
func progressPrinter(w io.Writer) (func(bench.Progress), io.Writer) {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	logw := w
	if tty {
		logw = clearLine{w}
	}
	var last time.Time
	return func(p bench.Progress) {
		s := p.Sample
		line := fmt.Sprintf("%s/%s %s %3.0fs", p.Workload, p.Target, p.Phase, p.Elapsed.Seconds())
		if p.Total > 0 {
			line += fmt.Sprintf("/%.0fs", p.Total.Seconds())
		}
		line += fmt.Sprintf(" | produce %6.1f MB/s %8.0f rec/s | consume %6.1f MB/s", s.ProduceMBps, s.ProduceRecs, s.ConsumeMBps)
		if s.BrokerRSSMB > 0 {
			line += fmt.Sprintf(" | broker %.2f cores %.0f MB", s.BrokerCores, s.BrokerRSSMB)
		}
		if s.Errors > 0 {
			line += fmt.Sprintf(" | %d errors", s.Errors)
		}
		if tty {
			fmt.Fprintf(w, "\r\033[K%s", line)
			return
		}
		if time.Since(last) >= 5*time.Second {
			last = time.Now()
			fmt.Fprintln(w, line)
		}
	}, logw
}

// clearLine writes after erasing the terminal's current line.
type clearLine struct{ w io.Writer }

func (c clearLine) Write(p []byte) (int, error) {
	if _, err := io.WriteString(c.w, "\r\033[K"); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// runBenchServe is the hidden command a null or kfake target runs in a
// child process. It exits on SIGTERM or when its stdin closes.
func runBenchServe(which string, args []string, stderr io.Writer) int {
	fl := flag.NewFlagSet("bench "+which, flag.ContinueOnError)
	fl.SetOutput(stderr)
	addr := fl.String("addr", "127.0.0.1:9092", "listen address")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() { io.Copy(io.Discard, os.Stdin); stop() }()
	serve := bench.ServeNull
	if which == "serve-kfake" {
		serve = bench.ServeKfake
	}
	if err := serve(ctx, *addr); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// multiFlag is a repeatable, comma-separated string flag.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*m = append(*m, s)
		}
	}
	return nil
}
