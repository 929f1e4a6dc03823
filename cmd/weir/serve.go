package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/weirhq/weir/broker"
	"github.com/weirhq/weir/log"
)

// serveKeys documents the config file keys (Kafka-style names). The file
// holds "key=value" lines; '#' starts a comment. Flags override the file.
var serveKeys = []struct{ key, help string }{
	{"listeners", "address to listen on, host:port or PLAINTEXT://host:port (default 127.0.0.1:9092)"},
	{"advertised.listeners", "address clients are told to connect to (default: the listen address)"},
	{"log.dirs", "data directory (default ./weir-data)"},
	{"node.id", "broker id (default 1)"},
	{"num.partitions", "partitions of auto-created topics (default 1)"},
	{"auto.create.topics.enable", "create unknown topics on metadata requests (default true)"},
	{"log.segment.bytes", "segment size (default 1073741824)"},
	{"log.roll.ms", "roll segments older than this (default 604800000)"},
	{"log.retention.ms", "delete segments older than this; -1 keeps forever (default 604800000)"},
	{"log.retention.hours", "as log.retention.ms, in hours"},
	{"log.retention.bytes", "delete oldest segments past this size per partition; -1 unlimited (default -1)"},
	{"log.retention.check.interval.ms", "how often retention runs (default 300000)"},
	{"message.max.bytes", "largest record batch accepted (default 1048588)"},
	{"socket.request.max.bytes", "largest request accepted (default 104857600)"},
	{"connections.max.idle.ms", "close idle connections after this (default 600000)"},
	{"group.min.session.timeout.ms", "smallest session timeout a consumer may ask for (default 6000)"},
	{"group.max.session.timeout.ms", "largest session timeout a consumer may ask for (default 1800000)"},
	{"group.initial.rebalance.delay.ms", "hold an empty group's first rebalance open this long (default 0)"},
	{"offsets.retention.minutes", "drop committed offsets of groups empty this long (default 10080)"},
	{"max.incremental.fetch.session.cache.slots", "incremental fetch sessions (KIP-227) kept; -1 or 0 disables (default 1000)"},
	{"weir.flush.policy", "durability: group (default; fsync before acks=all answers), interval, always"},
	{"weir.flush.max.delay.ms", "group commit window in ms, fractions allowed (default 0.2)"},
	{"weir.read.cache.bytes", "page cache kept for data consumers already fetched; older is dropped so appends reuse its memory; -1 or 0 leaves it to the kernel (default 1073741824)"},
	{"weir.syncfs.min.partitions", "partitions due together that share one syncfs instead of an fdatasync each; -1 disables (default 2)"},
	{"weir.transport", "network layer: epoll (default on Linux) or net"},
	{"weir.event.loops", "epoll event loops (default: number of CPUs)"},
	{"weir.sysmon.awake", "keep the Go runtime's monitor thread out of deep sleep (GODEBUG schedtrace, set by re-executing once at start); about a fifth less CPU when load comes in bursts (default true)"},
	{"weir.log.level", "debug, info (default), warn, error"},
}

