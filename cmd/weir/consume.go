package main

// "weir consume": print a topic's records with a kcat-style format, from
// any Kafka-protocol broker, through franz-go's consumer.
//
// Without --group the start offset of each partition is resolved here
// (ListOffsets) and the partitions are assigned directly, so the output is
// exactly the records from that offset on. --exit-at-end stops at each
// partition's end offset (high watermark) as listed at start: records
// produced later are not printed.

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func runConsume(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("consume", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cf := addClientFlags(fl)
	fromFlag := fl.String("from", "beginning", "where to start: beginning, end, offset:N (or N), -N (the last N per partition), timestamp:MS or timestamp:RFC3339")
	partition := fl.Int("partition", -1, "consume only this partition (-1: all)")
	var count int
	fl.IntVar(&count, "count", 0, "exit after this many records (0: no limit)")
	fl.IntVar(&count, "n", 0, "short for --count")
	var exitAtEnd bool
	fl.BoolVar(&exitAtEnd, "exit-at-end", false, "exit once every partition is read up to its end offset at start (like kcat -e)")
	fl.BoolVar(&exitAtEnd, "e", false, "short for --exit-at-end")
	var format string
	fl.StringVar(&format, "format", `%s\n`, `output format: %t topic, %p partition, %o offset, %k key, %s value, %K key length, %S value length, %T timestamp (ms), %h headers (k=v,...), %% a percent sign; \n \t \r \\ escapes`)
	fl.StringVar(&format, "f", `%s\n`, "short for --format")
	group := fl.String("group", "", "consume as a member of this consumer group (needs broker support for groups); --from applies when the group has no committed offset")
	quiet := fl.Bool("q", false, "no summary on stderr")
	fl.Usage = func() {
		fmt.Fprintln(stderr, `usage: weir consume [flags] TOPIC

Prints records with --format until interrupted, --count records were
printed, or, with --exit-at-end, every partition was read up to where it
ended when the command started. A summary goes to stderr.

flags:`)
		fl.PrintDefaults()
	}
	pos, err := parseFlags(fl, args)
	if err != nil {
		return parseExit(err)
	}
	if len(pos) != 1 {
		return usageErr(stderr, "consume", "want exactly one TOPIC, got %d arguments", len(pos))
	}
	topic := pos[0]
	from, err := parseFrom(*fromFlag)
	if err != nil {
		return usageErr(stderr, "consume", "--from %q: %v", *fromFlag, err)
	}
	f, err := parseFormat(format)
	if err != nil {
		return usageErr(stderr, "consume", "--format %q: %v", format, err)
	}
	if count < 0 {
		return usageErr(stderr, "consume", "--count %d: want 0 or more", count)
	}
	if *partition < -1 || *partition > 1<<31-1 {
		return usageErr(stderr, "consume", "--partition %d: want a partition number", *partition)
	}
	if *group != "" && *partition >= 0 {
		return usageErr(stderr, "consume", "--group assigns partitions itself; drop --partition")
	}

	ctx, stop := signalContext()
	defer stop()
	adm, err := cf.admin()
	if err != nil {
		return usageErr(stderr, "consume", "%v", err)
	}
	defer adm.Close()
	c := &consumer{cf: cf, adm: adm, topic: topic, partition: int32(*partition), from: from,
		group: *group, exitAtEnd: exitAtEnd, count: count, format: f, stderr: stderr}
	err = c.run(ctx, stdout)
	if !*quiet && (err == nil || c.printed > 0) {
		fmt.Fprintf(stderr, "weir consume: %s\n", records(c.printed))
	}
	if err != nil {
		fmt.Fprintf(stderr, "weir consume: %v\n", err)
		return 1
	}
	return 0
}

// fromKind is where consumption starts.
type fromKind int

const (
	fromBeginning fromKind = iota
	fromEnd
	fromOffset    // an absolute offset
	fromLast      // the last n records of each partition
	fromTimestamp // the first record at or after a timestamp (ms)
)

type startPoint struct {
	kind fromKind
	n    int64 // offset, count or timestamp
}

// parseFrom parses --from.
func parseFrom(s string) (startPoint, error) {
	switch s {
	case "beginning", "earliest", "start":
		return startPoint{kind: fromBeginning}, nil
	case "end", "latest":
		return startPoint{kind: fromEnd}, nil
	}
	if v, ok := strings.CutPrefix(s, "timestamp:"); ok {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			if ms < 0 {
				return startPoint{}, errors.New("want a timestamp >= 0")
			}
			return startPoint{fromTimestamp, ms}, nil
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return startPoint{}, errors.New("want timestamp:MILLISECONDS or timestamp:RFC3339 (2006-01-02T15:04:05Z)")
		}
		return startPoint{fromTimestamp, t.UnixMilli()}, nil
	}
	v, _ := strings.CutPrefix(s, "offset:")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return startPoint{}, errors.New("want beginning, end, offset:N, -N or timestamp:MS|RFC3339")
	}
	if n < 0 {
		return startPoint{fromLast, -n}, nil
	}
	return startPoint{fromOffset, n}, nil
}

