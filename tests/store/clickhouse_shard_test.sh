#!/usr/bin/env bash
# clickhouse_shard_test.sh - the sharded ClickHouse layout gives the same answers as SQLite.
#
# Starts two private clickhouse-servers on 127.0.0.1 (their own ports, configs and data
# directories, both listing the two-shard cluster "sonde2" in remote_servers), opens
# clickhouse://H1:P1,H2:P2/DB?cluster=sonde2 (tables in DB_local on each shard,
# Distributed tables over them in DB), ingests the parity data into it and into SQLite,
# ingests it again (nothing may be added), compares every verb's --json, checks the rows
# are split across the shards with each trace whole on one of them, reads through the
# second server as well, prunes on both, and checks the errors of a wrong URI. The
# servers are stopped by their PIDs. Skips (77) when clickhouse-server is not installed.
set -u

bin=${SONDE_BIN:?SONDE_BIN must name the sonde executable}
src=${SONDE_SRC:-.}
. "$(dirname "$0")/../lib/clickhouse.sh"
. "$(dirname "$0")/../lib/parity.sh"
ch_find || { echo "skip: clickhouse-server is not installed"; exit 77; }
command -v curl >/dev/null || { echo "skip: curl is not installed"; exit 77; }

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		ch_pid=$p
		ch_stop
	done
	rm -rf "$work"
}
trap cleanup EXIT

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

ports=()
for _ in 1 2 3 4 5 6; do
	p=$(ch_free_port) || { echo "FAIL: no free port"; exit 1; }
	ports+=("$p")
done
h1=${ports[0]} t1=${ports[1]} h2=${ports[3]} t2=${ports[4]}
[ "$(printf '%s\n' "${ports[@]}" | sort -u | wc -l)" = 6 ] || { echo "skip: could not pick 6 distinct ports"; exit 77; }
cluster="<remote_servers><sonde2>"
cluster+="<shard><replica><host>127.0.0.1</host><port>$t1</port></replica></shard>"
cluster+="<shard><replica><host>127.0.0.1</host><port>$t2</port></replica></shard>"
cluster+="</sonde2></remote_servers>"
ch_start "$work/ch1" "$h1" "$t1" "${ports[2]}" "$cluster" || { echo "FAIL: could not start the first server"; exit 1; }
pids+=("$ch_pid")
ch_start "$work/ch2" "$h2" "$t2" "${ports[5]}" "$cluster" || { echo "FAIL: could not start the second server"; exit 1; }
pids+=("$ch_pid")

sq="$work/s.db"
ch="clickhouse://127.0.0.1:$h1,127.0.0.1:$h2/sonde_shard?cluster=sonde2"
ch_b="clickhouse://127.0.0.1:$h2/sonde_shard?cluster=sonde2" # the second server alone, to read
parity_dbs=("$ch" "$ch_b")
q1() { curl -sf "http://127.0.0.1:$h1/" --data-binary "$1"; }
q2() { curl -sf "http://127.0.0.1:$h2/" --data-binary "$1"; }

# 3 services x 200 traces x 5 spans, out of order: enough traces to land on both shards.
awk 'function hex16() { return sprintf("%04x%04x%04x%04x", int(rand() * 65536), int(rand() * 65536), int(rand() * 65536), int(rand() * 65536)) }
BEGIN {
	srand(11); printf "{\"resourceSpans\":["
	split("zeta alpha mid", svc, " "); split("b a ab a\303\251", op, " ")
	for (r = 1; r <= 3; r++) {
		printf "%s{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"%s\"}},{\"key\":\"zone\",\"value\":{\"stringValue\":\"z%d\"}}]},", (r > 1 ? "," : ""), svc[r], r
		printf "\"scopeSpans\":[{\"scope\":{\"name\":\"s\"},\"spans\":["
		for (t = 0; t < 200; t++) {
			tid = hex16() hex16()
			for (k = 0; k < 5; k++) {
				st = 1700000000000000000 + (10000 - t) * 1000000 - k * 1000
				printf "%s{\"traceId\":\"%s\",\"spanId\":\"%s\",\"name\":\"%s\",\"kind\":2,", (t + k > 0 ? "," : ""), tid, hex16(), op[(t + k) % 4 + 1]
				printf "\"startTimeUnixNano\":\"%.0f\",\"endTimeUnixNano\":\"%.0f\"}", st, st + 5000 + k * 7 + t
			}
		}
		printf "]}]}"
	}
	print "]}"
}' >"$work/gen.json"
inputs=("$src/tests/data/ingest" "$src/tests/cli/investigate_data" "$work/gen.json")

# ---- ingest, twice --------------------------------------------------------------------------
parity_ingest_twice "${inputs[@]}"

