package main

import (
	"fmt"
	"strings"
	"testing"
)

func TestProduceConsumeLines(t *testing.T) {
	c := newCLI(t)
	c.ok("", "topic", "create", "lines", "--partitions", "1")
	var in, want strings.Builder
	for i := range 100 {
		fmt.Fprintf(&in, "line %d\n", i)
		fmt.Fprintf(&want, "lines/0/%d:line %d\n", i, i)
	}
	r := c.run(in.String(), "produce", "lines")
	if r.code != 0 || r.stderr != "weir produce: 100 records, 690 bytes to lines (partitions 0)\n" {
		t.Fatalf("produce: %+v", r)
	}
	r = c.run("", "consume", "lines", "--exit-at-end", "--format", `%t/%p/%o:%s\n`)
	if r.code != 0 || r.stdout != want.String() || r.stderr != "weir consume: 100 records\n" {
		t.Fatalf("consume: exit %d\n%s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// Still there after a restart.
	c.b.Restart()
	if out := c.ok("", "consume", "lines", "-e", "-q", "-f", `%t/%p/%o:%s\n`); out != want.String() {
		t.Fatalf("consume after restart:\n%s", out)
	}
}

func TestProduceLineEdges(t *testing.T) {
	c := newCLI(t)
	// Empty lines are empty records; a last line without a newline counts;
	// \r is kept.
	c.ok("a\n\nb\r\nc", "produce", "edges", "-q")
	out := c.ok("", "consume", "edges", "-e", "-q", "-f", `[%s]%S\n`)
	if want := "[a]1\n[]0\n[b\r]2\n[c]1\n"; out != want {
		t.Fatalf("got %q, want %q", out, want)
	}
	// No input, no records.
	r := c.run("", "produce", "edges")
	if r.code != 0 || !strings.HasPrefix(r.stderr, "weir produce: 0 records") {
		t.Fatalf("empty stdin: %+v", r)
	}
}

func TestProduceKeysHeaders(t *testing.T) {
	c := newCLI(t)
	c.ok("", "topic", "create", "kv")
	in := "k1::v1\nno separator\nk3::v::3\n::empty key\n"
	c.ok(in, "produce", "kv", "--key-separator", "::", "--header", "h1=1", "--header", "h2=x=y", "--header", "h3=")
	out := c.ok("", "consume", "kv", "-e", "-q", "-f", `%k|%s|%h|%K|%S\n`)
	want := "k1|v1|h1=1,h2=x=y,h3=|2|2\n" +
		"|no separator|h1=1,h2=x=y,h3=|-1|12\n" +
		"k3|v::3|h1=1,h2=x=y,h3=|2|4\n" +
		"|empty key|h1=1,h2=x=y,h3=|0|9\n"
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}

	// --value with --key, and --key for every stdin line.
	c.ok("", "produce", "kv", "--value", "single", "--key", "sk", "--header", "a=b")
	c.ok("x\ny\n", "produce", "kv", "--key", "same")
	out = c.ok("", "consume", "kv", "-e", "-q", "--from", "offset:4", "-f", `%o %k=%s %h\n`)
	if want := "4 sk=single a=b\n5 same=x \n6 same=y \n"; out != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

func TestProduceCompressionAcks(t *testing.T) {
	c := newCLI(t)
	c.ok("", "topic", "create", "codecs", "--partitions", "2")
	var want []string
	n := 0
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		for _, acks := range []string{"all", "1", "0"} {
			var in strings.Builder
			for i := range 20 {
				line := fmt.Sprintf("%s-%s-%d-%s", codec, acks, i, strings.Repeat("x", i*10))
				fmt.Fprintf(&in, "k%d:%s\n", i, line)
				want = append(want, fmt.Sprintf("k%d %s", i, line))
				n++
			}
			r := c.run(in.String(), "produce", "codecs", "--compression", codec, "--acks", acks, "--key-separator", ":")
			if r.code != 0 || !strings.HasPrefix(r.stderr, "weir produce: 20 records") {
				t.Fatalf("produce %s acks=%s: %+v", codec, acks, r)
			}
		}
	}
	// acks=0 gets no answer, so wait for everything to be readable.
	out := c.ok("", "consume", "codecs", "-n", fmt.Sprint(n), "-q", "-f", `%k %s\n`)
	got := sortedLines(out)
	wantSorted := sortedLines(strings.Join(want, "\n") + "\n")
	if strings.Join(got, "\n") != strings.Join(wantSorted, "\n") {
		t.Fatalf("consumed %d records, want %d", len(got), len(wantSorted))
	}
}

func TestProducePartition(t *testing.T) {
	c := newCLI(t)
	c.ok("", "topic", "create", "parts", "--partitions", "3")
	r := c.run("a\nb\nc\n", "produce", "parts", "--partition", "2")
	if r.code != 0 || r.stderr != "weir produce: 3 records, 3 bytes to parts (partitions 2)\n" {
		t.Fatalf("produce: %+v", r)
	}
	if out := c.ok("", "consume", "parts", "-e", "-q", "-f", `%p:%s `); out != "2:a 2:b 2:c " {
		t.Fatalf("consume: %q", out)
	}
	// Keyed records spread over partitions by key hash; the same key
	// always lands on the same partition.
	var in strings.Builder
	for i := range 60 {
		fmt.Fprintf(&in, "key%d=v\n", i%6)
	}
	c.ok(in.String(), "produce", "parts", "--key-separator", "=")
	byKey := map[string]string{}
	for _, l := range sortedLines(c.ok("", "consume", "parts", "-e", "-q", "--from", "offset:0", "-f", `%k %p\n`)) {
		k, p, _ := strings.Cut(l, " ")
		if k == "" {
			continue
		}
		if prev, ok := byKey[k]; ok && prev != p {
			t.Fatalf("key %s on partitions %s and %s", k, prev, p)
		}
		byKey[k] = p
	}
	if len(byKey) != 6 {
		t.Fatalf("keys: %v", byKey)
	}
}

func TestProduceErrors(t *testing.T) {
	c := newCLI(t)
	c.ok("", "topic", "create", "one")
	for _, tc := range []struct {
		code int
		want string
		args []string
	}{
		{2, "want exactly one TOPIC", []string{"produce"}},
		{2, "want exactly one TOPIC", []string{"produce", "a", "b"}},
		{2, `--acks "2"`, []string{"produce", "one", "--acks", "2"}},
		{2, `--compression "brotli"`, []string{"produce", "one", "--compression", "brotli"}},
		{2, "--header \"nokv\": want key=value", []string{"produce", "one", "--header", "nokv"}},
		{2, "exclude each other", []string{"produce", "one", "--key", "k", "--key-separator", ":"}},
		{2, "with --value use --key", []string{"produce", "one", "--value", "v", "--key-separator", ":"}},
		{2, "--partition -2", []string{"produce", "one", "--partition", "-2"}},
		{1, "record 1: invalid record partitioning choice of 7", []string{"produce", "one", "--value", "v", "--partition", "7"}},
		{1, "INVALID_TOPIC_EXCEPTION", []string{"produce", "bad name!", "--value", "v"}},
	} {
		c.fails(tc.code, tc.want, tc.args...)
	}
	// A record over the producer's batch limit (1 MB) fails, the others
	// are delivered, and the summary says so.
	r := c.run("small\n"+strings.Repeat("x", 1100000)+"\nsmall\n", "produce", "one")
	if r.code != 1 || !strings.Contains(r.stderr, "record 2: MESSAGE_TOO_LARGE") ||
		!strings.Contains(r.stderr, "weir produce: 2 records, 10 bytes to one (partitions 0); 1 failed") {
		t.Fatalf("too large: %+v", r)
	}
}
