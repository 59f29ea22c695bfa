#!/usr/bin/env bash
# demo_system.sh SONDE_BIN BUILD_DIR OUT_DIR - runs the shop of examples/shopnet.c (frontend,
# orders and payments over loopback HTTP, instrumented with libsonde) under load through a
# release that goes wrong, with `sonde serve` receiving the telemetry into OUT_DIR/sonde.db:
#
#   0 s       sonde serve, payments 4.1.2, orders 1, frontend 7.3.0 start; the load generator
#             ramps up to RATE requests/s in 1 s (65% POST /api/orders, 20% GET
#             /api/orders/{id}, 15% GET /api/catalog) as users u1..u12 (u7 sometimes orders 0
#             items: 400s)
#   V1 s      the release: orders 2 starts on the same port (under `sonde mem`, sampling), then orders 1
#             is stopped with SIGTERM (no request is lost). Version 2 adds an N+1 on inventory
#             and an unindexed scan of order_items (40-100 ms), charges through payments' POST
#             /v2/authorize, whose acquirer fails 30% of calls from 1.5 s to 7.5 s after its
#             first call (503 -> orders 502 -> frontend 502), and leaks a 4 KiB audit copy of
#             each order (cache_order_audit)
#   V1+2 s    `sonde record -p` samples orders 2 for 3 s: OUT_DIR/orders.folded, .svg, .pb.gz
#   V1+V2 s   the load stops; every process is stopped by its PID; sonde serve flushes
#
# Defaults: V1 10 s, V2 12 s, RATE 100: about 600 orders for each version of orders, and
# 30-35 s in all.
#
# Settings (environment): SHOPNET_V1_SECONDS (default 10), SHOPNET_V2_SECONDS (12),
# SHOPNET_RATE (100 requests/s), SHOPNET_PROFILE (1; 0 skips sonde record and sonde mem).
# Every process it starts is stopped on exit, also on failure or Ctrl-C.
set -euo pipefail

