package bench

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Workload files are YAML, one workload per document (several documents,
// separated by "---", may share a file). Every field is optional; sizes
// take units (B, KB, KiB, MB, MiB, GB, GiB), rates are "max", bytes per
// second ("20MB/s") or records per second ("5000/s", "5k/s"), durations
// are Go durations ("500ms", "20s"). A list of rates makes a sweep: one
// workload per rate, named name@rate, drawn as one latency-vs-throughput
// curve. Fields (see Workload for what each does):
//
//	name: max-throughput          # required
//	description: one line for the report
//	topics: 1
//	partitions: 4                 # per topic
//	record-size: 1KiB             # or {distribution: uniform, min: 100, max: 2KiB}
//	                              # or {distribution: normal, mean: 1KiB, stddev: 256, min: 16, max: 4KiB}
//	keys: none                    # none, random, sequential, zipf
//	key-count: 1000
//	producers: 1
//	rate: max                     # or 20MB/s, 5000/s, or a list: [5MB/s, 20MB/s, 50MB/s]
//	acks: all                     # all, 1, 0
//	idempotent: true              # default: true with acks all
//	compression: none             # none, gzip, snappy, lz4, zstd
//	linger: 0ms
//	batch-size: 1MB
//	max-buffered-bytes: 16MiB     # per producer
//	consumers: 1
//	consumer-group: false         # consumers join one group and commit offsets
//	commit-interval: 1s
//	fetch-max-bytes: 50MiB        # per consumer fetch (0: the client's default)
//	max-partition-fetch-bytes: 1MiB  # per partition in a fetch (0: the client's default)
//	warmup: 5s
//	duration: 20s
//	backlog: 2GB                  # produce this much, then consumers read it from offset 0
//	drain-timeout: 15s
//	connections: 10000            # idle-connections workload
//	connection-rate: 200          # requests per second on random connections

//go:embed workloads/*.yaml
var standardFS embed.FS

// standardFiles is the standard suite in report order.
var standardFiles = []string{
	"max-throughput.yaml",
	"latency.yaml",
	"small-records.yaml",
	"catch-up.yaml",
	"many-partitions.yaml",
	"many-clients.yaml",
	"consumer-group.yaml",
	"idle-connections.yaml",
}

// StandardSuite returns the standard suite's workloads, rate sweeps
// expanded, in report order.
func StandardSuite() ([]Workload, error) {
	var out []Workload
	for _, f := range standardFiles {
		_, ws, err := standardWorkloads(f)
		if err != nil {
			return nil, err
		}
		out = append(out, ws...)
	}
	return out, nil
}

// standardWorkloads reads and parses one file of the standard suite.
func standardWorkloads(file string) ([]byte, []Workload, error) {
	b, err := standardFS.ReadFile("workloads/" + file)
	if err != nil {
		return nil, nil, err
	}
	ws, err := ParseWorkloads(file, b)
	return b, ws, err
}

// StandardFile returns the YAML file of a standard workload, by file name
// or by the name of a workload it defines (latency@20MB/s: latency.yaml),
// for users to copy and edit.
func StandardFile(name string) ([]byte, error) {
	if b, err := standardFS.ReadFile("workloads/" + strings.TrimSuffix(name, ".yaml") + ".yaml"); err == nil {
		return b, nil
	}
	if a, ok := aliases[strings.ToUpper(name)]; ok {
		name = a
	}
	for _, f := range standardFiles {
		b, ws, err := standardWorkloads(f)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			if strings.EqualFold(w.Name, name) {
				return b, nil
			}
		}
	}
	return nil, fmt.Errorf("bench: no standard workload %q (weir bench --list)", name)
}

// LoadWorkloads reads a workload file (see ParseWorkloads).
func LoadWorkloads(path string) ([]Workload, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return ParseWorkloads(filepath.Base(path), b)
}

// ParseWorkloads parses workload YAML (one or more documents); file names
// the source in errors, which also give the line and the field. Rate
// sweeps are expanded. Each workload is validated.
func ParseWorkloads(file string, data []byte) ([]Workload, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []Workload
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("bench: %s: %w", file, err)
		}
		ws, err := parseDoc(&doc)
		if err != nil {
			return nil, fmt.Errorf("bench: %s: %w", file, err)
		}
		out = append(out, ws...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bench: %s: no workload in file", file)
	}
	return out, nil
}

// fieldError names the line and the field.
func fieldError(n *yaml.Node, field, format string, args ...any) error {
	return fmt.Errorf("line %d: %s: %s", n.Line, field, fmt.Sprintf(format, args...))
}

