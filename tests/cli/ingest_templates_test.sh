#!/usr/bin/env bash
# ingest_templates_test.sh - log templates at ingest: every log record gets the id of
# its message's template, stored with it; a second ingest loads the stored templates, so
# its lines (other values, same shapes) get the same ids; re-ingesting changes no count;
# --no-templates stores none; a store of schema version 3 is upgraded with its records.
#
# Run by CTest from the repo root with SONDE_BIN set.
set -uo pipefail
sonde=${SONDE_BIN:?SONDE_BIN not set}
command -v sqlite3 >/dev/null || exit 77
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "${SONDE_SRC:-.}/tests/lib/check.sh"
db=$tmp/t.db
q() { sqlite3 "$db" "$1"; }

# Two files: the same three shapes with other values (and one line only the second has).
for i in 1 2 3 4; do
	echo "{\"ts\":\"2024-03-01T10:00:0$i.000Z\",\"level\":\"info\",\"msg\":\"user alice$i logged in from 10.0.0.$i\"}"
	echo "{\"ts\":\"2024-03-01T10:00:0$i.500Z\",\"level\":\"error\",\"msg\":\"connection to db-$i timed out after ${i}00 ms\"}"
	echo "{\"ts\":\"2024-03-01T10:00:0$i.700Z\",\"level\":\"warn\",\"msg\":\"cache miss for key k$i$i$i\"}"
done >"$tmp/a.jsonl"
for i in 5 6; do
	echo "{\"ts\":\"2024-03-01T10:00:0$i.000Z\",\"level\":\"info\",\"msg\":\"user bob$i logged in from 10.1.0.$i\"}"
	echo "{\"ts\":\"2024-03-01T10:00:0$i.500Z\",\"level\":\"error\",\"msg\":\"connection to db-$i timed out after ${i}50 ms\"}"
	echo "{\"ts\":\"2024-03-01T10:00:0$i.700Z\",\"level\":\"info\",\"msg\":\"shutting down\"}"
done >"$tmp/b.jsonl"

"$sonde" ingest -q --db "$db" "$tmp/a.jsonl" >/dev/null 2>"$tmp/err"
expect "first ingest exit" 0 $?
expect "every record has a template" 0 "$(q 'SELECT count(*) FROM logs WHERE template_id IS NULL')"
expect "three templates" 3 "$(q 'SELECT count(*) FROM templates')"
expect "one id per shape" 3 "$(q 'SELECT count(DISTINCT template_id) FROM logs')"
expect "template text" "connection to db-<NUM> timed out after <NUM> ms|4" \
	"$(q "SELECT text, count FROM templates WHERE text LIKE 'connection%'")"
expect "counts match the records" 12 "$(q 'SELECT sum(count) FROM templates')"
expect "ids are the stored templates" 12 \
	"$(q 'SELECT count(*) FROM logs l JOIN templates t ON t.id = l.template_id')"
user_id=$(q "SELECT template_id FROM logs WHERE body LIKE 'user alice1 %'")
conn_id=$(q "SELECT template_id FROM logs WHERE body LIKE 'connection to db-1 %'")

"$sonde" ingest -q --db "$db" "$tmp/b.jsonl" >/dev/null 2>"$tmp/err"
expect "second ingest exit" 0 $?
expect "later user lines match the earlier template" "$user_id" \
	"$(q "SELECT DISTINCT template_id FROM logs WHERE body LIKE 'user bob%'")"
expect "later connection lines match the earlier template" "$conn_id" \
	"$(q "SELECT DISTINCT template_id FROM logs WHERE body LIKE 'connection to db-5 %' OR body LIKE 'connection to db-6 %'")"
expect "a new shape gets a new template" 4 "$(q 'SELECT count(*) FROM templates')"
expect "counts after the second ingest" 18 "$(q 'SELECT sum(count) FROM templates')"
expect "first and last seen" "1709287201000000000|1709287206000000000" \
	"$(q "SELECT first_ns, last_ns FROM templates WHERE id = $user_id")"

"$sonde" ingest -q --db "$db" "$tmp/a.jsonl" "$tmp/b.jsonl" >/dev/null 2>"$tmp/err"
expect "re-ingest exit" 0 $?
expect "re-ingest changes no count" 18 "$(q 'SELECT sum(count) FROM templates')"
expect "re-ingest adds no record" 18 "$(q 'SELECT count(*) FROM logs')"

# --no-templates: records without template, no template rows.
db2=$tmp/n.db
"$sonde" ingest -q --no-templates --db "$db2" "$tmp/a.jsonl" >/dev/null 2>"$tmp/err"
expect "--no-templates exit" 0 $?
expect "--no-templates: no template ids" 0 "$(sqlite3 "$db2" 'SELECT count(*) FROM logs WHERE template_id IS NOT NULL')"
expect "--no-templates: no templates" 0 "$(sqlite3 "$db2" 'SELECT count(*) FROM templates')"

# Text logs, and a version 3 store upgraded in place: its records stay (without template).
db3=$tmp/v3.db
cp "$db2" "$db3"
sqlite3 "$db3" 'DROP TABLE templates; ALTER TABLE logs DROP COLUMN template_id; PRAGMA user_version = 3;'
printf '2024-03-01 10:00:07,001 ERROR [worker] job 17 failed: disk /dev/sda1 full\n2024-03-01 10:00:08,001 ERROR [worker] job 18 failed: disk /dev/sdb2 full\n' >"$tmp/w.log"
"$sonde" ingest -q --db "$db3" "$tmp/w.log" >/dev/null 2>"$tmp/err"
expect "v3 store ingest exit" 0 $?
expect "v3 store upgraded" 6 "$(sqlite3 "$db3" 'PRAGMA user_version')"
expect "v3 records kept" 12 "$(sqlite3 "$db3" 'SELECT count(*) FROM logs WHERE template_id IS NULL')"
expect "text lines share a template" "1|2" \
	"$(sqlite3 "$db3" 'SELECT count(DISTINCT template_id), count(*) FROM logs WHERE template_id IS NOT NULL')"
expect "integrity" ok "$(sqlite3 "$db3" 'PRAGMA integrity_check')"

# A big file (pipelined: read on one thread, stored on another) with a bad line in the
# middle: --strict stops there with file:line and exit 2, everything before it stored.
big=$tmp/big.jsonl
awk 'BEGIN { for (i = 1; i <= 60000; i++) if (i == 30001) print "{\"ts\": broken"; else printf "{\"ts\":%.0f,\"level\":\"info\",\"msg\":\"request %d done in %d ms\",\"service\":\"big\"}\n", 1700000000000 + i, i, i % 700 }' >"$big"
db4=$tmp/big.db
"$sonde" ingest -q --strict --batch 1000 --db "$db4" "$big" >/dev/null 2>"$tmp/err"
expect "strict big file exit" 2 $?
grep -q "big.jsonl:30001:" "$tmp/err" && ok || bad "strict big file: no file:line in '$(cat "$tmp/err")'"
expect "strict big file: the lines before stored" 30000 "$(sqlite3 "$db4" 'SELECT count(*) FROM logs')"
expect "strict big file: one template" "1|30000" "$(sqlite3 "$db4" 'SELECT count(*), sum(count) FROM templates')"
"$sonde" ingest -q --batch 1000 --db "$db4" "$big" >/dev/null 2>"$tmp/err"
expect "big file without --strict exit" 0 $?
expect "big file: every good line, once" 59999 "$(sqlite3 "$db4" 'SELECT count(*) FROM logs')"
expect "big file: template counts" 59999 "$(sqlite3 "$db4" 'SELECT sum(count) FROM templates')"

echo "ingest_templates_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
