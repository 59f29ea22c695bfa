#!/usr/bin/env bash
# ingest_test.sh - `sonde ingest` and `sonde db` as a user meets them: every format is
# detected and stored with its parentage and durations, re-ingesting adds nothing, bad
# records are skipped and named (or stop the ingest with --strict), SIGKILL mid-file
# leaves a store that opens and holds whole batches only, readers query while ingest
# writes, and prune deletes what is older.
#
# Run by CTest from the repo root with SONDE_BIN, SONDE_DATA, SONDE_SRC set. The
# OpenTelemetry JS SDK part runs when node and tests/interop/node_modules are there.
set -uo pipefail
sonde=${SONDE_BIN:?SONDE_BIN not set}
data=${SONDE_DATA:-../shared/data}
src=${SONDE_SRC:-.}
fix=$src/tests/data/ingest
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
. "$src/tests/lib/check.sh"
q() { sqlite3 "$db" "$1"; }
json_field() { # json_field FIELD < json: the number after "FIELD":
	sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}

db=$tmp/t.db

# --- Every trace format, detected from content -------------------------------------
"$sonde" ingest --db "$db" --json "$fix/zipkin.json" "$fix/jaeger.json" "$fix/chrome.json" >"$tmp/out" 2>"$tmp/err"
expect "ingest traces exit" 0 $?
expect "spans added" 8 "$(json_field spans_added <"$tmp/out")"
expect "zipkin parentage" "0000000000000001|2|120000000" \
	"$(q "select hex(parent_id), count(*), max(dur_ns) from spans where hex(trace_id) like '%5AF7183FB1D4CF5F' and parent_id is not null")"
expect "zipkin root duration" "250000000" "$(q "select dur_ns from spans where hex(span_id)='0000000000000001' and parent_id is null")"
expect "zipkin error span" "1" "$(q "select errors from traces where hex(trace_id) like '%5AF7183FB1D4CF5F'")"
expect "jaeger services" "gateway|HTTP GET|1" \
	"$(q "select s.s, n.s, t.has_root from traces t join strings s on s.id = t.root_service_id join strings n on n.id = t.root_name_id where hex(t.trace_id) = '5B8AA5A2D2C872E8321CF37308D69DF2'")"
expect "jaeger child" "051581BF3CB55C13|3000000" "$(q "select hex(parent_id), dur_ns from spans where hex(span_id) = '0000000000000002' and hex(trace_id) = '5B8AA5A2D2C872E8321CF37308D69DF2'")"
expect "chrome spans" "3" "$(q "select count(*) from spans s join strings n on n.id = s.name_id where n.s in ('step','forward','backward')")"
expect "chrome nesting" "1" "$(q "select count(*) from spans c join spans p on p.span_id = c.parent_id and p.trace_id = c.trace_id join strings n on n.id = p.name_id join strings m on m.id = c.name_id where n.s = 'step' and m.s = 'forward'")"

# Again: nothing new.
"$sonde" ingest --db "$db" --json "$fix/zipkin.json" "$fix/jaeger.json" "$fix/chrome.json" >"$tmp/out" 2>"$tmp/err"
expect "re-ingest adds nothing" "0 8" "$(json_field spans_added <"$tmp/out") $(json_field spans_present <"$tmp/out")"
expect "no duplicate spans" 8 "$(q "select count(*) from spans")"

# --- Logs and metrics ------------------------------------------------------------------
"$sonde" ingest --db "$db" --json "$fix/app.jsonl" "$fix/scrape.prom" "$fix/cpu.influx" \
	"$data/loghub2k/HDFS/HDFS_2k.log" "$data/loghub2k/Linux/Linux_2k.log" \
	"$data/nab/data/realKnownCause/nyc_taxi.csv" >"$tmp/out" 2>"$tmp/err"
