package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirhq/weir/batch"
	wlog "github.com/weirhq/weir/log"
	"github.com/weirhq/weir/segment"
)

func writeLog(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l, err := wlog.Open(dir, &wlog.Options{IndexIntervalBytes: 100, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		b, _ := batch.NewBuilder(&batch.BuilderOptions{Compression: batch.Compression(i % 5)})
		b.Append([]byte("key"), []byte(strings.Repeat("v", 50)), []batch.RecordHeader{{Key: []byte("h"), Value: []byte("x")}}, 1700000000000+int64(i))
		b.Append(nil, []byte("second"), nil, 1700000000000+int64(i))
		if _, err := l.Append(b.AppendTo(nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestDumpClean(t *testing.T) {
	dir := writeLog(t)
	var out, errb bytes.Buffer
	code := run([]string{"dump", "--records", dir}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d, stderr %s\n%s", code, errb.String(), out.String())
	}
	s := out.String()
	for _, want := range []string{"20 valid batches", "next offset 40", "compression=zstd", "offset=39", `value="second"`, `header["h"]="x"`, "Offset index", "Time index", "clean 1"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(s, "PROBLEM") {
		t.Errorf("clean log reported a problem:\n%s", s)
	}
}

func TestDumpFlagsCorruption(t *testing.T) {
	dir := writeLog(t)
	seg := filepath.Join(dir, segment.FileName(0))
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-5] ^= 0xff // inside the last batch: CRC mismatch
	if err := os.WriteFile(seg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"dump", seg}, nil, &out, &errb)
	if code != 3 {
		t.Fatalf("exit %d, want 3 (problems found)\n%s", code, out.String())
	}
	s := out.String()
	if !strings.Contains(s, "19 valid batches") || !strings.Contains(s, "recovery would cut") || !strings.Contains(s, "CRC") {
		t.Fatalf("corruption not flagged:\n%s", s)
	}
}

func TestDumpBadArgs(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"dump"}, nil, &out, &errb); code != 2 {
		t.Fatalf("exit %d", code)
	}
	if code := run([]string{"dump", filepath.Join(t.TempDir(), "nope.log")}, nil, &out, &errb); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if code := run([]string{"bogus"}, nil, &out, &errb); code != 2 {
		t.Fatalf("exit %d", code)
	}
}