var workloadFields = []string{
	"name", "description", "topics", "partitions", "record-size", "keys", "key-count",
	"producers", "rate", "acks", "idempotent", "compression", "linger", "batch-size",
	"max-buffered-bytes", "consumers", "consumer-group", "commit-interval",
	"fetch-max-bytes", "max-partition-fetch-bytes", "warmup",
	"duration", "backlog", "drain-timeout", "connections", "connection-rate",
}

func parseDoc(doc *yaml.Node) ([]Workload, error) {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: a workload is a mapping of fields (name: …, partitions: …)", n.Line)
	}
	var w Workload
	var rates []rateSpec
	idempotent := -1
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := k.Value
		if seen[field] {
			return nil, fieldError(k, field, "given twice")
		}
		seen[field] = true
		var err error
		switch field {
		case "name":
			w.Name, err = scalar(v, field)
		case "description":
			w.Description, err = scalar(v, field)
		case "topics":
			w.Topics, err = positive(v, field)
		case "partitions":
			w.Partitions, err = positive(v, field)
		case "record-size":
			err = parseRecordSize(v, &w)
		case "keys":
			w.Keys, err = str(v, field)
		case "key-count":
			w.KeyCount, err = positive(v, field)
		case "producers":
			w.Producers, err = positive(v, field)
		case "rate":
			rates, err = parseRates(v)
		case "acks":
			w.Acks, err = str(v, field)
		case "idempotent":
			var b bool
			b, err = boolean(v, field)
			idempotent = map[bool]int{false: 0, true: 1}[b]
		case "compression":
			w.Compression, err = str(v, field)
		case "linger":
			w.Linger, err = duration(v, field)
		case "batch-size":
			var s int64
			s, err = size(v, field)
			w.BatchBytes = int(s)
		case "max-buffered-bytes":
			var s int64
			s, err = size(v, field)
			w.MaxBufferedBytes = int(s)
		case "fetch-max-bytes":
			w.FetchMaxBytes, err = size31(v, field)
		case "max-partition-fetch-bytes":
			w.MaxPartitionFetchBytes, err = size31(v, field)
		case "consumers":
			w.Consumers, err = integer(v, field)
		case "consumer-group":
			w.Group, err = boolean(v, field)
		case "commit-interval":
			w.CommitInterval, err = duration(v, field)
		case "warmup":
			w.Warmup, err = duration(v, field)
		case "duration":
			w.Duration, err = duration(v, field)
		case "backlog":
			w.BacklogBytes, err = size(v, field)
		case "drain-timeout":
			w.DrainTimeout, err = duration(v, field)
		case "connections":
			w.Conns, err = integer(v, field)
		case "connection-rate":
			var f float64
			f, err = float(v, field)
			w.ConnRate = f
		default:
			return nil, fieldError(k, field, "unknown field (known: %s)", strings.Join(workloadFields, ", "))
		}
		if err != nil {
			return nil, err
		}
	}
	if w.Name == "" {
		return nil, fmt.Errorf("line %d: name: missing; every workload needs a name", n.Line)
	}
	if w.Acks == "" {
		w.Acks = "all"
	}
	w.Idempotent = idempotent == 1 || (idempotent == -1 && w.Acks == "all")
	if len(rates) == 0 {
		rates = []rateSpec{{}}
	}
	var out []Workload
	for _, r := range rates {
		x := w
		x.Rate, x.RecordRate = r.bytes, r.records
		if len(rates) > 1 {
			x.Base = w.Name
			x.Name = w.Name + "@" + r.text
		}
		x.ensureDefaults()
		if err := x.validate(); err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

func scalar(v *yaml.Node, field string) (string, error) {
	if v.Kind != yaml.ScalarNode {
		return "", fieldError(v, field, "want a single value")
	}
	return v.Value, nil
}

func str(v *yaml.Node, field string) (string, error) {
	s, err := scalar(v, field)
	return strings.ToLower(strings.TrimSpace(s)), err
}

func integer(v *yaml.Node, field string) (int, error) {
	s, err := scalar(v, field)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
	if err != nil {
		return 0, fieldError(v, field, "%q is not a whole number", s)
	}
	return n, nil
}

func positive(v *yaml.Node, field string) (int, error) {
	n, err := integer(v, field)
	if err == nil && n < 1 {
		err = fieldError(v, field, "%d not in [1, …)", n)
	}
	return n, err
}

func float(v *yaml.Node, field string) (float64, error) {
	s, err := scalar(v, field)
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fieldError(v, field, "%q is not a number", s)
	}
	return f, nil
}

