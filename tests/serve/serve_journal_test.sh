#!/usr/bin/env bash
# serve_journal_test.sh - `sonde serve --journal DIR` on SQLite, over loopback with curl:
# requests acknowledged once journaled and in the store soon after; the journal empty after
# a clean SIGTERM; SIGKILL under 60 concurrent requests, then a restart on the same journal
# and store replays it and every acknowledged request is stored; a torn tail (a segment cut
# mid-record) replays the whole records and warns with the offset; a bad CRC and a record
# that no longer decodes are reported; --journal-sync; usage errors.
set -uo pipefail
sonde=${SONDE_BIN:?SONDE_BIN not set}
data=${SONDE_DATA:-../shared/data}
src=${SONDE_SRC:-.}
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
for tool in curl sqlite3; do
	command -v $tool >/dev/null || { echo "skip: $tool not installed"; exit 77; }
done
. "$src/tests/lib/check.sh"

. "$src/tests/lib/serve.sh"
# start_server DB JOURNAL [OPTIONS...]: sets $pid, $url; stop_server [SIGNAL]: $stop_rc.
start_server() {
	local db=$1 j=$2
	shift 2
	serve_start "$db" --journal "$j" "$@"
}
stop_server() { serve_stop "$@"; }
post() {
	code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "Content-Type: $2" --data-binary @"$3" "$url$1")
}
q() { sqlite3 "$db" "$1"; }
trace_json() {
	printf '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},'
	printf '"scopeSpans":[{"spans":[{"traceId":"%s","spanId":"%s","name":"%s","kind":2,' "$1" "$2" "$3"
	printf '"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000"}]}]}]}'
}
tid() { printf '%032x' "$1"; }
stored() { q "select count(*) from traces where hex(trace_id) = upper('$(tid "$1")')"; }
# wait_stored ID: polls until trace ID is in the store (the commit follows the answer).
wait_stored() {
	for _ in $(seq 100); do
		[ "$(stored "$1")" = 1 ] && return 0
		sleep 0.05
	done
	return 1
}
segments() { find "$1" -name 'journal-*.wal' | wc -l; }

# --- Acknowledged once journaled, stored soon after; SIGTERM leaves an empty journal -----
db=$tmp/a.db
j=$tmp/journal
start_server "$db" "$j"
expect "journal dir mode" 700 "$(stat -c %a "$j")"
trace_json "$(tid 1)" 0000000000000001 one >"$tmp/one.json"
post /v1/traces application/json "$tmp/one.json"
expect "journaled request status" 200 "$code"
expect "journaled request body" "{}" "$(cat "$tmp/body")"
wait_stored 1 && ok || bad "journaled request not committed within 5 s"
expect_exit "a second server on the same journal" 2 "journal .* is in use by another sonde serve" \
	"$sonde" serve --listen 127.0.0.1:0 --db "$tmp/other.db" --journal "$j"
post /v1/traces application/json "$data/otlp-examples/trace.json"
expect "second request" 200 "$code"
printf '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}' >"$tmp/bad.json"
post /v1/traces application/json "$tmp/bad.json"
expect "bad body still 400" 400 "$code"
curl -s "$url/metrics" >"$tmp/metrics.txt"
has "$tmp/metrics.txt" '^sonde_serve_requests_total\{code="200",route="traces"\} 2$' "metrics: 200s counted"
has "$tmp/metrics.txt" '^sonde_serve_journal_backlog_bytes [0-9]+$' "metrics: journal backlog"
stop_server TERM
expect "SIGTERM exit" 0 "$stop_rc"
expect "journal empty after SIGTERM" 0 "$(segments "$j")"
expect "store after SIGTERM" 2 "$(q "select count(*) from spans")"
has "$tmp/serve.err" 'stopped: [0-9]+ requests \(2 journaled, 1 bad' "stop summary: requests journaled"
expect "stop summary: nothing left in the journal" 0 "$(grep -c 'not in the store yet' "$tmp/serve.err")"

