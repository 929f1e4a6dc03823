package main

// "weir produce": records from stdin lines (or one from --value) to a topic
// on any Kafka-protocol broker, through franz-go's producer.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func runProduce(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("produce", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cf := addClientFlags(fl)
	keySep := fl.String("key-separator", "", "split each line at the first SEP into key and value (like kcat -K); a line without SEP has a null key")
	var key, value *string
	fl.Func("key", "key of every record (with --value, or of every stdin line without --key-separator)", func(s string) error { key = &s; return nil })
	fl.Func("value", "produce one record with this value instead of reading stdin", func(s string) error { value = &s; return nil })
	var headerFlags listFlag
	fl.Var(&headerFlags, "header", "header k=v added to every record (repeatable)")
	partition := fl.Int("partition", -1, "produce to this partition (-1: the default partitioner, by key hash)")
	acks := fl.String("acks", "all", "all, 1 or 0")
	compression := fl.String("compression", "none", "none, gzip, snappy, lz4 or zstd")
	quiet := fl.Bool("q", false, "no summary on stderr")
	fl.Usage = func() {
		fmt.Fprintln(stderr, `usage: weir produce [flags] TOPIC

Produces one record per stdin line (the newline is not part of the value;
an empty line is an empty record), or one record from --value. Prints a
summary (records, bytes of keys and values, partitions) to stderr. Exits 1
if any record failed. Unknown topics are auto-created if the broker allows.

flags:`)
		fl.PrintDefaults()
	}
	pos, err := parseFlags(fl, args)
	if err != nil {
		return parseExit(err)
	}
	if len(pos) != 1 {
		return usageErr(stderr, "produce", "want exactly one TOPIC, got %d arguments", len(pos))
	}
	topic := pos[0]
	if *keySep != "" && key != nil {
		return usageErr(stderr, "produce", "--key and --key-separator exclude each other")
	}
	if *keySep != "" && value != nil {
		return usageErr(stderr, "produce", "--key-separator splits stdin lines; with --value use --key")
	}
	if *partition < -1 || *partition > 1<<31-1 {
		return usageErr(stderr, "produce", "--partition %d: want a partition number", *partition)
	}
	kvs, err := keyValues("header", headerFlags)
	if err != nil {
		return usageErr(stderr, "produce", "%v", err)
	}
	var headers []kgo.RecordHeader
	for _, kv := range kvs {
		headers = append(headers, kgo.RecordHeader{Key: kv[0], Value: []byte(kv[1])})
	}
	opts := []kgo.Opt{
		kgo.DefaultProduceTopic(topic),
		kgo.AllowAutoTopicCreation(),
		kgo.RecordDeliveryTimeout(cf.timeout),
	}
	switch *acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return usageErr(stderr, "produce", "--acks %q: want all, 1 or 0", *acks)
	}
	codec, ok := map[string]kgo.CompressionCodec{
		"none":   kgo.NoCompression(),
		"gzip":   kgo.GzipCompression(),
		"snappy": kgo.SnappyCompression(),
		"lz4":    kgo.Lz4Compression(),
		"zstd":   kgo.ZstdCompression(),
	}[*compression]
	if !ok {
		return usageErr(stderr, "produce", "--compression %q: want none, gzip, snappy, lz4 or zstd", *compression)
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	if *partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl, err := cf.client(opts...)
	if err != nil {
		return usageErr(stderr, "produce", "%v", err)
	}
	defer cl.Close()

	ctx, stop := signalContext()
	defer stop()
	p := &producer{cl: cl, cf: cf, parts: map[int32]bool{}}
	newRecord := func(k, v []byte) *kgo.Record {
		r := &kgo.Record{Key: k, Value: v, Headers: headers}
		if *partition >= 0 {
			r.Partition = int32(*partition)
		}
		return r
	}
	var fixedKey []byte
	if key != nil {
		fixedKey = []byte(*key)
	}
	if value != nil {
		p.produce(ctx, newRecord(fixedKey, []byte(*value)))
	} else {
		br := bufio.NewReaderSize(stdin, 64<<10)
		for ctx.Err() == nil {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 { // a line, or a last line without a newline
				line = bytes.TrimSuffix(line, []byte{'\n'})
				k, v := fixedKey, line
				if *keySep != "" {
					if i := bytes.Index(line, []byte(*keySep)); i >= 0 {
						k, v = line[:i], line[i+len(*keySep):]
					}
				}
				p.produce(ctx, newRecord(k, v))
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				p.failed(-1, fmt.Errorf("reading stdin: %w", err))
				break
			}
		}
	}
	// Deliver what is buffered; on Ctrl-C give it a moment, then give up.
	fctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
			time.Sleep(2 * time.Second)
			cancel()
		case <-fctx.Done():
		}
	}()
	if err := cl.Flush(fctx); err != nil {
		fmt.Fprintf(stderr, "weir produce: interrupted with records undelivered\n")
		p.mu.Lock()
		p.nerr++
		p.mu.Unlock()
	}
	return p.finish(topic, stderr, *quiet)
}

// producer counts deliveries from franz-go's callbacks.
type producer struct {
	cl *kgo.Client
	cf *clientFlags
	n  int // records handed to the client

	mu    sync.Mutex
	ok    int            // records acknowledged
	bytes int64          // their key and value bytes
	parts map[int32]bool // partitions they went to
	nerr  int            // records that failed
	errs  []string       // the first few failures
}

const maxShownErrors = 5

func (p *producer) produce(ctx context.Context, r *kgo.Record) {
	p.n++
	n := p.n
	p.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
		if err != nil {
			p.failed(n, err)
			return
		}
		p.mu.Lock()
		p.ok++
		p.bytes += int64(len(r.Key) + len(r.Value))
		p.parts[r.Partition] = true
		p.mu.Unlock()
	})
}

// failed records the failure of record n (1-based; -1 for none).
func (p *producer) failed(n int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nerr++
	if len(p.errs) >= maxShownErrors {
		return
	}
	s := p.cf.errText(err, "")
	if errors.Is(err, kgo.ErrRecordTimeout) {
		s = fmt.Sprintf("not delivered within %v: %v (is a broker running at %s?)", p.cf.timeout, err, p.cf.bootstrap)
	}
	if n > 0 {
		s = "record " + strconv.Itoa(n) + ": " + s
	}
	p.errs = append(p.errs, s)
}

// finish prints the errors and the summary and returns the exit code.
func (p *producer) finish(topic string, stderr io.Writer, quiet bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.errs {
		fmt.Fprintf(stderr, "weir produce: %s\n", e)
	}
	if p.nerr > len(p.errs) {
		fmt.Fprintf(stderr, "weir produce: ... and %d more errors\n", p.nerr-len(p.errs))
	}
	if !quiet || p.nerr > 0 {
		parts := make([]string, 0, len(p.parts))
		for _, q := range slices.Sorted(maps.Keys(p.parts)) {
			parts = append(parts, strconv.Itoa(int(q)))
		}
		ps := "none"
		if len(parts) > 0 {
			ps = strings.Join(parts, ",")
		}
		fmt.Fprintf(stderr, "weir produce: %s, %d bytes to %s (partitions %s)", records(p.ok), p.bytes, topic, ps)
		if p.nerr > 0 {
			fmt.Fprintf(stderr, "; %d failed", p.nerr)
		}
		fmt.Fprintln(stderr)
	}
	if p.nerr > 0 {
		return 1
	}
	return 0
}
