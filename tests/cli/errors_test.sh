#!/bin/bash
# errors_test.sh - `sonde errors` end to end: a JSON-lines log and an OTLP JSON trace file
# (tests/cli/errors_data/) go through `sonde ingest` into a temporary store, and
# `sonde errors --json` must find what the files were written to show:
#  - "payment N declined: card number invalid" from checkout, 6 times with 6 ids: one
#    group, input_validation, user alice on 4 of 6 (3 users: concentrated), route /pay;
#  - 3 Python tracebacks from inventory: one group "ValueError: ...", error frames
#    parse_qty (/app/stock.py) and handle (/app/server.py) common to them;
#  - 2 traces where inventory's span fails ("db timeout after N ms", at +1.5 s) before
#    checkout's ("inventory returned 503 ...", at +2 s): one cascade, inventory -> checkout
#    by onset, begun in inventory by both linked traces;
#  - "session N expired" from web: unknown, and input_validation with --rules team.rules;
#  - info and warn records are not errors: 13 log lines, 11 errors from logs, 4 spans.
# Then usage errors: a bad rules file names FILE:LINE and exits 2.
set -uo pipefail

bin=${SONDE_BIN:?SONDE_BIN must name the sonde executable}
data=tests/cli/errors_data
"$bin" help | grep -q '^  errors ' || { echo "skip: sonde errors is not built"; exit 77; }
py=/usr/bin/python3
[ -x $py ] || py=python3

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib/check.sh

db=$tmp/e.db
"$bin" ingest --db "$db" "$data/app.jsonl" "$data/spans.otlp.json" >"$tmp/ingest.out" 2>&1 ||
	bad "ingest failed: $(cat "$tmp/ingest.out")"

# jcheck FILE NAME EXPR: the Python expression EXPR, with j the parsed JSON of FILE and
# g(prefix) the group whose template starts with prefix, is true.
jcheck() {
	if ! $py - "$1" "$3" <<'EOF'; then
import json, sys
j = json.load(open(sys.argv[1]))
def g(prefix):
    m = [x for x in j["groups"] if x["template"].startswith(prefix)]
    return m[0] if len(m) == 1 else {}
sys.exit(0 if eval(sys.argv[2]) else 1)
EOF
		bad "$2: $3 (in $(head -c 600 "$1"))"
	else
		ok
	fi
}

"$bin" errors --db "$db" --json >"$tmp/all.json" 2>"$tmp/err" || bad "errors --json: exit $?: $(cat "$tmp/err")"
f=$tmp/all.json
jcheck $f totals 'j["total"] == 15 and j["logs"] == 11 and j["spans"] == 4 and j["groups_count"] == 5'
jcheck $f "payment group" 'g("payment")["template"] == "payment <NUM> declined: card number invalid" and g("payment")["count"] == 6'
jcheck $f "payment category" 'g("payment")["category"] == "input_validation" and g("payment")["rule"]["origin"] == "built-in"'
jcheck $f "payment users" 'g("payment")["users"]["concentrated"] and g("payment")["users"]["top"][0] == {"value": "alice", "count": 4} and g("payment")["users"]["distinct"] == 3'
jcheck $f "payment endpoint" 'g("payment")["endpoints"]["top"][0]["value"] == "/pay" and not g("payment")["endpoints"]["concentrated"]'
jcheck $f "payment services" 'g("payment")["services"] == ["checkout"] and g("payment")["first_ns"] == 1709287210000000000'
jcheck $f "most first" 'j["groups"][0]["template"].startswith("payment")'
jcheck $f "traceback group" 'g("ValueError")["count"] == 3 and g("ValueError")["stack"]["traces"] == 3 and g("ValueError")["stack"]["language"] == "python"'
jcheck $f "common frames" '[(x["function"], x["file"]) for x in g("ValueError")["stack"]["common_frames"]] == [("parse_qty", "/app/stock.py"), ("handle", "/app/server.py")]'
jcheck $f "span group" 'g("db timeout")["error_type"] == "TimeoutError" and g("db timeout")["spans"] == 2 and g("db timeout")["category"] == "infrastructure"'
jcheck $f "span hosts" 'g("db timeout")["hosts"]["top"][0]["value"] == "inventory-1"'
jcheck $f "one cascade" 'len(j["cascades"]) == 1'
jcheck $f "cascade order" 'j["cascades"][0]["services"] == ["inventory", "checkout"] and [x["template"] for x in j["cascades"][0]["groups"]] == ["db timeout after <NUM> ms", "inventory returned <NUM> for order <NUM>"]'
jcheck $f "cascade origin" 'j["cascades"][0]["origin_service"] == "inventory" and j["cascades"][0]["origin_by"] == "traces" and j["cascades"][0]["linked_traces"] == 2'
jcheck $f "session unknown" 'g("session")["category"] == "unknown" and g("session")["rule"] is None'
jcheck $f "window in seconds" 'j["overall"]["bucket_ns"] == 1000000000 and sum(j["overall"]["counts"]) == 15'

