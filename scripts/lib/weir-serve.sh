# Sourced by the compat scripts: installing Debian packages, and starting
# and stopping "weir serve" with a cleanup on exit. The sourcing script
# defines fail and step, sets NAME (its name in messages), WORK (a
# temporary directory, removed on success unless KEEP=1), BIN (the weir
# binary) and DATA (the data directory), then calls trap weir_cleanup EXIT.
# start_weir sets WEIR_PID and ADDR; weir's output goes to
# $WORK/serve.N.out and its log to $WORK/serve.N.log, N counting the starts.

WEIR_PID=
ADDR=
STARTS=0

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

# weir_cleanup stops a weir still running and removes WORK (kept, with the
# end of weir's log shown, when the script failed).
weir_cleanup() {
	local rc=$?
	if [ -n "$WEIR_PID" ] && kill -0 "$WEIR_PID" 2>/dev/null; then
		kill -TERM "$WEIR_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$WEIR_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$WEIR_PID" 2>/dev/null || true
	fi
	if [ "$rc" != 0 ]; then
		echo "$NAME: weir log (last 30 lines of $WORK/serve.*.log):" >&2
		tail -n 30 "$WORK"/serve.*.log >&2 2>/dev/null || true
		echo "$NAME: work directory kept: $WORK" >&2
	elif [ "${KEEP:-0}" = 1 ]; then
		echo "$NAME: work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}

# start_weir LISTEN starts weir serve and sets WEIR_PID and ADDR.
start_weir() {
	STARTS=$((STARTS + 1))
	local out=$WORK/serve.$STARTS.out
	"$BIN" serve --listen "$1" --data "$DATA" >"$out" 2>"$WORK/serve.$STARTS.log" &
	WEIR_PID=$!
	for _ in $(seq 100); do
		if ADDR=$(sed -n 's/^weir: serving Kafka protocol on \([^ ]*\) .*/\1/p' "$out") && [ -n "$ADDR" ]; then
			echo "weir serving on $ADDR (pid $WEIR_PID)"
			return
		fi
		kill -0 "$WEIR_PID" 2>/dev/null || fail "weir serve exited at start (see $WORK/serve.$STARTS.log)"
		sleep 0.1
	done
	fail "weir serve did not start within 10s"
}

# stop_weir stops weir with SIGTERM and requires a clean exit.
stop_weir() {
	kill -TERM "$WEIR_PID"
	local rc=0
	for _ in $(seq 300); do
		kill -0 "$WEIR_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$WEIR_PID" 2>/dev/null && fail "weir did not exit within 30s of SIGTERM"
	wait "$WEIR_PID" || rc=$?
	WEIR_PID=
	[ "$rc" = 0 ] || fail "weir serve exited with code $rc after SIGTERM"
	grep -q "clean shutdown" "$WORK/serve.$STARTS.log" || fail "weir did not log a clean shutdown"
}
