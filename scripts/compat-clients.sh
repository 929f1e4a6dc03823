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

CLIENTS=("$@")
[ ${#CLIENTS[@]} -gt 0 ] || CLIENTS=(kafkajs python)
for c in "${CLIENTS[@]}"; do
	case $c in kafkajs | python) ;; *) fail "unknown client '$c' (want kafkajs or python)" ;; esac
done
wants() { [[ " ${CLIENTS[*]} " == *" $1 "* ]]; }

# --- clients -------------------------------------------------------------------
# apt_install PKG... installs Debian packages (as root, or with sudo).
apt_install() {
	step "installing $*"
	if [ "$(id -u)" = 0 ]; then
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
	else
		fail "$* not installed and this is not root (and there is no sudo): install them"
	fi
}
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
WEIR_PID=
ADDR=

cleanup() {
	local rc=$?
	if [ -n "$WEIR_PID" ] && kill -0 "$WEIR_PID" 2>/dev/null; then
		kill -TERM "$WEIR_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$WEIR_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$WEIR_PID" 2>/dev/null || true
	fi
	if [ "$rc" != 0 ]; then
		echo "compat-clients: weir log (last 30 lines of $WORK/serve.log):" >&2
		tail -n 30 "$WORK/serve.log" >&2 2>/dev/null || true
		echo "compat-clients: work directory kept: $WORK" >&2
	elif [ "${KEEP:-0}" = 1 ]; then
		echo "compat-clients: work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

if wants kafkajs; then
	step "npm ci (compat/kafkajs)"
	(cd compat/kafkajs && timeout 300 npm ci --no-audit --no-fund --loglevel=error >"$WORK/npm.log" 2>&1) ||
		{ cat "$WORK/npm.log" >&2; fail "npm ci in compat/kafkajs failed"; }
fi

step "building weir"
$GO build -o "$BIN" ./cmd/weir

step "starting weir serve"
"$BIN" serve --listen 127.0.0.1:0 --data "$WORK/data" >"$WORK/serve.out" 2>"$WORK/serve.log" &
WEIR_PID=$!
for _ in $(seq 100); do
	ADDR=$(sed -n 's/^weir: serving Kafka protocol on \([^ ]*\) .*/\1/p' "$WORK/serve.out")
	[ -n "$ADDR" ] && break
	kill -0 "$WEIR_PID" 2>/dev/null || fail "weir serve exited at start (see $WORK/serve.log)"
	sleep 0.1
done
[ -n "$ADDR" ] || fail "weir serve did not start within 10s"
echo "weir serving on $ADDR (pid $WEIR_PID)"

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
kill -TERM "$WEIR_PID"
for _ in $(seq 300); do
	kill -0 "$WEIR_PID" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$WEIR_PID" 2>/dev/null && fail "weir did not exit within 30s of SIGTERM"
rc=0
wait "$WEIR_PID" || rc=$?
WEIR_PID=
[ "$rc" = 0 ] || fail "weir serve exited with code $rc after SIGTERM"
grep -q "clean shutdown" "$WORK/serve.log" || fail "weir did not log a clean shutdown"
if grep -E 'level=(ERROR|WARN)' "$WORK/serve.log" >&2; then
	fail "weir logged warnings or errors (above) while serving the clients"
fi

echo "compat-clients: PASS ($(IFS=,; echo "${passed[*]}" | sed 's/,/, /g')) in $(($(date +%s) - START))s"
