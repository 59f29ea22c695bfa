#!/usr/bin/env bash
# serve_test.sh - `sonde serve` as a client meets it, over loopback with curl: OTLP/HTTP
# protobuf and JSON (gzip too) for traces, metrics and logs, Zipkin v2, the answers the
# OTLP specification gives (200 with an empty or partial-success response in the
# request's encoding, 400 with a google.rpc.Status, 413 also after gunzip, 415, 404, 405),
# the durability contract (after a 200 another connection finds the records), idempotent
# retries, /health and /metrics, backpressure (429 + Retry-After while the store is
# locked, and every acknowledged request stored), SIGTERM flushing what is in flight, and
# SIGKILL never losing an acknowledged request. Servers listen on 127.0.0.1 on ephemeral
# ports and are stopped by their PID.
set -uo pipefail
sonde=${SONDE_BIN:?SONDE_BIN not set}
data=${SONDE_DATA:-../shared/data}
src=${SONDE_SRC:-.}
fix=$src/tests/data/ingest
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
for tool in curl sqlite3 gzip; do
	command -v $tool >/dev/null || { echo "skip: $tool not installed"; exit 77; }
done
. "$src/tests/lib/check.sh"

. "$src/tests/lib/serve.sh"
# start_server DB [OPTIONS...]: sets $pid, $port, $url; stop_server [SIGNAL]: sets $stop_rc.
start_server() { serve_start "$@"; }
stop_server() { serve_stop "$@"; }
# post PATH CONTENT_TYPE FILE [CURL OPTIONS...]: POSTs FILE; the status goes to $code, the
# body to $tmp/body, the headers to $tmp/headers.
post() {
	local path=$1 ctype=$2 file=$3
	shift 3
	code=$(curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X POST -H "Content-Type: $ctype" \
		--data-binary @"$file" "$@" "$url$path")
}
q() { sqlite3 "$db" "$1"; }
# trace_json ID32 SPANID16 NAME: an OTLP JSON request with one span.
trace_json() {
	printf '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},'
	printf '"scopeSpans":[{"spans":[{"traceId":"%s","spanId":"%s","name":"%s","kind":2,' "$1" "$2" "$3"
	printf '"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000"}]}]}]}'
}
tid() { printf '%032x' "$1"; }

db=$tmp/t.db
start_server "$db" --max-body 256k
has "$tmp/serve.err" "listening on http://127\.0\.0\.1:[0-9]+ \(store .*t\.db\)" "listen line"

# --- OTLP JSON and protobuf, traces, metrics, logs ------------------------------------------
post /v1/traces application/json "$data/otlp-examples/trace.json"
expect "traces json status" 200 "$code"
expect "traces json body" "{}" "$(cat "$tmp/body")"
has "$tmp/headers" "^Content-Type: application/json" "traces json content type"
# Acknowledged means stored: another connection sees it at once.
expect "span stored after 200" 1 "$(q "select count(*) from spans")"

"$sonde" convert --to otlp-proto -o "$tmp/trace.pb" "$fix/jaeger.json" 2>/dev/null
post /v1/traces application/x-protobuf "$tmp/trace.pb"
expect "traces protobuf status" 200 "$code"
expect "traces protobuf empty response" 0 "$(stat -c %s "$tmp/body")"
has "$tmp/headers" "^Content-Type: application/x-protobuf" "protobuf content type"
jaeger_spans=$("$sonde" convert --to otlp-json "$fix/jaeger.json" 2>/dev/null | grep -o '"spanId"' | wc -l)
expect "protobuf spans stored" $((1 + jaeger_spans)) "$(q "select count(*) from spans")"

gzip -c "$data/otlp-examples/logs.json" >"$tmp/logs.json.gz"
post /v1/logs "application/json; charset=utf-8" "$tmp/logs.json.gz" -H "Content-Encoding: gzip"
expect "logs json gzip status" 200 "$code"
logs_in=$("$sonde" convert --to otlp-json "$data/otlp-examples/logs.json" 2>/dev/null | grep -o '"timeUnixNano"\|"observedTimeUnixNano"' | wc -l)
[ "$(q "select count(*) from logs")" -ge 1 ] && ok || bad "logs stored: $(q "select count(*) from logs")"
logs_stored=$(q "select count(*) from logs")

