#!/usr/bin/env bash
# bench-storage.sh runs the storage benchmarks of log/ (bench_timing_test.go,
# open_timing_test.go) and prints a summary with the ratios against their
# references.
#
# Each benchmark runs COUNT times (default 3), each time in its own process
# with -test.count=1. A subject and its reference are run back to back, and
# their order alternates from one round to the next (log, ref; then ref,
# log; ...), so that a slow spell of a busy machine hits both. Ratios are
# computed per round from the adjacent pair, and the summary prints their
# median; throughputs and allocations are medians too.
#
# Usage: scripts/bench-storage.sh [regexp]
#   regexp   run only the benchmarks whose full name matches (grep -E)
# Environment:
#   COUNT=3        rounds
#   BENCHTIME=1s   -test.benchtime of each run
#   OUT=dir        where the test binary, raw output and summary go
#                  (default a new /tmp/weir-bench.* directory; kept)
#   KEEP_FIXTURES=1  keep the 1 GB and 10,000-segment fixtures in $OUT/fixtures
#
# The 1 GB benchmarks need about 3 GiB of free disk (they skip otherwise);
# BenchmarkGroupCommitLogs needs about 17 GiB at 1,000 logs with
# preallocation. Everything is removed at the end except the results.
set -euo pipefail

cd "$(dirname "$0")/.."
COUNT=${COUNT:-3}
BENCHTIME=${BENCHTIME:-1s}
FILTER=${1:-.}
OUT=${OUT:-$(mktemp -d /tmp/weir-bench.XXXXXX)}
mkdir -p "$OUT"
RAW=$OUT/raw.txt
SUMMARY=$OUT/summary.txt
: >"$RAW"

export WEIR_BENCH_DIR=$OUT/fixtures
cleanup() {
	if [ "${KEEP_FIXTURES:-0}" != 1 ]; then
		rm -rf "$WEIR_BENCH_DIR"
	fi
	rm -f "$OUT/log.test"
}
trap cleanup EXIT

echo "== disk"
df -h "${TMPDIR:-/tmp}" "$PWD" | sed 's/^/   /'
echo "== building log.test"
go test -c -o "$OUT/log.test" ./log/

# Groups: a benchmark prefix, then its leaves; the leaf named ref=* is the
# reference the others are compared with.
GROUPS_=(
	"BenchmarkAppend/size=1KiB log validated ref=write"
	"BenchmarkAppend/size=16KiB log validated ref=write"
	"BenchmarkAppend/size=1MiB log validated ref=write"
	"BenchmarkGroupCommit/appenders=1 log ref=fdatasync"
	"BenchmarkGroupCommit/appenders=8 log ref=fdatasync"
	"BenchmarkReadAll/size=1GB log ref=slice"
)
# Benchmarks without a reference, run whole.
SINGLES=(
	"BenchmarkRead"
	"BenchmarkGroupCommitLogs"
	"BenchmarkOpen"
)

# anchor turns a/b/c into ^a$/^b$/^c$ for -test.bench.
anchor() {
	local IFS=/ out="" p
	for p in $1; do
		out+="${out:+/}^${p}\$"
	done
	printf '%s' "$out"
}

run() {
	local name=$1
	if ! printf '%s\n' "$name" | grep -Eq -- "$FILTER"; then
		return 0
	fi
	echo "-- $name" >>"$RAW"
	(cd log && "$OUT/log.test" -test.run '^$' -test.bench "$(anchor "$name")" \
		-test.benchmem -test.count=1 -test.benchtime="$BENCHTIME" -test.timeout=60m) 2>&1 |
		tee -a "$RAW" | grep -E '^(Benchmark.*-[0-9]+[[:space:]]|--- (FAIL|SKIP)|FAIL|panic| +[a-z_]+\.go:[0-9]+:)' || true
}

