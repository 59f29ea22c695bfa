#!/usr/bin/env bash
# serve_journal_ch_test.sh - `sonde serve --journal DIR` into ClickHouse (a private server,
# tests/lib/clickhouse.sh): requests acknowledged while ClickHouse is frozen (SIGSTOP, so
# nothing can commit) are in the journal only; the receiver is killed with SIGKILL under 60
# concurrent requests, ClickHouse resumes, a new receiver on the same journal replays it,
# and every acknowledged request's span is in the store; the journal is empty after its
# SIGTERM. Skips (77) when clickhouse-server is not installed.
set -uo pipefail
sonde=${SONDE_BIN:?SONDE_BIN not set}
src=${SONDE_SRC:-.}
. "$src/tests/lib/clickhouse.sh"
ch_find || { echo "skip: clickhouse-server is not installed"; exit 77; }
command -v curl >/dev/null || { echo "skip: curl is not installed"; exit 77; }
tmp=$(mktemp -d)
pids=()
cleanup() {
	[ -n "$ch_pid" ] && kill -CONT "$ch_pid" 2>/dev/null
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	ch_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
. "$src/tests/lib/check.sh"
ch_start "$tmp/ch" || { echo "FAIL: could not start clickhouse-server"; exit 1; }
db="clickhouse://127.0.0.1:$ch_http/sonde_journal"
j=$tmp/journal

. "$src/tests/lib/serve.sh"
start_server() { serve_start "$db" --journal "$j" "$@"; }
trace_json() {
	printf '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},'
	printf '"scopeSpans":[{"spans":[{"traceId":"%s","spanId":"0000000000000001","name":"%s","kind":2,' "$1" "$2"
	printf '"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000"}]}]}]}'
}
tid() { printf '%032x' "$1"; }
stored_ids() { "$sonde" traces --json --limit 1000 --db "$db" 2>/dev/null | grep -o '"trace_id":"[0-9a-f]*"' | cut -d'"' -f4; }

start_server
trace_json "$(tid 1)" warmup >"$tmp/w.json"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary @"$tmp/w.json" "$url/v1/traces")
expect "warm-up" 200 "$code"
for _ in $(seq 100); do stored_ids | grep -q "$(tid 1)" && break; sleep 0.1; done

# ClickHouse frozen: commits wait, acknowledgements do not.
kill -STOP "$ch_pid"
for i in $(seq 1 60); do trace_json "$(tid $((5000 + i)))" "k$i" >"$tmp/k$i.json"; done
serve_kill_under_load 60 10
kill -CONT "$ch_pid"
start_server
has "$tmp/serve.err" "replayed [1-9][0-9]* requests" "replay line"
stored_ids >"$tmp/ids"
acked_stored() { grep -q "$(tid $((5000 + $1)))" "$tmp/ids"; }
serve_count_acked 60
echo "kill -9 into ClickHouse with --journal: $acked of 60 acknowledged while ClickHouse was frozen"
[ "$acked" -ge 10 ] && ok || bad "only $acked acknowledged"
expect "acknowledged requests lost after replay" 0 "$lost"

# ClickHouse down (stopped, not frozen): a commit fails and is retried, counted in
# store_errors; once ClickHouse is back on its ports the same receiver commits what it
# acknowledged meanwhile.
ports=$(sed -n 's#.*<\(http_port\|tcp_port\|interserver_http_port\)>\([0-9]*\)<.*#\2#p' "$tmp/ch/config.xml" | tr '\n' ' ')
read -r p_http p_tcp p_inter <<<"$ports"
[ -n "$p_inter" ] || { bad "ports of the private server not found in its config"; exit 1; }
# ch_down: ClickHouse killed (SIGKILL: quicker than its shutdown).
ch_down() {
	kill -9 "$ch_pid"
	wait "$ch_pid" 2>/dev/null
	ch_pid=""
}
ch_down
for i in 1 2 3; do
	trace_json "$(tid $((7000 + i)))" "down$i" >"$tmp/d$i.json"
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary @"$tmp/d$i.json" "$url/v1/traces")
	expect "acknowledged while ClickHouse is down ($i)" 200 "$code"
done
sleep 0.5
errors=$(curl -s "$url/metrics" | sed -n 's/^sonde_serve_store_errors_total \([0-9]*\)$/\1/p')
[ "${errors:-0}" -ge 1 ] && ok || bad "store errors not counted while ClickHouse is down: '$errors'"
ch_start "$tmp/ch" "$p_http" "$p_tcp" "$p_inter" || { bad "clickhouse-server did not restart"; exit 1; }
found=0
for _ in $(seq 150); do
	stored_ids >"$tmp/ids"
	found=0
	for i in 1 2 3; do grep -q "$(tid $((7000 + i)))" "$tmp/ids" && found=$((found + 1)); done
	[ "$found" = 3 ] && break
	sleep 0.1
done
expect "committed by the retries once ClickHouse is back" 3 "$found"
kill -TERM "$pid"
wait "$pid"
expect "SIGTERM exit" 0 "$?"
expect "journal empty after SIGTERM" 0 "$(find "$j" -name 'journal-*.wal' | wc -l)"

# SIGTERM while ClickHouse is down and the journal over --journal-max (requests wait in the
# queue): the receiver stops (exit 0) without waiting for ClickHouse, answers what it
# admitted, and keeps the journal; the next one replays it.
start_server --journal-max 100
ch_down
trace_json "$(tid 7100)" late >"$tmp/late.json"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary @"$tmp/late.json" "$url/v1/traces")
expect "acknowledged before a stop with ClickHouse down" 200 "$code"
cpids=()
for i in 1 2 3; do
	trace_json "$(tid $((7100 + i)))" "queued$i" >"$tmp/q$i.json"
	(curl -s -m 20 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data-binary @"$tmp/q$i.json" "$url/v1/traces" >"$tmp/q$i.code") &
	cpids+=($!)
done
sleep 0.5
expect "queue held over --journal-max" 3 "$(curl -s "$url/metrics" | sed -n 's/^sonde_serve_queue_depth \([0-9]*\)$/\1/p')"
t0=$(date +%s)
kill -TERM "$pid"
wait "$pid"
expect "SIGTERM exit with ClickHouse down" 0 "$?"
[ $(($(date +%s) - t0)) -le 8 ] && ok || bad "the stop waited for ClickHouse: $(($(date +%s) - t0)) s"
wait "${cpids[@]}"
[ "$(find "$j" -name 'journal-*.wal' | wc -l)" -ge 1 ] && ok || bad "the journal was not kept while ClickHouse was down"
has "$tmp/serve.err" "bytes of journaled records are not in the store yet; they stay in $j" "stop summary: the journal kept"
ch_start "$tmp/ch" "$p_http" "$p_tcp" "$p_inter" || { bad "clickhouse-server did not restart"; exit 1; }
start_server
has "$tmp/serve.err" "replayed [1-4] requests" "replay after a stop with ClickHouse down"
stored_ids >"$tmp/ids"
grep -q "$(tid 7100)" "$tmp/ids" && ok || bad "the request acknowledged before the stop is not stored"
for i in 1 2 3; do
	c=$(cat "$tmp/q$i.code")
	case $c in
	200) grep -q "$(tid $((7100 + i)))" "$tmp/ids" && ok || bad "queued request $i answered 200 and not stored" ;;
	503) ok ;;
	*) bad "queued request $i answered '$c'" ;;
	esac
done
kill -TERM "$pid"
wait "$pid"

echo "serve_journal_ch_test: $pass passed, $fail failed"
[ "$fail" = 0 ]