"$sonde" convert --signal metrics --to otlp-proto -o "$tmp/metrics.pb" "$data/otlp-examples/metrics.json" 2>/dev/null
gzip -c "$tmp/metrics.pb" >"$tmp/metrics.pb.gz"
post /v1/metrics application/x-protobuf "$tmp/metrics.pb.gz" -H "Content-Encoding: gzip"
expect "metrics protobuf gzip status" 200 "$code"
[ "$(q "select count(*) from points")" -ge 1 ] && ok || bad "points stored: $(q "select count(*) from points")"

# --- Zipkin v2 -----------------------------------------------------------------------------
before=$(q "select count(*) from spans")
post /api/v2/spans application/json "$fix/zipkin.json"
expect "zipkin status" 202 "$code"
zipkin_spans=$(grep -o '"id"' "$fix/zipkin.json" | wc -l)
expect "zipkin spans stored" $((before + zipkin_spans)) "$(q "select count(*) from spans")"
post /api/v2/spans application/x-protobuf "$fix/zipkin.json"
expect "zipkin protobuf refused" 415 "$code"

# --- The data through the investigation verbs ----------------------------------------------
"$sonde" traces --db "$db" --json >"$tmp/traces.json" 2>"$tmp/err"
has "$tmp/traces.json" "5b8efff798038103d269b633813fc60c" "sonde traces lists the OTLP trace"
has "$tmp/traces.json" "5af7183fb1d4cf5f" "sonde traces lists the Zipkin trace"
"$sonde" trace --db "$db" 5b8efff798038103d269b633813fc60c >"$tmp/trace.txt" 2>&1
has "$tmp/trace.txt" "I'm a server span" "sonde trace shows the span"

# --- Retries are idempotent ---------------------------------------------------------------
spans=$(q "select count(*) from spans")
post /v1/traces application/json "$data/otlp-examples/trace.json"
expect "retry status" 200 "$code"
post /v1/logs application/json "$data/otlp-examples/logs.json"
expect "logs retry (plain) status" 200 "$code"
expect "retry adds no span" "$spans" "$(q "select count(*) from spans")"
expect "retry adds no log record" "$logs_stored" "$(q "select count(*) from logs")"

# --- Partial success: a span with an all-zero trace id is rejected, the rest stored --------
{
	printf '{"resourceSpans":[{"scopeSpans":[{"spans":['
	printf '{"traceId":"00000000000000000000000000000000","spanId":"0000000000000001","name":"bad","startTimeUnixNano":"1","endTimeUnixNano":"2"},'
	printf '{"traceId":"%s","spanId":"0000000000000002","name":"good","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000000000001"}' "$(tid 4242)"
	printf ']}]}]}'
} >"$tmp/partial.json"
post /v1/traces application/json "$tmp/partial.json"
expect "partial success status" 200 "$code"
has "$tmp/body" '"partialSuccess":\{"rejectedSpans":"1","errorMessage":"span 0 of the request .*trace_id is all zero' "partial success body"
expect "the good span stored" 1 "$(q "select count(*) from spans s join strings n on n.id = s.name_id where n.s = 'good'")"

# --- Bad requests -------------------------------------------------------------------------
printf '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}' >"$tmp/bad.json"
post /v1/traces application/json "$tmp/bad.json"
expect "bad json status" 400 "$code"
has "$tmp/body" '^\{"code":3,"message":"bad OTLP JSON body: .*traceId' "bad json Status names the field"
head -c 64 /dev/urandom >"$tmp/junk.bin"
printf '\x0a\xff\xff\xff\xff\x0f' >"$tmp/bad.pb"
post /v1/traces application/x-protobuf "$tmp/bad.pb"
expect "bad protobuf status" 400 "$code"
has "$tmp/headers" "^Content-Type: application/x-protobuf" "bad protobuf: Status in protobuf"
grep -aq "bad OTLP protobuf body" "$tmp/body" && ok || bad "protobuf Status message: $(cat -v "$tmp/body")"
post /v1/traces application/json "$tmp/junk.bin" -H "Content-Encoding: gzip"
expect "bad gzip status" 400 "$code"
has "$tmp/body" "bad gzip stream" "bad gzip message"
post /v1/traces application/json "$data/otlp-examples/logs.json"
expect "logs sent to /v1/traces" 400 "$code"
has "$tmp/body" "post it to /v1/logs" "wrong route message"
post /api/v2/spans application/json "$tmp/bad.json"
expect "bad zipkin status" 400 "$code"
post /v1/traces text/plain "$data/otlp-examples/trace.json"
expect "unknown content type" 415 "$code"
post /v1/traces application/json "$data/otlp-examples/trace.json" -H "Content-Encoding: br"
expect "unknown content encoding" 415 "$code"
post /v2/whatever application/json "$data/otlp-examples/trace.json"
expect "unknown path" 404 "$code"
expect "GET on an export path" 405 "$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/traces")"

