#!/usr/bin/env bash
# serve_interop_test.sh - real OTLP clients send to `sonde serve`, and what they sent is
# what the store and `sonde trace` show:
#   - the OpenTelemetry JS SDK (tests/interop/node_modules): tracer, logger and meter
#     providers with the SDK's batch processors and its serializers over HTTP, in
#     protobuf (gzip) and JSON; every response decodes with the SDK's own code;
#   - libsonde's OTLP/HTTP exporter, configured only by OTEL_EXPORTER_OTLP_* variables
#     (examples/otlp_export), in protobuf and in JSON with gzip.
# The server listens on 127.0.0.1 on an ephemeral port and is stopped by its PID. The JS
# part is skipped when node or tests/interop/node_modules is missing; the libsonde part
# when the example was not built.
set -uo pipefail
sonde=${SONDE_BIN:?SONDE_BIN not set}
src=${SONDE_SRC:-.}
build=${SONDE_BUILD:-$(dirname "$sonde")}
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for tool in sqlite3; do
	command -v $tool >/dev/null || { echo "skip: $tool not installed"; exit 77; }
done
. "$src/tests/lib/check.sh"

db=$tmp/interop.db
"$sonde" serve --listen 127.0.0.1:0 --db "$db" 2>"$tmp/serve.err" &
pid=$!
port=
for _ in $(seq 100); do
	port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$tmp/serve.err")
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { echo "FAIL: server did not start: $(cat "$tmp/serve.err")"; exit 1; }
url=http://127.0.0.1:$port
q() { sqlite3 "$db" "$1"; }
ran=0

# trace_has ID SPANS ERRORS NAME...: `sonde trace --json ID` shows SPANS spans, ERRORS
# failed ones, and a span of each NAME.
trace_has() {
	local id=$1 spans=$2 errors=$3
	shift 3
	"$sonde" trace --db "$db" --json "$id" >"$tmp/trace.json" 2>"$tmp/trace.err" || {
		bad "sonde trace $id: $(cat "$tmp/trace.err")"
		return
	}
	has "$tmp/trace.json" "\"span_count\":$spans," "trace $id: span count"
	has "$tmp/trace.json" "\"error_count\":$errors," "trace $id: error count"
	for n in "$@"; do has "$tmp/trace.json" "\"name\":\"$n\"" "trace $id: span $n"; done
}

# --- The OpenTelemetry JS SDK -------------------------------------------------------------
nm=$src/tests/interop/node_modules
if command -v node >/dev/null && [ -d "$nm/@opentelemetry/otlp-transformer" ]; then
	ran=1
	for mode in "protobuf gzip" "json"; do
		set -- $mode
		svc=js-$1${2:+-$2}
		NODE_PATH=$nm node "$src/tests/serve/otel_js_export.js" "$url" $mode >"$tmp/js.out" 2>"$tmp/js.err"
		expect "JS SDK $mode: exporter exit" 0 $?
		has "$tmp/js.out" '"errors":\[\]' "JS SDK $mode: no export failed"
		has "$tmp/js.out" '"rejected":\[\]' "JS SDK $mode: nothing rejected"
		ids=$(sed -n 's/.*"traceIds":\[\([^]]*\)\].*/\1/p' "$tmp/js.out" | tr -d '"' | tr ',' ' ')
		set -- $ids
		expect "JS SDK $mode: traces sent" 30 $#
		stored=0
		for id in $ids; do
			[ "$(q "select spans from traces where hex(trace_id) = upper('$id')")" = 3 ] && stored=$((stored + 1))
		done
		expect "JS SDK $mode: traces stored whole" 30 "$stored"
		# Trace 0 has a failed payment (i % 5 == 0); trace 1 does not.
		trace_has "$1" 3 1 "GET /orders/0" "SELECT orders" "charge"
		trace_has "$2" 3 0 "GET /orders/1" "SELECT orders" "charge"
		expect "JS SDK $mode: log records" 25 "$(q "select count(*) from logs l join strings s on s.id = l.service_id where s.s = '$svc'")"
		expect "JS SDK $mode: error log records" 7 \
			"$(q "select count(*) from logs l join strings s on s.id = l.service_id where s.s = '$svc' and severity >= 17")"
		got=$(q "select count(distinct se.id) from series se join strings s on s.id = se.service_id where s.s = '$svc'")
		expect "JS SDK $mode: metric series" 6 "$got"
		"$sonde" traces --db "$db" --service "$svc" --json --limit 100 >"$tmp/traces.json"
		expect "JS SDK $mode: sonde traces --service" 30 "$(grep -o '"trace_id"' "$tmp/traces.json" | wc -l)"
	done
else
	echo "serve_interop_test: JS SDK part skipped: node or $nm missing"
fi

# --- libsonde's OTLP/HTTP exporter ----------------------------------------------------------
client=$build/examples/otlp_export
if [ -x "$client" ]; then
	ran=1
	for proto in http/protobuf http/json; do
		svc=orders-${proto#http/}
		OTEL_EXPORTER_OTLP_ENDPOINT=$url OTEL_EXPORTER_OTLP_PROTOCOL=$proto OTEL_SERVICE_NAME=$svc \
			OTEL_EXPORTER_OTLP_COMPRESSION=$([ $proto = http/json ] && echo gzip || echo none) \
			"$client" 20 >"$tmp/ids" 2>"$tmp/client.err"
		expect "libsonde $proto: client exit" 0 $?
		expect "libsonde $proto: traces sent" 20 "$(wc -l <"$tmp/ids")"
		stored=0
		while read -r id; do
			[ "$(q "select spans from traces where hex(trace_id) = upper('$id')")" = 3 ] && stored=$((stored + 1))
		done <"$tmp/ids"
		expect "libsonde $proto: traces stored whole" 20 "$stored"
		trace_has "$(sed -n 1p "$tmp/ids")" 3 1 "POST /orders" "SELECT orders" "charge card"
		trace_has "$(sed -n 2p "$tmp/ids")" 3 0 "POST /orders" "SELECT orders" "charge card"
		expect "libsonde $proto: log records" 20 \
			"$(q "select count(*) from logs l join strings s on s.id = l.service_id where s.s = '$svc'")"
		# Each log record carries the trace it was written in.
		expect "libsonde $proto: logs in their traces" 20 \
			"$(q "select count(*) from logs l join traces t on t.trace_id = l.trace_id join strings s on s.id = l.service_id where s.s = '$svc'")"
	done
else
	echo "serve_interop_test: libsonde part skipped: $client not built"
fi

kill -TERM $pid
wait $pid
expect "SIGTERM exit" 0 $?
pid=
[ "$ran" = 1 ] || { echo "skip: no client available"; exit 77; }
echo "serve_interop_test: $pass passed, $fail failed"
[ "$fail" = 0 ]
