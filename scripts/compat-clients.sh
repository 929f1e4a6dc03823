#!/usr/bin/env bash
# compat-clients.sh checks Weir against two Kafka clients with protocol
# code of their own, as a new user would run them: kafkajs (Node, pinned by
# compat/kafkajs/package-lock.json) and kafka-python (Debian's
# python3-kafka). It builds weir, starts "weir serve" on a free loopback
# port with a temporary data directory, and runs
#
#   compat/kafkajs/test.js   admin (topics, configs, partitions, groups),
#                            produce with acks -1/1/0, gzip, idempotence,
#                            exact consume per partition, offsets by time,
#                            a group resuming from its commit, two members
#                            splitting the partitions, LogAppendTime,
#                            OFFSET_OUT_OF_RANGE reset;
#   compat/python/test.py    the same with kafka-python (no idempotence:
#                            2.0.2 has none).
#
# Each test exits non-zero with "compat <client>: FAIL: ..." on the first
# mismatch and bounds every request and wait; each also runs under
# "timeout". The broker is stopped (by its PID) on exit, whatever happens;
# it must then shut down cleanly. nodejs, npm and python3-kafka are
# installed from Debian if missing (as root, or with sudo); kafkajs comes
# from the npm registry with "npm ci".
#
# Usage: scripts/compat-clients.sh [kafkajs] [python]   (default: both)
# Environment:
#   GO=go      the go command
#   KEEP=1     keep the work directory (binary, data, logs)
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
START=$(date +%s)

fail() {
	echo "compat-clients: FAIL: $*" >&2
	exit 1
}
step() { echo "== $*"; }
. scripts/lib/weir-serve.sh

CLIENTS=("$@")
[ ${#CLIENTS[@]} -gt 0 ] || CLIENTS=(kafkajs python)
for c in "${CLIENTS[@]}"; do
	case $c in kafkajs | python) ;; *) fail "unknown client '$c' (want kafkajs or python)" ;; esac
done
wants() { [[ " ${CLIENTS[*]} " == *" $1 "* ]]; }

# --- clients -------------------------------------------------------------------
# Debian's python3, where python3-kafka installs (a python3 earlier in PATH
# may be another one).
PY=/usr/bin/python3
missing=()
if wants kafkajs; then
	command -v node >/dev/null 2>&1 || missing+=(nodejs)
	command -v npm >/dev/null 2>&1 || missing+=(npm)
fi
if wants python; then
	{ [ -x "$PY" ] && "$PY" -c 'import kafka' 2>/dev/null; } || missing+=(python3-kafka)
fi
[ ${#missing[@]} = 0 ] || apt_install "${missing[@]}"

# --- weir -------------------------------------------------------------------
WORK=$(mktemp -d /tmp/weir-compat-clients.XXXXXX)
BIN=$WORK/weir
DATA=$WORK/data
NAME=compat-clients
trap weir_cleanup EXIT

if wants kafkajs; then
	step "npm ci (compat/kafkajs)"
	(cd compat/kafkajs && timeout 300 npm ci --no-audit --no-fund --loglevel=error >"$WORK/npm.log" 2>&1) ||
		{ cat "$WORK/npm.log" >&2; fail "npm ci in compat/kafkajs failed"; }
fi

step "building weir"
$GO build -o "$BIN" ./cmd/weir

step "starting weir serve"
start_weir 127.0.0.1:0

# --- clients against weir -----------------------------------------------------
passed=()
if wants kafkajs; then
	v=$(node -p 'require("./compat/kafkajs/node_modules/kafkajs/package.json").version')
	step "kafkajs $v (node $(node --version))"
	timeout 150 node compat/kafkajs/test.js "$ADDR" || fail "kafkajs $v (see above)"
	passed+=("kafkajs $v")
fi
if wants python; then
	v=$("$PY" -c 'import kafka; print(kafka.__version__)')
	step "kafka-python $v ($("$PY" --version))"
	timeout 150 "$PY" compat/python/test.py "$ADDR" || fail "kafka-python $v (see above)"
	passed+=("kafka-python $v")
fi

# --- stop -----------------------------------------------------------------------
step "stopping weir"
stop_weir
if grep -E 'level=(ERROR|WARN)' "$WORK/serve.$STARTS.log" >&2; then
	fail "weir logged warnings or errors (above) while serving the clients"
fi

echo "compat-clients: PASS ($(IFS=,; echo "${passed[*]}" | sed 's/,/, /g')) in $(($(date +%s) - START))s"
