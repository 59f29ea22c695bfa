#!/usr/bin/env bash
# clickhouse_test.sh - the ClickHouse store backend gives the same answers as SQLite.
#
# Starts its own clickhouse-server on 127.0.0.1 (free ports, a private config, data, tmp
# and log directories in a temporary directory), ingests the same files into a SQLite
# store and into a ClickHouse database, ingests them again (nothing may be added), then
# runs the investigation verbs on both and compares their --json output byte for byte;
# and it runs clickhouse_api_test, which compares every read of store.h on both.
# `sonde db info --json` is compared without the fields that name the backend (db,
# backend, schema_version, size_bytes, wal_bytes). The server is stopped by its PID.
# Skips (77) only when clickhouse-server is not installed.
set -u

bin=${SONDE_BIN:?SONDE_BIN must name the sonde executable}
src=${SONDE_SRC:-.}
. "$(dirname "$0")/../lib/clickhouse.sh"
. "$(dirname "$0")/../lib/parity.sh"
ch_find || { echo "skip: clickhouse-server is not installed"; exit 77; }
command -v curl >/dev/null || { echo "skip: curl is not installed"; exit 77; }

work=$(mktemp -d)
cleanup() {
	ch_stop
	rm -rf "$work"
}
trap cleanup EXIT

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

ch_start "$work/ch" || { echo "FAIL: could not start clickhouse-server"; exit 1; }
http=$ch_http
closed=$(ch_free_port)

sq="$work/s.db"
ch="clickhouse://127.0.0.1:$http/sonde_test"
parity_dbs=("$ch")
inputs=("$src/tests/data/ingest" "$src/tests/cli/investigate_data")

# ---- the store API, read by read (tests/store/clickhouse_api_test.c) -------------------------
api=${SONDE_BUILD:-build}/tests/clickhouse_api_test
if [ -x "$api" ]; then
	SONDE_CH_URI="clickhouse://127.0.0.1:$http/sonde_api" "$api" >"$work/api.out" 2>&1 ||
		fail "clickhouse_api_test: $(grep -E 'ERROR|FAILED|differ|sqlite:|clickhouse:' "$work/api.out" | head -20)"
else
	fail "$api is not built"
fi

# ---- sonde serve with three committers, each on its own handle (tests/serve/serve_committers_test.c)
committers=${SONDE_BUILD:-build}/tests/serve_committers_test
if [ -x "$committers" ]; then
	SONDE_CH_URI="clickhouse://127.0.0.1:$http/sonde_committers" "$committers" >"$work/committers.out" 2>&1 ||
		fail "serve_committers_test: $(grep -E 'ERROR|FAILED|HTTP|start:|Failure|!=' "$work/committers.out" | head -20)"
	grep -q 'OK \] test_clickhouse' "$work/committers.out" || fail "serve_committers_test did not run on ClickHouse"
fi

# ---- serve_bench's breakdown of a request's time (bench/serve_bench.c), when it is built ----
sbench=${SONDE_BUILD:-build}/bench/serve_bench
if [ -x "$sbench" ]; then
	"$sbench" --db "clickhouse://127.0.0.1:$http/sonde_sbench" --rate 20000 --seconds 1 --spans 100 \
		>"$work/sbench.out" 2>&1 || fail "serve_bench into ClickHouse: $(tail -5 "$work/sbench.out")"
	# Every part is printed; the transaction's presence query and INSERTs took time.
	for part in receive queue decode commit_wait presence insert commit_rest respond server_total; do
		for q in p50 p99; do
			grep -Eq "^serve_clickhouse_open80_${part}_$q: [0-9.]+ ms\$" "$work/sbench.out" ||
				fail "serve_bench prints no $part $q: $(cat "$work/sbench.out")"
		done
	done
	for part in presence insert server_total; do
		grep -Eq "^serve_clickhouse_open80_${part}_p50: 0\.00 ms" "$work/sbench.out" &&
			fail "serve_bench: the $part time is zero: $(grep "_${part}_p50:" "$work/sbench.out")"
	done
	grep -Eq '^serve_spans_stored: ([1-9][0-9]*) spans \(acknowledged and filled \1\)' "$work/sbench.out" ||
		fail "serve_bench: stored is not acknowledged: $(grep stored "$work/sbench.out")"
