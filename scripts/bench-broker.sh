#!/usr/bin/env bash
# Broker benchmark matrix: Weir (epoll and net transports) against franz-go's
# kfake and NATS JetStream (file storage), every workload, REPEAT times with
# the targets alternating, then one pass against Weir's broker run
# in-process (allocation counts and CPU profiles).
#
#   scripts/bench-broker.sh                     # everything, 3 repetitions (~30 min)
#   REPEAT=1 WORKLOADS=W1,W2 scripts/bench-broker.sh -duration 5s
#
# Environment:
#   REPEAT      repetitions (default 3)
#   WORKLOADS   W1,W2,W3,W4,CONNS or all (default all)
#   TARGETS     default weir,weir-net,kfake,nats
#   PROFILE     1 (default): the in-process pass; 0: skip it
#   OUT         results directory (default a new /tmp/weir-bench-broker.*,
#               kept): report.md, results.json, profiles/*.pprof and *.top
#   DATA        where the brokers keep their data (default: the temp dir)
# Extra arguments go to weirbench (see go run ./bench/cmd/weirbench -h).
#
# Prints Markdown tables: medians over the repetitions, and ratios to kfake
# measured within the same repetition. On 2 cores the load generator shares
# the machine with the broker: compare ratios and CPU-seconds per GB.
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=${REPEAT:-3}
WORKLOADS=${WORKLOADS:-all}
TARGETS=${TARGETS:-weir,weir-net,kfake,nats}
PROFILE=${PROFILE:-1}
OUT=${OUT:-$(mktemp -d /tmp/weir-bench-broker.XXXXXX)}
DATA=${DATA:-}

if [[ ",$TARGETS," == *",nats,"* ]] && ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ]; then
	echo "bench-broker: installing nats-server (Debian)" >&2
	if [ "$(id -u)" = 0 ]; then
		apt-get install -y -qq nats-server >&2 || { apt-get update -qq && apt-get install -y -qq nats-server >&2; }
	else
		sudo apt-get install -y -qq nats-server >&2
	fi
fi

mkdir -p bin "$OUT/profiles"
echo "bench-broker: building" >&2
go build -o bin/weir ./cmd/weir
go build -o bin/weirbench ./bench/cmd/weirbench
go test -c -o bin/bench.test ./bench

data=()
[ -n "$DATA" ] && data=(-data "$DATA")

{
	echo "# Broker benchmarks"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+dirty'), nats-server $( (command -v nats-server >/dev/null && nats-server --version) || /usr/sbin/nats-server --version 2>/dev/null || echo none)"
	echo "Medians of $REPEAT; ×kfake = median of same-repetition ratios."
} >"$OUT/report.md"

status=0
bin/weirbench -workload "$WORKLOADS" -target "$TARGETS" -repeat "$REPEAT" \
	-weir-bin bin/weir -json "$OUT/results.json" "${data[@]}" "$@" >>"$OUT/report.md" || status=$?

if [ "$PROFILE" = 1 ]; then
	{
		echo
		echo "## Weir in-process (allocations, CPU profiles), one run each"
	} >>"$OUT/report.md"
	bin/weirbench -workload "$WORKLOADS" -target weir-helper,weir-helper-net -repeat 1 \
		-helper-bin bin/bench.test -cpuprofile-dir "$OUT/profiles" -json "$OUT/results-helper.json" \
		"${data[@]}" "$@" >>"$OUT/report.md" || status=$?
	for p in "$OUT"/profiles/*.pprof; do
		[ -e "$p" ] || continue
		go tool pprof -top -nodecount=30 bin/bench.test "$p" >"${p%.pprof}.top" 2>/dev/null || true
	done
	echo >>"$OUT/report.md"
	echo "CPU profiles: $OUT/profiles/*.pprof (go tool pprof bin/bench.test FILE); tops in *.top" >>"$OUT/report.md"
fi

cat "$OUT/report.md"
echo "bench-broker: results in $OUT" >&2
exit $status
