#!/usr/bin/env bash
# compat.sh checks Weir against librdkafka, through kcat, against
# franz-go, through weir's own client commands, and against four clients
# with protocol code of their own: kafkajs (Node), kafka-python (Debian's
# python3-kafka), IBM/sarama and segmentio/kafka-go (Go). It builds weir, starts
# "weir serve" on a free loopback port with a temporary data directory, and:
#
#   1. lists metadata (kcat -L);
#   2. produces keyed lines with headers under each compression codec
#      (none, gzip, snappy, lz4, zstd) with acks=all, and reads them back
#      with kcat -e (checking batch CRCs) and a format, and with weir
#      consume; the output must match the input exactly;
#   3. produces with weir produce (franz-go) and reads with kcat;
#   4. queries offsets (kcat -Q) by beginning, end and timestamp, and
#      consumes from a timestamp (kcat -o s@MS);
#   5. produces with enable.idempotence=true;
#   6. consumes as a consumer group (kcat -G) and resumes from the commit;
#   7. restarts weir (SIGTERM, wait, start again on the same port and data)
#      and checks that everything above is still readable, byte for byte;
#   8. runs compat/kafkajs/test.js and compat/python/test.py against it
#      (admin APIs, produce with acks levels and codecs, idempotence,
#      exact consume, offsets by time, consumer groups);
#   9. runs scripts/compat-goclients.sh: the tests of compat/goclients,
#      IBM/sarama and segmentio/kafka-go against embedded brokers.
#
# Any mismatch or error stops the script with "compat: FAIL: ..." and a
# non-zero exit. Every kcat call runs under "timeout", consumers with -e,
# so the script always ends. kcat, nodejs, npm and python3-kafka are
# installed from Debian if missing; kafkajs comes from npm (pinned by
# compat/kafkajs/package-lock.json), sarama and kafka-go from the Go module
# proxy (compat/goclients is a module of its own).
#
# Usage: scripts/compat.sh        (or: make compat)
# Environment:
#   GO=go      the go command
#   KEEP=1     keep the work directory (binary, data, logs, outputs)
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}

fail() {
	echo "compat: FAIL: $*" >&2
	exit 1
}
step() { echo "== $*"; }
. scripts/lib/weir-serve.sh