fi

# ---- ingest, twice --------------------------------------------------------------------------
parity_ingest_twice "${inputs[@]}"

# ---- the verbs, on both ---------------------------------------------------------------------
parity_verbs 100
ids=$("$bin" traces --json --limit 100 --db "$sq" | grep -o '"trace_id":"[0-9a-f]*"' | cut -d'"' -f4)
[ "$(echo "$ids" | wc -w)" -ge 5 ] || fail "expected at least 5 traces, got: $ids"
for id in $ids; do
	same "trace $id" trace --json "$id"
done

# db info without what names the backend.
"$bin" db info --json --db "$sq" >"$work/i1.json" || fail "db info on SQLite"
"$bin" db info --json --db "$ch" >"$work/i2.json" || fail "db info on ClickHouse"
[ "$(info_norm "$work/i1.json")" = "$(info_norm "$work/i2.json")" ] || fail "db info differs: $(cat "$work/i1.json" "$work/i2.json")"
grep -q '"backend":"clickhouse"' "$work/i2.json" || fail "db info does not name the clickhouse backend"

# ---- prune: whole traces, logs and points before a time -------------------------------------
for db in "$sq" "$ch"; do
	"$bin" db prune --before 2023-11-14T22:14:00Z --db "$db" >"$work/prune.out" 2>&1 || fail "prune on $db: $(cat "$work/prune.out")"
done
same "traces after prune" traces --json --limit 100
"$bin" db info --json --db "$sq" >"$work/i1.json"
"$bin" db info --json --db "$ch" >"$work/i2.json"
[ "$(info_norm "$work/i1.json")" = "$(info_norm "$work/i2.json")" ] || fail "db info after prune differs: $(cat "$work/i1.json" "$work/i2.json")"

# ---- rows in any order: the backend sends them sorted by each table's key -------------------
# Services, operations and times out of order, 64-bit trace ids padded with zeros (their
# first bytes all equal), names that are prefixes of others and non-ASCII: what is stored
# must still be what SQLite stores.
gen="$work/order.json"
# make_spans SEED: 3 services x 200 traces x 5 spans, out of order, at the same times
# whatever the seed (ids differ).
make_spans() {
awk -v seed="$1" 'function hex16() { return sprintf("%04x%04x%04x%04x", int(rand() * 65536), int(rand() * 65536), int(rand() * 65536), int(rand() * 65536)) }
BEGIN {
	srand(seed); printf "{\"resourceSpans\":["
	split("zeta alpha mid", svc, " "); split("b a ab a\303\251", op, " ")
	for (r = 1; r <= 3; r++) {
		printf "%s{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"%s\"}}]},", (r > 1 ? "," : ""), svc[r]
		printf "\"scopeSpans\":[{\"scope\":{\"name\":\"s\"},\"spans\":["
		for (t = 0; t < 200; t++) {
			tid = "0000000000000000" hex16()
			for (k = 0; k < 5; k++) {
				st = 1700000000000000000 + (10000 - t) * 1000000 - k * 1000
				printf "%s{\"traceId\":\"%s\",\"spanId\":\"%s\",\"name\":\"%s\",\"kind\":2,", (t + k > 0 ? "," : ""), tid, hex16(), op[(t + k) % 4 + 1]
				printf "\"startTimeUnixNano\":\"%.0f\",\"endTimeUnixNano\":\"%.0f\"}", st, st + 5000 + k * 7 + t
			}
		}
		printf "]}]}"
	}
	print "]}"
}'
}
make_spans 7 >"$gen"
sq2="$work/order.db"
ch2="clickhouse://127.0.0.1:$http/sonde_order"
for db in "$sq2" "$ch2"; do
	"$bin" ingest --db "$db" "$gen" >"$work/order.out" 2>&1 || fail "ingest of out-of-order spans into $db: $(cat "$work/order.out")"
	grep -Eq '^  spans +3000 added' "$work/order.out" || fail "out-of-order spans into $db: $(grep spans "$work/order.out")"
