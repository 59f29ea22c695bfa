#!/usr/bin/env bash
# clickhouse_bench.sh - runs clickhouse_bench (the store's backends side by side) against
# a private clickhouse-server it starts on loopback and stops by its PID afterwards; then
# serve_bench (sonde serve end to end) into the same server, when it is built.
#
# usage: bench/clickhouse_bench.sh BUILD_DIR [SPANS]   (default 1000000 spans)
#        SERVE_CLIENTS (default 32): serve_bench's closed-loop clients: ClickHouse pays per
#        INSERT, so its transactions need many requests in flight to grow
#        SERVE_SECONDS, SERVE_BETWEEN: serve_bench's --seconds (each phase) and --between
#        (rest between the closed and the open loop); SERVE_RATE=R: no closed loop, the
#        open loop offers --load (0.8) times R spans/s
#        SERVE_FILL=N: serve_bench runs on a store that already holds N spans (--fill N
#        --settle 20: appended first, then 20 s for the merges)
#        SERVE_JOURNAL=1: serve_bench's server acknowledges once journaled (--journal, in a
#        temporary directory; docs/serve.md, Journal)
#        ROUNDS: measure only the ClickHouse appends, ROUNDS times (median and range)
#        GROW=N: instead, append N spans into one database and print the rate of each
#        million as the store grows, then a retry's time (clickhouse_bench --grow)
set -u
build=${1:?usage: bench/clickhouse_bench.sh BUILD_DIR [SPANS]}
spans=${2:-1000000}
. "$(dirname "$0")/../tests/lib/clickhouse.sh"
ch_find || { echo "clickhouse_bench: clickhouse-server is not installed" >&2; exit 1; }
bench=$build/bench/clickhouse_bench
[ -x "$bench" ] || bench=$build/clickhouse_bench
[ -x "$bench" ] || { echo "clickhouse_bench: build clickhouse_bench in $build first" >&2; exit 1; }
work=$(mktemp -d)
trap 'ch_stop; rm -rf "$work"' EXIT
ch_start "$work/ch" || exit 1
if [ -n "${GROW:-}" ]; then
	"$bench" --grow "clickhouse://127.0.0.1:$ch_http/sonde_grow" "$GROW" 1000000
	exit $?
fi
"$bench" "clickhouse://127.0.0.1:$ch_http/sonde_bench" "$spans" ${ROUNDS:+"$ROUNDS"}
rc=$?
serve=$build/bench/serve_bench
[ -x "$serve" ] || serve=$build/serve_bench
if [ $rc -eq 0 ] && [ -x "$serve" ]; then
	"$serve" --db "clickhouse://127.0.0.1:$ch_http/sonde_serve_bench" --clients "${SERVE_CLIENTS:-32}" \
		${SERVE_FILL:+--fill "$SERVE_FILL" --settle 20} ${SERVE_JOURNAL:+--journal "$work/journal"} \
		${SERVE_SECONDS:+--seconds "$SERVE_SECONDS"} ${SERVE_BETWEEN:+--between "$SERVE_BETWEEN"} \
		${SERVE_RATE:+--rate "$SERVE_RATE"} || rc=$?
fi
exit $rc
