package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/weirhq/weir/bench"
	"github.com/weirhq/weir/bench/storagebench"
	"github.com/weirhq/weir/weirtest"
)

// The end-to-end tests run one small fixed-rate workload for 1 s: 2 MB/s
// of 1 KiB records, about 1953 records a run.
const smallWorkload = `name: small
description: 2 partitions, 1 consumer, 2 MB/s
partitions: 2
record-size: 1KiB
rate: 2MB/s
consumers: 1
drain-timeout: 10s
`

// benchCmd runs "weir bench args...".
func benchCmd(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"bench"}, args...), strings.NewReader(""), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// benchOK runs "weir bench args..." which must exit 0, and returns its
// stdout.
func benchOK(t *testing.T, args ...string) string {
	t.Helper()
	r := benchCmd(t, args...)
	if r.code != 0 {
		t.Fatalf("weir bench %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// writeWorkload writes a workload file into a new temporary directory.
func writeWorkload(t *testing.T, name, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readResults(t *testing.T, dir string) []bench.Result {
	t.Helper()
	js, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rs []bench.Result
	if err := json.Unmarshal(js, &rs); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	return rs
}

// checkSmall checks a run of smallWorkload against a real broker: every
// acknowledged record consumed, at the asked-for rate, for the 1 s the
// command line asked for (the file's default would be 20 s).
func checkSmall(t *testing.T, r bench.Result) {
	t.Helper()
	if r.Workload != "small" || r.Kind != "fixed" {
		t.Errorf("%s/%s: kind %q", r.Workload, r.Target, r.Kind)
	}
	if r.Errors != 0 {
		t.Errorf("%s/%s: %d errors, first: %s", r.Workload, r.Target, r.Errors, r.FirstError)
	}
	if r.Produced.Records == 0 || r.Consumed != r.Produced || !r.Drained {
		t.Errorf("%s/%s: produced %+v, consumed %+v (drained %v)", r.Workload, r.Target, r.Produced, r.Consumed, r.Drained)
	}
	if r.WarmupRecords != 0 {
		t.Errorf("%s/%s: %d warm-up records with --warmup 0", r.Workload, r.Target, r.WarmupRecords)
	}
	if want := int64(2e6) / 1024; r.Produced.Records < want-2 || r.Produced.Records > want+2 {
		t.Errorf("%s/%s: produced %d records, want about %d (2 MB/s for --duration 1s)", r.Workload, r.Target, r.Produced.Records, want)
	}
}

func TestBenchList(t *testing.T) {
	out := benchOK(t, "--list")
	suite, err := bench.StandardSuite()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "\n"); n != len(suite) {
		t.Errorf("--list printed %d lines, the standard suite has %d workloads:\n%s", n, len(suite), out)
	}
	for _, w := range suite {
		if w.Description == "" || !hasLine(out, regexp.QuoteMeta(w.Name)+` +`+regexp.QuoteMeta(w.Description)) {
			t.Errorf("--list lacks %s with its description %q:\n%s", w.Name, w.Description, out)
		}
	}
	for _, name := range []string{"max-throughput", "latency@20MB/s", "catch-up", "many-partitions", "consumer-group", "idle-connections"} {
		if !hasLine(out, regexp.QuoteMeta(name)+` +\S.*`) {
			t.Errorf("--list lacks %s:\n%s", name, out)
		}
	}
}

func TestBenchPrint(t *testing.T) {
	out := benchOK(t, "--print", "max-throughput")
	ws, err := bench.ParseWorkloads("max-throughput.yaml", []byte(out))
	if err != nil {
		t.Fatalf("--print max-throughput is not a valid workload file: %v\n%s", err, out)
	}
	want, err := bench.StandardWorkload("max-throughput")
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || !reflect.DeepEqual(ws[0], want) {
		t.Errorf("--print max-throughput parses to %+v, want %+v", ws, want)
	}
	// A sweep file prints as one file of several rates.
	ws, err = bench.ParseWorkloads("latency.yaml", []byte(benchOK(t, "--print", "latency")))
	if err != nil || len(ws) < 2 || ws[0].Base != "latency" {
		t.Errorf("--print latency: %d workloads, %v", len(ws), err)
	}

	// A workload of a sweep prints its file; so does an alias.
	for _, name := range []string{"latency@20MB/s", "W2"} {
		if out := benchOK(t, "--print", name); !strings.Contains(out, "name: latency\n") {
			t.Errorf("--print %s:\n%s", name, out)
		}
	}

	r := benchCmd(t, "--print", "nope")
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, `no standard workload "nope"`) {
		t.Errorf("--print nope: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestBenchBadInput checks that bad input exits 2 with a message naming
// what is wrong, before any run starts. Each case also names a live broker
// and a 1 s run, so that a case that wrongly passes fails quickly.
func TestBenchBadInput(t *testing.T) {
	b := weirtest.Start(t)
	good := writeWorkload(t, "small.yaml", smallWorkload)
	bad := writeWorkload(t, "bad.yaml", "name: x\npartitons: 3\n")
	backlog := writeWorkload(t, "backlog.yaml", "name: c\nbacklog: 1MB\n")
	live := "--target=w=" + b.Addr()
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"field", []string{live, bad}, []string{"bad.yaml", "line 2", "partitons", "unknown field"}},
		{"workload", []string{live, "no-such-workload"}, []string{`unknown workload "no-such-workload"`, "max-throughput"}},
		{"file", []string{live, filepath.Join(t.TempDir(), "missing.yaml")}, []string{"missing.yaml", "no such file"}},
		{"target", []string{"--target", "bogus", good}, []string{`unknown target "bogus"`, "NAME=HOST:PORT"}},
		{"pid", []string{live, "--pid", "x=abc", good}, []string{`--pid "x=abc": want NAME=PID`}},
		{"backlog", []string{live, "--backlog", "12XB", backlog}, []string{"--backlog", `"12XB" is not a size`}},
		{"flag", []string{live, "--no-such-flag", good}, []string{"flag provided but not defined: -no-such-flag"}},
		{"backlog zero", []string{live, "--backlog", "0", good}, []string{`--backlog: "0" must be positive`}},
		{"backlog unused", []string{live, "--backlog", "12XB", good}, []string{`"12XB" is not a size`}},
		{"warmup", []string{live, "--warmup", "-1s", good}, []string{"--warmup -1s is negative"}},
		{"pid of no target", []string{live, "--pid", "other=1", good}, []string{"--pid other: no target of that name"}},
		{"baseline", []string{live, "--baseline", "other", good}, []string{"--baseline other: no target of that name"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"--ceiling=false", "-q", "--duration=1s", "--warmup=0", "--out", t.TempDir()}, c.args...)
			r := benchCmd(t, args...)
			if r.code != 2 || r.stdout != "" {
				t.Errorf("weir bench %s: exit %d, want 2, stdout %q\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

// TestBenchRun runs a workload file for 1 s against an in-process broker
// and checks what the command prints and writes.
func TestBenchRun(t *testing.T) {
	b := weirtest.Start(t)
	file := writeWorkload(t, "small.yaml", smallWorkload)
	out := filepath.Join(t.TempDir(), "report")
	// Flags may follow the workload, as in the other commands.
	r := benchCmd(t, "--ceiling=false", "-q", "--target", "weir="+b.Addr(), "--duration", "1s", file, "--warmup", "0", "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("-q: stderr %q", r.stderr)
	}
	for _, re := range []string{
		`## Headline`,
		`\| workload \| figure \| weir \|`,
		`\| small \| e2e p99 ms \(lower is better\) \| \d+\.\d\d \|`,
		`### small \(median of 1\)`,
		`\| weir \| \d+ \| \d+ \| .*`,
		`wrote .*results\.json.*report\.md.*`,
	} {
		if !hasLine(r.stdout, re) {
			t.Errorf("stdout has no line matching %s:\n%s", re, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "ceiling") {
		t.Errorf("--ceiling=false, yet the report mentions a ceiling:\n%s", r.stdout)
	}

	rs := readResults(t, out)
	if len(rs) != 1 || rs[0].Target != "weir" || rs[0].Rep != 1 {
		t.Fatalf("results.json: %+v", rs)
	}
	checkSmall(t, rs[0])

	// report.md holds the report printed, plus the plots.
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	report, _, _ := strings.Cut(r.stdout, "\nwrote ")
	if !strings.Contains(string(md), report) || !strings.Contains(string(md), "| small | 2 partitions, 1 consumer, 2 MB/s |") {
		t.Errorf("report.md lacks the printed report or the workload's description:\n%s", md)
	}
	svgs, _ := filepath.Glob(filepath.Join(out, "*.svg"))
	if len(svgs) == 0 {
		t.Fatalf("no SVG plot in %s", out)
	}
	for _, p := range svgs {
		svg, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("%s: not an SVG (%v)", p, err)
		}
		if !strings.Contains(string(md), "("+filepath.Base(p)+")") {
			t.Errorf("report.md does not link %s", filepath.Base(p))
		}
	}
}

// TestBenchTwoTargets runs two targets (one broker under two names) twice:
// the report has the ratio column, and the targets alternate.
func TestBenchTwoTargets(t *testing.T) {
	b := weirtest.Start(t)
	file := writeWorkload(t, "small.yaml", smallWorkload)
	out := t.TempDir()
	stdout := benchOK(t, "--ceiling=false", "-q", "--target", "a="+b.Addr()+",b="+b.Addr(), "--reps", "2",
		"--duration", "1s", "--warmup", "0", "--out", out, file)
	for _, re := range []string{
		`\| workload \| figure \| a \| b \| b ÷ a \|`,
		`\| small \| e2e p99 ms \(lower is better\) \| \d+\.\d\d \| \d+\.\d\d \| \d+\.\d\d \|`,
		`### small \(median of 2\)`,
	} {
		if !hasLine(stdout, re) {
			t.Errorf("stdout has no line matching %s:\n%s", re, stdout)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !strings.Contains(string(md), "b ÷ a") {
		t.Errorf("report.md lacks the ratio column b ÷ a:\n%s", md)
	}
	rs := readResults(t, out)
	var order []string
	for _, r := range rs {
		order = append(order, fmt.Sprintf("%s/%d", r.Target, r.Rep))
		checkSmall(t, r)
	}
	// The order of the targets rotates from one repetition to the next.
	if want := []string{"a/1", "b/1", "b/2", "a/2"}; !slices.Equal(order, want) {
		t.Errorf("results.json runs %v, want %v", order, want)
	}
}

// TestBenchCeiling runs with the default ceiling: the null broker, which
// weir bench starts by re-executing itself (see TestMain).
func TestBenchCeiling(t *testing.T) {
	b := weirtest.Start(t)
	file := writeWorkload(t, "small.yaml", smallWorkload)
	out := t.TempDir()
	r := benchCmd(t, "--target", "weir="+b.Addr(), "--duration", "1s", "--warmup", "0", "--out", out, file)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "1 workloads × 2 targets × 1 repetitions") {
		t.Errorf("stderr lacks the plan with the ceiling added:\n%s", r.stderr)
	}
	if !hasLine(r.stdout, `\| workload \| figure \| weir \| weir of ceiling \| ceiling \|`) {
		t.Errorf("headline has no ceiling columns:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "The ceiling is the null broker") {
		t.Errorf("report does not explain the ceiling:\n%s", r.stdout)
	}
	rs := readResults(t, out)
	if len(rs) != 2 {
		t.Fatalf("results.json: %d results, want weir and null", len(rs))
	}
	for _, r := range rs {
		switch r.Target {
		case "weir":
			checkSmall(t, r)
		case "null":
			// A child process: its memory was measured.
			if r.Produced.Records == 0 || r.Consumed.Records == 0 || r.Errors != 0 || r.RSSIdle == 0 {
				t.Errorf("null: produced %d, consumed %d, %d errors (%s), idle RSS %d",
					r.Produced.Records, r.Consumed.Records, r.Errors, r.FirstError, r.RSSIdle)
			}
		default:
			t.Errorf("results.json has target %q", r.Target)
		}
	}
}

// TestBenchKfake starts kfake in a child process (weir bench serve-kfake).
func TestBenchKfake(t *testing.T) {
	file := writeWorkload(t, "small.yaml", smallWorkload)
	out := t.TempDir()
	benchOK(t, "--ceiling=false", "-q", "--target", "kfake", "--duration", "1s", "--warmup", "0", "--out", out, file)
	rs := readResults(t, out)
	if len(rs) != 1 || rs[0].Target != "kfake" {
		t.Fatalf("results.json: %+v", rs)
	}
	checkSmall(t, rs[0])
	if rs[0].RSSIdle == 0 || rs[0].BrokerCPU == 0 {
		t.Errorf("kfake is not a measured child process: idle RSS %d, CPU %v", rs[0].RSSIdle, rs[0].BrokerCPU)
	}
}

func TestBenchStorage(t *testing.T) {
	dir, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	r := benchCmd(t, "storage", "--only", "open,read", "--read-bytes", "2MB", "--rounds", "1", "--duration", "20ms",
		"--dir", dir, "--out", out, "-q")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("-q: stderr %q", r.stderr)
	}
	for _, re := range []string{
		`\| benchmark \| parameters \| weir \| reference \| ratio \| notes \|`,
		`\| read \| log=\S+ .*\| \d.* \| \d.* \| \d+\.\d\d \| ref: .*\|`,
		`\| open \| log=\S+ state=clean \| \d.* \| \d.* \| \d+\.\d\d \| ref: .*\|`,
	} {
		if !hasLine(r.stdout, re) {
			t.Errorf("stdout has no line matching %s:\n%s", re, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "| append |") || strings.Contains(r.stdout, "| group-commit |") {
		t.Errorf("--only open,read ran more:\n%s", r.stdout)
	}
	md, err := os.ReadFile(filepath.Join(out, "storage.md"))
	if err != nil || string(md) != r.stdout {
		t.Errorf("storage.md (%v) differs from the printed table:\n%s", err, md)
	}
	js, err := os.ReadFile(filepath.Join(out, "storage.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res storagebench.Results
	if err := json.Unmarshal(js, &res); err != nil {
		t.Fatalf("storage.json: %v", err)
	}
	var names []string
	for _, row := range res.Rows {
		names = append(names, row.Name)
		if row.Value <= 0 || row.Reference <= 0 || row.Ratio <= 0 || row.Rounds != 1 {
			t.Errorf("storage.json row %+v", row)
		}
	}
	if !slices.Equal(names, []string{"read", "open"}) || res.Options.ReadBytes != 2e6 || res.Machine.Dir != dir {
		t.Errorf("storage.json: rows %v, read bytes %d, dir %q", names, res.Options.ReadBytes, res.Machine.Dir)
	}
	// The benchmark cleans up after itself.
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %d entries in --dir", len(ents))
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--sizes", "1XB"}, `--sizes: "1XB" is not a size`},
		{[]string{"--only", "nope"}, `unknown benchmark "nope"`},
		{[]string{"--sizes", "64"}, "Sizes[0] = 64 outside"},
		{[]string{"--read-bytes", "lots"}, "--read-bytes"},
	} {
		args := append([]string{"storage", "-q", "--dir", t.TempDir(), "--rounds", "1", "--duration", "20ms", "--read-bytes", "2MB", "--only", "read"}, c.args...)
		r := benchCmd(t, args...)
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, c.want) {
			t.Errorf("weir bench %s: exit %d, want 2 with %q\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, c.want, r.stdout, r.stderr)
		}
	}
}

// TestBenchWorkloadNames: standard names (a sweep's rates have a slash),
// a sweep's base name, aliases and files all resolve.
func TestBenchWorkloadNames(t *testing.T) {
	file := writeWorkload(t, "small.yaml", smallWorkload)
	ws, err := benchWorkloads([]string{"latency@20MB/s", "latency", "W1", file})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, w := range ws {
		names = append(names, w.Name)
	}
	want := []string{"latency@20MB/s", "latency@5MB/s", "latency@20MB/s", "latency@50MB/s", "latency@100MB/s", "max-throughput", "small"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("got %v, want %v", names, want)
	}
}
