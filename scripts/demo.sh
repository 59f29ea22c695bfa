#!/usr/bin/env bash
# demo.sh SONDE - sonde end to end: telemetry formats read and converted without loss; a
# service instrumented with libsonde, its traces ingested into the embedded store and
# investigated (slowest traces, the critical path of the slowest, latency, database
# calls); the same service profiled into a flame graph.
set -euo pipefail
sonde=${1:-build/sonde}
cd "$(dirname "$0")/.."
data=../shared/data/otlp-examples
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "sonde help"
"$sonde" help

step "Spans from the OTLP specification's example (upper-case ids and all), as text"
"$sonde" convert --to text "$data/trace.json"

step "OTLP JSON -> OTLP protobuf -> OTLP JSON: nothing lost"
for sig in trace:traces metrics:metrics logs:logs; do
	file=${sig%%:*}
	signal=${sig##*:}
	"$sonde" convert --to otlp-proto -o "$out/$file.pb" "$data/$file.json" 2>/dev/null
	"$sonde" convert --from otlp-proto --signal "$signal" --to otlp-json -o "$out/$file.rt.json" "$out/$file.pb" 2>/dev/null
	"$sonde" convert --to otlp-json -o "$out/$file.direct.json" "$data/$file.json" 2>/dev/null
	if cmp -s "$out/$file.rt.json" "$out/$file.direct.json"; then
		printf '  %-8s %6d bytes JSON -> %5d bytes protobuf -> identical JSON\n' "$signal" \
			"$(wc -c <"$data/$file.json")" "$(wc -c <"$out/$file.pb")"
	else
		echo "  $signal: round trip differs" >&2
		diff "$out/$file.direct.json" "$out/$file.rt.json" | head >&2
		exit 1
	fi
done

step "The same spans as Zipkin v2 JSON"
"$sonde" convert --to zipkin --pretty "$data/trace.json" 2>/dev/null | sed -n '1,40p'

step "Metrics as a Prometheus exposition, OpenMetrics, and Influx line protocol"
"$sonde" convert --to prom "$data/metrics.json" 2>/dev/null
echo
"$sonde" convert --to openmetrics "$data/metrics.json" 2>/dev/null | tail -n 5
echo
"$sonde" convert --to influx "$data/metrics.json" 2>/dev/null

if command -v node >/dev/null && [ -d tests/interop/node_modules ]; then
	step "Spans made by the OpenTelemetry JS SDK, serialized by its own OTLP encoders, read by sonde"
	node tests/interop/gen_otel.js "$out/js" >/dev/null
	for f in "$out"/js/*.pb; do
		[ -e "$f" ] || continue
		base=$(basename "$f" .pb)
		case $base in
		*log*) signal=logs ;;
		*metric*) signal=metrics ;;
		*) signal=traces ;;
		esac
		"$sonde" convert --from otlp-proto --signal "$signal" --to text "$f" | sed -n '1,12p'
	done
fi

examples=$(dirname "$sonde")/examples
if [ -x "$examples/shop_service" ]; then
	step "libsonde: a multi-threaded service traces and logs itself (examples/shop_service.c) to OTLP JSON lines, with metrics"
	SHOP_PROFILE_REPORT=1 "$examples/shop_service" 40 "$out/shop.jsonl" "$out/shop-metrics.prom"
	echo "  its metrics, as libsonde's Prometheus exposition writes them:"
	grep -E '^shop_orders_total|^shop_order_duration_seconds_(count|sum)' "$out/shop-metrics.prom" | sed 's/^/    /'
	echo "  its payment log carried a card number; what left the process:"
	grep -o '"key":"card","value":{"stringValue":"[^"]*"}' "$out/shop.jsonl" | sort | uniq -c | sed 's/^/    /'

	db="$out/sonde.db"
	step "sonde ingest: its spans, logs and metrics into the embedded store (SQLite, $db)"
	"$sonde" ingest --db "$db" "$out/shop.jsonl"
	echo "  again: ingest is idempotent, nothing is added twice"
	"$sonde" ingest --db "$db" "$out/shop.jsonl" 2>&1 | grep -E '^ *spans'

	step "sonde traces: the slowest requests"
	"$sonde" traces --db "$db" --limit 5

	step "sonde trace: the slowest request, its waterfall and critical path"
	"$sonde" trace --db "$db" --color never | sed -n '1,60p'

	step "The logs of that request, found by its trace id (libsonde stamped them with it)"
	"$sonde" trace --db "$db" --color never | sed -n '/^Logs/,/^Metrics/p' | sed '$d'

	step "sonde latency: per service and operation, and what the service waits on downstream"
	"$sonde" latency --db "$db" --color never

	step "sonde queries: database calls by statement, with the N+1 pattern"
	"$sonde" queries --db "$db" --color never

	step "sonde record: the same service profiled under load, without frame pointers, as a flame graph"
	if "$sonde" record -F 499 -o "$out/shop.svg" -- "$examples/shop_service" 40 "$out/shop-profiled.jsonl" "$out/shop-profiled.prom" \
		2>"$out/record.txt"; then
		sed 's/^/  /' "$out/record.txt" | sed -n '1,24p'
		mkdir -p build/demo
		cp "$out/shop.svg" build/demo/shop-flamegraph.svg
		echo "  flame graph: build/demo/shop-flamegraph.svg (open it in a browser: hover, click to zoom, search)"
	else
		echo "  sonde record could not sample here:" >&2
		sed 's/^/  /' "$out/record.txt" >&2
	fi
fi

if [ -x "$examples/shop_service" ]; then
	step "sonde mem: the same service's allocations, every one recorded; the leak it carries"
	if "$sonde" mem --all -o "$out/shop.mem" -- "$examples/shop_service" 40 "$out/shop-mem.jsonl" "$out/shop-mem.prom" \
		2>"$out/mem.txt"; then
		"$sonde" mem report --top 5 "$out/shop.mem" | sed -n '1,4p;/^leaks by count/,/^$/p'
		echo "  remember_order() leaks one record per order: 40 orders, 40 blocks."
		echo "  (libsonde's own per-thread buffers and metric tables are live at exit by design.)"
	else
		echo "  sonde mem could not run here:" >&2
		sed 's/^/  /' "$out/mem.txt" >&2
	fi
fi

step "Bad input gets a clear message and exit code 2"
printf '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}\n' >"$out/bad.json"
set +e
"$sonde" convert --to text "$out/bad.json"
echo "exit code: $?"
set -e
