// Command weirbench runs bench workloads against Weir, kfake and NATS
// JetStream and prints a Markdown table of medians and ratios to kfake.
//
//	go run ./bench/cmd/weirbench -workload W1 -target weir,kfake,nats -duration 20s
//	go run ./bench/cmd/weirbench -workload all -target all -repeat 3 -json out.json
//
// Targets: weir (weir serve, epoll), weir-net (weir serve --transport net),
// weir-helper and weir-helper-net (Weir's broker in-process in the bench
// test binary: adds allocation counts and, with -cpuprofile-dir, a pprof
// CPU profile per run), kfake, nats; "all" is weir,weir-net,kfake,nats.
// Runs alternate targets within each repetition, rotating the order.
//
// Without -weir-bin (-helper-bin) it builds ./cmd/weir (the bench test
// binary) into a temporary directory first; run it from the module root.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/weirhq/weir/bench"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "kfake-server" {
		os.Exit(kfakeServer(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:]))
}

// kfakeServer is the hidden subcommand a kfake target runs in a child
// process. It exits on SIGTERM or when its stdin closes.
func kfakeServer(args []string) int {
	fl := flag.NewFlagSet("kfake-server", flag.ContinueOnError)
	addr := fl.String("addr", "127.0.0.1:9092", "listen address")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() { io.Copy(io.Discard, os.Stdin); stop() }()
	if err := bench.ServeKfake(ctx, *addr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func run(args []string) int {
	fl := flag.NewFlagSet("weirbench", flag.ContinueOnError)
	workloads := fl.String("workload", "W1", "comma-separated workloads: W1, W2, W3, W4, CONNS, or all")
	targets := fl.String("target", "weir,kfake,nats", "comma-separated targets: weir, weir-net, weir-helper, weir-helper-net, kfake, nats, kafka=HOST:PORT, or all")
	repeat := fl.Int("repeat", 1, "repetitions (targets alternate within each)")
	duration := fl.Duration("duration", 0, "produce phase (W1-W3, CONNS trickle); 0: the workload's default")
	backlog := fl.Int64("backlog", 0, "W4 backlog bytes; 0: 2 GB")
	conns := fl.Int("conns", 0, "CONNS connections; 0: 10000")
	rate := fl.Float64("rate", 0, "W2 rate in MB/s; 0: 20")
	buffered := fl.Int("max-buffered", 0, "producer buffer bytes (kgo.MaxBufferedBytes); 0: 16 MiB")
	linger := fl.Duration("linger", 0, "producer linger")
	weirBin := fl.String("weir-bin", "", "weir binary (default: go build ./cmd/weir)")
	helperBin := fl.String("helper-bin", "", "bench test binary for weir-helper (default: go test -c ./bench)")
	natsBin := fl.String("nats-bin", "", "nats-server binary (default: from PATH or /usr/sbin)")
	natsSync := fl.String("nats-sync", "", `JetStream sync_interval, e.g. "always" (nats-server 2.10+; default: the server's, 2 minutes)`)
	dataDir := fl.String("data", "", "parent of the targets' data directories (default: the temp dir)")
	profDir := fl.String("cpuprofile-dir", "", "write a CPU profile of each weir-helper run here")
	jsonOut := fl.String("json", "", "also write every result to this JSON file")
	baseline := fl.String("baseline", "kfake", "target the ratios are relative to")
	quiet := fl.Bool("q", false, "no progress lines on stderr")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	logw := io.Writer(os.Stderr)
	if *quiet {
		logw = io.Discard
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var wls []bench.Workload
	for _, name := range list(*workloads, bench.StandardWorkloads) {
		w, err := bench.StandardWorkload(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		if *duration > 0 && w.BacklogBytes == 0 {
			w.Duration = *duration
		}
		if *backlog > 0 && w.BacklogBytes > 0 {
			w.BacklogBytes = *backlog
		}
		if *conns > 0 && w.Conns > 0 {
			w.Conns = *conns
		}
		if *rate > 0 && w.Rate > 0 {
			w.Rate = *rate * 1e6
		}
		w.MaxBufferedBytes, w.Linger = *buffered, *linger
		wls = append(wls, w)
	}

	tmp, err := os.MkdirTemp("", "weirbench-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var tgs []bench.Target
	for _, name := range list(*targets, []string{"weir", "weir-net", "kfake", "nats"}) {
		t := bench.Target{Name: name}
		switch {
		case name == "weir" || name == "weir-net":
			if *weirBin == "" {
				*weirBin = filepath.Join(tmp, "weir")
				if err := goTool(logw, "build", "-o", *weirBin, "./cmd/weir"); err != nil {
					fmt.Fprintln(os.Stderr, err)
					return 1
				}
			}
			t.Kind, t.Binary = bench.KindWeir, *weirBin
		case name == "weir-helper" || name == "weir-helper-net":
			if *helperBin == "" {
				*helperBin = filepath.Join(tmp, "bench.test")
				if err := goTool(logw, "test", "-c", "-o", *helperBin, "./bench"); err != nil {
					fmt.Fprintln(os.Stderr, err)
					return 1
				}
			}
			t.Kind, t.Binary = bench.KindWeirHelper, *helperBin
		case name == "kfake":
			t.Kind, t.Binary, t.Args = bench.KindKfake, self, []string{"kfake-server"}
		case name == "nats":
			t.Kind, t.Binary, t.NATSSync = bench.KindNATS, *natsBin, *natsSync
		case strings.HasPrefix(name, "kafka="):
			t.Kind, t.Addr, t.Name = bench.KindKafka, strings.TrimPrefix(name, "kafka="), "kafka"
		default:
			fmt.Fprintf(os.Stderr, "weirbench: unknown target %q\n", name)
			return 2
		}
		if strings.HasSuffix(name, "-net") {
			t.Transport = "net"
		}
		tgs = append(tgs, t)
	}

	var results []bench.Result
	failed := 0
	for rep := 1; rep <= *repeat; rep++ {
		for _, w := range wls {
			for i := range tgs {
				// Rotate the order each repetition so no target always
				// runs first (page cache, thermal state).
				t := tgs[(i+rep-1)%len(tgs)]
				if w.Conns > 0 && t.Kind == bench.KindNATS {
					continue
				}
				if *profDir != "" && t.Kind == bench.KindWeirHelper {
					os.MkdirAll(*profDir, 0o755)
					t.CPUProfile = filepath.Join(*profDir, fmt.Sprintf("%s-%s-%d.pprof", w.Name, t.Name, rep))
				}
				res, err := bench.Run(ctx, bench.Config{Workload: w, Target: t, DataDir: *dataDir, Log: logw})
				if ctx.Err() != nil {
					fmt.Fprintln(os.Stderr, "weirbench: interrupted")
					return 1
				}
				if err != nil {
					fmt.Fprintf(os.Stderr, "weirbench: %s/%s run %d: %v\n", w.Name, t.Name, rep, err)
					failed++
					continue
				}
				res.Rep = rep
				results = append(results, res)
			}
		}
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	fmt.Print(bench.Report(results, *baseline))
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "weirbench: %d runs failed\n", failed)
		return 1
	}
	return 0
}

func list(s string, all []string) []string {
	if strings.EqualFold(s, "all") {
		return all
	}
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func goTool(logw io.Writer, args ...string) error {
	fmt.Fprintf(logw, "weirbench: go %s\n", strings.Join(args, " "))
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = logw, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("weirbench: go %s: %w", strings.Join(args, " "), err)
	}
	fmt.Fprintf(logw, "weirbench: built in %v\n", time.Since(start).Round(time.Second))
	return nil
}
