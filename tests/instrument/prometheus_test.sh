#!/usr/bin/env bash
# prometheus_test.sh - libsonde's Prometheus exposition against the real tools:
#  1. promtool (Debian's prometheus package) finds no problems in the text exposition of
#     tests/instrument/metrics_server.c: every instrument kind, escaped labels and HELP,
#     units;
#  2. the endpoint serves /metrics as text 0.0.4, or as OpenMetrics when the Accept header
#     asks, and 404 elsewhere;
#  3. a real Prometheus on loopback (private config and data in a temp dir, scraping every
#     second) reports through its HTTP API the values the program recorded, including
#     histogram_quantile on the histogram.
# Both processes are stopped by PID. Exit 77 when prometheus/promtool are not installed.
set -uo pipefail
build=${SONDE_BUILD:?SONDE_BUILD not set}
server=$build/tests/metrics_server
. "$(dirname "$0")/../lib/ports.sh"
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
	echo "SKIP: prometheus and promtool are not installed (Debian package prometheus)" >&2
	exit 77
fi
if [ ! -x "$server" ]; then
	echo "FAIL: $server is not built" >&2
	exit 1
fi
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
	echo "FAIL: $*" >&2
	fail=$((fail + 1))
}

# ---- 1. promtool -------------------------------------------------------------------------
if ! "$server" print >"$tmp/expo.txt"; then
	bad "metrics_server print failed"
fi
if promtool check metrics <"$tmp/expo.txt" >"$tmp/promtool.out" 2>&1; then
	ok
else
	bad "promtool check metrics: $(cat "$tmp/promtool.out")"
fi
want_lines=(
	'# HELP http_server_requests_total Requests served, by "method" and path\\route\nsecond line'
	'http_server_requests_total{method="GET",otel_scope_name="sonde.tests.metrics_server",otel_scope_version="0.1.0",path="/a\"quoted\" \\path\nnewline"} 42'
	'# TYPE http_server_request_duration_seconds histogram'
	'# TYPE app_rpc_latency_seconds summary'
	'# TYPE app_payload_bytes histogram'
	'# TYPE process_cpu_time_seconds_total counter'
	'# TYPE app_queue_length gauge'
	'app_cache_hits_ratio{otel_scope_name="sonde.tests.metrics_server",otel_scope_version="0.1.0"} 0.75'
	'app_sent_bytes_total{otel_scope_name="sonde.tests.metrics_server",otel_scope_version="0.1.0"} 1536.5'
)
for l in "${want_lines[@]}"; do
	if grep -qxF -- "$l" "$tmp/expo.txt"; then ok; else bad "exposition lacks: $l"; fi
done
"$server" print openmetrics >"$tmp/expo.om"
if [ "$(tail -1 "$tmp/expo.om")" = "# EOF" ] && grep -qxF '# UNIT http_server_request_duration_seconds seconds' "$tmp/expo.om"; then
	ok
else
	bad "OpenMetrics exposition lacks # EOF or # UNIT"
fi

# ---- 2. the endpoint ---------------------------------------------------------------------
"$server" serve "$tmp/port" 300 2>"$tmp/server.err" &
pids+=($!)
for _ in $(seq 50); do
	[ -s "$tmp/port" ] && break
	sleep 0.1
done
port=$(cat "$tmp/port" 2>/dev/null)
if [ -z "$port" ]; then
	bad "metrics_server did not start: $(cat "$tmp/server.err")"
	echo "prometheus_test: $pass passed, $fail failed"
	exit 1
fi

# http PORT PATH [ACCEPT] -> "STATUS CONTENT-TYPE" then the body
http() {
	node -e '
const http = require("http");
const [port, path, accept] = process.argv.slice(1);
const headers = accept ? {Accept: accept} : {};
http.get({host: "127.0.0.1", port: +port, path, headers}, (res) => {
  let body = "";
  res.on("data", (d) => (body += d));
  res.on("end", () => { console.log(res.statusCode + " " + res.headers["content-type"]); process.stdout.write(body); });
}).on("error", (e) => { console.log("error " + e.message); process.exit(1); });' "$@"
}
http "$port" /metrics >"$tmp/get.txt"
if head -1 "$tmp/get.txt" | grep -qF '200 text/plain; version=0.0.4; charset=utf-8' &&
	grep -qF 'http_server_requests_total{method="GET"' "$tmp/get.txt"; then
	ok
else
	bad "GET /metrics: $(head -2 "$tmp/get.txt")"
fi
http "$port" /metrics 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' >"$tmp/get.om"
if head -1 "$tmp/get.om" | grep -qF '200 application/openmetrics-text; version=1.0.0; charset=utf-8' &&
	[ "$(tail -1 "$tmp/get.om")" = "# EOF" ]; then
	ok