func runServe(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	configPath := fl.String("config", "", "config file of key=value lines (see below)")
	listen := fl.String("listen", "", "listen address (listeners), default 127.0.0.1:9092")
	data := fl.String("data", "", "data directory (log.dirs), default ./weir-data")
	advertised := fl.String("advertised", "", "advertised address (advertised.listeners)")
	partitions := fl.Int("partitions", 0, "partitions of auto-created topics (num.partitions)")
	autoCreate := fl.String("auto-create", "", "auto.create.topics.enable: true or false")
	flush := fl.String("flush-policy", "", "group, interval or always (weir.flush.policy)")
	transport := fl.String("transport", "", "epoll or net (weir.transport)")
	logLevel := fl.String("log-level", "", "debug, info, warn or error")
	var sets []string
	fl.Func("set", "any config key, as key=value (repeatable)", func(s string) error {
		if !strings.Contains(s, "=") {
			return errors.New("want key=value")
		}
		sets = append(sets, s)
		return nil
	})
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: weir serve [flags]\n\nStarts a single-node Kafka-protocol broker. Flags:")
		fl.PrintDefaults()
		fmt.Fprintln(stderr, "\nConfig file keys:")
		for _, k := range serveKeys {
			fmt.Fprintf(stderr, "  %-28s %s\n", k.key, k.help)
		}
	}
	if err := fl.Parse(args); err != nil {
		return 2
	}
	kv := map[string]string{}
	if *configPath != "" {
		if err := readProperties(*configPath, kv); err != nil {
			fmt.Fprintf(stderr, "weir serve: %v\n", err)
			return 2
		}
	}
	for flagVal, key := range map[*string]string{listen: "listeners", data: "log.dirs", advertised: "advertised.listeners",
		autoCreate: "auto.create.topics.enable", flush: "weir.flush.policy", transport: "weir.transport", logLevel: "weir.log.level"} {
		if *flagVal != "" {
			kv[key] = *flagVal
		}
	}
	if *partitions != 0 {
		kv["num.partitions"] = strconv.Itoa(*partitions)
	}
	for _, s := range sets {
		k, v, _ := strings.Cut(s, "=")
		kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	set, err := serveConfig(kv)
	if err != nil {
		fmt.Fprintf(stderr, "weir serve: %v\n", err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: set.level}))
	if set.sysmonAwake {
		// Returns only if it did not re-execute this process.
		if err := keepSysmonAwake(); err != nil {
			logger.Warn("running with the Go runtime's default sysmon: re-executing with GODEBUG failed", "err", err)
		}
	}
	cfg := set.cfg
	cfg.Logger = logger

	ln, err := net.Listen("tcp", set.addr)
	if err != nil {
		fmt.Fprintf(stderr, "weir serve: %v\n", err)
		return 1
	}
	b, err := broker.New(cfg)
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "weir serve: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- b.Serve(ln) }()
	fmt.Fprintf(stdout, "weir: serving Kafka protocol on %s (data in %s)\n", ln.Addr(), cfg.DataDir)
	select {
	case <-ctx.Done():
		logger.Info("shutting down: flushing and closing partitions")
	case err := <-errc:
		if err != nil {
			logger.Error("serve failed", "err", err)
		}
	}
	start := time.Now()
	if err := b.Close(); err != nil {
		logger.Error("close", "err", err)
		return 1
	}
	logger.Info("clean shutdown", "took", time.Since(start).Round(time.Millisecond))
	return 0
}

// readProperties reads a Kafka-style properties file.
func readProperties(path string, kv map[string]string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("%s:%d: want key=value", path, n)
		}
		kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return sc.Err()
}