func boolean(v *yaml.Node, field string) (bool, error) {
	s, err := scalar(v, field)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true, nil
	case "false", "no", "off":
		return false, nil
	}
	return false, fieldError(v, field, "%q is not true or false", s)
}

func duration(v *yaml.Node, field string) (time.Duration, error) {
	s, err := scalar(v, field)
	if err != nil {
		return 0, err
	}
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fieldError(v, field, "%q is not a duration (e.g. 500ms, 20s, 2m)", s)
	}
	return d, nil
}

func size(v *yaml.Node, field string) (int64, error) {
	s, err := scalar(v, field)
	if err != nil {
		return 0, err
	}
	n, err := ParseSize(s)
	if err != nil {
		return 0, fieldError(v, field, "%v", err)
	}
	return n, nil
}

// size31 is size for a field sent as a Kafka INT32: larger values become
// the INT32 maximum, for validate to reject with the others out of range.
func size31(v *yaml.Node, field string) (int, error) {
	n, err := size(v, field)
	return int(min(n, math.MaxInt32)), err
}

var sizeUnits = []struct {
	suffix string
	mult   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12}, {"k", 1e3}, {"b", 1},
}

// ParseSize parses a byte count with an optional unit: 1024, 1KiB, 1.5MB,
// 2GB (decimal KB/MB/GB, binary KiB/MiB/GiB).
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f*mult > 1<<62 {
		return 0, fmt.Errorf("%q is not a size (e.g. 1024, 1KiB, 16MiB, 2GB)", s)
	}
	return int64(math.Round(f * mult)), nil
}

type rateSpec struct {
	text           string
	bytes, records float64
}

// ParseRate parses "max" (0, 0), bytes per second ("20MB/s") or records
// per second ("5000/s", "5k/s").
func ParseRate(s string) (bytesPerSec, recordsPerSec float64, err error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "max" || t == "0" {
		return 0, 0, nil
	}
	num, ok := strings.CutSuffix(t, "/s")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not a rate (max, 20MB/s, or 5000/s records)", s)
	}
	num = strings.TrimSpace(num)
	if f, err := strconv.ParseFloat(strings.TrimSuffix(num, "k"), 64); err == nil && f > 0 && !math.IsInf(f, 0) {
		if strings.HasSuffix(num, "k") {
			f *= 1e3
		}
		return 0, f, nil
	}
	n, err := ParseSize(num)
	if err != nil || n <= 0 {
		return 0, 0, fmt.Errorf("%q is not a rate (max, 20MB/s, or 5000/s records)", s)
	}
	return float64(n), 0, nil
}

func parseRates(v *yaml.Node) ([]rateSpec, error) {
	nodes := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		nodes = v.Content
		if len(nodes) == 0 {
			return nil, fieldError(v, "rate", "empty list")
		}
	}
	var out []rateSpec
	for _, n := range nodes {
		s, err := scalar(n, "rate")
		if err != nil {
			return nil, err
		}
		b, r, err := ParseRate(s)
		if err != nil {
			return nil, fieldError(n, "rate", "%v", err)
		}
		out = append(out, rateSpec{text: strings.ReplaceAll(strings.TrimSpace(s), " ", ""), bytes: b, records: r})
	}
	return out, nil
}

func parseRecordSize(v *yaml.Node, w *Workload) error {
	if v.Kind == yaml.ScalarNode {
		n, err := size(v, "record-size")
		w.RecordBytes = int(n)
		return err
	}
	if v.Kind != yaml.MappingNode {
		return fieldError(v, "record-size", "want a size or {distribution: …, min: …, max: …}")
	}
	d := &w.RecordSize
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, x := v.Content[i], v.Content[i+1]
		field := "record-size." + k.Value
		var err error
		var n int64
		switch k.Value {
		case "distribution":
			d.Kind, err = str(x, field)
		case "min":
			n, err = size(x, field)
			d.Min = int(n)
		case "max":
			n, err = size(x, field)
			d.Max = int(n)
		case "mean":
			n, err = size(x, field)
			w.RecordBytes = int(n)
		case "stddev":
			n, err = size(x, field)
			d.Stddev = float64(n)
		default:
			return fieldError(k, field, "unknown field (known: distribution, min, max, mean, stddev)")
		}
		if err != nil {
			return err
		}
	}
	if d.Kind == "" {
		return fieldError(v, "record-size.distribution", "missing (uniform or normal)")
	}
	if d.Kind == "uniform" && w.RecordBytes == 0 {
		w.RecordBytes = (d.Min + d.Max) / 2
	}
	if d.Kind == "normal" && w.RecordBytes == 0 {
		return fieldError(v, "record-size.mean", "missing")
	}
	return nil
}