# --- SIGKILL under 60 concurrent requests, restart: every acknowledged request stored ----
db=$tmp/kill.db
j=$tmp/kj
start_server "$db" "$j" --batch 20
trace_json "$(tid 1)" 0000000000000001 warmup >"$tmp/w.json"
post /v1/traces application/json "$tmp/w.json"
wait_stored 1 && ok || bad "kill -9: warm-up not committed"
# Another connection holds the write lock: the committer waits, so what is acknowledged
# meanwhile is in the journal only, and only the replay can store it.
printf 'BEGIN IMMEDIATE;\nINSERT INTO strings(s) VALUES (%s);\n.shell sleep 4\nROLLBACK;\n' "'lock'" |
	sqlite3 "$db" >/dev/null 2>&1 &
lockpid=$!
sleep 0.3
for i in $(seq 1 60); do
	trace_json "$(tid $((3000 + i)))" 0000000000000001 "kill-$i" >"$tmp/k$i.json"
done
serve_kill_under_load 60 10
wait "$lockpid" # the lock ends; the replay below then commits
in_store=0
for i in $(seq 1 60); do in_store=$((in_store + $(stored $((3000 + i))))); done
expect "kill -9: nothing committed while the store was locked" 0 "$in_store"
[ "$(segments "$j")" -ge 1 ] && ok || bad "kill -9: no segment left in the journal"
start_server "$db" "$j"
has "$tmp/serve.err" "replayed [0-9]+ requests \([0-9]+ spans, 0 log records, 0 metric points; 0 skipped\) from .*kj" "kill -9: replay line"
acked_stored() { [ "$(stored $((3000 + $1)))" = 1 ]; }
serve_count_acked 60
echo "kill -9 with --journal: $acked of 60 requests acknowledged before the kill"
[ "$acked" -ge 10 ] && ok || bad "kill -9: only $acked acknowledged"
expect "kill -9: acknowledged requests lost after replay" 0 "$lost"
expect "kill -9: the replayed segments are gone" 0 "$(segments "$j")"
stop_server TERM
expect "kill -9: store intact" ok "$(sqlite3 "$db" 'pragma integrity_check')"

# --- A journal left by a killed server: 3 requests (ids 11, 12, 13) in one segment --------
make_journal() { # DIR
	start_server "$tmp/scratch.db" "$1"
	for i in 11 12 13; do
		trace_json "$(tid $i)" 0000000000000001 "r$i" >"$tmp/r$i.json"
		post /v1/traces application/json "$tmp/r$i.json"
		expect "journal r$i" 200 "$code"
	done
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	seg=$(find "$1" -name 'journal-*.wal')
	rec1=$((20 + $(stat -c %s "$tmp/r11.json")))
	rec2=$((20 + $(stat -c %s "$tmp/r12.json")))
	expect "segment size" $((rec1 + rec2 + 20 + $(stat -c %s "$tmp/r13.json"))) "$(stat -c %s "$seg")"
}

# Torn tail: cut mid-record 3: records 1 and 2 replayed, a warning with the offset.
make_journal "$tmp/tj"
truncate -s $((rec1 + rec2 + 30)) "$seg"
db=$tmp/torn.db
start_server "$db" "$tmp/tj"
has "$tmp/serve.err" "warning: .*journal-0+\.wal: torn tail .*offset $((rec1 + rec2)): expected a body of" "torn: warning names the offset"
has "$tmp/serve.err" "replayed 2 requests \(2 spans" "torn: replayed the whole records"
expect "torn: record 1 stored" 1 "$(stored 11)"
expect "torn: record 2 stored" 1 "$(stored 12)"
expect "torn: the torn record not stored" 0 "$(stored 13)"
expect "torn: segment removed" 0 "$(segments "$tmp/tj")"
stop_server TERM