// serveConfig turns config keys into a broker config and serve settings.
func serveConfig(kv map[string]string) (serveSettings, error) {
	var cfg broker.Config
	addr := "127.0.0.1:9092"
	level := slog.LevelInfo
	sysmonAwake := true
	known := map[string]bool{}
	for _, k := range serveKeys {
		known[k.key] = true
	}
	for k, v := range kv {
		if !known[k] {
			return serveSettings{}, fmt.Errorf("unknown config key %q (weir serve -h lists them)", k)
		}
		bad := func(err error) error { return fmt.Errorf("config %s=%q: %v", k, v, err) }
		num := func() (int64, error) { return strconv.ParseInt(v, 10, 64) }
		var err error
		var n int64
		switch k {
		case "listeners":
			addr = stripScheme(v)
		case "advertised.listeners":
			cfg.AdvertisedAddr = stripScheme(v)
		case "log.dirs":
			cfg.DataDir = v
		case "node.id":
			if n, err = num(); err == nil {
				cfg.NodeID = int32(n)
			}
		case "num.partitions":
			if n, err = num(); err == nil {
				cfg.DefaultPartitions = int32(n)
			}
		case "auto.create.topics.enable":
			var on bool
			if on, err = strconv.ParseBool(v); err == nil {
				cfg.NoAutoCreateTopics = !on
			}
		case "log.segment.bytes":
			cfg.SegmentBytes, err = num()
		case "log.roll.ms":
			if n, err = num(); err == nil {
				cfg.SegmentMs = time.Duration(n) * time.Millisecond
			}
		case "log.retention.ms":
			if n, err = num(); err == nil {
				cfg.RetentionMs = durationOrUnlimited(n, time.Millisecond)
			}
		case "log.retention.hours":
			if n, err = num(); err == nil {
				cfg.RetentionMs = durationOrUnlimited(n, time.Hour)
			}
		case "log.retention.bytes":
			cfg.RetentionBytes, err = num()
		case "log.retention.check.interval.ms":
			if n, err = num(); err == nil {
				cfg.RetentionCheckInterval = time.Duration(n) * time.Millisecond
			}
		case "message.max.bytes":
			if n, err = num(); err == nil {
				cfg.MessageMaxBytes = int(n)
			}
		case "socket.request.max.bytes":
			if n, err = num(); err == nil {
				cfg.Net.MaxRequestBytes = int(n)
			}
		case "connections.max.idle.ms":
			if n, err = num(); err == nil {
				cfg.Net.IdleTimeout = time.Duration(n) * time.Millisecond
			}
		case "group.min.session.timeout.ms":
			if n, err = num(); err == nil {
				cfg.GroupMinSessionTimeout = time.Duration(n) * time.Millisecond
			}
		case "group.max.session.timeout.ms":
			if n, err = num(); err == nil {
				cfg.GroupMaxSessionTimeout = time.Duration(n) * time.Millisecond
			}
		case "group.initial.rebalance.delay.ms":
			if n, err = num(); err == nil {
				cfg.GroupInitialRebalanceDelay = time.Duration(n) * time.Millisecond
			}
		case "offsets.retention.minutes":
			if n, err = num(); err == nil {
				cfg.OffsetsRetention = time.Duration(n) * time.Minute
			}
		case "weir.flush.policy":
			cfg.FlushPolicy, err = log.ParseFlushPolicy(v)
		case "weir.flush.max.delay.ms":
			var ms float64
			if ms, err = strconv.ParseFloat(v, 64); err == nil && (ms <= 0 || ms > 10000) {
				err = errors.New("want a number of milliseconds in (0, 10000]")
			}
			if err == nil {
				cfg.FlushMaxDelay = time.Duration(ms * float64(time.Millisecond))
			}
		case "weir.read.cache.bytes":
			if n, err = num(); err == nil {
				cfg.ReadCacheBytes = offIfZero(n)
			}
		case "max.incremental.fetch.session.cache.slots":
			if n, err = num(); err == nil {
				cfg.FetchSessionSlots = int(offIfZero(n))
			}
		case "weir.syncfs.min.partitions":
			if n, err = num(); err == nil {
				cfg.SyncFSMin = int(offIfZero(n))
			}
		case "weir.transport":
			if v != "epoll" && v != "net" {
				err = errors.New("want epoll or net")
			}
			cfg.Net.Transport = v
		case "weir.event.loops":
			if n, err = num(); err == nil {
				cfg.Net.Loops = int(n)
			}
		case "weir.sysmon.awake":
			sysmonAwake, err = strconv.ParseBool(v)
		case "weir.log.level":
			err = level.UnmarshalText([]byte(v))
		}
		if err != nil {
			return serveSettings{}, bad(err)
		}
	}
	return serveSettings{cfg: cfg, addr: addr, level: level, sysmonAwake: sysmonAwake}, nil
}

// serveSettings is what the config keys set.
type serveSettings struct {
	cfg         broker.Config
	addr        string     // listen address
	level       slog.Level // log level
	sysmonAwake bool       // see keepSysmonAwake
}

// offIfZero maps a key's 0 ("none") to -1, which turns the feature off in
// broker.Config, where 0 takes the default.
func offIfZero(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}

func durationOrUnlimited(n int64, unit time.Duration) time.Duration {
	if n < 0 {
		return -1
	}
	return time.Duration(n) * unit
}

// stripScheme turns "PLAINTEXT://host:port" (the first of a list) into
// "host:port".
func stripScheme(v string) string {
	v, _, _ = strings.Cut(v, ",")
	if i := strings.Index(v, "://"); i >= 0 {
		v = v[i+3:]
	}
	return v
}
