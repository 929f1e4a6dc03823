package main

import (
	"strings"
	"testing"
)

func TestTopicLifecycle(t *testing.T) {
	c := newCLI(t)
	out := c.ok("", "topic", "create", "orders", "--partitions", "3", "--replication-factor", "1",
		"--config", "retention.ms=3600000", "--config", "cleanup.policy=delete")
	if out != "created topic orders (partitions 3, replication factor 1)\n" {
		t.Fatalf("create: %q", out)
	}
	c.fails(1, "TOPIC_ALREADY_EXISTS", "topic", "create", "orders")
	if out := c.ok("", "topic", "create", "orders", "--if-not-exists"); out != "topic orders already exists\n" {
		t.Fatalf("create --if-not-exists: %q", out)
	}
	c.ok("", "topic", "create", "audit")

	out = c.ok("", "topic", "list")
	if !hasLine(out, `NAME\s+PARTITIONS\s+INTERNAL`) || !hasLine(out, `orders\s+3\s+false`) || !hasLine(out, `audit\s+1\s+false`) {
		t.Fatalf("list:\n%s", out)
	}

	// Offsets show in describe: 4 records into partition 1.
	c.ok("a\nb\nc\nd\n", "produce", "orders", "--partition", "1")
	out = c.ok("", "topic", "describe", "orders")
	for _, re := range []string{
		`Topic:\s+orders`,
		`ID:\s+[A-Za-z0-9_-]{22}`,
		`Partitions:\s+3`,
		`Replication factor:\s+1`,
		`Internal:\s+false`,
		`PARTITION\s+LEADER\s+EPOCH\s+REPLICAS\s+ISR\s+START\s+END\s+ERROR`,
		`0\s+1\s+0\s+1\s+1\s+0\s+0\s+-`,
		`1\s+1\s+0\s+1\s+1\s+0\s+4\s+-`,
		`2\s+1\s+0\s+1\s+1\s+0\s+0\s+-`,
		`CONFIG\s+VALUE\s+SOURCE`,
		`retention.ms\s+3600000\s+DYNAMIC_TOPIC_CONFIG`,
		`cleanup.policy\s+delete\s+DYNAMIC_TOPIC_CONFIG`,
		`segment.bytes\s+\d+\s+DEFAULT_CONFIG`,
	} {
		if !hasLine(out, re) {
			t.Errorf("describe: no line matching %s", re)
		}
	}
	if t.Failed() {
		t.Fatalf("describe:\n%s", out)
	}

	out = c.ok("", "topic", "alter", "orders", "--config", "retention.ms=1000", "--config", "segment.bytes=1048576",
		"--delete-config", "cleanup.policy", "--partitions", "5")
	want := "topic orders: set retention.ms=1000\ntopic orders: set segment.bytes=1048576\n" +
		"topic orders: deleted cleanup.policy\ntopic orders: partitions now 5\n"
	if out != want {
		t.Fatalf("alter: %q, want %q", out, want)
	}
	out = c.ok("", "topic", "describe", "orders")
	for _, re := range []string{
		`Partitions:\s+5`,
		`4\s+1\s+0\s+1\s+1\s+0\s+0\s+-`,
		`retention.ms\s+1000\s+DYNAMIC_TOPIC_CONFIG`,
		`segment.bytes\s+1048576\s+DYNAMIC_TOPIC_CONFIG`,
		`cleanup.policy\s+delete\s+DEFAULT_CONFIG`,
	} {
		if !hasLine(out, re) {
			t.Errorf("describe after alter: no line matching %s\n%s", re, out)
		}
	}
	// Several topics at once, separated by a blank line.
	out = c.ok("", "topic", "describe", "orders", "audit")
	if !hasLine(out, `Topic:\s+orders`) || !hasLine(out, `Topic:\s+audit`) {
		t.Fatalf("describe two:\n%s", out)
	}

	if out := c.ok("", "topic", "delete", "orders", "audit"); out != "deleted topic orders\ndeleted topic audit\n" {
		t.Fatalf("delete: %q", out)
	}
	out = c.ok("", "topic", "list")
	if strings.Contains(out, "orders") || strings.Contains(out, "audit") {
		t.Fatalf("list after delete:\n%s", out)
	}
	c.fails(1, "UNKNOWN_TOPIC_OR_PARTITION", "topic", "describe", "orders")
}

func TestTopicErrors(t *testing.T) {
	c := newCLI(t)
	c.ok("", "topic", "create", "t", "--partitions", "2")
	for _, tc := range []struct {
		code int
		want string
		args []string
	}{
		{2, "usage: weir topic", []string{"topic"}},
		{2, `unknown subcommand "bogus"`, []string{"topic", "bogus"}},
		{2, "want exactly one topic NAME", []string{"topic", "create"}},
		{2, "want exactly one topic NAME", []string{"topic", "create", "a", "b"}},
		{2, "--partitions 0", []string{"topic", "create", "a", "--partitions", "0"}},
		{2, "--replication-factor 0", []string{"topic", "create", "a", "--replication-factor", "0"}},
		{2, "want key=value", []string{"topic", "create", "a", "--config", "retention.ms"}},
		{2, "flag provided but not defined: -bogus", []string{"topic", "create", "a", "--bogus"}},
		{2, "nothing to do", []string{"topic", "alter", "t"}},
		{2, "want at least one topic NAME", []string{"topic", "describe"}},
		{2, "want at least one topic NAME", []string{"topic", "delete"}},
		{2, "takes no arguments", []string{"topic", "list", "x"}},
		{1, "INVALID_REPLICATION_FACTOR", []string{"topic", "create", "a", "--replication-factor", "3"}},
		{1, "INVALID_TOPIC_EXCEPTION", []string{"topic", "create", "bad name!"}},
		{1, "INVALID_CONFIG", []string{"topic", "create", "a", "--config", "no.such.config=1"}},
		{1, "UNKNOWN_TOPIC_OR_PARTITION", []string{"topic", "describe", "missing"}},
		{1, "UNKNOWN_TOPIC_OR_PARTITION", []string{"topic", "alter", "missing", "--config", "retention.ms=1"}},
		{1, "UNKNOWN_TOPIC_OR_PARTITION", []string{"topic", "alter", "missing", "--partitions", "3"}},
		{1, "INVALID_CONFIG", []string{"topic", "alter", "t", "--config", "no.such.config=1"}},
		{1, "INVALID_CONFIG", []string{"topic", "alter", "t", "--config", "retention.ms=abc"}},
		{1, "INVALID_PARTITIONS", []string{"topic", "alter", "t", "--partitions", "1"}},
		{1, "UNKNOWN_TOPIC_OR_PARTITION", []string{"topic", "delete", "missing"}},
	} {
		c.fails(tc.code, tc.want, tc.args...)
	}
	// A failed topic among several: the others are still deleted.
	r := c.run("", "topic", "delete", "missing", "t")
	if r.code != 1 || r.stdout != "deleted topic t\n" || !strings.Contains(r.stderr, "missing: UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("delete missing t: %+v", r)
	}
	// "a" was never created by the failing creates.
	if out := c.ok("", "topic", "list"); strings.Contains(out, "\na ") {
		t.Fatalf("list:\n%s", out)
	}
	if code := run([]string{"topic", "help"}, nil, &strings.Builder{}, &strings.Builder{}); code != 0 {
		t.Fatalf("topic help: exit %d", code)
	}
}