done
same_order() {
	"$bin" "$@" --db "$sq2" >"$work/a.json" 2>&1
	"$bin" "$@" --db "$ch2" >"$work/b.json" 2>&1
	cmp -s "$work/a.json" "$work/b.json" || fail "out-of-order spans: $* differs"
}
same_order traces --json --limit 1000
same_order latency --json --by operation
same_order latency --json
oid=$("$bin" traces --json --limit 1 --sort duration --db "$sq2" | grep -o '"trace_id":"[0-9a-f]*"' | head -1 | cut -d'"' -f4)
[ -n "$oid" ] && same_order trace --json "$oid"

# ---- re-appending among many other spans of the same times adds nothing ---------------------
# An append looks up what is stored in its batch's time slice only (span_keys): other
# spans in that slice must not hide the batch's own, nor be taken for them.
make_spans 8 >"$work/other.json"
for db in "$sq2" "$ch2"; do
	"$bin" ingest --db "$db" "$work/other.json" >"$work/order.out" 2>&1
	grep -Eq '^  spans +3000 added' "$work/order.out" || fail "other spans into $db: $(grep spans "$work/order.out")"
	"$bin" ingest --db "$db" "$gen" "$work/other.json" >"$work/order.out" 2>&1
	grep -Eq '^  spans +0 added +6000 already stored' "$work/order.out" ||
		fail "re-ingest among other spans into $db: $(grep spans "$work/order.out")"
done
same_order traces --json --limit 10000
same_order latency --json --by operation

# ---- a trace continued by a later append: its sids go on from the trace's largest ------------
# The second file re-sends span a (its time slice finds it) and adds c; b, stored after a,
# starts outside that slice, yet c must not take b's sid.
span() { printf '{"traceId":"5eed%028d","spanId":"%s","name":"%s","kind":1,"startTimeUnixNano":"%s","endTimeUnixNano":"%s"}' 1 "$1" "$2" "$3" "$4"; }
otlp() { printf '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cont"}}]},"scopeSpans":[{"scope":{"name":"s"},"spans":[%s]}]}]}' "$1"; }
otlp "$(span 00000000000000a1 a 1700000000000000100 1700000000000000900),$(span 00000000000000b2 b 1700000000000000500 1700000000000000600)" >"$work/cont1.json"
otlp "$(span 00000000000000a1 a 1700000000000000100 1700000000000000900),$(span 00000000000000c3 c 1700000000000000200 1700000000000000500)" >"$work/cont2.json"
sq3="$work/cont.db"
ch3="clickhouse://127.0.0.1:$http/sonde_cont"
for db in "$sq3" "$ch3"; do
	"$bin" ingest --db "$db" "$work/cont1.json" >/dev/null 2>&1 && "$bin" ingest --db "$db" "$work/cont2.json" >"$work/cont.out" 2>&1
	grep -Eq '^  spans +1 added +1 already stored' "$work/cont.out" || fail "continuing a trace in $db: $(cat "$work/cont.out")"
