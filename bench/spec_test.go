package bench_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirhq/weir/bench"
)

func TestStandardSuite(t *testing.T) {
	suite, err := bench.StandardSuite()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bench.Workload{}
	for _, w := range suite {
		if w.Description == "" {
			t.Errorf("%s: no description", w.Name)
		}
		names[w.Name] = w
	}
	// What the issue asks the suite to cover.
	mt := names["max-throughput"]
	if mt.RecordBytes != 1024 || mt.Acks != "all" || mt.Rate != 0 || mt.Consumers != 1 || !mt.Idempotent {
		t.Errorf("max-throughput: %+v", mt)
	}
	var rates []float64
	for _, w := range suite {
		if w.Base == "latency" {
			rates = append(rates, w.Rate)
		}
	}
	if len(rates) < 3 {
		t.Errorf("latency sweep has %d rates, want several", len(rates))
	}
	if w := names["small-records"]; w.RecordBytes != 100 {
		t.Errorf("small-records: %d bytes", w.RecordBytes)
	}
	if w := names["catch-up"]; w.BacklogBytes != 2e9 || w.Consumers != 1 {
		t.Errorf("catch-up: %+v", w)
	}
	if w := names["many-partitions"]; w.Partitions*w.Topics < 1000 {
		t.Errorf("many-partitions: %d", w.Partitions*w.Topics)
	}
	if w := names["many-clients"]; w.Producers < 8 || w.Consumers < 4 {
		t.Errorf("many-clients: %d producers %d consumers", w.Producers, w.Consumers)
	}
	if w := names["consumer-group"]; !w.Group || w.CommitInterval != time.Second {
		t.Errorf("consumer-group: %+v", w)
	}
	if w := names["idle-connections"]; w.Conns != 10000 {
		t.Errorf("idle-connections: %d", w.Conns)
	}
	// The aliases of the issue-era workloads resolve.
	for alias, want := range map[string]string{"W1": "max-throughput", "w2": "latency@20MB/s", "W3": "small-records", "W4": "catch-up", "CONNS": "idle-connections"} {
		w, err := bench.StandardWorkload(alias)
		if err != nil || w.Name != want {
			t.Errorf("%s: %q, %v", alias, w.Name, err)
		}
	}
	if _, err := bench.StandardWorkload("nope"); err == nil || !strings.Contains(err.Error(), "max-throughput") {
		t.Errorf("unknown workload: %v", err)
	}
	b, err := bench.StandardFile("max-throughput")
	if err != nil || !strings.Contains(string(b), "name: max-throughput") {
		t.Errorf("StandardFile: %v", err)
	}
}