# Bad CRC: a byte of record 2's body flipped: record 1 replayed, the rest reported dropped.
make_journal "$tmp/cj"
printf 'Z' | dd of="$seg" bs=1 seek=$((rec1 + 20 + 40)) conv=notrunc status=none
db=$tmp/crc.db
start_server "$db" "$tmp/cj"
has "$tmp/serve.err" "warning: .*corrupt record: offset $rec1: bad CRC" "crc: reported with the offset"
has "$tmp/serve.err" "replayed 1 requests" "crc: the record before it replayed"
expect "crc: record 1 stored" 1 "$(stored 11)"
expect "crc: record 2 not stored" 0 "$(stored 12)"
stop_server TERM

# A record whose CRC is right but whose body no longer decodes: reported and skipped.
if [ -x /usr/bin/python3 ]; then
	mkdir -m 700 "$tmp/dj"
	/usr/bin/python3 - "$tmp/dj/journal-0000000000000007.wal" "$tmp/r11.json" <<'PY'
import struct, sys, zlib
def rec(route, enc, body):
    head = b"SJRN" + bytes([1, route, enc, 0]) + struct.pack("<Q", len(body))
    return head + struct.pack("<I", zlib.crc32(head + body)) + body
with open(sys.argv[1], "wb") as f:
    f.write(rec(0, 1, b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}'))
    f.write(rec(0, 1, open(sys.argv[2], "rb").read()))
PY
	db=$tmp/dec.db
	start_server "$db" "$tmp/dj"
	has "$tmp/serve.err" "warning: .*journal-0000000000000007\.wal: the record at offset 0 \(traces\) no longer decodes: .*; skipped" "undecodable record reported"
	has "$tmp/serve.err" "replayed 1 requests \(1 spans, 0 log records, 0 metric points; 1 skipped\)" "undecodable: the next replayed"
	expect "undecodable: the good record stored" 1 "$(stored 11)"
	stop_server TERM
	expect "undecodable: exit" 0 "$stop_rc"
fi

# --- --journal-sync, logs and Zipkin through the journal ---------------------------------
db=$tmp/sync.db
start_server "$db" "$tmp/sj" --journal-sync
post /v1/logs application/json "$data/otlp-examples/logs.json"
expect "sync: logs status" 200 "$code"
post /v1/logs application/json "$data/otlp-examples/logs.json"
expect "sync: logs retry status" 200 "$code"
post /api/v2/spans application/json "$src/tests/data/ingest/zipkin.json"
expect "sync: zipkin status" 202 "$code"
stop_server TERM
expect "sync: SIGTERM exit" 0 "$stop_rc"
[ "$(q "select count(*) from logs")" -ge 1 ] && ok || bad "sync: no log record stored"
logs1=$(q "select count(*) from logs")
expect "sync: zipkin spans stored" "$(grep -o '"id"' "$src/tests/data/ingest/zipkin.json" | wc -l)" "$(q "select count(*) from spans")"
expect "sync: journal empty" 0 "$(segments "$tmp/sj")"
# The same logs request once more, on a fresh store without the journal: as many records.
"$sonde" serve --help >/dev/null 2>&1
db=$tmp/plain.db
start_server "$db" "$tmp/pj"
post /v1/logs application/json "$data/otlp-examples/logs.json"
stop_server TERM
expect "logs retried through the journal: no duplicate" "$(q "select count(*) from logs")" "$logs1"

# --- Usage --------------------------------------------------------------------------------
expect_exit "--journal-sync alone" 2 "need --journal" "$sonde" serve --journal-sync
expect_exit "bad --journal-max" 2 "--journal-max 0" "$sonde" serve --journal x --journal-max 0
expect_exit "journal dir cannot be created" 2 "journal .*cannot create" "$sonde" serve --listen 127.0.0.1:0 --db "$tmp/u.db" --journal "$tmp/no/such/dir"
"$sonde" serve --help >"$tmp/help.txt" 2>&1
has "$tmp/help.txt" "--journal DIR" "help names --journal"

echo "serve_journal_test: $pass passed, $fail failed"
[ "$fail" = 0 ]