// consumer is one "weir consume" run.
type consumer struct {
	cf        *clientFlags
	adm       *kadm.Client
	topic     string
	partition int32 // -1: all
	from      startPoint
	group     string
	exitAtEnd bool
	count     int
	format    recordFormat
	stderr    io.Writer

	printed int // records written
}

func (c *consumer) run(ctx context.Context, stdout io.Writer) error {
	// Resolve partitions, end offsets and start offsets up front: this
	// also turns an unknown topic into an error instead of a silent wait.
	lctx, cancel := context.WithTimeout(ctx, c.cf.timeout)
	defer cancel()
	starts, ends, err := c.listOffsets(lctx)
	if err != nil {
		return err
	}
	opts := []kgo.Opt{kgo.FetchMaxWait(500 * time.Millisecond)}
	if c.group != "" {
		// Check that the broker has a coordinator for the group before
		// the group consumer starts retrying in the background, and
		// start --exit-at-end from the group's committed offsets. (With
		// --group, --exit-at-end waits for every partition of the topic:
		// it expects to be the group's only member.)
		coord, ok := c.adm.FindGroupCoordinators(lctx, c.group)[c.group]
		if err := coord.Err; !ok || err != nil {
			if !ok {
				err = errors.New("no answer for the group")
			} else {
				err = &msgError{err, coord.ErrMessage}
			}
			return fmt.Errorf("group %s: finding its coordinator: %s", c.group, c.cf.errText(err, errMessage(err)))
		}
		committed, err := c.adm.FetchOffsetsForTopics(lctx, c.group, c.topic)
		if err == nil {
			err = committed.Error()
		}
		if err != nil {
			return fmt.Errorf("group %s: fetching committed offsets: %s", c.group, c.cf.errText(err, errMessage(err)))
		}
		for p := range starts {
			if o, ok := committed.Lookup(c.topic, p); ok && o.At >= 0 {
				starts[p] = o.At
			}
		}
		opts = append(opts, kgo.ConsumerGroup(c.group), kgo.ConsumeTopics(c.topic),
			kgo.ConsumeResetOffset(c.resetOffset()), kgo.AutoCommitMarks())
	} else {
		offsets := map[int32]kgo.Offset{}
		for p, o := range starts {
			offsets[p] = kgo.NewOffset().At(o)
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.topic: offsets}))
	}
	cancel()

	// pending holds the partitions not yet read up to their end offset,
	// for --exit-at-end.
	pending := map[int32]bool{}
	if c.exitAtEnd {
		for p, start := range starts {
			if start < ends[p] {
				pending[p] = true
			}
		}
		if len(pending) == 0 {
			return nil
		}
	}

	cl, err := c.cf.client(opts...)
	if err != nil {
		return err
	}
	defer func() {
		if c.group != "" {
			cctx, cancel := context.WithTimeout(context.Background(), c.cf.timeout)
			if err := cl.CommitMarkedOffsets(cctx); err != nil {
				fmt.Fprintf(c.stderr, "weir consume: group %s: committing offsets: %s\n", c.group, c.cf.errText(err, ""))
			}
			cancel()
		}
		cl.Close()
	}()

	w := bufio.NewWriterSize(stdout, 64<<10)
	defer w.Flush()
	var buf []byte
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil // interrupted
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			var dl *kgo.ErrDataLoss
			if errors.As(err, &dl) || ferr != nil {
				return
			}
			ferr = fmt.Errorf("fetching %s partition %d: %s", t, p, c.cf.errText(err, ""))
		})
		if ferr != nil {
			return ferr
		}
		done := false
		fetches.EachRecord(func(r *kgo.Record) {
			if done {
				return
			}
			if c.exitAtEnd {
				if !pending[r.Partition] || r.Offset >= ends[r.Partition] {
					return
				}
				if r.Offset+1 >= ends[r.Partition] {
					delete(pending, r.Partition)
				}
			}
			buf = c.format.appendRecord(buf[:0], r)
			w.Write(buf)
			c.printed++
			if c.group != "" {
				cl.MarkCommitRecords(r)
			}
			if c.count > 0 && c.printed >= c.count || c.exitAtEnd && len(pending) == 0 {
				done = true
			}
		})
		if err := w.Flush(); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
		if done {
			return nil
		}
	}
}

