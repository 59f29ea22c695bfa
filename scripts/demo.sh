#!/usr/bin/env bash
# demo.sh SONDE - sonde end to end. Telemetry formats read and converted without loss; a
# service instrumented with libsonde (metrics, redacted logs found by trace id, profiled
# scopes); then a small system of three services under load through a release that goes
# wrong (a slow query, a dependency whose errors burst, a leak), profiled with sonde record
# and sonde mem, received by sonde serve into the embedded store, and investigated: the
# slowest traces and the critical path of the worst, latency, queries, error groups and
# the cascade's origin, anomalies, compare, the canary verdict, an incident with its
# evidence, the post-mortem and report.html. Outputs stay in build/demo/.
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
		# (one test record's body is a 100 KB string of "line\n": shown cut)
		"$sonde" convert --from otlp-proto --signal "$signal" --to text "$f" | sed -n '1,12p' |
			awk '{ print (length($0) > 4000 ? substr($0, 1, 200) " ..." : $0) }'
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

	step "The logs of one request, found by its trace id (libsonde stamped them with it)"
	"$sonde" ingest --db "$out/shop.db" "$out/shop.jsonl" 2>/dev/null
	"$sonde" trace --db "$out/shop.db" --color never | sed -n '/^Logs/,/^Metrics/p' | sed '$d'
fi

# ---- The incident: three services, a release that goes wrong, and the investigation ----
demo=build/demo
sys=$demo/system
rm -rf "$sys" "$demo/evidence" "$demo/report.html" "$demo/postmortem.md"
mkdir -p "$demo"
if [ -x "$examples/shopnet" ]; then
	step "A small system under load: frontend -> orders -> payments over loopback, traced with libsonde into sonde serve; orders 2 is released after 10 s"
	scripts/demo_system.sh "$sonde" "$(dirname "$sonde")" "$sys" | sed 's/^/  /'
	db=$sys/sonde.db
	# shellcheck disable=SC1091
	. "$sys/timeline.env"

	step "sonde traces: the slowest requests"
	"$sonde" traces --db "$db" --sort duration --limit 5
	worst=$("$sonde" traces --db "$db" --attr service.version=2 --sort duration --limit 1 --json |
		sed -n 's/.*"trace_id":"\([0-9a-f]*\)".*/\1/p')

	step "sonde trace: the slowest request since the release, its waterfall and critical path"
	"$sonde" trace --db "$db" --color never "$worst" | sed -n '1,40p'

	step "sonde latency: orders, before and after the release"
	"$sonde" latency --db "$db" --color never --attr http.route=/orders --by service.version

	step "sonde queries: the database calls by statement (the new scan, the N+1)"
	"$sonde" queries --db "$db" --color never | sed -n '1,24p'

	step "sonde errors: a handful of groups, the spike's onset, where the cascade began"
	"$sonde" errors --db "$db" --cascade-window 5s | grep -E '^[0-9]+ errors|^all groups|^#|^    template|^Cascades|began in|^    services +[a-z]+ ->'

	step "sonde anomalies: the error series around the release ($RELEASE)"
	"$sonde" anomalies --db "$db" 'shop.errors' | grep -E '^[0-9]+ anomal|^shop|^  window|^  peak'

	step "sonde compare: version 1 against version 2 of orders (exit 1: regressions)"
	"$sonde" compare --db "$db" --baseline version=1 --current version=2 | sed -n '1,14p' || true

	step "sonde canary: roll back? (evidence preserved first; exit 1 means fail)"
	set +e
	"$sonde" canary --db "$db" --baseline version=1 --current version=2 --preserve "$demo/evidence" |
		sed -n '/^METRIC/,$p'
	echo "  exit code: ${PIPESTATUS[0]}; evidence bundle: $demo/evidence"
	set -e

	step "sonde incident: the investigation, kept next to its evidence"
	export SONDE_DB=$db
	id=$("$sonde" incident new "Checkout fails and slows down after orders 2" --severity HIGH)
	"$sonde" incident repro "$id" "POST /api/orders with any basket after the release" --attempts 5 --reproduced 5
	"$sonde" incident evidence "$id" --trace "$worst"
	"$sonde" incident evidence "$id" --query "errors --cascade-window 5s"
	"$sonde" incident evidence "$id" --file "$sys/loadgen.txt"
	"$sonde" incident hypothesis "$id" "the acquirer behind payments is down"
	"$sonde" incident verify "$id" 1 --test "payments v1 endpoint /charge still succeeds during the burst" --held no
	"$sonde" incident hypothesis "$id" "orders 2 calls payments' new /v2/authorize, whose acquirer pool resets connections, and scans order_items without an index"
	"$sonde" incident verify "$id" 2 --test "the failed traces all pass through /v2/authorize; the scan is 70% of the worst trace's critical path" --held yes
	"$sonde" incident root-cause "$id" "orders 2 moved payments to /v2/authorize before its acquirer pool was ready, and added an order_items query without an index, because the release was not canaried"
	"$sonde" incident fix "$id" "roll orders back to 1; index order_items(order_id); gate /v2/authorize behind a flag" --verified-by "sonde canary of the rollback passes"
	"$sonde" incident action "$id" "canary every orders release with sonde canary in the pipeline" --owner platform --due 2026-12-15 --priority P1
	"$sonde" incident action "$id" "add an index on order_items(order_id)" --owner orders-team --due 2026-12-01 --priority P0
	"$sonde" incident note "$id" "the cascade's origin was found in minutes from one sonde errors run" --tag went-well
	"$sonde" incident resolve "$id"
	"$sonde" incident show "$id" | sed -n '1,30p'

	step "sonde postmortem: written from the journal and the telemetry"
	"$sonde" postmortem "$id" -o "$demo/postmortem.md"
	sed -n '1,40p' "$demo/postmortem.md"

	step "sonde report: everything in one HTML file, with the flame graph of orders 2"
	"$sonde" report --db "$db" --incident "$id" --profile "$sys/orders.folded" -o "$demo/report.html"
	unset SONDE_DB

	step "Where everything is"
	cat <<EOF2
  $demo/report.html: the report (overview, slowest traces, errors, anomalies, flame graph, verdicts, post-mortem)
  $demo/postmortem.md: the post-mortem, in Markdown
  $demo/evidence/: what the canary preserved before a rollback (traces, logs, metrics as OTLP JSON; its report)
  $sys/sonde.db: the store; explore it with sonde traces, trace, latency, errors ... --db $sys/sonde.db
  $sys/orders.svg: the CPU flame graph of orders 2 under load (sonde record -p)
  $sys/orders-v2-mem.txt: sonde mem's report on orders 2; cache_order_audit() leaks one record per order
EOF2
fi

step "Bad input gets a clear message and exit code 2"
printf '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}\n' >"$out/bad.json"
set +e
"$sonde" convert --to text "$out/bad.json"
echo "exit code: $?"
set -e
