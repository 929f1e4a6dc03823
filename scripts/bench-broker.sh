#!/usr/bin/env bash
# Broker benchmark matrix through `weir bench`: Weir (epoll and net
# transports) against franz-go's kfake, NATS JetStream (file storage) and
# the null broker (the load generator's ceiling), REPEAT times with the
# targets alternating; then one pass against Weir's broker run in-process
# (allocation counts and CPU profiles).
#
#   scripts/bench-broker.sh                          # the standard suite, 3 repetitions
#   REPEAT=1 scripts/bench-broker.sh max-throughput latency@20MB/s --duration 5s
#
# Environment:
#   REPEAT      repetitions (default 3)
#   TARGETS     default weir,weir-net,kfake,nats
#   PROFILE     1 (default): the in-process pass; 0: skip it
#   OUT         results directory (default a new /tmp/weir-bench-broker.*,
#               kept): report.md, results.json, plots, profiles/
#   DATA        where the brokers keep their data (default: the temp dir)
# Arguments go to weir bench: workload names or files, and flags (weir
# bench -h). Without workloads: the standard suite.
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=${REPEAT:-3}
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

mkdir -p bin "$OUT"
echo "bench-broker: building" >&2
go build -o bin/weir ./cmd/weir
go test -c -o bin/bench.test ./bench

data=()
[ -n "$DATA" ] && data=(--data "$DATA")

status=0
bin/weir bench --target "$TARGETS" --reps "$REPEAT" --out "$OUT" "${data[@]}" "$@" >/dev/null || status=$?

if [ "$PROFILE" = 1 ]; then
	bin/weir bench --target weir-helper,weir-helper-net --ceiling=false --reps 1 \
		--helper-bin bin/bench.test --cpuprofile-dir "$OUT/profiles" --out "$OUT/helper" \
		"${data[@]}" "$@" >/dev/null || status=$?
	for p in "$OUT"/profiles/*.pprof; do
		[ -e "$p" ] || continue
		go tool pprof -top -nodecount=30 bin/bench.test "$p" >"${p%.pprof}.top" 2>/dev/null || true
	done
	echo "CPU profiles: $OUT/profiles/*.pprof (go tool pprof bin/bench.test FILE); tops in *.top" >&2
fi

cat "$OUT/report.md"
[ -f "$OUT/helper/report.md" ] && { echo; echo "## Weir in-process (allocations)"; sed -n '/^## Headline/,$p' "$OUT/helper/report.md"; }
echo "bench-broker: results in $OUT" >&2
exit $status