expect "ingest logs exit" 0 $?
expect "logs added" 4003 "$(json_field logs_added <"$tmp/out")"
nyc=$(awk 'END { print NR - 1 }' "$data/nab/data/realKnownCause/nyc_taxi.csv")
expect "points added" $((nyc + 3 + 4)) "$(json_field points_added <"$tmp/out")"
expect "json log fields" "17|checkout|payment declined" \
	"$(q "select l.severity, s.s, l.body from logs l join strings s on s.id = l.service_id where l.body = 'payment declined'")"
expect "log carries trace" 2 "$(q "select count(*) from logs where hex(trace_id) like '5AF7183FB1D4CF5F%'")"
expect "hdfs service from file name" 2000 "$(q "select count(*) from logs l join strings s on s.id = l.service_id where s.s = 'HDFS_2k'")"
expect "hdfs lines timed" 0 "$(q "select count(*) from logs l join strings s on s.id = l.service_id where s.s = 'HDFS_2k' and time_ns = 0")"
expect "nab series" "$nyc" "$(q "select count(*) from points p join series m on m.id = p.series_id join strings s on s.id = m.service_id where s.s = 'nyc_taxi'")"
"$sonde" ingest --db "$db" --json "$data/loghub2k/HDFS/HDFS_2k.log" >"$tmp/out" 2>"$tmp/err"
expect "text logs again" "0 2000" "$(json_field logs_added <"$tmp/out") $(json_field logs_present <"$tmp/out")"
# The same file under another path (or a copy of it) holds the same records.
(cd "$data/loghub2k" && "$sonde" ingest --db "$db" --json HDFS/HDFS_2k.log) >"$tmp/out" 2>"$tmp/err"
expect "relative path: the same records" 0 "$(json_field logs_added <"$tmp/out")"
# Standard input, with a service name.
printf '2024-05-01T00:00:00Z INFO hello from stdin\n' | "$sonde" ingest --db "$db" --json --service stdin-app - >"$tmp/out" 2>"$tmp/err"
expect "stdin exit" 0 $?
expect "stdin logs" 1 "$(json_field logs_added <"$tmp/out")"
expect "stdin service" "stdin-app|9" "$(q "select s.s, l.severity from logs l join strings s on s.id = l.service_id where l.body like '%hello from stdin'")"
# The same export in another file (a copy, or another encoding) holds the same records.
cp "$fix/app.jsonl" "$tmp/copy.jsonl"
"$sonde" ingest --db "$db" --json "$tmp/copy.jsonl" >"$tmp/out" 2>"$tmp/err"
expect "a copy adds nothing" "0 3" "$(json_field logs_added <"$tmp/out") $(json_field logs_present <"$tmp/out")"

# --- A directory: its telemetry files stored, other files skipped and named ------------
mkdir -p "$tmp/dir"
cp "$fix/app.jsonl" "$fix/cpu.influx" "$tmp/dir/"
printf '<p align="center"> <a href="https://example.com">logo</a></p>\n\n# Notes\nThese are notes.\n' >"$tmp/dir/README.md"
printf 'EventId,EventTemplate\nE1,"<*> error(s) detected"\n' >"$tmp/dir/templates.csv"
"$sonde" ingest --db "$tmp/dir.db" --json "$tmp/dir/" >"$tmp/out" 2>"$tmp/err"
expect "directory: exit" 0 $?
expect "directory: records" "3 4 0" \
	"$(json_field logs_added <"$tmp/out") $(json_field points_added <"$tmp/out") $(json_field rejected <"$tmp/out")"
has "$tmp/err" "^sonde ingest: $tmp/dir/README.md: skipped, not a telemetry format" "directory: README skipped, named"
has "$tmp/err" "^sonde ingest: $tmp/dir/templates.csv: skipped, not a telemetry format" "directory: CSV of text skipped"

