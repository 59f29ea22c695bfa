#!/usr/bin/env bash
# logs_templates_test.sh - `sonde logs templates` as a user meets it: a small log with
# known templates (table, --json, --top, a given header and auto), CRLF line endings and
# standard input, --per-line for every line, and bad input (missing file, binary data,
# bad header format, bad options) refused with exit 2 and a message naming it.
#
# Run by CTest from the repo root with SONDE_BIN set.
set -uo pipefail
sonde=${SONDE_BIN:?SONDE_BIN not set}
src=${SONDE_SRC:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$src/tests/lib/check.sh"

# expect NAME WANT GOT
log=$tmp/app.log
cat >"$log" <<'EOF'
2024-05-01 12:00:00,001 INFO [main] api.Server: Listening on 0.0.0.0:8080
2024-05-01 12:00:01,002 INFO [pool-1] api.Handler: GET /users/17 took 12ms status 200
2024-05-01 12:00:01,102 INFO [pool-2] api.Handler: GET /users/4242 took 8ms status 200
2024-05-01 12:00:02,003 WARN [pool-1] db.Pool: connection to 10.0.0.5:5432 lost after 3 retries
2024-05-01 12:00:03,004 INFO [pool-3] api.Handler: GET /orders/9 took 140ms status 500
2024-05-01 12:00:04,005 WARN [pool-2] db.Pool: connection to 10.0.0.6:5432 lost after 5 retries
2024-05-01 12:00:05,006 ERROR [pool-1] api.Handler: request 123e4567-e89b-12d3-a456-426614174000 failed for user alice@example.com
2024-05-01 12:00:06,007 ERROR [pool-4] api.Handler: request 9f8e7d6c-e89b-12d3-a456-426614174000 failed for user bob@example.com
2024-05-01 12:00:07,008 INFO [main] api.Server: Shutting down
EOF

# The table: four templates, counts, the messages without their headers.
expect_exit "table" 0 "" "$sonde" logs templates "$log"
cp "$tmp/out" "$tmp/table"
has "$tmp/table" '^[0-9a-f]{16} +3 +GET <PATH> took <DUR> status <NUM> +GET /users/17' "handler template"
has "$tmp/table" '^[0-9a-f]{16} +2 +connection to <IP> lost after <NUM> retries' "pool template"
has "$tmp/table" '^[0-9a-f]{16} +2 +request <UUID> failed for user <EMAIL>' "error template"
has "$tmp/table" '^[0-9a-f]{16} +1 +Listening on <IP>' "listen template"
has "$tmp/table" '^[0-9a-f]{16} +1 +Shutting down' "shutdown template"
has "$tmp/table" '^9 lines, 5 templates' "summary"

# The same with the header given as a format, and with CRLF line endings on stdin.
expect_exit "given header" 0 "" "$sonde" logs templates \
	--header '<Date> <Time> <Level> [<Thread>] <Component>: <Content>' "$log"
expect "given header = auto" "$(cat "$tmp/table")" "$(cat "$tmp/out")"
sed 's/$/\r/' "$log" >"$tmp/crlf.log"
"$sonde" logs templates - <"$tmp/crlf.log" >"$tmp/out" 2>"$tmp/err"
expect "stdin crlf exit" 0 $?
expect "crlf = lf" "$(cat "$tmp/table")" "$(cat "$tmp/out")"

# --top and --json.
expect_exit "top" 0 "" "$sonde" logs templates --top 2 "$log"
expect "top rows" 2 "$(grep -c '^[0-9a-f]\{16\} ' "$tmp/out")"
has "$tmp/out" 'use --top to see more' "top hint"
expect_exit "json" 0 "" "$sonde" logs templates --json "$log"
has "$tmp/out" '"template_count": 5' "json count"
has "$tmp/out" '"template": "GET <PATH> took <DUR> status <NUM>"' "json template"
has "$tmp/out" '"template_star": "GET <\*> took <\*> status <\*>"' "json star"
has "$tmp/out" '"alice@example.com"' "json sample value"
if command -v /usr/bin/python3 >/dev/null; then
	/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert sum(t["count"] for t in d["templates"]) == 9' \
		"$tmp/out" && ok || bad "json: not valid or counts do not add up"
fi

# --per-line: one JSON line per input line, with the same template id for the same event.
expect_exit "per-line" 0 "" "$sonde" logs templates --per-line "$log"
expect "per-line lines" 9 "$(wc -l <"$tmp/out")"
has "$tmp/out" '^\{"line":1,"template_id":"[0-9a-f]{16}","template":"Listening on <IP>"\}$' "per-line first"
id2=$(sed -n 2p "$tmp/out" | sed 's/.*"template_id":"\([0-9a-f]*\)".*/\1/')
id3=$(sed -n 3p "$tmp/out" | sed 's/.*"template_id":"\([0-9a-f]*\)".*/\1/')
id5=$(sed -n 5p "$tmp/out" | sed 's/.*"template_id":"\([0-9a-f]*\)".*/\1/')
id4=$(sed -n 4p "$tmp/out" | sed 's/.*"template_id":"\([0-9a-f]*\)".*/\1/')
expect "per-line same event" "$id2" "$id3"
expect "per-line same event later" "$id2" "$id5"
[ "$id2" != "$id4" ] && ok || bad "per-line: different events share id $id2"
# ids are stable: the table shows the same id
grep -q "^$id2 " "$tmp/table" && ok || bad "per-line id $id2 not in the table"
# two files: the file name is on each line
expect_exit "per-line two files" 0 "" "$sonde" logs templates --per-line "$log" "$tmp/crlf.log"
expect "per-line two files lines" 18 "$(wc -l <"$tmp/out")"
has "$tmp/out" '"file":".*crlf.log","line":9,' "per-line file name"

# Bad input: exit 2 and a message that names the problem.
expect_exit "missing file" 2 "nonexistent.log: No such file" "$sonde" logs templates "$tmp/nonexistent.log"
printf 'text\0\1\2binary' >"$tmp/bin.log"
expect_exit "binary" 2 "bin.log: offset 4: binary data" "$sonde" logs templates "$tmp/bin.log"
for i in $(seq 200); do printf 'x\xff\xfe\x80\x81\xc3\x28\x01\x02 \x9f\n'; done >"$tmp/bin2.log"
expect_exit "binary without NUL" 2 "bin2.log: offset 0: binary data" "$sonde" logs templates "$tmp/bin2.log"
printf 'caf\xc3\xa9 opened \xe2\x9c\x93 7\n' >"$tmp/utf8.log"
expect_exit "utf-8 is text" 0 "" "$sonde" logs templates "$tmp/utf8.log"
expect_exit "bad header" 2 "header.*Content" "$sonde" logs templates --header '<Date> <Time>' "$log"
expect_exit "no file" 2 "expected one or more log files" "$sonde" logs templates
expect_exit "bad top" 2 "--top" "$sonde" logs templates --top x "$log"
expect_exit "bad subcommand" 2 "unknown subcommand" "$sonde" logs frobnicate
expect_exit "help" 0 "" "$sonde" logs templates --help

echo "logs_templates_test: $pass passed, $fail failed"
[ "$fail" = 0 ]