else
	bad "GET /metrics (OpenMetrics): $(head -1 "$tmp/get.om")"
fi
http "$port" /other >"$tmp/get.other"
if head -1 "$tmp/get.other" | grep -q '^404 '; then ok; else bad "GET /other: $(head -1 "$tmp/get.other")"; fi

# ---- 3. a real Prometheus ------------------------------------------------------------------
cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: sonde
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
prom_pid=
pport=
for _ in 1 2 3 4 5; do
	p=$(free_port) || continue
	prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
		--web.listen-address="127.0.0.1:$p" --log.level=warn >"$tmp/prom.log" 2>&1 &
	prom_pid=$!
	for _ in $(seq 100); do
		if ! kill -0 "$prom_pid" 2>/dev/null; then
			break
		fi
		http "$p" /-/ready >"$tmp/ready" 2>/dev/null
		if head -1 "$tmp/ready" | grep -q '^200 '; then
			pport=$p
			break
		fi
		sleep 0.2
	done
	if [ -n "$pport" ]; then
		pids+=("$prom_pid")
		break
	fi
	kill "$prom_pid" 2>/dev/null
	wait "$prom_pid" 2>/dev/null
done
if [ -z "$pport" ]; then
	bad "prometheus did not start: $(tail -5 "$tmp/prom.log")"
	echo "prometheus_test: $pass passed, $fail failed"
	exit 1
fi

# query EXPR -> the values of the result vector, space separated (exit 1 when empty)
query() {
	node -e '
const http = require("http");
const [port, q] = process.argv.slice(1);
http.get({host: "127.0.0.1", port: +port, path: "/api/v1/query?query=" + encodeURIComponent(q)}, (res) => {
  let body = "";
  res.on("data", (d) => (body += d));
  res.on("end", () => {
    const j = JSON.parse(body);
    if (j.status !== "success" || j.data.result.length === 0) process.exit(1);
    console.log(j.data.result.map((r) => r.value[1]).join(" "));
  });
}).on("error", () => process.exit(2));' "$pport" "$1"
}

# Wait for a scrape that has every family (the first may come before all are there).
for _ in $(seq 150); do
	[ "$(query 'up{job="sonde"}' 2>/dev/null)" = "1" ] && query 'process_memory_usage_bytes' >/dev/null 2>&1 &&
		query 'app_payload_bytes_count' >/dev/null 2>&1 && break
	sleep 0.2
done

# expect EXPR VALUE [TOLERANCE]: the single result equals VALUE (within TOLERANCE)
expect() {
	local got
	got=$(query "$1" 2>/dev/null)
	if node -e 'const [g, w, t] = process.argv.slice(1); process.exit(g !== "" && !g.includes(" ") && Math.abs(+g - +w) <= +(t || 0) ? 0 : 1)' "$got" "$2" "${3:-0}"; then
		ok
	else
		bad "$1 = '$got', expected $2${3:+ ± $3}"
	fi
}
expect 'up{job="sonde"}' 1
expect 'http_server_requests_total{method="GET"}' 42
expect 'http_server_requests_total{path="/a\"quoted\" \\path\nnewline"}' 42
expect 'http_server_requests_total{method="POST",path="/orders"}' 7
expect 'app_sent_bytes_total' 1536.5
expect 'app_queue_length' 3
expect 'app_temperature_celsius{room="lab"}' 21.5
expect 'app_cache_hits_ratio' 0.75
expect 'http_server_request_duration_seconds_count' 100
expect 'http_server_request_duration_seconds_sum' 15 1e-9
expect 'histogram_quantile(0.5, http_server_request_duration_seconds_bucket)' 0.1 1e-9
expect 'histogram_quantile(0.9, http_server_request_duration_seconds_bucket)' 0.35 1e-9
expect 'app_payload_bytes_count' 3
expect 'histogram_quantile(1, app_payload_bytes_bucket)' 4 1e-9
expect 'app_rpc_latency_seconds{quantile="0.5"}' 0.01 0.0001
expect 'app_rpc_latency_seconds{quantile="0.9"}' 0.02 0.0002
expect 'app_rpc_latency_seconds_count' 100
expect 'process_cpu_time_seconds_total{cpu_mode="user"}' 12.5
expect 'process_open_fds' 17
expect 'process_memory_usage_bytes' 1048576
expect 'target_info{service_name="metrics-server",deployment_environment="test"}' 1
expect 'count(http_server_requests_total{otel_scope_name="sonde.tests.metrics_server"})' 2

echo "prometheus_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