# --- Bad records ---------------------------------------------------------------------
"$sonde" ingest --db "$db" "$fix/bad.jsonl" >"$tmp/out" 2>"$tmp/err"
expect "bad records skipped: exit" 0 $?
grep -q "bad.jsonl:2: offset [0-9]*" "$tmp/err" && ok || bad "line 2 reported: $(cat "$tmp/err")"
grep -q "bad.jsonl:3: offset [0-9]*: field trace_id" "$tmp/err" && ok || bad "line 3 field reported: $(cat "$tmp/err")"
grep -Eq "rejected +2" "$tmp/out" && ok || bad "summary counts rejects: $(cat "$tmp/out")"
expect "good lines kept" 2 "$(q "select count(*) from logs where body in ('one','four')")"
"$sonde" ingest --db "$tmp/strict.db" --strict "$fix/bad.jsonl" >"$tmp/out" 2>"$tmp/err"
expect "strict exit" 2 $?
grep -q "bad.jsonl:2:" "$tmp/err" && ok || bad "strict names the line: $(cat "$tmp/err")"
printf '\001\002binary' >"$tmp/x.bin"
"$sonde" ingest --db "$db" "$tmp/x.bin" >"$tmp/out" 2>"$tmp/err"
expect "undetectable exit" 2 $?
grep -q "cannot tell the format" "$tmp/err" && ok || bad "undetectable message: $(cat "$tmp/err")"
"$sonde" ingest --db "$db" "$tmp/missing.json" >"$tmp/out" 2>"$tmp/err"
expect "missing file exit" 2 $?
"$sonde" ingest --db "$db" --format yaml "$fix/app.jsonl" >"$tmp/out" 2>"$tmp/err"
expect "unknown format exit" 2 $?
echo "this is not a database, just text that goes on for a while" >"$tmp/notdb.db"
"$sonde" db info --db "$tmp/notdb.db" >"$tmp/out" 2>"$tmp/err"
expect "not a store exit" 2 $?
grep -q "not a sonde store" "$tmp/err" && ok || bad "not a store message: $(cat "$tmp/err")"
SONDE_DB=$db "$sonde" db info --json >"$tmp/out" 2>"$tmp/err"
expect "SONDE_DB used" 8 "$(json_field spans <"$tmp/out")"

# --- OpenTelemetry JS SDK (OTLP JSON and protobuf) ------------------------------------
if command -v node >/dev/null 2>&1 && [ -d "$src/tests/interop/node_modules/@opentelemetry/otlp-transformer" ]; then
	node "$src/tests/interop/gen_otel.js" "$tmp/otel" >/dev/null 2>&1 || bad "gen_otel.js failed"
	want=$("$sonde" convert --to otlp-json "$tmp/otel/traces.json" 2>&1 >/dev/null | sed -n 's/.*: \([0-9]*\) spans.*/\1/p')
	"$sonde" ingest --db "$tmp/js.db" --json "$tmp/otel/traces.json" >"$tmp/out" 2>"$tmp/err"
	expect "js json spans" "$want" "$(json_field spans_added <"$tmp/out")"
	"$sonde" ingest --db "$tmp/js.db" --json "$tmp/otel/traces.pb" >"$tmp/out" 2>"$tmp/err"
	expect "js protobuf: the same spans" "0 $want" "$(json_field spans_added <"$tmp/out") $(json_field spans_present <"$tmp/out")"
	"$sonde" ingest --db "$tmp/js.db" --signal logs --json "$tmp/otel/logs.pb" >"$tmp/out" 2>"$tmp/err"
	expect "js protobuf logs exit" 0 $?
	"$sonde" ingest --db "$tmp/js.db" --json "$tmp/otel/logs.json" >"$tmp/out" 2>"$tmp/err"
	expect "js json logs: the same as protobuf" 0 "$(json_field logs_added <"$tmp/out")"
	db=$tmp/js.db
	want_orphans=1 # the consumer's parent is remote, in the SDK script
	expect "js client span duration" 649999999 "$(q "select s.dur_ns from spans s join strings n on n.id = s.name_id where n.s = 'POST /payment'")"
	expect "js client span parent" "1" "$(q "select count(*) from spans c join spans p on p.trace_id = c.trace_id and p.span_id = c.parent_id join strings n on n.id = c.name_id where n.s = 'POST /payment' and p.parent_id is null")"
	expect "js parentage" "$want_orphans" "$(q "select count(*) from spans c where c.parent_id is not null and not exists (select 1 from spans p where p.trace_id = c.trace_id and p.span_id = c.parent_id)")"
	db=$tmp/t.db
