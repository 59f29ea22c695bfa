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

# serve_kill_under_load N MIN: POSTs $tmp/k1.json .. $tmp/kN.json to $url/v1/traces at
# once (each answer's status in $tmp/kI.code), kills $pid with SIGKILL once MIN of them
# are answered 200 (or after 10 s), and waits for the server and the clients (by PID:
# a bare wait would also wait for other children of the test, such as a database server).
serve_kill_under_load() {
	local n=$1 min=$2 i cpids=()
	for i in $(seq 1 "$n"); do
		(curl -s -m 20 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
			--data-binary @"$tmp/k$i.json" "$url/v1/traces" >"$tmp/k$i.code") &
		cpids+=($!)
	done
	for _ in $(seq 500); do
		[ "$(cat "$tmp"/k*.code 2>/dev/null | grep -o 200 | wc -l)" -ge "$min" ] && break
		sleep 0.02
	done
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	wait "${cpids[@]}"
}

# serve_count_acked N: of the N requests of serve_kill_under_load, how many were answered
# 200 ($acked) and how many of those the caller's acked_stored I does not find ($lost).
serve_count_acked() {
	local i
	acked=0
	lost=0
	for i in $(seq 1 "$1"); do
		if [ "$(cat "$tmp/k$i.code" 2>/dev/null)" = 200 ]; then
			acked=$((acked + 1))
			acked_stored "$i" || lost=$((lost + 1))
		fi
	done
}
