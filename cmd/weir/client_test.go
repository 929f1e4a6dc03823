package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/weirhq/weir/weirtest"
)

// cli runs weir commands against one test broker.
type cli struct {
	t    *testing.T
	b    *weirtest.Broker
	addr string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	b := weirtest.Start(t)
	return &cli{t: t, b: b, addr: b.Addr()}
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs "weir args... --bootstrap ADDR" with stdin (flags after the
// arguments also exercise parseFlags).
func (c *cli) run(stdin string, args ...string) result {
	c.t.Helper()
	if len(args) > 1 {
		args = append(args, "--bootstrap", c.addr)
	}
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// ok runs a command that must succeed and returns its stdout.
func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != 0 {
		c.t.Fatalf("weir %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs a command that must exit with code and mention want on
// stderr.
func (c *cli) fails(code int, want string, args ...string) {
	c.t.Helper()
	r := c.run("", args...)
	if r.code != code || !strings.Contains(r.stderr, want) {
		c.t.Errorf("weir %s: exit %d, want %d with %q on stderr\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), r.code, code, want, r.stdout, r.stderr)
	}
}

// hasLine reports whether some line of s matches the regexp re.
func hasLine(s, re string) bool {
	return regexp.MustCompile(`(?m)^` + re + `$`).MatchString(s)
}

func sortedLines(s string) []string {
	l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if s == "" {
		l = nil
	}
	sort.Strings(l)
	return l
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestParseFlagsInterspersed(t *testing.T) {
	c := newCLI(t)
	// Flags before, between and after arguments; "--" ends flags.
	c.ok("", "topic", "create", "--partitions", "2", "a1", "--config", "retention.ms=1000")
	out := c.ok("", "topic", "describe", "a1")
	if !hasLine(out, `Partitions:\s+2`) || !hasLine(out, `retention.ms\s+1000\s+DYNAMIC_TOPIC_CONFIG`) {
		t.Fatalf("describe:\n%s", out)
	}
	var out2, errb bytes.Buffer
	code := run([]string{"topic", "delete", "--bootstrap", c.addr, "--", "-x"}, nil, &out2, &errb)
	if code != 1 || !strings.Contains(errb.String(), "-x: UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("delete -- -x: exit %d: %s", code, errb.String())
	}
}

func TestBootstrapEnv(t *testing.T) {
	b := weirtest.Start(t)
	t.Setenv("WEIR_BOOTSTRAP", b.Addr())
	var out, errb bytes.Buffer
	if code := run([]string{"topic", "create", "env1"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	out.Reset()
	if code := run([]string{"topic", "list"}, nil, &out, &errb); code != 0 || !hasLine(out.String(), `env1\s+1\s+false`) {
		t.Fatalf("exit %d: %s%s", code, out.String(), errb.String())
	}
}

func TestUnreachableBroker(t *testing.T) {
	c := &cli{t: t, addr: deadAddr(t)}
	c.fails(1, "connection refused", "topic", "list", "--timeout", "2s")
	c.fails(1, "not delivered within 1s", "produce", "x", "--value", "v", "--timeout", "1s")
	c.fails(1, "connection refused", "consume", "x", "--timeout", "1s")
	c.addr = ""
	c.fails(2, "--bootstrap is empty", "topic", "list")
}

func TestErrText(t *testing.T) {
	cf := &clientFlags{bootstrap: "h:1", timeout: time.Second}
	for _, tc := range []struct {
		err  error
		msg  string
		want string
	}{
		{kerr.TopicAlreadyExists, "", "TOPIC_ALREADY_EXISTS: Topic with this name already exists."},
		{kerr.TopicAlreadyExists, `topic "t" exists`, `TOPIC_ALREADY_EXISTS: Topic with this name already exists. (broker: topic "t" exists)`},
		// A broker message that repeats the error is trimmed to its news.
		{kerr.TopicAlreadyExists, `TOPIC_ALREADY_EXISTS: Topic with this name already exists.: topic "t" exists`,
			`TOPIC_ALREADY_EXISTS: Topic with this name already exists. (broker: topic "t" exists)`},
		{kerr.InvalidConfig, "INVALID_CONFIG", "INVALID_CONFIG: Configuration is invalid."},
		{fmt.Errorf("list offsets: %w", kerr.UnknownTopicOrPartition), "",
			"list offsets: UNKNOWN_TOPIC_OR_PARTITION: This server does not host this topic-partition."},
		{context.DeadlineExceeded, "", "no answer from h:1 within 1s"},
		{errors.New("plain"), "", "plain"},
	} {
		if got := cf.errText(tc.err, tc.msg); !strings.HasPrefix(got, tc.want) {
			t.Errorf("errText(%v, %q) = %q, want %q", tc.err, tc.msg, got, tc.want)
		}
	}
}