# A rules file extends the categories; --service narrows the records.
"$bin" errors --db "$db" --json --rules $data/team.rules >"$tmp/rules.json" 2>"$tmp/err" || bad "errors --rules: $(cat "$tmp/err")"
jcheck $tmp/rules.json "user rule" 'g("session")["category"] == "input_validation" and g("session")["rule"]["origin"] == "tests/cli/errors_data/team.rules:2"'
"$bin" errors --db "$db" --json --service web >"$tmp/web.json" 2>"$tmp/err" || bad "errors --service: $(cat "$tmp/err")"
jcheck $tmp/web.json "service filter" 'j["total"] == 2 and j["groups_count"] == 1'
"$bin" errors --db "$db" --json --since 2024-03-01T10:03:00Z --until 2024-03-01T10:05:00Z >"$tmp/win.json" 2>"$tmp/err" ||
	bad "errors window: $(cat "$tmp/err")"
jcheck $tmp/win.json "window" 'j["total"] == 3 and j["since_ns"] == 1709287380000000000'

# The readable report.
"$bin" errors --db "$db" --color never >"$tmp/text" 2>"$tmp/err" || bad "errors text: $(cat "$tmp/err")"
has "$tmp/text" '^15 errors \(11 log records, 4 spans\) in 5 groups' "text headline"
has "$tmp/text" '^#1  input_validation  6 errors' "text first group"
has "$tmp/text" 'users +alice 67%.*concentrated' "text concentration"
has "$tmp/text" 'parse_qty \(/app/stock.py:4[0-2]\)' "text frames"
has "$tmp/text" 'began in inventory \(first error in 2 traces' "text cascade"
# Errors over four months: a bucket of no name is a duration ("per 2h", not "per per 7200s").
for d in 2024-01-01 2024-01-15 2024-05-01 2024-05-15; do
	printf '%sT10:00:00Z ERROR payment failed: card declined\n' "$d"
done >"$tmp/days.log"
"$bin" ingest --db "$tmp/days.db" "$tmp/days.log" >/dev/null 2>&1
"$bin" errors --db "$tmp/days.db" --color never >"$tmp/days.txt" 2>"$tmp/err" || bad "errors over days: $(cat "$tmp/err")"
has "$tmp/days.txt" ' per ([0-9]+[dhm][0-9dhms]*|second|minute|hour|day)(;|$)' "rate per a bucket of days"
expect "rate says per once" 0 "$(grep -c 'per per' "$tmp/days.txt")"
"$bin" errors --db "$db" --limit 1 --color never >"$tmp/text1" 2>&1
has "$tmp/text1" '4 more groups' "text limit"

# Bad input.
expect_exit "bad rules" 2 'bad.rules:3: unknown category .infrastucture.' "$bin" errors --db "$db" --rules $data/bad.rules
expect_exit "missing rules" 2 'no-such.rules' "$bin" errors --db "$db" --rules "$tmp/no-such.rules"
expect_exit "bad window" 2 'cascade-window' "$bin" errors --db "$db" --cascade-window soon
expect_exit "bad option" 2 'unknown option' "$bin" errors --db "$db" --frobnicate
expect_exit "no store" 2 '' "$bin" errors --db "$tmp/none.db"

echo "errors_test: $pass passed, $fail failed"
[ "$fail" = 0 ]
