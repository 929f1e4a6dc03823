package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// twoPartitions creates topic "two" with p0-0..p0-9 in partition 0 and
// p1-0..p1-4 in partition 1.
func twoPartitions(c *cli) {
	c.t.Helper()
	c.ok("", "topic", "create", "two", "--partitions", "2")
	var p0, p1 strings.Builder
	for i := range 10 {
		fmt.Fprintf(&p0, "p0-%d\n", i)
		if i < 5 {
			fmt.Fprintf(&p1, "p1-%d\n", i)
		}
	}
	c.ok(p0.String(), "produce", "two", "--partition", "0")
	c.ok(p1.String(), "produce", "two", "--partition", "1")
}

func TestConsumeFrom(t *testing.T) {
	c := newCLI(t)
	twoPartitions(c)
	seq := func(p, from, to int) []string {
		var s []string
		for i := from; i < to; i++ {
			s = append(s, fmt.Sprintf("%d/%d p%d-%d", p, i, p, i))
		}
		return s
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--from", "beginning"}, append(seq(0, 0, 10), seq(1, 0, 5)...)},
		{[]string{}, append(seq(0, 0, 10), seq(1, 0, 5)...)},
		{[]string{"--from", "end"}, nil},
		{[]string{"--from", "offset:7"}, seq(0, 7, 10)}, // past partition 1's end: nothing there
		{[]string{"--from", "3"}, append(seq(0, 3, 10), seq(1, 3, 5)...)},
		{[]string{"--from", "-2"}, append(seq(0, 8, 10), seq(1, 3, 5)...)},
		{[]string{"--from", "-20"}, append(seq(0, 0, 10), seq(1, 0, 5)...)},
		{[]string{"--partition", "1"}, seq(1, 0, 5)},
		{[]string{"--partition", "0", "--from", "offset:4"}, seq(0, 4, 10)},
		{[]string{"--partition", "1", "--from", "end"}, nil},
	} {
		args := append([]string{"consume", "two", "-e", "-f", `%p/%o %s\n`}, tc.args...)
		r := c.run("", args...)
		got := sortedLines(r.stdout)
		if r.code != 0 || strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%v: exit %d\ngot  %v\nwant %v\nstderr: %s", tc.args, r.code, got, tc.want, r.stderr)
		}
		if want := "weir consume: " + records(len(tc.want)) + "\n"; r.stderr != want {
			t.Errorf("%v: stderr %q, want %q", tc.args, r.stderr, want)
		}
	}
	// --count takes the first N of a partition, in order.
	if out := c.ok("", "consume", "two", "--partition", "0", "-n", "4", "-q"); out != "p0-0\np0-1\np0-2\np0-3\n" {
		t.Fatalf("-n 4: %q", out)
	}
	if out := c.ok("", "consume", "two", "--partition", "1", "--count", "2", "--from", "offset:2", "-q"); out != "p1-2\np1-3\n" {
		t.Fatalf("--count 2: %q", out)
	}
}

func TestConsumeTimestamp(t *testing.T) {
	c := newCLI(t)
	c.ok("", "topic", "create", "ts", "--partitions", "2")
	c.ok("a1\na2\na3\n", "produce", "ts", "-q")
	time.Sleep(20 * time.Millisecond)
	mid := time.Now()
	time.Sleep(20 * time.Millisecond)
	c.ok("b1\nb2\n", "produce", "ts", "-q")

	for _, from := range []string{
		fmt.Sprintf("timestamp:%d", mid.UnixMilli()),
		"timestamp:" + mid.UTC().Format(time.RFC3339Nano),
		"timestamp:" + mid.Format(time.RFC3339Nano),
	} {
		out := c.ok("", "consume", "ts", "-e", "-q", "--from", from)
		if got := strings.Join(sortedLines(out), ","); got != "b1,b2" {
			t.Errorf("--from %s: %q", from, got)
		}
	}
	if out := c.ok("", "consume", "ts", "-e", "-q", "--from", "timestamp:0"); len(sortedLines(out)) != 5 {
		t.Errorf("timestamp:0: %q", out)
	}
	future := time.Now().Add(time.Hour).UnixMilli()
	if out := c.ok("", "consume", "ts", "-e", "-q", "--from", fmt.Sprint("timestamp:", future)); out != "" {
		t.Errorf("future timestamp: %q", out)
	}
	// %T is the record's timestamp.
	out := c.ok("", "consume", "ts", "-e", "-q", "-f", `%s %T\n`)
	for _, l := range sortedLines(out) {
		s, ts, _ := strings.Cut(l, " ")
		var ms int64
		fmt.Sscan(ts, &ms)
		if before := ms < mid.UnixMilli(); before != strings.HasPrefix(s, "a") {
			t.Errorf("record %s has timestamp %d, boundary %d", s, ms, mid.UnixMilli())
		}
	}
}

func TestConsumeFollows(t *testing.T) {
	c := newCLI(t)
	c.ok("old\n", "produce", "follow")
	// Without --exit-at-end the consumer waits for new records; offset:1
	// is the end, so only the new ones are printed, whenever they come.
	var wg sync.WaitGroup
	var r result
	wg.Go(func() { r = c.run("", "consume", "follow", "--from", "offset:1", "-n", "2", "-f", `%o:%s\n`) })
	time.Sleep(100 * time.Millisecond)
	c.ok("new1\n", "produce", "follow")
	c.ok("new2\nnew3\n", "produce", "follow")
	wg.Wait()
	if r.code != 0 || r.stdout != "1:new1\n2:new2\n" {
		t.Fatalf("%+v", r)
	}
	// --exit-at-end stops at the end listed at start.
	if out := c.ok("", "consume", "follow", "-e", "-q", "--from", "-1"); out != "new3\n" {
		t.Fatalf("-e: %q", out)
	}
}

