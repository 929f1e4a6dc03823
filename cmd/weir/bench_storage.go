package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/weirhq/weir/bench"
	"github.com/weirhq/weir/bench/storagebench"
)

const benchStorageUsage = `usage: weir bench storage [flags]

Measures the storage engine alone, as an embedder would use it, each figure
against the raw disk doing the same work in the same run (runs alternate;
medians): append vs write(2), group commit vs a write+fdatasync loop, many
logs sharing one flusher, reading a cached log vs a []byte, reopen time.

flags:
`

func runBenchStorage(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("bench storage", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, benchStorageUsage); fl.PrintDefaults() }
	dir := fl.String("dir", "", "directory on the disk under test (default the temp dir)")
	sizes := fl.String("sizes", "1KiB,16KiB,1MiB", "append batch sizes")
	bytes := fl.String("bytes", "256MiB", "bytes per timed append pass")
	rounds := fl.Int("rounds", storagebench.DefaultRounds, "alternating rounds (medians)")
	readBytes := fl.String("read-bytes", "1GB", "size of the log read end to end and reopened")
	logs := fl.String("logs", "1,16,100,1000", "log counts for many-logs")
	duration := fl.Duration("duration", storagebench.DefaultDuration, "length of each durable sample")
	only := fl.String("only", "", "comma-separated subset: "+strings.Join(storagebench.Names(), ", "))
	out := fl.String("out", "", "also write storage.md and storage.json into this directory")
	quiet := fl.Bool("q", false, "no progress lines")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	o := storagebench.Options{Dir: *dir, Rounds: *rounds, Duration: *duration}
	var err error
	if o.Sizes, err = sizeList(*sizes); err != nil {
		return usageErr(stderr, "bench storage", "--sizes: %v", err)
	}
	if o.Bytes, err = bench.ParseSize(*bytes); err != nil {
		return usageErr(stderr, "bench storage", "--bytes: %v", err)
	}
	if o.ReadBytes, err = bench.ParseSize(*readBytes); err != nil {
		return usageErr(stderr, "bench storage", "--read-bytes: %v", err)
	}
	for _, s := range strings.Split(*logs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return usageErr(stderr, "bench storage", "--logs: %q is not a number", s)
		}
		o.Logs = append(o.Logs, n)
	}
	if *only != "" {
		o.Only = strings.Split(*only, ",")
	}
	if !*quiet {
		o.Progress = stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := storagebench.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "weir bench storage: %v\n", err)
		if errors.Is(err, storagebench.ErrInvalidOptions) {
			return 2
		}
		return 1
	}
	md := res.Markdown()
	fmt.Fprint(stdout, md)
	if *out != "" {
		js, _ := json.MarshalIndent(res, "", "  ")
		if err := os.MkdirAll(*out, 0o755); err == nil {
			err = os.WriteFile(filepath.Join(*out, "storage.json"), js, 0o644)
			if err == nil {
				err = os.WriteFile(filepath.Join(*out, "storage.md"), []byte(md), 0o644)
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "weir bench storage: %v\n", err)
			return 1
		}
	}
	return 0
}

func sizeList(s string) ([]int, error) {
	var out []int
	for _, x := range strings.Split(s, ",") {
		n, err := bench.ParseSize(x)
		if err != nil {
			return nil, err
		}
		out = append(out, int(n))
	}
	return out, nil
}
