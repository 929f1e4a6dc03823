#!/usr/bin/env bash
# bench-storage.sh measures the storage engine and prints a summary against
# the targets:
#
#   1. `weir bench storage` (bench/storagebench): append, group commit,
#      many logs sharing one flusher, reading a cached log and reopening
#      it, each against plain system calls on the same file system, in
#      COUNT alternating rounds (medians of per-round ratios);
#   2. the log package's own benchmarks (log/*_timing_test.go), which need
#      its internals: allocations per Append and per Read, and Open after a
#      clean or an unclean shutdown of a 1 GB log and of 10,000 segments.
#      Each runs COUNT times, each time in its own process with
#      -test.count=1; the summary prints medians.
#
# Usage: scripts/bench-storage.sh [weir bench storage flags]
#   e.g. scripts/bench-storage.sh --dir /data --only append,read
# Environment:
#   COUNT=3        rounds of weir bench storage, runs of each log benchmark
#   BENCHTIME=1s   -test.benchtime of each log benchmark run
#   ENGINE=1       0: skip weir bench storage
#   LOGBENCH=.     run only the log benchmarks whose full name matches
#                  (grep -E); '^$' skips them
#   OUT=dir        where the binaries, raw output and summary go
#                  (default a new /tmp/weir-bench.* directory; kept)
#   KEEP_FIXTURES=1  keep the 1 GB and 10,000-segment fixtures in $OUT/fixtures
#
# weir bench storage needs about 17 GiB of free disk with its defaults
# (1,000 logs with preallocated segments) and skips what does not fit; the
# 1 GB log benchmarks need about 3 GiB (they skip otherwise). Everything is
# removed at the end except the results.
set -euo pipefail

cd "$(dirname "$0")/.."
COUNT=${COUNT:-3}
BENCHTIME=${BENCHTIME:-1s}
ENGINE=${ENGINE:-1}
LOGBENCH=${LOGBENCH:-.}
OUT=${OUT:-$(mktemp -d /tmp/weir-bench.XXXXXX)}
mkdir -p "$OUT"
RAW=$OUT/raw.txt
SUMMARY=$OUT/summary.txt
: >"$RAW"
rm -f "$OUT/storage.md"

export WEIR_BENCH_DIR=$OUT/fixtures
cleanup() {
	if [ "${KEEP_FIXTURES:-0}" != 1 ]; then
		rm -rf "$WEIR_BENCH_DIR"
	fi
	rm -f "$OUT/log.test" "$OUT/weir"
}
trap cleanup EXIT

echo "== disk"
df -h "${TMPDIR:-/tmp}" "$PWD" | sed 's/^/   /'

if [ "$ENGINE" != 0 ]; then
	echo "== weir bench storage"
	go build -o "$OUT/weir" ./cmd/weir
	"$OUT/weir" bench storage --rounds "$COUNT" --out "$OUT" "$@"
fi

# Benchmarks of log/, run whole.
BENCHMARKS=(
	"BenchmarkAppend"
	"BenchmarkRead"
	"BenchmarkOpen"
)

run() {
	local name=$1
	if ! printf '%s\n' "$name" | grep -Eq -- "$LOGBENCH"; then
		return 0
	fi
	echo "-- $name" >>"$RAW"
	(cd log && "$OUT/log.test" -test.run '^$' -test.bench "^${name}\$" \
		-test.benchmem -test.count=1 -test.benchtime="$BENCHTIME" -test.timeout=60m) 2>&1 |
		tee -a "$RAW" | grep -E '^(Benchmark.*-[0-9]+[[:space:]]|--- (FAIL|SKIP)|FAIL|panic| +[a-z_]+\.go:[0-9]+:)' || true
}

if printf '%s\n' "${BENCHMARKS[@]}" | grep -Eq -- "$LOGBENCH"; then
	echo "== building log.test"
	go test -c -o "$OUT/log.test" ./log/
	for round in $(seq "$COUNT"); do
		echo "== log benchmarks, round $round of $COUNT"
		echo "# round $round" >>"$RAW"
		for name in "${BENCHMARKS[@]}"; do
			run "$name"
		done
	done
