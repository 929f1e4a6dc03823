package main

import (
	"strings"
	"testing"
	"time"
)

// TestServeConfigFlushDelay: the group commit window takes fractions of a
// millisecond; zero keeps the broker's default; nonsense is refused.
func TestServeConfigFlushDelay(t *testing.T) {
	for v, want := range map[string]time.Duration{"0.2": 200 * time.Microsecond, "1": time.Millisecond, "2.5": 2500 * time.Microsecond} {
		set, err := serveConfig(map[string]string{"weir.flush.max.delay.ms": v})
		if err != nil || set.cfg.FlushMaxDelay != want {
			t.Errorf("%s: %v, %v; want %v", v, set.cfg.FlushMaxDelay, err, want)
		}
	}
	for _, v := range []string{"0", "-1", "abc", "1e9"} {
		_, err := serveConfig(map[string]string{"weir.flush.max.delay.ms": v})
		if err == nil || !strings.Contains(err.Error(), "weir.flush.max.delay.ms") {
			t.Errorf("%q: error %v", v, err)
		}
	}
}

// TestServeConfigReadCache: weir.read.cache.bytes sets the budget; -1 and
// 0 leave the page cache to the kernel; nonsense is refused.
func TestServeConfigReadCache(t *testing.T) {
	for v, want := range map[string]int64{"268435456": 256 << 20, "-1": -1, "0": -1} {
		set, err := serveConfig(map[string]string{"weir.read.cache.bytes": v})
		if err != nil || set.cfg.ReadCacheBytes != want {
			t.Errorf("%s: %v, %v; want %v", v, set.cfg.ReadCacheBytes, err, want)
		}
	}
	if _, err := serveConfig(map[string]string{"weir.read.cache.bytes": "1GB"}); err == nil {
		t.Error("1GB accepted")
	}
}

// TestServeConfigSyncFSMin: weir.syncfs.min.partitions sets the group size;
// -1 and 0 disable syncfs.
func TestServeConfigSyncFSMin(t *testing.T) {
	for v, want := range map[string]int{"2": 2, "16": 16, "-1": -1, "0": -1} {
		set, err := serveConfig(map[string]string{"weir.syncfs.min.partitions": v})
		if err != nil || set.cfg.SyncFSMin != want {
			t.Errorf("%s: %v, %v; want %v", v, set.cfg.SyncFSMin, err, want)
		}
	}
}

// TestServeConfigSysmonAwake: on unless weir.sysmon.awake turns it off.
func TestServeConfigSysmonAwake(t *testing.T) {
	for v, want := range map[string]bool{"": true, "true": true, "false": false} {
		kv := map[string]string{}
		if v != "" {
			kv["weir.sysmon.awake"] = v
		}
		set, err := serveConfig(kv)
		if err != nil || set.sysmonAwake != want {
			t.Errorf("%q: %v, %v; want %v", v, set.sysmonAwake, err, want)
		}
	}
	if _, err := serveConfig(map[string]string{"weir.sysmon.awake": "sometimes"}); err == nil {
		t.Error("sometimes accepted")
	}
}
