#!/usr/bin/env bash
# report_cli_test.sh - `sonde report` as a command: usage errors exit 2, a report of a
# small store to a file and to standard output, --postmortem FILE rendered (escaped), and,
# when this sonde has `sonde incident`, --incident with its generated post-mortem and an
# unknown incident refused.
set -euo pipefail
sonde=${SONDE_BIN:?SONDE_BIN must name the sonde executable}
tmp=$(mktemp -d /tmp/sonde-report-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "report_cli_test: FAIL: $*" >&2
	exit 1
}
expect_exit() {
	local want=$1
	shift
	set +e
	"$@" >"$tmp/stdout" 2>"$tmp/stderr"
	local got=$?
	set -e
	[ "$got" -eq "$want" ] || fail "exit $got (wanted $want): $* : $(cat "$tmp/stderr")"
}

now=$(date +%s)
start="${now}000000000"
end="${now}250000000"
cat >"$tmp/t.json" <<EOF
{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web"}}]},
"scopeSpans":[{"scope":{"name":"t"},"spans":[
{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"GET /x <i>y</i>","kind":2,
 "startTimeUnixNano":"$start","endTimeUnixNano":"$end","status":{"code":2,"message":"boom"}}]}]}]}
EOF
db="$tmp/s.db"
"$sonde" ingest --db "$db" "$tmp/t.json" >/dev/null 2>&1 || fail "ingest"

expect_exit 2 "$sonde" report --db "$db"
grep -q 'no output file' "$tmp/stderr" || fail "no message for a missing -o"
expect_exit 2 "$sonde" report --db "$db" --slowest 0 -o "$tmp/r.html"
expect_exit 2 "$sonde" report --db "$tmp/none.db" -o "$tmp/r.html"
expect_exit 2 "$sonde" report --db "$db" --profile "$tmp/missing.folded" -o "$tmp/r.html"
expect_exit 2 "$sonde" report --db "$db" extra -o "$tmp/r.html"

expect_exit 0 "$sonde" report --db "$db" -o "$tmp/r.html"
grep -q 'wrote' "$tmp/stderr" || fail "no note of the file written"
grep -q '<section id="traces">' "$tmp/r.html" || fail "no traces section"
grep -q 'GET /x &lt;i&gt;y&lt;/i&gt;' "$tmp/r.html" || fail "span name not escaped"
grep -q '<i>y' "$tmp/r.html" && fail "span name became markup"
grep -q '<section id="postmortem">' "$tmp/r.html" && fail "a post-mortem section without an incident"

expect_exit 0 "$sonde" report --db "$db" -o -
grep -q '</html>' "$tmp/stdout" || fail "-o - did not write the page to standard output"

printf '# Review\n\n- **fast** fix\n- <script>alert(1)</script>\n' >"$tmp/pm.md"
expect_exit 0 "$sonde" report --db "$db" --postmortem "$tmp/pm.md" -o "$tmp/pm.html"
grep -q '<h3>Review</h3>' "$tmp/pm.html" || fail "post-mortem heading not rendered"
grep -q '<li><strong>fast</strong> fix</li>' "$tmp/pm.html" || fail "post-mortem list not rendered"
grep -q '<li>&lt;script&gt;alert(1)&lt;/script&gt;</li>' "$tmp/pm.html" || fail "post-mortem not escaped"

if "$sonde" help 2>/dev/null | grep -q '^ *incident'; then
	id=$("$sonde" incident new 'checkout <b>down</b>' --severity HIGH --db "$db" 2>/dev/null) ||
		fail "sonde incident new"
	expect_exit 0 "$sonde" report --db "$db" --incident "$id" -o "$tmp/inc.html"
	grep -q '<section id="postmortem">' "$tmp/inc.html" || fail "no post-mortem section for $id"
	grep -q 'checkout &lt;b&gt;down&lt;/b&gt;' "$tmp/inc.html" || fail "incident title not escaped"
	grep -q 'No canary or compare verdict' "$tmp/inc.html" || fail "journal verdicts not read"
	expect_exit 2 "$sonde" report --db "$db" --incident INC-999 -o "$tmp/x.html"
	grep -q 'INC-999' "$tmp/stderr" || fail "unknown incident not named"
else
	echo "report_cli_test: sonde incident is not in this build: --incident not tested"
fi
echo "report_cli_test: ok"