done
[ "$(curl -sf "http://127.0.0.1:$http/?database=sonde_cont" --data-binary "SELECT count(), uniqExact(sid), uniqExact(intDiv(sid, 16777216)) FROM trace_index FINAL")" = "$(printf '3\t3\t1')" ] ||
	fail "a continued trace's sids are not its own and distinct"
"$bin" trace --json 5eed0000000000000000000000000001 --db "$sq3" >"$work/a.json" 2>&1
"$bin" trace --json 5eed0000000000000000000000000001 --db "$ch3" >"$work/b.json" 2>&1
cmp -s "$work/a.json" "$work/b.json" || fail "a continued trace differs"

# ---- what a writer killed mid-append leaves: keys in span_keys without their spans ---------
# spans, trace_index and span_keys are written at once, so a key may be in span_keys while
# its span is in neither other table (x), or in trace_index only (y): such spans count as
# not stored, and the append writes them again.
tid=5eed0000000000000000000000000002
killed() { printf '{"traceId":"%s","spanId":"%s","name":"%s","kind":1,"startTimeUnixNano":"%s","endTimeUnixNano":"%s"}' "$tid" "$1" "$2" "$3" "$4"; }
otlp "$(killed 00000000000000d1 x 1700000000000001000 1700000000000002000),$(killed 00000000000000d2 y 1700000000000001500 1700000000000001800)" >"$work/killed.json"
sq4="$work/killed.db"
ch4="clickhouse://127.0.0.1:$http/sonde_killed"
"$bin" ingest --db "$ch4" "$work/cont1.json" >/dev/null 2>&1 || fail "making sonde_killed"
qk() { curl -sf "http://127.0.0.1:$http/?database=sonde_killed" --data-binary "$1"; }
qk "INSERT INTO span_keys VALUES (1700000000000001000, unhex('$tid'), unhex('00000000000000d1'), 1), (1700000000000001500, unhex('$tid'), unhex('00000000000000d2'), 2)" &&
	qk "INSERT INTO trace_index VALUES (unhex('$tid'), unhex('00000000000000d2'), 2, 1, 1700000000000001500, 300, 'cont', 'y', 0)" ||
	fail "leaving a killed writer's rows"
"$bin" ingest --db "$sq4" "$work/cont1.json" >/dev/null 2>&1
for db in "$sq4" "$ch4"; do
	"$bin" ingest --db "$db" "$work/killed.json" >"$work/killed.out" 2>&1
	grep -Eq '^  spans +2 added +0 already stored' "$work/killed.out" || fail "after a killed writer, into $db: $(grep spans "$work/killed.out")"
	"$bin" ingest --db "$db" "$work/killed.json" >"$work/killed.out" 2>&1
	grep -Eq '^  spans +0 added +2 already stored' "$work/killed.out" || fail "re-ingest after a killed writer, into $db: $(grep spans "$work/killed.out")"
done
[ "$(qk "SELECT count() FROM spans FINAL WHERE trace_id = unhex('$tid')")" = 2 ] || fail "the killed writer's spans are not in spans"
"$bin" trace --json "$tid" --db "$sq4" >"$work/a.json" 2>&1
"$bin" trace --json "$tid" --db "$ch4" >"$work/b.json" 2>&1
cmp -s "$work/a.json" "$work/b.json" || fail "a trace written again after a killed writer differs: $(diff "$work/a.json" "$work/b.json" | head -5)"

# ---- a schema 1 store (no span_keys) is read as it is and upgraded on the first write -------
q() { curl -sf "http://127.0.0.1:$http/?database=sonde_order" --data-binary "$1"; }
q "DROP TABLE span_keys" && q "DROP TABLE sonde_meta" &&
	q "CREATE TABLE sonde_meta (key String, value String) ENGINE = ReplacingMergeTree ORDER BY key" &&
	q "INSERT INTO sonde_meta VALUES ('schema_version', '1')" || fail "making a schema 1 store"
same_order traces --json --limit 10000
"$bin" ingest --db "$ch2" "$gen" >"$work/order.out" 2>&1
grep -Eq '^  spans +0 added +3000 already stored' "$work/order.out" ||
	fail "re-ingest into an upgraded store: $(cat "$work/order.out")"
[ "$(q "SELECT count() FROM span_keys")" = 6000 ] || fail "span_keys after the upgrade: $(q "SELECT count() FROM span_keys")"
"$bin" db info --json --db "$ch2" | grep -q '"schema_version":2' || fail "db info after the upgrade"

# ---- errors become sentences -----------------------------------------------------------------
"$bin" traces --json --db "clickhouse://127.0.0.1:$closed/x" >/dev/null 2>"$work/err"
rc=$?
[ "$rc" = 2 ] || fail "a port nothing listens on: exit $rc, expected 2"
grep -q "clickhouse://127.0.0.1:$closed/x" "$work/err" || fail "the error does not name the store: $(cat "$work/err")"
"$bin" traces --json --db "clickhouse://127.0.0.1:$http/bad-name" >/dev/null 2>"$work/err"
grep -q "database name" "$work/err" || fail "a bad database name: $(cat "$work/err")"
if "$bin" traces --json --db "clickhouse://127.0.0.1:$http/sonde_nothing" >/dev/null 2>"$work/err"; then
	fail "reading a database that does not exist succeeded"
fi
grep -q "no such store" "$work/err" || fail "a database that does not exist: $(cat "$work/err")"

if [ "$fails" != 0 ]; then
	echo "$fails failure(s)"
	exit 1
fi
echo "ok: clickhouse parity ($(echo "$ids" | wc -w) traces compared)"