else
	echo "ingest_test: JS SDK part skipped (node or tests/interop/node_modules missing)"
fi

# --- SIGKILL mid-file, and readers during ingest ----------------------------------------
big=$tmp/big.jsonl
awk 'BEGIN { for (i = 0; i < 150000; i++) printf "{\"ts\":%.0f,\"level\":\"info\",\"msg\":\"request %d done\",\"service\":\"big\"}\n", 1700000000000 + i, i }' >"$big"
kdb=$tmp/kill.db
"$sonde" ingest --db "$kdb" --batch 1000 -q "$big" >/dev/null 2>&1 &
pid=$!
# Readers while it writes: each must open the store and read counts that never shrink.
last=0
readers_ok=1
for i in $(seq 1 30); do
	sleep 0.05
	[ -f "$kdb" ] || continue
	n=$("$sonde" db info --db "$kdb" --json 2>"$tmp/rerr" | json_field logs)
	if [ -z "$n" ]; then
		grep -q "not a sonde store\|no such" "$tmp/rerr" && { readers_ok=0; break; }
		continue
	fi
	[ "$n" -ge "$last" ] || readers_ok=0
	last=$n
	[ "$n" -gt 5000 ] && break
done
expect "readers during ingest" 1 "$readers_ok"
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
expect "integrity after SIGKILL" ok "$(sqlite3 "$kdb" 'PRAGMA integrity_check')"
"$sonde" db info --db "$kdb" --json >"$tmp/out" 2>"$tmp/err"
expect "store opens after SIGKILL" 0 $?
n=$(json_field logs <"$tmp/out")
[ -n "$n" ] && [ $((n % 1000)) -eq 0 ] && ok || bad "whole batches only: $n log records"
[ -n "$n" ] && [ "$n" -lt 150000 ] && ok || bad "killed mid-file: $n of 150000 stored"
"$sonde" ingest --db "$kdb" --batch 1000 --json -q "$big" >"$tmp/out" 2>"$tmp/err"
expect "resume adds the rest" "$((150000 - n)) $n" "$(json_field logs_added <"$tmp/out") $(json_field logs_present <"$tmp/out")"

# --- Prune -------------------------------------------------------------------------------
"$sonde" db prune --db "$db" --before 2023-11-14T22:13:21Z >"$tmp/out" 2>"$tmp/err"
expect "prune exit" 0 $?
# The Zipkin trace starts 2023-11-14T22:13:20Z: gone whole; the Jaeger one a second later stays.
expect "prune whole traces" "0 2" "$(q "select count(*) from spans where hex(trace_id) like '%5AF7183FB1D4CF5F'") $(q "select count(*) from spans where hex(trace_id) = '5B8AA5A2D2C872E8321CF37308D69DF2'")"
expect "prune logs" 0 "$(q "select count(*) from logs where time_ns < 1700000001000000000 and time_ns > 0")"
"$sonde" db prune --db "$db" >"$tmp/out" 2>"$tmp/err"
expect "prune without --before" 2 $?
"$sonde" db prune --db "$db" --before yesterday >"$tmp/out" 2>"$tmp/err"
expect "prune bad time" 2 $?
"$sonde" db prune --db "$tmp/none.db" --before 1d >"$tmp/out" 2>"$tmp/err"
expect "prune missing store" 2 $?
"$sonde" db info --db "$db" >"$tmp/out" 2>"$tmp/err"
grep -q "^spans " "$tmp/out" && ok || bad "db info table: $(cat "$tmp/out")"
"$sonde" db frobnicate --db "$db" >"$tmp/out" 2>"$tmp/err"
expect "db unknown command" 2 $?

echo "ingest_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