if [ $# -ne 3 ]; then
	echo "usage: $0 SONDE_BIN BUILD_DIR OUT_DIR" >&2
	exit 2
fi
sonde=$1
build=$2
out=$3
shopnet=$build/examples/shopnet
v1=${SHOPNET_V1_SECONDS:-10}
v2=${SHOPNET_V2_SECONDS:-12}
rate=${SHOPNET_RATE:-100}
profile=${SHOPNET_PROFILE:-1}
for f in "$sonde" "$shopnet"; do
	[ -x "$f" ] || { echo "demo_system: $f is not built" >&2; exit 2; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/sonde.db "$out"/sonde.db-wal "$out"/sonde.db-shm "$out"/*.ready "$out"/*.ready.tmp

# Processes started, stopped on exit: SIGTERM, then SIGKILL after 7 s (a service's telemetry
# flush may take 5 s when the receiver is gone).
pids=()
sleeper=
cleanup() {
	local rc=$? p i
	[ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
	# Newest first, the receiver last, so the services can still flush into it.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		p=${pids[$i]}
		[ "$p" = "${serve_pid:-}" ] || kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		[ "$p" = "${serve_pid:-}" ] && continue
		for _ in $(seq 70); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ -n "${serve_pid:-}" ]; then
		p=$serve_pid
		stop "$p"
		kill -KILL "$p" 2>/dev/null || true
	fi
	pids=()
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop PID: SIGTERM, waits (at most 10 s) for it to exit, and forgets it (so that cleanup
# never signals a reused PID).
stop() {
	local p kept=()
	if kill -TERM "$1" 2>/dev/null; then
		for _ in $(seq 100); do
			kill -0 "$1" 2>/dev/null || break
			sleep 0.1
		done
		wait "$1" 2>/dev/null || true
	fi
	for p in "${pids[@]}"; do
		[ "$p" = "$1" ] || kept+=("$p")
	done
	pids=("${kept[@]}")
	[ "$1" != "${serve_pid:-}" ] || serve_pid=
}

# ready FILE: waits for a service's "PORT PID" line; prints it.
ready() {
	for _ in $(seq 150); do
		if [ -s "$1" ]; then
			cat "$1"
			return 0
		fi
		sleep 0.1
	done
	echo "demo_system: $(basename "$1" .ready) did not start; its log:" >&2
	cat "${1%.ready}.log" >&2 || true
	exit 1
}

say() { printf '  %s\n' "$*"; }

# pause SECONDS: a sleep that a signal interrupts (bash runs traps only between commands,
# but it interrupts `wait`).
pause() {
	sleep "$1" &
	sleeper=$!
	wait "$sleeper" || true
	sleeper=
}

"$sonde" serve --listen 127.0.0.1:0 --db "$out/sonde.db" 2>"$out/serve.log" &
serve_pid=$!
pids+=("$serve_pid")
port=
for _ in $(seq 150); do
	port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$out/serve.log")
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { echo "demo_system: sonde serve did not start: $(cat "$out/serve.log")" >&2; exit 1; }
export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$port
unset OTEL_RESOURCE_ATTRIBUTES OTEL_SERVICE_NAME OTEL_TRACES_EXPORTER
say "sonde serve (pid $serve_pid) receives OTLP/HTTP on 127.0.0.1:$port into $out/sonde.db"

"$shopnet" payments --ready "$out/payments.ready" 2>"$out/payments.log" &
pids+=($!)
read -r payments_port payments_pid < <(ready "$out/payments.ready")
"$shopnet" orders --to "$payments_port" --ready "$out/orders-v1.ready" 2>"$out/orders-v1.log" &
pids+=($!)
read -r orders_port orders1_pid < <(ready "$out/orders-v1.ready")
"$shopnet" frontend --to "$orders_port" --ready "$out/frontend.ready" 2>"$out/frontend.log" &
pids+=($!)
read -r frontend_port frontend_pid < <(ready "$out/frontend.ready")
say "payments 4.1.2 (pid $payments_pid, port $payments_port), orders 1 (pid $orders1_pid, port $orders_port)," \
	"frontend 7.3.0 (pid $frontend_pid, port $frontend_port)"

"$shopnet" loadgen --to "$frontend_port" --rate "$rate" --duration $((v1 + v2)) --threads 16 \
	>"$out/loadgen.txt" 2>"$out/loadgen.log" &
loadgen_pid=$!
pids+=("$loadgen_pid")
start=$(date -u +%Y-%m-%dT%H:%M:%SZ)
say "load: $rate requests/s for $((v1 + v2)) s from $start (loadgen pid $loadgen_pid)"
pause "$v1"

# The release: version 2 of orders starts on the same port, then version 1 stops.
release=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
if [ "$profile" = 1 ]; then
	# Sampled (one allocation per 64 KiB on average), not --all: recording every allocation
	# would slow orders 2 enough to show in sonde compare as regressions of its own.
	OTEL_RESOURCE_ATTRIBUTES=service.version=2 "$sonde" mem --sample-bytes 65536 -q -o "$out/orders-v2.mem" -- \
		"$shopnet" orders --port "$orders_port" --to "$payments_port" --ready "$out/orders-v2.ready" \
		2>"$out/orders-v2.log" &
else
	OTEL_RESOURCE_ATTRIBUTES=service.version=2 "$shopnet" orders --port "$orders_port" \
		--to "$payments_port" --ready "$out/orders-v2.ready" 2>"$out/orders-v2.log" &
fi
pids+=($!)
read -r _ orders2_pid < <(ready "$out/orders-v2.ready")
pids+=("$orders2_pid")
stop "$orders1_pid"
say "release at $release: orders 2 (pid $orders2_pid$([ "$profile" = 1 ] && echo ", under sonde mem")) took over port $orders_port; orders 1 stopped"

record_pid=
if [ "$profile" = 1 ] && [ "$v2" -ge 5 ]; then
	pause 2
	"$sonde" record -p "$orders2_pid" -d 3 -F 499 -o "$out/orders.folded" 2>"$out/record.log" &
	record_pid=$!
	pids+=("$record_pid")
fi
wait "$loadgen_pid" || { echo "demo_system: the load generator failed: $(cat "$out/loadgen.log")" >&2; exit 1; }
stop_time=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
profiled=0
if [ -n "$record_pid" ]; then
	if wait "$record_pid" && [ -s "$out/orders.folded" ]; then
		"$sonde" flame --title "orders 2 under load" --subtitle "sonde record -p $orders2_pid -d 3" \
			-o "$out/orders.svg" "$out/orders.folded" 2>>"$out/record.log"
		"$sonde" flame --format pprof -o "$out/orders.pb.gz" "$out/orders.folded" 2>>"$out/record.log"
		profiled=1
	else
		echo "demo_system: sonde record could not sample orders 2: $(cat "$out/record.log")" >&2
	fi
fi

# Stop the services (front to back, so no request is cut), then the receiver, which
# flushes what it holds before it exits.
stop "$frontend_pid"
stop "$orders2_pid"
stop "$payments_pid"
for p in "${pids[@]}"; do # sonde mem exits when orders 2 does
	[ "$p" = "$serve_pid" ] || stop "$p"
done
stop "$serve_pid"
if [ "$profile" = 1 ] && [ -s "$out/orders-v2.mem" ]; then
	"$sonde" mem report --top 5 "$out/orders-v2.mem" >"$out/orders-v2-mem.txt" 2>&1 || true
fi
# The timeline, for the verbs that take a window (--since, --until, compare, canary).
printf 'LOAD_START=%s\nRELEASE=%s\nLOAD_END=%s\n' "$start" "$release" "$stop_time" >"$out/timeline.env"

echo
say "$(cat "$out/loadgen.txt")"
say "$(grep -h 'sonde serve: stopped' "$out/serve.log" | sed 's/^sonde serve: //')"
echo
echo "Outputs (in $out):"
say "sonde.db           the store: traces, logs and metrics of frontend, orders (versions 1 and 2) and payments"
say "                   load from $start; release (orders 1 -> 2) at $release; load stopped at $stop_time"
say "loadgen.txt, .log  the users' view: totals, and one line per second (status counts, p50, p95)"
say "*.log              each process' own messages (serve.log, frontend.log, orders-v1.log, orders-v2.log, payments.log)"
say "timeline.env       LOAD_START, RELEASE and LOAD_END (UTC, RFC 3339), for --since/--until"
if [ "$profiled" = 1 ]; then
	say "orders.svg         CPU flame graph of orders 2 under load (sonde record -p, 3 s); orders.folded and"
	say "                   orders.pb.gz (pprof) are the same profile; record.log its summary"
fi
if [ -s "$out/orders-v2-mem.txt" ]; then
	say "orders-v2.mem      orders 2's allocations, sampled (sonde mem); orders-v2-mem.txt its report,"
	say "                   whose leaks by count begin:"
	sed -n '/^leaks by count/{n;p;}' "$out/orders-v2-mem.txt" | sed 's/^ */                     /'
fi
echo "Investigate: $sonde traces --db $out/sonde.db --sort duration   (then trace, latency, queries, errors, anomalies)"