# --- clients -------------------------------------------------------------------
missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# Debian's python3, where python3-kafka installs (a PATH python3 may be
# another one).
PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c 'import kafka' 2>/dev/null || missing+=(python3-kafka)
[ ${#missing[@]} = 0 ] || apt_install "${missing[@]}"
KCAT_VERSION=$(kcat -V 2>&1 | grep -m1 '^Version' || true)
echo "kcat: ${KCAT_VERSION:-unknown version}"

# --- weir -------------------------------------------------------------------
WORK=$(mktemp -d /tmp/weir-compat.XXXXXX)
BIN=$WORK/weir
DATA=$WORK/data
NAME=compat
trap weir_cleanup EXIT

step "building weir"
$GO build -o "$BIN" ./cmd/weir

# --- helpers ----------------------------------------------------------------
# kc runs kcat against weir, bounded in time, failing on any kcat error.
kc() {
	local err=$WORK/kcat.err rc=0
	timeout 30 kcat -b "$ADDR" -X socket.timeout.ms=10000 "$@" 2>"$err" || rc=$?
	if [ "$rc" != 0 ] || grep -E '^% ERROR|ERROR:|FAIL' "$err" >&2; then
		echo "compat: kcat $* (exit $rc):" >&2
		cat "$err" >&2
		fail "kcat $1 $2 ... failed"
	fi
}

# weir_cli runs a weir client command against the broker.
weir_cli() { timeout 60 "$BIN" "$@" --bootstrap "$ADDR"; }

# same NAME EXPECTED GOT fails unless the two files are identical.
same() {
	if ! diff -u "$2" "$3" >"$WORK/diff.txt"; then
		head -n 40 "$WORK/diff.txt" >&2
		fail "$1: output differs from what was produced ($(wc -l <"$2") lines expected, $(wc -l <"$3") got)"
	fi
	echo "ok: $1 ($(wc -l <"$3") lines)"
}

# check_equal NAME WANT GOT
check_equal() {
	[ "$2" = "$3" ] || fail "$1: got '$3', want '$2'"
	echo "ok: $1 = $3"
}

start_weir 127.0.0.1:0
PORT=${ADDR##*:}

# --- 1. metadata --------------------------------------------------------------
step "metadata (kcat -L)"
weir_cli topic create compat --partitions 3 >/dev/null
weir_cli topic create tsq --partitions 1 >/dev/null
kc -L >"$WORK/meta.txt"
grep -q "1 brokers:" "$WORK/meta.txt" || fail "kcat -L: want 1 broker: $(cat "$WORK/meta.txt")"
grep -q "broker 1 at 127.0.0.1:$PORT" "$WORK/meta.txt" || fail "kcat -L: broker 1 not at 127.0.0.1:$PORT: $(cat "$WORK/meta.txt")"
grep -q 'topic "compat" with 3 partitions:' "$WORK/meta.txt" || fail "kcat -L: topic compat with 3 partitions missing"
for p in 0 1 2; do
	grep -q "partition $p, leader 1, replicas: 1, isrs: 1" "$WORK/meta.txt" || fail "kcat -L: partition $p of compat: $(cat "$WORK/meta.txt")"
done
echo "ok: metadata"

# --- 2. produce with each codec, consume with kcat and weir -----------------
step "produce with each compression (kcat -P -K: -H, acks=all), consume back"
: >"$WORK/expect.codecs"
for codec in none gzip snappy lz4 zstd; do
	in=$WORK/in.$codec
	# 300 lines over 17 keys; repetitive values so that compression has
	# something to do.
	awk -v c="$codec" 'BEGIN { for (i = 1; i <= 300; i++) {
		s = ""; for (j = 0; j < i % 40; j++) s = s "abc"
		printf "key-%s-%d:value %s %d %s\n", c, i % 17, c, i, s } }' >"$in"
	kc -P -t compat -K: -H "codec=$codec" -H "h2=x" -z "$codec" -X acks=all <"$in"
	awk -F: -v c="$codec" '{ k = $1; sub(/^[^:]*:/, ""); printf "%s\t%s\tcodec=%s,h2=x\n", k, $0, c }' "$in" >>"$WORK/expect.codecs"
done
sort "$WORK/expect.codecs" >"$WORK/expect.codecs.sorted"
TOTAL=$(wc -l <"$WORK/expect.codecs")

check_codecs() { # $1: label
	kc -C -X check.crcs=true -t compat -o beginning -e -q -f '%k\t%s\t%h\n' >"$WORK/got.kcat"
	sort "$WORK/got.kcat" >"$WORK/got.kcat.sorted"
	same "$1: kcat consume of kcat-produced records" "$WORK/expect.codecs.sorted" "$WORK/got.kcat.sorted"
	weir_cli consume compat -e -q -f '%k\t%s\t%h\n' | sort >"$WORK/got.weir.sorted"
	same "$1: weir consume of kcat-produced records" "$WORK/expect.codecs.sorted" "$WORK/got.weir.sorted"
	# Per partition, offsets are dense from 0 and each key's records keep
	# their produce order.
	kc -C -X check.crcs=true -t compat -o beginning -e -q -f '%p\t%o\t%k\t%s\n' >"$WORK/got.order"
	awk -F'\t' '
		{ if ($2 != next_off[$1] + 0) { printf "partition %s: offset %s, want %d\n", $1, $2, next_off[$1]; bad = 1 }
		  next_off[$1] = $2 + 1
		  split($4, f, " "); n = f[3] + 0
		  if (($3 in last) && n <= last[$3]) { printf "key %s: record %d after %d\n", $3, n, last[$3]; bad = 1 }
		  last[$3] = n }
		END { exit bad }' "$WORK/got.order" >&2 || fail "$1: offsets or per-key order wrong"
	echo "ok: $1: dense offsets and per-key order"
}
check_codecs "codecs"

# --- 3. franz-go producer, kcat consumer -------------------------------------
step "produce with weir produce (franz-go), consume with kcat"
weir_cli topic create fromweir --partitions 2 >/dev/null
: >"$WORK/expect.fromweir"
for codec in none gzip snappy lz4 zstd; do
	seq 1 100 | sed "s/^/k$codec-/; s/\$/=v$codec/" >"$WORK/in.weir.$codec"
	weir_cli produce fromweir -q --key-separator = --header "codec=$codec" --compression "$codec" <"$WORK/in.weir.$codec"
	sed "s/=/\t/; s/\$/\tcodec=$codec/" "$WORK/in.weir.$codec" >>"$WORK/expect.fromweir"
done
sort "$WORK/expect.fromweir" >"$WORK/expect.fromweir.sorted"
check_fromweir() {
	kc -C -X check.crcs=true -t fromweir -o beginning -e -q -f '%k\t%s\t%h\n' | sort >"$WORK/got.fromweir.sorted"
	same "$1: kcat consume of franz-go-produced records" "$WORK/expect.fromweir.sorted" "$WORK/got.fromweir.sorted"
}
check_fromweir "franz-go to librdkafka"

# --- 4. offsets by time --------------------------------------------------------
step "offsets (kcat -Q) and consume from a timestamp"
seq 1 10 | sed 's/^/before-/' >"$WORK/in.ts1"
seq 1 7 | sed 's/^/after-/' >"$WORK/in.ts2"
kc -P -t tsq -X acks=all <"$WORK/in.ts1"
sleep 0.2
MID=$(date +%s%3N)
sleep 0.2
kc -P -t tsq -X acks=all <"$WORK/in.ts2"
FUTURE=$(($(date +%s%3N) + 3600000))
check_offsets() {
	kc -Q -t "tsq:0:-2" >"$WORK/q.start"
	kc -Q -t "tsq:0:-1" >"$WORK/q.end"
	kc -Q -t "tsq:0:$MID" >"$WORK/q.mid"
	kc -Q -t "tsq:0:$FUTURE" >"$WORK/q.future"
	check_equal "$1: -Q beginning" "tsq [0] offset 0" "$(cat "$WORK/q.start")"
	check_equal "$1: -Q end" "tsq [0] offset 17" "$(cat "$WORK/q.end")"
	check_equal "$1: -Q timestamp between the batches" "tsq [0] offset 10" "$(cat "$WORK/q.mid")"
	check_equal "$1: -Q future timestamp" "tsq [0] offset -1" "$(cat "$WORK/q.future")"
	kc -C -X check.crcs=true -t tsq -o "s@$MID" -e -q -f '%s\n' >"$WORK/got.ts"
	same "$1: kcat consume from timestamp" "$WORK/in.ts2" "$WORK/got.ts"
	weir_cli consume tsq -e -q --from "timestamp:$MID" >"$WORK/got.ts.weir"
	same "$1: weir consume from timestamp" "$WORK/in.ts2" "$WORK/got.ts.weir"
}
check_offsets "offsets"

# --- 5. idempotent producer ---------------------------------------------------
step "idempotent produce (enable.idempotence=true)"
seq 1 2000 | sed 's/^/idem-/' >"$WORK/in.idem"
kc -P -t idem -X enable.idempotence=true -z lz4 -X linger.ms=5 -X batch.num.messages=100 <"$WORK/in.idem"
check_idem() {
	kc -C -X check.crcs=true -t idem -o beginning -e -q -f '%s\n' >"$WORK/got.idem"
	same "$1: idempotent records, in order, no duplicates" "$WORK/in.idem" "$WORK/got.idem"
}
check_idem "idempotence"

# --- 6. consumer group ----------------------------------------------------------
step "consumer group (kcat -G)"
timeout 60 kcat -b "$ADDR" -G compat-group -X auto.offset.reset=earliest -X enable.auto.commit=true \
	-X auto.commit.interval.ms=100 -e -q -f '%s\n' compat >"$WORK/got.group" 2>"$WORK/group.err" ||
	{ cat "$WORK/group.err" >&2; fail "kcat -G (consumer group) failed"; }
check_equal "group: records consumed" "$TOTAL" "$(wc -l <"$WORK/got.group")"
check_group() {
	timeout 60 kcat -b "$ADDR" -G compat-group -X auto.offset.reset=earliest -e -q -f '%s\n' compat \
		>"$WORK/got.group2" 2>"$WORK/group2.err" ||
		{ cat "$WORK/group2.err" >&2; fail "$1: kcat -G (consumer group) failed"; }
	check_equal "$1: group resumes from its commit (records re-read)" 0 "$(wc -l <"$WORK/got.group2")"
}
check_group "group"

# --- 7. restart ---------------------------------------------------------------
step "restart weir (SIGTERM, start again)"
stop_weir
start_weir "127.0.0.1:$PORT"
kc -L -t compat >"$WORK/meta2.txt"
grep -q 'topic "compat" with 3 partitions:' "$WORK/meta2.txt" || fail "after restart: kcat -L -t compat: $(cat "$WORK/meta2.txt")"
check_codecs "after restart"
check_fromweir "after restart"
check_offsets "after restart"
check_idem "after restart"
check_group "after restart"
# Still writable, with the idempotent producer continuing the sequence.
seq 2001 2100 | sed 's/^/idem-/' >"$WORK/in.idem2"
kc -P -t idem -X enable.idempotence=true <"$WORK/in.idem2"
cat "$WORK/in.idem2" >>"$WORK/in.idem"
check_idem "after restart, appended"

# --- 8. other clients ----------------------------------------------------------
step "kafkajs $(sed -n 's/.*"kafkajs": "\(.*\)".*/\1/p' compat/kafkajs/package.json)"
(cd compat/kafkajs && npm ci --no-audit --no-fund --loglevel=error >"$WORK/npm.log" 2>&1) ||
	{ cat "$WORK/npm.log" >&2; fail "npm ci in compat/kafkajs failed"; }
timeout 150 node compat/kafkajs/test.js "$ADDR" || fail "kafkajs (see above)"
step "kafka-python $("$PY" -c 'import kafka; print(kafka.__version__)')"
timeout 150 "$PY" compat/python/test.py "$ADDR" || fail "kafka-python (see above)"

stop_weir

# --- 9. Go clients with their own protocol code (embedded brokers) ------------
step "sarama and kafka-go (compat/goclients)"
GO=$GO timeout 600 scripts/compat-goclients.sh || fail "sarama / kafka-go (see above)"
echo "compat: PASS ($KCAT_VERSION; kafkajs, kafka-python, sarama, kafka-go)"