# ---- the rows are split across the shards, each trace whole on one ---------------------------
total=$("$bin" db info --json --db "$sq" | grep -o '"spans":[0-9]*' | cut -d: -f2)
traces=$("$bin" db info --json --db "$sq" | grep -o '"traces":[0-9]*' | cut -d: -f2)
for t in spans trace_index span_keys; do
	a=$(q1 "SELECT count() FROM sonde_shard_local.$t FINAL")
	b=$(q2 "SELECT count() FROM sonde_shard_local.$t FINAL")
	{ [ "${a:-0}" -gt 0 ] && [ "${b:-0}" -gt 0 ]; } || fail "$t is not split across the shards: $a and $b rows"
	[ $((a + b)) = "$total" ] || fail "$t: $a + $b rows on the shards, $total spans stored"
done
a=$(q1 "SELECT uniqExact(trace_id) FROM sonde_shard_local.spans")
b=$(q2 "SELECT uniqExact(trace_id) FROM sonde_shard_local.spans")
[ $((a + b)) = "$traces" ] || fail "traces split between shards: $a + $b, $traces traces stored"
for t in logs log_index points series; do
	a=$(q1 "SELECT count() FROM sonde_shard_local.$t FINAL")
	b=$(q2 "SELECT count() FROM sonde_shard_local.$t FINAL")
	c=$(q1 "SELECT count() FROM sonde_shard.$t FINAL")
	{ [ "${c:-0}" -gt 0 ] && [ $((a + b)) = "$c" ]; } || fail "$t: $a + $b rows on the shards, $c through the Distributed table"
done

# ---- the verbs, on both ---------------------------------------------------------------------
parity_verbs 1000
same "traces by resource attribute" traces --json --attr zone=z2 --limit 1000
same "latency by operation" latency --json --by operation
same "latency by resource attribute" latency --json --by zone
ids=$("$bin" traces --json --limit 10 --db "$sq" | grep -o '"trace_id":"[0-9a-f]*"' | cut -d'"' -f4)
ids+=" $("$bin" traces --json --limit 5 --service mid --db "$sq" | grep -o '"trace_id":"[0-9a-f]*"' | cut -d'"' -f4)"
[ "$(echo "$ids" | wc -w)" -ge 10 ] || fail "expected at least 10 traces, got: $ids"
for id in $ids; do
	same "trace $id" trace --json "$id"
done

"$bin" db info --json --db "$sq" >"$work/i1.json" || fail "db info on SQLite"
"$bin" db info --json --db "$ch" >"$work/i2.json" || fail "db info on the sharded store"
[ "$(info_norm "$work/i1.json")" = "$(info_norm "$work/i2.json")" ] || fail "db info differs: $(cat "$work/i1.json" "$work/i2.json")"
grep -Eq '"size_bytes":[1-9]' "$work/i2.json" || fail "db info has no size: $(cat "$work/i2.json")"

# ---- prune: on each shard's own tables -------------------------------------------------------
for db in "$sq" "$ch"; do
	"$bin" db prune --before 2023-11-14T22:14:00Z --db "$db" >"$work/prune.out" 2>&1 || fail "prune on $db: $(cat "$work/prune.out")"
done
same "traces after prune" traces --json --limit 1000
"$bin" db info --json --db "$sq" >"$work/i1.json"
"$bin" db info --json --db "$ch" >"$work/i2.json"
[ "$(info_norm "$work/i1.json")" = "$(info_norm "$work/i2.json")" ] || fail "db info after prune differs: $(cat "$work/i1.json" "$work/i2.json")"

# ---- a URI that does not fit the store -------------------------------------------------------
"$bin" ingest --db "clickhouse://127.0.0.1:$h1/sonde_shard?cluster=sonde2" "$work/gen.json" >/dev/null 2>"$work/err"
[ $? = 2 ] && grep -q "has 2 shards, the URI names 1" "$work/err" || fail "writing with one shard named: $(cat "$work/err")"
"$bin" traces --json --db "clickhouse://127.0.0.1:$h1/sonde_shard" >/dev/null 2>"$work/err"
[ $? = 2 ] && grep -q "a sharded store" "$work/err" || fail "a sharded store without its cluster: $(cat "$work/err")"
"$bin" ingest --db "clickhouse://127.0.0.1:$h1,127.0.0.1:$h2/other?cluster=nosuch" "$work/gen.json" >/dev/null 2>"$work/err"
[ $? = 2 ] && grep -q "no cluster nosuch" "$work/err" || fail "an unknown cluster: $(cat "$work/err")"
"$bin" traces --json --db "clickhouse://127.0.0.1:$h1,127.0.0.1:$h2/sonde_shard" >/dev/null 2>"$work/err"
[ $? = 2 ] && grep -q "cluster=NAME" "$work/err" || fail "two hosts without a cluster: $(cat "$work/err")"

if [ "$fails" != 0 ]; then
	echo "$fails failure(s)"
	exit 1
fi
echo "ok: sharded clickhouse parity ($(echo "$ids" | wc -w) traces compared, $total spans on 2 shards)"
