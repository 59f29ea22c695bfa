#!/usr/bin/env bash
# demo.sh SONDE - sonde's most complete end-to-end path so far: telemetry from the
# OpenTelemetry specification's examples and from the OpenTelemetry JS SDK, read, shown,
# and carried between OTLP JSON, OTLP protobuf, Zipkin, Prometheus and Influx without loss.
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
	step "libsonde: a multi-threaded service traces itself (examples/shop_service.c) to OTLP JSON lines"
	"$examples/shop_service" 12 "$out/shop.jsonl"
	"$sonde" convert --to text "$out/shop.jsonl" >"$out/shop.txt"
	first=$(grep -m1 '"POST /orders"' "$out/shop.txt" | sed 's/.*trace=\([0-9a-f]*\).*/\1/')
	echo "  one request, across the front end and a worker thread (trace $first):"
	grep "trace=$first" "$out/shop.txt" | cut -c1-160 | sed 's/^/    /'
	echo "  failed payments (error status, exception event):"
	grep 'ERROR' "$out/shop.txt" | grep 'POST /payments' | cut -c1-160 | sed 's/^/    /'
fi

step "Bad input gets a clear message and exit code 2"
printf '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}\n' >"$out/bad.json"
set +e
"$sonde" convert --to text "$out/bad.json"
echo "exit code: $?"
set -e
