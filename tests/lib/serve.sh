# serve.sh - starting and stopping `sonde serve` in the serve tests. Source it after
# setting $sonde (the binary), $tmp (a scratch directory) and pids=() (PIDs the test's
# cleanup kills), and after tests/lib/check.sh (bad).

# serve_start DB [OPTIONS...]: starts sonde serve on an ephemeral port of 127.0.0.1, its
# stderr in $tmp/serve.err; waits up to 30 s for the line naming the port. Sets $pid,
# $port and $url and adds the PID to $pids; a server that does not start fails the test.
serve_start() {
	local db=$1
	shift
	: >"$tmp/serve.err"
	"$sonde" serve --listen 127.0.0.1:0 --db "$db" "$@" 2>"$tmp/serve.err" &
	pid=$!
	pids+=("$pid")
	port=
	for _ in $(seq 300); do
		port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$tmp/serve.err")
		[ -n "$port" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$port" ]; then
		bad "server did not start: $(cat "$tmp/serve.err")"
		exit 1
	fi
	url=http://127.0.0.1:$port
}

# serve_stop [SIGNAL]: signals $pid (TERM by default) and waits for it; sets $stop_rc.
serve_stop() {
	kill -"${1:-TERM}" "$pid"
	wait "$pid"
	stop_rc=$?
}