fi

{
	if [ -f "$OUT/storage.md" ]; then
		# Rows of weir bench storage's table: | benchmark | parameters |
		# weir | reference | ratio | notes |.
		awk -F'|' '
		function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
		BEGIN {
			printf "\nStorage engine against plain system calls (weir bench storage; medians)\n"
			printf "%-13s %-42s %12s %12s %6s %7s %s\n", "benchmark", "parameters", "weir", "reference", "ratio", "target", ""
		}
		/^\| / && !/^\| benchmark \|/ {
			name = trim($2); params = trim($3); value = trim($4); ratio = trim($6)
			t = ""; ok = ""
			if (name == "append") t = "0.90"
			if (name == "group-commit" || name == "read") t = "0.80"
			if (name == "many-logs" && params ~ /^logs=1000 /) t = "0.50"
			if (t != "" && ratio != "–") ok = (ratio + 0 >= t + 0) ? "ok" : "MISS"
			if (name == "open" && params ~ /^log=1GB /) {
				t = "<100ms"
				ok = (value + 0 < 100) ? "ok" : "MISS"
			}
			printf "%-13s %-42s %12s %12s %6s %7s %s\n", name, params, value, trim($5), ratio, t, ok
		}' "$OUT/storage.md"
		echo "many-logs: ratio to the smallest log count of the same round; open: time, ratio = floor/weir"
	fi

	awk '
	function median(list,    a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++) {
			t = a[i] + 0
			for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
			a[j + 1] = t
		}
		if (n == 0) return ""
		if (n % 2) return a[(n + 1) / 2]
		return (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function add(k, v) { vals[k] = (k in vals) ? vals[k] " " v : v }
	function med(name, unit) { return median(vals[name SUBSEP unit]) }
	function fmt(v, f) { return v == "" ? "-" : sprintf(f, v) }
	function dur(ns) { return ns >= 1e6 ? sprintf("%.2f ms", ns / 1e6) : sprintf("%.0f ns", ns) }
	/^# round / { round = $3; next }
	/^Benchmark.*-[0-9]+[ \t]/ {
		name = $1
		sub(/-[0-9]+$/, "", name)
		if (!(name in seen)) { seen[name] = 1; order[++nnames] = name }
		for (i = 3; i < NF; i += 2) add(name SUBSEP $(i + 1), $i)
		if (!(round in rounds)) { rounds[round] = 1; nrounds++ }
	}
	END {
		if (nnames == 0) exit
		printf "\nLog benchmarks (go test; medians of %d run(s))\n", nrounds
		printf "%-52s %12s %10s %10s %10s %7s  %s\n", "benchmark", "time/op", "MB/s", "B/op", "allocs/op", "fsyncs", "target"
		for (k = 1; k <= nnames; k++) {
			name = order[k]
			ns = med(name, "ns/op"); ok = ""
			if (ns == "") continue
			if (name ~ /log=1GB\/state=clean$/) ok = (ns / 1e6 < 100) ? "<100ms ok" : "<100ms MISS"
			if (name ~ /log=10000segs\/state=clean$/) ok = (ns / 1e6 < 1000) ? "<1000ms ok" : "<1000ms MISS"
			if (name == "BenchmarkRead") ok = (med(name, "allocs/op") == 0) ? "0 allocs ok" : "0 allocs MISS"
			if (name ~ /^BenchmarkAppend\//) ok = (med(name, "fsyncs") == 0) ? "0 fsyncs ok" : "0 fsyncs MISS"
			printf "%-52s %12s %10s %10s %10s %7s  %s\n", name, dur(ns), fmt(med(name, "MB/s"), "%.0f"), fmt(med(name, "B/op"), "%d"), fmt(med(name, "allocs/op"), "%d"), fmt(med(name, "fsyncs"), "%d"), ok
		}
	}' "$RAW"
} | tee "$SUMMARY"

echo
if [ -f "$OUT/storage.md" ]; then
	echo "weir bench storage: $OUT/storage.md, $OUT/storage.json"
fi
echo "raw output: $RAW"
echo "summary:    $SUMMARY"
