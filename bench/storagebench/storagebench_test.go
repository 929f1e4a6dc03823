package storagebench

import (
	"context"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirhq/weir/internal/batchgen"
)

// tinyOptions are options for a run of a few seconds in dir.
func tinyOptions(t *testing.T, dir string) Options {
	return Options{
		Dir:       dir,
		Bytes:     4 << 20,
		ReadBytes: 16 << 20,
		Logs:      []int{1, 4},
		Duration:  200 * time.Millisecond,
		Rounds:    1,
		Timeout:   time.Minute,
		Progress:  t.Output(),
	}
}

func TestRunShort(t *testing.T) {
	dir := t.TempDir()
	res, err := Run(context.Background(), tinyOptions(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	// Rows: Append and AppendValidated per size, one per appender count,
	// one per log count, read, open.
	want := map[string]int{NameAppend: 6, NameGroupCommit: 2, NameManyLogs: 2, NameRead: 1, NameOpen: 1}
	got := map[string]int{}
	for _, row := range res.Rows {
		got[row.Name]++
		if !(row.Value > 0) || !(row.Reference > 0) || !(row.Ratio > 0) || math.IsInf(row.Ratio, 0) ||
			math.IsInf(row.Value, 0) || math.IsInf(row.Reference, 0) {
			t.Errorf("%s %s: value %v, reference %v, ratio %v; want positive and finite", row.Name, row.Params, row.Value, row.Reference, row.Ratio)
		}
		if row.Rounds != 1 || row.Unit == "" || row.RefName == "" {
			t.Errorf("%s %s: rounds %d, unit %q, ref %q", row.Name, row.Params, row.Rounds, row.Unit, row.RefName)
		}
		if row.Name == NameAppend && row.Extra["timed fsyncs"] != 0 {
			t.Errorf("%s %s: %v fsyncs while timed, want 0", row.Name, row.Params, row.Extra["timed fsyncs"])
		}
		if row.Name == NameGroupCommit && !(row.Extra["fsyncs/s"] > 0 && row.Extra["ref fsyncs/s"] > 0) {
			t.Errorf("%s %s: extra %v, want fsyncs on both sides", row.Name, row.Params, row.Extra)
		}
	}
	for name, n := range want {
		if got[name] != n {
			t.Errorf("%d %s rows, want %d", got[name], name, n)
		}
	}
	if len(res.Notes) != 0 {
		t.Errorf("notes: %q", res.Notes)
	}
	if res.Options.Rounds != 1 || res.Options.Progress != nil || res.Machine.NumCPU == 0 {
		t.Errorf("options %+v, machine %+v", res.Options, res.Machine)
	}
	// Everything written is removed.
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("%s holds %v after Run (%v)", dir, entries, err)
	}
	md := res.Markdown()
	t.Logf("\n%s", md)
	if rows := tableRows(md); rows != len(res.Rows) {
		t.Errorf("Markdown has %d table rows, want %d:\n%s", rows, len(res.Rows), md)
	}
}

// tableRows counts the body rows of the Markdown table.
func tableRows(md string) int {
	n := 0
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| benchmark |") {
			n++
		}
	}
	return n
}

func TestOnly(t *testing.T) {
	o := tinyOptions(t, t.TempDir())
	o.Only = []string{NameAppend, NameOpen}
	o.Sizes = []int{16 << 10}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, row := range res.Rows {
		names = append(names, row.Name)
	}
	if want := []string{NameAppend, NameAppend, NameOpen}; !slices.Equal(names, want) {
		t.Fatalf("rows %q, want %q", names, want)
	}
}

func TestInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"size zero", func(o *Options) { o.Sizes = []int{1024, 0} }, "Sizes[1] = 0"},
		{"size too large", func(o *Options) { o.Sizes = []int{MaxBatchSize + 1} }, "Sizes[0]"},
		{"bytes below two batches", func(o *Options) { o.Sizes = []int{1 << 20}; o.Bytes = 1 << 20 }, "Bytes"},
		{"unknown benchmark", func(o *Options) { o.Only = []string{"append", "nope"} }, `unknown benchmark "nope"`},
		{"rounds", func(o *Options) { o.Rounds = -1 }, "Rounds"},
		{"read bytes", func(o *Options) { o.ReadBytes = 1000 }, "ReadBytes"},
		{"logs", func(o *Options) { o.Logs = []int{1, 0} }, "Logs[1]"},
		{"appenders", func(o *Options) { o.GroupAppenders = []int{-2} }, "GroupAppenders[0]"},
		{"duration", func(o *Options) { o.Duration = time.Millisecond }, "Duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Dir: t.TempDir()}
			tc.edit(&o)
			res, err := Run(context.Background(), o)
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidOptions mentioning %q", err, tc.want)
			}
			if res != nil {
				t.Fatalf("results %+v with invalid options", res)
			}
		})
	}
	// The caller's options are not modified.
	o := Options{Sizes: []int{0}}
	if _, err := Run(context.Background(), o); err == nil || o.Dir != "" || o.Sizes[0] != 0 {
		t.Fatalf("err %v, options %+v", err, o)
	}
	if _, err := Run(context.Background(), Options{Dir: "/nonexistent/weir"}); err == nil || errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("missing Dir: err = %v", err)
	}
}

// TestStops checks that a cancelled context and a phase over Timeout end
// the run promptly with an error saying why, and remove its files.
func TestStops(t *testing.T) {
	dir := t.TempDir()
	o := tinyOptions(t, dir)
	o.Only = []string{NameGroupCommit}
	o.Duration = time.Minute

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err := Run(ctx, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: err = %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("cancelled run took %v", d)
	}

	o.Timeout = 100 * time.Millisecond
	start = time.Now()
	_, err = Run(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "took longer than Timeout") {
		t.Fatalf("timed-out run: err = %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("timed-out run took %v", d)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("%s holds %v after Run (%v)", dir, entries, err)
	}
}

func TestHelpers(t *testing.T) {
	if b, err := batchgen.Sized(MinBatchSize); err != nil || len(b) != MinBatchSize {
		t.Fatalf("batchgen.Sized(MinBatchSize): %d bytes, %v", len(b), err)
	}
	mem := make([]byte, 1003)
	for i := range mem {
		mem[i] = byte(i)
	}
	var want uint64
	for i := range mem[:1000] {
		want ^= uint64(mem[i]) << (8 * (i % 8))
	}
	for _, c := range mem[1000:] {
		want ^= uint64(c)
	}
	if got := xorWords(mem); got != want {
		t.Fatalf("xorWords = %#x, want %#x", got, want)
	}
	if got := median([]float64{3, 1, 2, 10}); got != 2.5 {
		t.Fatalf("median = %v", got)
	}
	for n, want := range map[int64]string{1 << 10: "1KiB", 16 << 20: "16MiB", 1e9: "1GB", 1 << 30: "1GiB", 1500: "1500B"} {
		if got := sizeName(n); got != want {
			t.Errorf("sizeName(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestMarkdown(t *testing.T) {
	r := &Results{
		Options: Options{Rounds: 3},
		Rows: []Result{
			{Name: NameAppend, Params: "size=1KiB api=Append", Value: 812.3, Unit: "MB/s", Reference: 1000, RefName: "pwrite(2)", Ratio: 0.8123, Extra: map[string]float64{"timed fsyncs": 0}, Rounds: 3},
			{Name: NameOpen, Params: "log=1GB state=clean", Value: 1.234, Unit: "ms", Reference: 0.05, RefName: "a|b", Ratio: 0.0405, Rounds: 3},
		},
		Notes: []string{"many-logs logs=1000 skipped"},
	}
	md := r.Markdown()
	for _, want := range []string{
		"| append | size=1KiB api=Append | 812 MB/s | 1000 MB/s | 0.81 | ref: pwrite(2); timed fsyncs 0 |",
		"| open | log=1GB state=clean | 1.23 ms | 0.05 ms | 0.04 | ref: a\\|b |",
		"- many-logs logs=1000 skipped",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	if n := tableRows(md); n != 2 {
		t.Errorf("%d table rows, want 2", n)
	}
}