// listOffsets returns the start offset to consume from and the end offset
// of every partition to consume.
func (c *consumer) listOffsets(ctx context.Context) (starts, ends map[int32]int64, err error) {
	list := func(what string, l kadm.ListedOffsets, err error) (map[int32]int64, error) {
		if err == nil {
			err = l.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("topic %s: listing %s offsets: %s", c.topic, what, c.cf.errText(err, ""))
		}
		m := map[int32]int64{}
		l.Each(func(o kadm.ListedOffset) {
			if c.partition < 0 || o.Partition == c.partition {
				m[o.Partition] = o.Offset
			}
		})
		return m, nil
	}
	l, err := c.adm.ListStartOffsets(ctx, c.topic)
	firsts, err := list("start", l, err)
	if err != nil {
		return nil, nil, err
	}
	l, err = c.adm.ListEndOffsets(ctx, c.topic)
	if ends, err = list("end", l, err); err != nil {
		return nil, nil, err
	}
	if c.partition >= 0 {
		if _, ok := ends[c.partition]; !ok {
			return nil, nil, fmt.Errorf("topic %s has no partition %d", c.topic, c.partition)
		}
	}
	starts = map[int32]int64{}
	switch c.from.kind {
	case fromBeginning:
		starts = firsts
	case fromEnd:
		starts = ends
	case fromOffset:
		for p, first := range firsts {
			starts[p] = min(max(c.from.n, first), ends[p])
		}
	case fromLast:
		for p, first := range firsts {
			starts[p] = max(ends[p]-c.from.n, first)
		}
	case fromTimestamp:
		l, err := c.adm.ListOffsetsAfterMilli(ctx, c.from.n, c.topic)
		byTime, err := list("timestamp", l, err)
		if err != nil {
			return nil, nil, err
		}
		for p := range firsts {
			o, ok := byTime[p]
			if !ok || o < 0 {
				o = ends[p]
			}
			starts[p] = o
		}
	}
	return starts, ends, nil
}

// resetOffset is --from as a franz-go offset, for a group without
// committed offsets.
func (c *consumer) resetOffset() kgo.Offset {
	switch c.from.kind {
	case fromEnd:
		return kgo.NewOffset().AtEnd()
	case fromOffset:
		return kgo.NewOffset().At(c.from.n)
	case fromLast:
		return kgo.NewOffset().AtEnd().Relative(-c.from.n)
	case fromTimestamp:
		return kgo.NewOffset().AfterMilli(c.from.n)
	}
	return kgo.NewOffset().AtStart()
}

// recordFormat is a compiled --format: literal text and placeholders.
type recordFormat []formatPart

type formatPart struct {
	lit  string
	verb byte // 0 for a literal
}

// parseFormat compiles a kcat-style format string.
func parseFormat(s string) (recordFormat, error) {
	var f recordFormat
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			f = append(f, formatPart{lit: string(lit)})
			lit = lit[:0]
		}
	}
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; ch {
		case '\\':
			if i+1 == len(s) {
				return nil, errors.New(`trailing \`)
			}
			i++
			e, ok := map[byte]byte{'n': '\n', 't': '\t', 'r': '\r', '\\': '\\', '0': 0}[s[i]]
			if !ok {
				return nil, fmt.Errorf(`unknown escape \%c`, s[i])
			}
			lit = append(lit, e)
		case '%':
			if i+1 == len(s) {
				return nil, errors.New("trailing %")
			}
			i++
			switch v := s[i]; v {
			case '%':
				lit = append(lit, '%')
			case 't', 'p', 'o', 'k', 's', 'K', 'S', 'T', 'h':
				flush()
				f = append(f, formatPart{verb: v})
			default:
				return nil, fmt.Errorf("unknown placeholder %%%c", v)
			}
		default:
			lit = append(lit, ch)
		}
	}
	flush()
	return f, nil
}

// appendRecord appends r formatted to dst.
func (f recordFormat) appendRecord(dst []byte, r *kgo.Record) []byte {
	for _, p := range f {
		switch p.verb {
		case 0:
			dst = append(dst, p.lit...)
		case 't':
			dst = append(dst, r.Topic...)
		case 'p':
			dst = strconv.AppendInt(dst, int64(r.Partition), 10)
		case 'o':
			dst = strconv.AppendInt(dst, r.Offset, 10)
		case 'k':
			dst = append(dst, r.Key...)
		case 's':
			dst = append(dst, r.Value...)
		case 'K':
			dst = strconv.AppendInt(dst, nullableLen(r.Key), 10)
		case 'S':
			dst = strconv.AppendInt(dst, nullableLen(r.Value), 10)
		case 'T':
			dst = strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10)
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, h.Key...)
				dst = append(dst, '=')
				dst = append(dst, h.Value...)
			}
		}
	}
	return dst
}

// nullableLen is len(b), or -1 for a null key or value (as kcat prints).
func nullableLen(b []byte) int64 {
	if b == nil {
		return -1
	}
	return int64(len(b))
}