func TestConsumeGroup(t *testing.T) {
	c := newCLI(t)
	twoPartitions(c)
	r := c.run("", "consume", "two", "--group", "g1", "-e")
	if r.code != 0 {
		// A broker without consumer groups must say so clearly.
		if !strings.Contains(r.stderr, "group g1") {
			t.Fatalf("--group failed without naming the group: %+v", r)
		}
		t.Skipf("broker without groups: %s", r.stderr)
	}
	if n := len(sortedLines(r.stdout)); n != 15 {
		t.Fatalf("first run: %d records\n%s", n, r.stderr)
	}
	// The group committed: nothing new.
	if out := c.ok("", "consume", "two", "--group", "g1", "-e"); out != "" {
		t.Fatalf("second run: %q", out)
	}
	c.ok("p1-5\n", "produce", "two", "--partition", "1")
	if out := c.ok("", "consume", "two", "--group", "g1", "-e"); out != "p1-5\n" {
		t.Fatalf("third run: %q", out)
	}
	// --from applies to a group without committed offsets; -n commits
	// only what was printed.
	if out := c.ok("", "consume", "two", "--group", "g2", "--from", "-1", "-e", "-q", "-f", `%p:%s\n`); strings.Join(sortedLines(out), ",") != "0:p0-9,1:p1-5" {
		t.Fatalf("g2 --from -1: %q", out)
	}
	if out := c.ok("", "consume", "two", "--group", "g3", "--partition", "-1", "-n", "3", "-q"); len(sortedLines(out)) != 3 {
		t.Fatalf("g3 -n 3: %q", out)
	}
	if out := c.ok("", "consume", "two", "--group", "g3", "-e", "-q"); len(sortedLines(out)) != 13 {
		t.Fatalf("g3 after -n 3: %d records\n%s", len(sortedLines(out)), out)
	}
}

func TestConsumeErrors(t *testing.T) {
	c := newCLI(t)
	c.ok("", "topic", "create", "one")
	for _, tc := range []struct {
		code int
		want string
		args []string
	}{
		{2, "want exactly one TOPIC", []string{"consume"}},
		{2, `--from "bogus"`, []string{"consume", "one", "--from", "bogus"}},
		{2, "timestamp:RFC3339", []string{"consume", "one", "--from", "timestamp:yesterday"}},
		{2, `unknown placeholder %x`, []string{"consume", "one", "-f", "%x"}},
		{2, `unknown escape \q`, []string{"consume", "one", "-f", `\q`}},
		{2, "trailing %", []string{"consume", "one", "-f", "%s%"}},
		{2, "--count -1", []string{"consume", "one", "-n", "-1"}},
		{2, "drop --partition", []string{"consume", "one", "--group", "g", "--partition", "0"}},
		{1, "UNKNOWN_TOPIC_OR_PARTITION", []string{"consume", "missing", "-e"}},
		{1, "topic one has no partition 3", []string{"consume", "one", "--partition", "3"}},
	} {
		c.fails(tc.code, tc.want, tc.args...)
	}
}

func TestParseFrom(t *testing.T) {
	ts := time.Date(2025, 3, 1, 12, 0, 0, 500e6, time.UTC)
	for in, want := range map[string]startPoint{
		"beginning":                             {fromBeginning, 0},
		"earliest":                              {fromBeginning, 0},
		"end":                                   {fromEnd, 0},
		"latest":                                {fromEnd, 0},
		"offset:42":                             {fromOffset, 42},
		"42":                                    {fromOffset, 42},
		"-5":                                    {fromLast, 5},
		"offset:-5":                             {fromLast, 5},
		"timestamp:1700000000000":               {fromTimestamp, 1700000000000},
		"timestamp:2025-03-01T12:00:00.5Z":      {fromTimestamp, ts.UnixMilli()},
		"timestamp:2025-03-01T13:00:00.5+01:00": {fromTimestamp, ts.UnixMilli()},
	} {
		got, err := parseFrom(in)
		if err != nil || got != want {
			t.Errorf("parseFrom(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "begin", "offset:", "offset:x", "timestamp:", "timestamp:-1", "timestamp:2025-03-01"} {
		if _, err := parseFrom(in); err == nil {
			t.Errorf("parseFrom(%q): no error", in)
		}
	}
}

func TestFormat(t *testing.T) {
	r := &kgo.Record{
		Topic: "t", Partition: 3, Offset: 42, Key: []byte("k"), Value: []byte("hello"),
		Timestamp: time.UnixMilli(1700000000123),
		Headers:   []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b"}},
	}
	null := &kgo.Record{Topic: "t", Timestamp: time.UnixMilli(0)}
	for _, tc := range []struct {
		format string
		rec    *kgo.Record
		want   string
	}{
		{`%s\n`, r, "hello\n"},
		{`%t %p %o %k %s %K %S %T %h`, r, "t 3 42 k hello 1 5 1700000000123 a=1,b="},
		{`100%% \t\r\\\0|`, r, "100% \t\r\\\x00|"},
		{`[%k][%s][%K][%S][%h]`, null, "[][][-1][-1][]"},
		{`plain`, r, "plain"},
		{``, r, ""},
	} {
		f, err := parseFormat(tc.format)
		if err != nil {
			t.Fatalf("parseFormat(%q): %v", tc.format, err)
		}
		if got := string(f.appendRecord(nil, tc.rec)); got != tc.want {
			t.Errorf("format %q: got %q, want %q", tc.format, got, tc.want)
		}
	}
	// Appending reuses the buffer's prefix.
	f, _ := parseFormat(`%o`)
	if got := f.appendRecord([]byte("x"), r); !bytes.Equal(got, []byte("x42")) {
		t.Errorf("append: %q", got)
	}
}