func TestParseWorkloads(t *testing.T) {
	ws, err := bench.ParseWorkloads("x.yaml", []byte(`
name: full
description: every field
topics: 3
partitions: 8
record-size: {distribution: uniform, min: 100B, max: 2KiB}
keys: zipf
key-count: 500
producers: 4
rate: 10k/s
acks: all
idempotent: false
compression: zstd
linger: 5ms
batch-size: 512KiB
max-buffered-bytes: 32MiB
consumers: 2
consumer-group: true
commit-interval: 500ms
fetch-max-bytes: 20MiB
max-partition-fetch-bytes: 2MiB
warmup: 2s
duration: 1m
drain-timeout: 30s
---
name: sweep
rate: [1MB/s, 2.5MB/s, max]
acks: 1
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 4 {
		t.Fatalf("%d workloads, want 1 + 3 from the sweep", len(ws))
	}
	w := ws[0]
	want := bench.Workload{
		Name: "full", Description: "every field", Topics: 3, Partitions: 8, RecordBytes: 1074,
		RecordSize: bench.SizeDist{Kind: "uniform", Min: 100, Max: 2048}, Keys: "zipf", KeyCount: 500,
		Producers: 4, RecordRate: 10000, Acks: "all", Compression: "zstd", Linger: 5 * time.Millisecond,
		BatchBytes: 512 << 10, MaxBufferedBytes: 32 << 20, Consumers: 2, Group: true,
		CommitInterval: 500 * time.Millisecond, FetchMaxBytes: 20 << 20, MaxPartitionFetchBytes: 2 << 20,
		Warmup: 2 * time.Second, Duration: time.Minute, DrainTimeout: 30 * time.Second,
	}
	if w != want {
		t.Errorf("got  %+v\nwant %+v", w, want)
	}
	for i, want := range []struct {
		name string
		rate float64
	}{{"sweep@1MB/s", 1e6}, {"sweep@2.5MB/s", 2.5e6}, {"sweep@max", 0}} {
		w := ws[1+i]
		if w.Name != want.name || w.Base != "sweep" || w.Rate != want.rate || w.Acks != "1" || w.Idempotent {
			t.Errorf("sweep %d: %q base %q rate %v acks %q idempotent %v", i, w.Name, w.Base, w.Rate, w.Acks, w.Idempotent)
		}
		if w.Partitions != 4 || w.RecordBytes != 1024 || w.Duration != 20*time.Second {
			t.Errorf("sweep %d defaults: %+v", i, w)
		}
	}
}

// TestParseWorkloadErrors: a bad file gives an error naming the line and
// the field.
func TestParseWorkloadErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"name: a\npartitons: 4", `line 2: partitons: unknown field`},
		{"name: a\npartitions: four", `line 2: partitions: "four" is not a whole number`},
		{"name: a\npartitions: 0", `partitions: 0 not in`},
		{"name: a\nrecord-size: 1XB", `line 2: record-size: "1XB" is not a size`},
		{"name: a\nrecord-size: 8", `record-size: 8 not in [16`},
		{"name: a\nrecord-size: {distribution: pareto, min: 100, max: 200}", `record-size.distribution: "pareto"`},
		{"name: a\nrecord-size: {min: 100, max: 200}", `record-size.distribution: missing`},
		{"name: a\nrecord-size: {distribution: uniform, min: 300, max: 200}", `record-size: min 300 max 200`},
		{"name: a\nrate: fast", `line 2: rate: "fast" is not a rate`},
		{"name: a\nrate: []", `rate: empty list`},
		{"name: a\nrate: [1MB/s, {x: 1}]", `line 2: rate: want a single value`},
		{"name: a\nacks: -1", `acks: "-1" is not one of all, 1, 0`},
		{"name: a\nacks: 1\nidempotent: true", `idempotent: needs acks: all`},
		{"name: a\ncompression: brotli", `compression: "brotli"`},
		{"name: a\nkeys: hashed", `keys: "hashed"`},
		{"name: a\nduration: 20", `line 2: duration: "20" is not a duration`},
		{"name: a\nwarmup: -1s", `warmup: -1s is negative`},
		{"name: a\nconsumer-group: maybe", `consumer-group: "maybe" is not true or false`},
		{"name: a\nbacklog: 1GB\nrate: 10MB/s", `backlog: a backlog is produced at max rate`},
		{"name: a\nproducers: 0", `producers: 0 not in`},
		{"name: a\nfetch-max-bytes: 2GiB", `fetch-max-bytes: 2147483647 not in [0, 1 GiB]`},
		{"name: a\nmax-partition-fetch-bytes: 4GiB", `max-partition-fetch-bytes: 2147483647 not in [0, 1 GiB]`},
		{"name: a\nname: b", `line 2: name: given twice`},
		{"partitions: 4", `name: missing`},
		{"- name: a", `a workload is a mapping`},
		{"name: [a", `x.yaml: yaml:`},
		{"", `no workload in file`},
	} {
		_, err := bench.ParseWorkloads("x.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "x.yaml") {
			t.Errorf("%q: error %v, want it to contain %q", tc.yaml, err, tc.want)
		}
	}
}

func TestLoadWorkloads(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mine.yaml")
	os.WriteFile(p, []byte("name: mine\nrate: 5MB/s\n"), 0o644)
	ws, err := bench.LoadWorkloads(p)
	if err != nil || len(ws) != 1 || ws[0].Rate != 5e6 {
		t.Fatalf("%+v %v", ws, err)
	}
	if _, err := bench.LoadWorkloads(p + ".missing"); err == nil {
		t.Error("missing file: no error")
	}
}

func TestParseSizeAndRate(t *testing.T) {
	for s, want := range map[string]int64{"1024": 1024, "1KiB": 1024, "1kb": 1000, "1.5MB": 1500000, "2GB": 2e9, "16MiB": 16 << 20, "100B": 100, "3k": 3000} {
		if got, err := bench.ParseSize(s); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "-1", "1XB", "KB", "1e400"} {
		if _, err := bench.ParseSize(s); err == nil {
			t.Errorf("ParseSize(%q): no error", s)
		}
	}
	for s, want := range map[string][2]float64{"max": {0, 0}, "20MB/s": {20e6, 0}, "5000/s": {0, 5000}, "5k/s": {0, 5000}, "1MiB/s": {1 << 20, 0}} {
		b, r, err := bench.ParseRate(s)
		if err != nil || b != want[0] || r != want[1] {
			t.Errorf("ParseRate(%q) = %v %v %v; want %v", s, b, r, err, want)
		}
	}
	for _, s := range []string{"20MB", "fast", "-5/s", "0MB/s"} {
		if _, _, err := bench.ParseRate(s); err == nil {
			t.Errorf("ParseRate(%q): no error", s)
		}
	}
}
