#!/usr/bin/env bash
# bench_test.sh - `sonde bench`: a summary of `true`, a --max-mean target no command can
# meet (exit 1), --compare finding `sleep 0.05` slower than `sleep 0.001`, and usage
# errors. Only gross timing facts are asserted (a 50 ms sleep against a 1 ms one).
set -uo pipefail
sonde=${SONDE_BIN:?SONDE_BIN not set}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/../lib/check.sh"

expect_exit "bench true" 0 "" "$sonde" bench --runs 5 --warmup 1 -- true
has "$tmp/out" '^true$' "command named"
has "$tmp/out" 'runs 5 +mean [0-9.]+ (us|ms|s) +sd ' "summary line"
has "$tmp/out" 'p95 [0-9.]+ (us|ms|s) +p99 ' "quantiles"

expect_exit "bench json" 0 "" "$sonde" bench --runs 4 --warmup 0 --json -- sleep 0.01
has "$tmp/out" '"runs": 4' "json runs"
has "$tmp/out" '"p95_s": 0\.0[1-9]' "sleep 0.01 takes at least 10 ms"
has "$tmp/out" '"command": "sleep 0.01"' "json command"
# Progress never reaches a non-terminal stderr.
[ ! -s "$tmp/err" ] && ok || bad "stderr not empty without a terminal: $(head -c 200 "$tmp/err")"

expect_exit "max-mean missed" 1 "mean .* exceeds --max-mean 1.0 us" "$sonde" bench --runs 3 --warmup 0 --max-mean 1us -- true
expect_exit "max-p95 missed" 1 "p95 .* exceeds --max-p95" "$sonde" bench --runs 3 --warmup 0 --max-p95 1ns -- sleep 0.001
expect_exit "max-mean met" 0 "" "$sonde" bench --runs 3 --warmup 0 --max-mean 1h -- true

expect_exit "compare" 0 "" "$sonde" bench --runs 8 --warmup 1 --json --compare 'sleep 0.001' 'sleep 0.05'
has "$tmp/out" '"verdict": "B is slower"' "compare verdict"
has "$tmp/out" '"shift_s": 0\.0[3-9]' "shift about 49 ms"
has "$tmp/out" '"exact": true' "exact test for 8 runs without ties"
expect_exit "compare table" 0 "" "$sonde" bench --runs 6 --warmup 0 --compare 'sleep 0.05' 'sleep 0.001'
has "$tmp/out" 'B is faster than A' "compare table"

expect_exit "no command" 2 "expected a command" "$sonde" bench --runs 3
expect_exit "bad runs" 2 "--runs '1'" "$sonde" bench --runs 1 -- true
expect_exit "bad duration" 2 "--max-p95 'soon'" "$sonde" bench --max-p95 soon -- true
expect_exit "compare arity" 2 "two commands" "$sonde" bench --compare 'true'
expect_exit "not found" 2 "cannot run 'sonde-no-such-program'" "$sonde" bench --runs 2 -- sonde-no-such-program
expect_exit "failing run" 2 "exited with status 1" "$sonde" bench --runs 2 -- false
expect_exit "ignore failure" 0 "" "$sonde" bench --runs 2 --warmup 0 --ignore-failure -- false
has "$tmp/out" '2 runs exited non-zero' "failures counted"

echo "bench_test: $pass passed, $fail failed"
[ "$fail" = 0 ]