for round in $(seq "$COUNT"); do
	echo "== round $round of $COUNT"
	echo "# round $round" >>"$RAW"
	for g in "${GROUPS_[@]}"; do
		read -r -a f <<<"$g"
		prefix=${f[0]}
		leaves=("${f[@]:1}")
		if ((round % 2 == 0)); then
			rev=()
			for ((i = ${#leaves[@]} - 1; i >= 0; i--)); do rev+=("${leaves[i]}"); done
			leaves=("${rev[@]}")
		fi
		for leaf in "${leaves[@]}"; do
			run "$prefix/$leaf"
		done
	done
	for s in "${SINGLES[@]}"; do
		run "$s"
	done
done

GROUPS_LIST=$(printf '%s\n' "${GROUPS_[@]}") awk '
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
# syncs: fsyncs per second for durable benchmarks, else the count of fsyncs
# in the timed part (Append: must be 0)
function syncs(name,    v) {
	v = med(name, "fsyncs/s")
	if (v != "") return sprintf("%.0f/s", v)
	return fmt(med(name, "fsyncs"), "%d")
}
/^# round / { round = $3; next }
/^Benchmark.*-[0-9]+[ \t]/ {
	name = $1
	sub(/-[0-9]+$/, "", name)
	if (!(name in seen)) { seen[name] = 1; order[++nnames] = name }
	for (i = 3; i < NF; i += 2) {
		add(name SUBSEP $(i + 1), $i)
		byround[name SUBSEP $(i + 1) SUBSEP round] = $i
	}
	if (!(round in rounds)) { rounds[round] = 1; nrounds++ }
}
# ratio: median over rounds of subj/ref for unit u (both from the same round)
function ratio(subj, ref, u,    r, list) {
	list = ""
	for (r in rounds)
		if ((subj SUBSEP u SUBSEP r) in byround && (ref SUBSEP u SUBSEP r) in byround && byround[ref SUBSEP u SUBSEP r] > 0)
			list = list " " byround[subj SUBSEP u SUBSEP r] / byround[ref SUBSEP u SUBSEP r]
	return median(list)
}
function target(prefix) {
	if (prefix ~ /^BenchmarkAppend\//) return 0.90
	if (prefix ~ /^BenchmarkGroupCommit\//) return 0.80
	if (prefix ~ /^BenchmarkReadAll\//) return 0.80
	return 0
}
END {
	ng = split(ENVIRON["GROUPS_LIST"], gl, "\n")
	printf "\nPairs (medians; ratio = median over rounds of subject/reference MB/s from adjacent runs)\n"
	printf "%-44s %10s %10s %9s %7s %6s %10s %10s\n", "benchmark", "MB/s", "ref MB/s", "ratio", "target", "", "allocs/op", "fsyncs"
	printf "%-44s %10s %10s %9s %7s %6s %10s %10s\n", "", "", "", "", "", "", "", "(timed/s)"
	for (g = 1; g <= ng; g++) {
		n = split(gl[g], f, " ")
		if (n < 2) continue
		prefix = f[1]; ref = ""
		for (i = 2; i <= n; i++) if (f[i] ~ /^ref=/) ref = prefix "/" f[i]
		for (i = 2; i <= n; i++) {
			name = prefix "/" f[i]
			if (!(name in seen)) continue
			if (name == ref) {
				printf "%-44s %10s %10s %9s %7s %6s %10s %10s\n", name, fmt(med(name, "MB/s"), "%.1f"), "", "", "", "", fmt(med(name, "allocs/op"), "%d"), syncs(name)
				continue
			}
			r = ratio(name, ref, "MB/s"); t = target(prefix)
			ok = (r == "" || t == 0) ? "" : (r >= t ? "ok" : "MISS")
			printf "%-44s %10s %10s %9s %7s %6s %10s %10s\n", name, fmt(med(name, "MB/s"), "%.1f"), fmt(med(ref, "MB/s"), "%.1f"), fmt(r, "%.3f"), (t ? sprintf("%.2f", t) : ""), ok, fmt(med(name, "allocs/op"), "%d"), syncs(name)
		}
	}

	printf "\nGroup commit across logs (one Flusher, 64 appenders, 16 KiB appends; ratio vs logs=1 of the same variant, target >= 0.50 at 1000)\n"
	printf "%-60s %10s %10s %10s %8s %6s %10s\n", "benchmark", "ackMB/s", "fsyncs/s", "acks/fsync", "vs 1", "", "allocs/op"
	for (k = 1; k <= nnames; k++) {
		name = order[k]
		if (name !~ /^BenchmarkGroupCommitLogs\//) continue
		base = name; sub(/logs=[0-9]+$/, "logs=1", base)
		r = ratio(name, base, "MB/s")
		ok = (name ~ /logs=1000$/ && r != "") ? (r >= 0.5 ? "ok" : "MISS") : ""
		printf "%-60s %10s %10s %10s %8s %6s %10s\n", name, fmt(med(name, "MB/s"), "%.1f"), fmt(med(name, "fsyncs/s"), "%.0f"), fmt(med(name, "acks/fsync"), "%.2f"), fmt(r, "%.3f"), ok, fmt(med(name, "allocs/op"), "%d")
	}

	printf "\nOpen and reads (medians)\n"
	printf "%-52s %12s %10s %10s %10s  %s\n", "benchmark", "time/op", "MB/s", "B/op", "allocs/op", "target"
	for (k = 1; k <= nnames; k++) {
		name = order[k]
		if (name !~ /^BenchmarkOpen\// && name != "BenchmarkRead") continue
		ns = med(name, "ns/op"); t = ""; ok = ""
		if (ns == "") continue
		if (name ~ /log=1GB\/state=clean$/) t = 100
		if (name ~ /log=10000segs\/state=clean$/) t = 1000
		if (t != "") ok = (ns / 1e6 < t) ? sprintf("<%dms ok", t) : sprintf("<%dms MISS", t)
		if (name == "BenchmarkRead") ok = (med(name, "allocs/op") == 0) ? "0 allocs ok" : "0 allocs MISS"
		printf "%-52s %12s %10s %10s %10s  %s\n", name, dur(ns), fmt(med(name, "MB/s"), "%.0f"), fmt(med(name, "B/op"), "%d"), fmt(med(name, "allocs/op"), "%d"), ok
	}
	printf "\nsamples per benchmark: %d round(s)\n", nrounds
}' "$RAW" | tee "$SUMMARY"

echo
echo "raw output: $RAW"
echo "summary:    $SUMMARY"