# --- Limits: 413 on the wire, and after gunzip (a decompression bomb stops at the limit) ----
head -c 300000 /dev/zero | tr '\0' ' ' >"$tmp/big.json"
post /v1/traces application/json "$tmp/big.json"
expect "oversize body" 413 "$code"
has "$tmp/body" "over the limit of 262144 bytes" "oversize message"
head -c 50000000 /dev/zero | gzip -c >"$tmp/bomb.gz"
post /v1/traces application/json "$tmp/bomb.gz" -H "Content-Encoding: gzip"
expect "gzip bomb" 413 "$code"
has "$tmp/body" "after gunzip" "gzip bomb message"
post /v1/traces application/json "$tmp/big.json" -H "Transfer-Encoding: chunked"
expect "oversize chunked body" 413 "$code"

# --- Health and metrics -------------------------------------------------------------------
expect "health" "ok" "$(curl -s "$url/health")"
expect "healthz" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$url/healthz")"
curl -s "$url/metrics" >"$tmp/metrics.txt"
has "$tmp/metrics.txt" '^sonde_serve_requests_total\{code="400",route="traces"\} [1-9]' "metrics: 400s counted"
has "$tmp/metrics.txt" '^sonde_serve_requests_total\{code="202",route="zipkin"\} 1$' "metrics: zipkin counted"
has "$tmp/metrics.txt" '^sonde_serve_records_total\{outcome="rejected",signal="spans"\} 1$' "metrics: rejected span"
has "$tmp/metrics.txt" '^sonde_serve_records_total\{outcome="present",signal="spans"\} [1-9]' "metrics: retried spans present"
has "$tmp/metrics.txt" '^sonde_serve_write_duration_seconds_count [1-9]' "metrics: write latency"
has "$tmp/metrics.txt" '^sonde_serve_queue_depth 0$' "metrics: queue depth"
if command -v promtool >/dev/null; then
	promtool check metrics <"$tmp/metrics.txt" >"$tmp/promtool.out" 2>&1 && ok || bad "promtool: $(cat "$tmp/promtool.out")"
fi

stop_server TERM
expect "SIGTERM exit" 0 "$stop_rc"
has "$tmp/serve.err" "stopped: .* requests" "stop summary"
expect "store intact" ok "$(sqlite3 "$db" 'pragma integrity_check')"

# --- SIGTERM flushes what is in flight ----------------------------------------------------
db=$tmp/flush.db
start_server "$db" --batch 5
for i in $(seq 1 40); do
	trace_json "$(tid $((1000 + i)))" 0000000000000001 "flush-$i" >"$tmp/f$i.json"
done
for i in $(seq 1 40); do
	(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data-binary @"$tmp/f$i.json" "$url/v1/traces" >"$tmp/f$i.code") &
done
sleep 0.2
stop_server TERM
wait
expect "flush: SIGTERM exit" 0 "$stop_rc"
acked=0
lost=0
for i in $(seq 1 40); do
	if [ "$(cat "$tmp/f$i.code")" = 200 ]; then
		acked=$((acked + 1))
		[ "$(q "select count(*) from traces where hex(trace_id) = upper('$(tid $((1000 + i)))')")" = 1 ] ||
			lost=$((lost + 1))
	fi
