#!/bin/bash
# demo_system_test.sh - the demo's shop (examples/shopnet.c, run by scripts/demo_system.sh)
# through a short release: 4 s of orders version 1, then 4 s of version 2, at 40 requests/s,
# telemetry over OTLP/HTTP into `sonde serve`. Behaviour only, no timing:
#  - the store holds traces that span frontend, orders and payments under one trace id, and
#    log records stamped with the trace they were written in;
#  - orders appears at service.version 1 and 2, failing only at 2 (payments' acquirer
#    bursts after the release and the failure climbs to orders and the frontend);
#  - the unindexed scan of order_items exists only in version 2, and its N+1 on inventory;
#  - `sonde errors` groups the acquirer failure with its varying txn and order ids into one
#    template and says the cascade began in payments;
#  - u7's invalid orders are an input_validation group carried by u7 alone;
#  - no process of the run is left behind.
set -uo pipefail

bin=${SONDE_BIN:?SONDE_BIN must name the sonde executable}
build=${SONDE_BUILD:-$(dirname "$bin")}
[ -x "$build/examples/shopnet" ] || { echo "skip: $build/examples/shopnet is not built"; exit 77; }
"$bin" help | grep -q '^  serve ' || { echo "skip: sonde serve is not built"; exit 77; }
for tool in sqlite3 jq; do
	command -v $tool >/dev/null || { echo "skip: $tool not installed"; exit 77; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib/check.sh
# expect NAME WANT GOT
# atleast NAME MIN GOT
atleast() { if [ "${3:-0}" -ge "$2" ] 2>/dev/null; then ok; else bad "$1: got '$3', want at least $2"; fi; }

out=$tmp/run
SHOPNET_V1_SECONDS=4 SHOPNET_V2_SECONDS=4 SHOPNET_RATE=40 SHOPNET_PROFILE=0 \
	bash scripts/demo_system.sh "$bin" "$build" "$out" >"$tmp/run.out" 2>&1
expect "demo_system.sh exit (output: $(tail -5 "$tmp/run.out"))" 0 $?
db=$out/sonde.db
[ -s "$db" ] || { echo "FAIL: no store at $db"; cat "$tmp/run.out"; exit 1; }
has "$tmp/run.out" "release at .*orders 2 .*took over port" "the script reports the release"
has "$tmp/run.out" "sonde.db +the store" "the script says where the store is"

# No process of the run is left: the ready files name every service's pid.
for f in "$out"/*.ready; do
	read -r _ pid <"$f"
	if kill -0 "$pid" 2>/dev/null; then
		bad "$(basename "$f" .ready) (pid $pid) still runs"
		kill -KILL "$pid"
	else
		ok
	fi
done

q() { sqlite3 "$db" "$1"; }
svc_id() { q "select id from strings where s = '$1'"; }

# Traces across services: one trace id, spans of all three services.
atleast "traces with spans of frontend, orders and payments" 50 \
	"$(q "select count(*) from (select trace_key from spans group by trace_key
	      having count(distinct service_id) = 3)")"
"$bin" traces --db "$db" --service payments --limit 5 --json >"$tmp/traces.json"
expect "a payments trace lists the three services" "frontend,orders,payments" \
	"$(jq -r '.traces[0].services | sort | join(",")' "$tmp/traces.json")"
# The orders server span is the child of the frontend's client span (traceparent extracted).
expect "orders' server spans have their parent in the frontend" 0 \
	"$(q "select count(*) from spans c where c.service_id = $(svc_id orders) and c.kind = 2
	      and not exists (select 1 from spans p where p.trace_key = c.trace_key
	                      and p.span_id = c.parent_id and p.service_id = $(svc_id frontend))")"
atleast "log records stamped with a stored trace" 100 \
	"$(q "select count(*) from logs l join traces t on t.trace_id = l.trace_id")"

# Both versions of orders; errors only in version 2.
"$bin" latency --db "$db" --service orders --by service.version --json >"$tmp/versions.json"
expect "orders versions" "1,2" "$(jq -r '[.groups[].key] | sort | join(",")' "$tmp/versions.json")"
expect "orders 1 has no failed span" 0 "$(jq -r '.groups[] | select(.key == "1") | .errors' "$tmp/versions.json")"
atleast "orders 2 failed spans" 1 "$(jq -r '.groups[] | select(.key == "2") | .errors' "$tmp/versions.json")"
atleast "orders 1 spans" 100 "$(jq -r '.groups[] | select(.key == "1") | .count' "$tmp/versions.json")"

# The slow statement, only in version 2, and the N+1 beside it.
"$bin" queries --db "$db" --json >"$tmp/queries.json"
scan='SELECT sku, count(*) FROM order_items WHERE lower(note) LIKE ? GROUP BY sku'
atleast "the unindexed scan's calls" 10 \
	"$(jq -r --arg s "$scan" '.statements[] | select(.statement == $s) | .count' "$tmp/queries.json")"
atleast "the scan's mean (ms)" 40 \
	"$(jq -r --arg s "$scan" '.statements[] | select(.statement == $s) | (.mean_ns / 1000000 | floor)' \
		"$tmp/queries.json")"
atleast "the N+1 on inventory (parents)" 1 \
	"$(jq -r '.statements[] | select(.statement == "SELECT stock FROM inventory WHERE item_id = ?")
	          | .nplus1_parents' "$tmp/queries.json")"
"$bin" queries --db "$db" --json --attr service.version=1 >"$tmp/queries1.json"
expect "no scan in version 1" "" \
	"$(jq -r --arg s "$scan" '.statements[] | select(.statement == $s) | .count' "$tmp/queries1.json")"

# Errors: the acquirer's failure is one template over varying ids; the cascade begins in
# payments; the invalid orders are u7's.
"$bin" errors --db "$db" --json --cascade-window 3s >"$tmp/errors.json"
expect_exit "sonde errors" 0 "" "$bin" errors --db "$db" --cascade-window 3s
acq='.groups[] | select(.template | test("^acquirer .* refused txn"))'
expect "acquirer failures in one group" 1 "$(jq -r "[$acq] | length" "$tmp/errors.json")"
atleast "acquirer failures" 2 "$(jq -r "$acq | .count" "$tmp/errors.json")"
expect "the cascade begins in payments" payments \
	"$(jq -r '[.cascades[] | select(.services | length >= 3)][0].origin_service' "$tmp/errors.json")"
val='.groups[] | select(.template | test("must be positive"))'
expect "invalid orders: category" input_validation "$(jq -r "$val | .category" "$tmp/errors.json")"
expect "invalid orders: the user" u7 "$(jq -r "$val | .users.top[0].value" "$tmp/errors.json")"

echo "demo_system_test: $pass passed, $fail failed"
[ "$fail" = 0 ]
