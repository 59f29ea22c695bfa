#!/bin/bash
# anomalies_test.sh - `sonde anomalies` end to end: a constructed metric series (three days
# every five minutes, small noise, one spike), error logs and failed spans around the spike
# and away from it, ingested into a temporary store; checks the anomaly window and its
# context through --json, the METRIC filter, the table, --fail and bad usage.
#
# Run from the repository root with SONDE_BIN set (CTest does both).
set -uo pipefail

bin=${SONDE_BIN:?SONDE_BIN must name the sonde executable}
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$bin" help | grep -q '^  anomalies ' || { echo "skip: sonde anomalies is not built"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib/check.sh

# 864 points from 2024-05-01T00:00:00Z (1714521600) every 300 s; noise within +-1.5 from
# a hash of the index; the spike at point 600 = 2024-05-03T02:00:00Z (1714701600).
awk 'BEGIN {
	print "timestamp,latency_ms";
	for (i = 0; i < 864; i++) {
		h = sin(i * 12.9898) * 43758.5453; h -= int(h); if (h < 0) h += 1;
		v = 100 + 3 * (h - 0.5);
		if (i == 600) v = 180;
		printf "%d,%.3f\n", 1714521600 + 300 * i, v;
	}
}' >"$tmp/latency.csv"

# Error logs: three near the spike (two share a template), one a day before (outside the
# context), and an INFO line near the spike (not an error).
cat >"$tmp/app.jsonl" <<'LOGS'
{"time":"2024-05-02T02:00:00Z","level":"error","msg":"disk full on /var/lib/1","service":"api"}
{"time":"2024-05-03T01:58:00Z","level":"info","msg":"request served in 12 ms","service":"api"}
{"time":"2024-05-03T02:01:00Z","level":"error","msg":"payment failed for order 123","service":"api"}
{"time":"2024-05-03T02:02:30Z","level":"error","msg":"payment failed for order 4567","service":"api"}
{"time":"2024-05-03T02:03:00Z","level":"fatal","msg":"db timeout after 30s","service":"api"}
LOGS

# Spans (Zipkin v2, microseconds): two failed traces near the spike, one ok span near it,
# one failed span a day before.
cat >"$tmp/spans.json" <<'SPANS'
[
 {"traceId":"0af7651916cd43dd8448eb211c80319c","id":"b7ad6b7169203331","name":"charge","timestamp":1714701660000000,"duration":250000,"localEndpoint":{"serviceName":"payments"},"tags":{"error":"card declined"}},
 {"traceId":"1bf7651916cd43dd8448eb211c80319d","id":"c7ad6b7169203332","name":"charge","timestamp":1714701720000000,"duration":250000,"localEndpoint":{"serviceName":"payments"},"tags":{"otel.status_code":"ERROR"}},
 {"traceId":"2cf7651916cd43dd8448eb211c80319e","id":"d7ad6b7169203333","name":"GET /cart","timestamp":1714701630000000,"duration":1000,"localEndpoint":{"serviceName":"frontend"}},
 {"traceId":"3df7651916cd43dd8448eb211c80319f","id":"e7ad6b7169203334","name":"charge","timestamp":1714615260000000,"duration":1000,"localEndpoint":{"serviceName":"payments"},"tags":{"error":"true"}}
]
SPANS

db="$tmp/t.db"
"$bin" ingest --db "$db" --service api "$tmp/latency.csv" "$tmp/app.jsonl" >/dev/null 2>"$tmp/err" ||
	bad "ingest: $(cat "$tmp/err")"
"$bin" ingest --db "$db" "$tmp/spans.json" >/dev/null 2>"$tmp/err" || bad "ingest spans: $(cat "$tmp/err")"

# jcheck FILE NAME EXPR: the Python expression EXPR holds, with j the parsed JSON of FILE.
jcheck() {
	if "$py" -c 'import json, sys; j = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$1" "$3" 2>"$tmp/pyerr"; then
		ok
	else
		bad "$2: $3 is false or fails ($(head -c 300 "$tmp/pyerr")) in $(head -c 1500 "$1")"
	fi
}

expect_exit "json" 0 "" "$bin" anomalies --db "$db" --json
cp "$tmp/out" "$tmp/a.json"
jcheck "$tmp/a.json" "one series" 'j["series"] == 1 and j["points"] == 864'
jcheck "$tmp/a.json" "one anomaly" 'len(j["anomalies"]) == 1'
a='j["anomalies"][0]'
jcheck "$tmp/a.json" "metric" "$a['metric'] == 'latency_ms' and $a['service'] == 'api'"
jcheck "$tmp/a.json" "window holds the spike" \
	"$a['start_ns'] <= 1714701600000000000 <= $a['end_ns'] and $a['peak_ns'] == 1714701600000000000"
jcheck "$tmp/a.json" "peak" "$a['kind'] == 'spike' and $a['value'] == 180 and 98 < $a['expected'] < 102 and $a['score'] >= 0.5"
c="$a['context']"
jcheck "$tmp/a.json" "error logs near it" "$c['error_logs'] == 3"
jcheck "$tmp/a.json" "top error template" \
	"$c['top_errors'][0] == {'message': 'payment failed for order #', 'count': 2} and $c['top_errors'][1]['message'] == 'db timeout after #s'"
jcheck "$tmp/a.json" "failed traces" \
	"$c['failed_spans'] == 2 and $c['failed_traces'] == 2 and sorted($c['trace_ids']) == ['0af7651916cd43dd8448eb211c80319c', '1bf7651916cd43dd8448eb211c80319d']"
jcheck "$tmp/a.json" "services" \
	"sorted(s['name'] for s in $c['services']) == ['api', 'frontend', 'payments']"

# A narrower context leaves out the logs and spans a few minutes away.
expect_exit "context" 0 "" "$bin" anomalies --db "$db" --json --context 30s
jcheck "$tmp/out" "narrow context" "j['anomalies'][0]['context']['failed_spans'] == 0 and j['anomalies'][0]['context']['error_logs'] == 0"

expect_exit "glob" 0 "" "$bin" anomalies --db "$db" --json 'lat*'
jcheck "$tmp/out" "glob matches" 'len(j["anomalies"]) == 1'
expect_exit "no match" 0 "" "$bin" anomalies --db "$db" --json 'cpu*'
jcheck "$tmp/out" "glob filters" 'j["series"] == 0 and j["anomalies"] == []'
expect_exit "other service" 0 "" "$bin" anomalies --db "$db" --json --service payments
jcheck "$tmp/out" "service filters" 'j["series"] == 0'

expect_exit "table" 0 "" "$bin" anomalies --db "$db"
has "$tmp/out" '^1 anomaly in 1 series' "table header"
has "$tmp/out" '^latency_ms  service api' "table series"
has "$tmp/out" 'payment failed for order #' "table errors"
has "$tmp/out" '0af7651916cd43dd8448eb211c80319c' "table traces"

expect_exit "fail" 1 "" "$bin" anomalies --db "$db" --fail
expect_exit "bad threshold" 2 "threshold '2'" "$bin" anomalies --db "$db" --threshold 2
expect_exit "bad context" 2 "context" "$bin" anomalies --db "$db" --context soon
expect_exit "two metrics" 2 "unexpected argument" "$bin" anomalies --db "$db" a b
expect_exit "no store" 2 "" "$bin" anomalies --db "$tmp/none.db"
expect_exit "help" 0 "" "$bin" anomalies --help
has "$tmp/out" 'usage: sonde anomalies' "help"

echo "anomalies: $pass passed, $fail failed"
[ "$fail" = 0 ]