done
[ "$acked" -gt 0 ] && ok || bad "flush: no request acknowledged"
echo "SIGTERM: $acked of 40 requests acknowledged"
expect "flush: acknowledged requests lost" 0 "$lost"

# --- Backpressure: a locked store, a queue of 2 -> 429 with Retry-After, nothing lost ------
db=$tmp/busy.db
start_server "$db" --queue 2 --retry-after 3
trace_json "$(tid 1)" 0000000000000001 warmup >"$tmp/w.json"
post /v1/traces application/json "$tmp/w.json"
expect "busy: warm-up" 200 "$code"
# Another connection holds the write lock for 3 s: the writer waits (busy timeout 10 s).
printf 'BEGIN IMMEDIATE;\nINSERT INTO strings(s) VALUES (%s);\n.shell sleep 3\nROLLBACK;\n' "'lock'" |
	sqlite3 "$db" >/dev/null 2>&1 &
lockpid=$!
sleep 0.3
for i in $(seq 1 12); do
	trace_json "$(tid $((2000 + i)))" 0000000000000001 "busy-$i" >"$tmp/b$i.json"
	(curl -s -o /dev/null -D "$tmp/b$i.h" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data-binary @"$tmp/b$i.json" "$url/v1/traces" >"$tmp/b$i.code") &
	sleep 0.05
done
wait $lockpid
for i in $(seq 1 12); do while [ ! -s "$tmp/b$i.code" ]; do sleep 0.1; done; done
n429=0
n200=0
lost=0
for i in $(seq 1 12); do
	c=$(cat "$tmp/b$i.code")
	case $c in
	429)
		n429=$((n429 + 1))
		grep -qi '^Retry-After: 3' "$tmp/b$i.h" || bad "busy: 429 without Retry-After: $(cat "$tmp/b$i.h")"
		;;
	200)
		n200=$((n200 + 1))
		[ "$(q "select count(*) from traces where hex(trace_id) = upper('$(tid $((2000 + i)))')")" = 1 ] ||
			lost=$((lost + 1))
		;;
	*) bad "busy: request $i answered $c" ;;
	esac
done
[ "$n429" -ge 1 ] && ok || bad "busy: no 429 while the store was locked ($n200 answered 200)"
[ "$n200" -ge 1 ] && ok || bad "busy: no request admitted"
expect "busy: acknowledged requests lost" 0 "$lost"
curl -s "$url/metrics" >"$tmp/metrics2.txt"
has "$tmp/metrics2.txt" '^sonde_serve_requests_total\{code="429",route="traces"\} [1-9]' "metrics: 429 counted"
stop_server TERM
expect "busy: SIGTERM exit" 0 "$stop_rc"

# --- SIGKILL: every acknowledged request is in the store -----------------------------------
db=$tmp/kill.db
start_server "$db" --batch 20
for i in $(seq 1 60); do
	trace_json "$(tid $((3000 + i)))" 0000000000000001 "kill-$i" >"$tmp/k$i.json"
done
# Killed once some are acknowledged, while the rest are still arriving or being written.
serve_kill_under_load 60 10
acked_stored() { [ "$(q "select count(*) from traces where hex(trace_id) = upper('$(tid $((3000 + $1)))')")" = 1 ]; }
serve_count_acked 60
echo "kill -9: $acked of 60 requests acknowledged before the kill"
expect "kill -9: acknowledged requests lost" 0 "$lost"
expect "kill -9: store intact" ok "$(sqlite3 "$db" 'pragma integrity_check')"

# --- Usage errors -------------------------------------------------------------------------
expect_exit "bad --listen" 2 "expected HOST:PORT" "$sonde" serve --listen nonsense
expect_exit "bad --max-body" 2 "--max-body" "$sonde" serve --max-body 12Q
expect_exit "bad --committers" 2 "--committers 17: expected a positive whole number up to 16" "$sonde" serve --committers 17
expect_exit "bad --queue" 2 "--queue 0: expected a positive whole number" "$sonde" serve --queue 0
expect_exit "bad store" 2 "not a" "$sonde" serve --listen 127.0.0.1:0 --db "$tmp/junk.bin"

echo "serve_test: $pass passed, $fail failed"
[ "$fail" = 0 ]
