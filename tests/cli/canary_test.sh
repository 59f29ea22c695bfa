#!/usr/bin/env bash
# canary_test.sh - `sonde compare` and `sonde canary` end to end: exit codes 0/1/3, the
# evidence bundle (--preserve) reads back with `sonde ingest`, --on-fail runs only on fail
# and without a shell, bad selections exit 2 with a message.
set -u
SONDE=${SONDE_BIN:-build/sonde}
[ -x "$SONDE" ] || { echo "no sonde binary at $SONDE"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# gen VERSION N MEDIAN_MS ERROR_EVERY OUT: an OTLP JSON trace file of N server spans.
gen() {
	local ver=$1 n=$2 med=$3 errev=$4 out=$5 base=$6
	{
		printf '{"resourceSpans":[{"resource":{"attributes":['
		printf '{"key":"service.name","value":{"stringValue":"shop"}},'
		printf '{"key":"service.version","value":{"stringValue":"%s"}}]},' "$ver"
		printf '"scopeSpans":[{"spans":['
		local i
		for ((i = 0; i < n; i++)); do
			local start=$((base + i * 10000000))
			# durations: med ms plus a deterministic spread of 0..40%
			local dur=$((med * 1000000 + (i * 7919 % 100) * med * 4000))
			local status='{}'
			if ((errev > 0 && i % errev == 0)); then status='{"code":2}'; fi
			((i > 0)) && printf ','
			printf '{"traceId":"%032x","spanId":"%016x","name":"GET /checkout","kind":2,' \
				$((base / 1000000000 + i + 1)) $((i + 1))
			printf '"startTimeUnixNano":"%d","endTimeUnixNano":"%d","status":%s}' \
				"$start" $((start + dur)) "$status"
		done
		printf ']}]}]}\n'
	} >"$out"
}

gen 1 400 100 0 "$T/v1.json" 1700000000000000000
gen 2 400 100 0 "$T/v2same.json" 1700000100000000000
gen 2 400 140 0 "$T/v2slow.json" 1700000100000000000
gen 2 400 118 0 "$T/v2bit.json" 1700000100000000000
gen 2 400 100 5 "$T/v2err.json" 1700000200000000000

# compare: files as selections
"$SONDE" compare --baseline "$T/v1.json" --current "$T/v2same.json" >"$T/out" 2>"$T/err"
rc=$?; [ $rc -eq 0 ] || { cat "$T/out" "$T/err"; fail "compare identical: exit $rc, want 0"; }
"$SONDE" compare --baseline "$T/v1.json" --current "$T/v2slow.json" >"$T/out" 2>"$T/err"
rc=$?; [ $rc -eq 1 ] || { cat "$T/out" "$T/err"; fail "compare slow: exit $rc, want 1"; }
grep -q "regression" "$T/out" || fail "compare slow: no regression in the report"
"$SONDE" compare --baseline "$T/v1.json" --current "$T/v2slow.json" --json >"$T/out.json"
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["summary"]["regressions"]==1, d' \
	"$T/out.json" || fail "compare --json"

# a store with both versions: version selectors
DB="$T/s.db"
"$SONDE" ingest --db "$DB" "$T/v1.json" "$T/v2err.json" >/dev/null 2>&1 || fail "ingest"
"$SONDE" compare --db "$DB" --baseline version=1 --current version=2 >"$T/out" 2>&1
rc=$?; [ $rc -eq 1 ] || { cat "$T/out"; fail "compare version=1 version=2 (errors): exit $rc, want 1"; }

# canary: pass (0), fail (1), marginal (3)
"$SONDE" canary --baseline "$T/v1.json" --current "$T/v2same.json" >"$T/out" 2>&1
rc=$?; [ $rc -eq 0 ] || { cat "$T/out"; fail "canary identical: exit $rc, want 0"; }
grep -q "verdict: pass" "$T/out" || fail "canary identical: no pass verdict"
# p95 +18%, significant, under no threshold rule: half the tested metrics fail -> marginal
"$SONDE" canary --baseline "$T/v1.json" --current "$T/v2bit.json" --no-default-rules >"$T/out" 2>&1
rc=$?; [ $rc -eq 3 ] || { cat "$T/out"; fail "canary a bit slower: exit $rc, want 3 (marginal)"; }
# the same +40% with a breached rule on top: fail
"$SONDE" canary --baseline "$T/v1.json" --current "$T/v2slow.json" --no-default-rules \
	--rule 'p95.change>25%:medium' >"$T/out" 2>&1
rc=$?; [ $rc -eq 1 ] || { cat "$T/out"; fail "canary slow, medium rule: exit $rc, want 1 (fail)"; }
grep -q "rule p95.change>25%:medium breached" "$T/out" || fail "canary slow: the breached rule is not named"

# fail: the rollback command runs, directly, after the evidence is written
MARK="$T/rolled back"
"$SONDE" canary --db "$DB" --baseline version=1 --current version=2 --preserve "$T/evidence" \
	--on-fail /bin/sh -c 'test -f "$1/canary.json" && printf "%s" "$2" >"$3"' sh "$T/evidence" 'x;$(id)' "$MARK" \
	>"$T/out" 2>"$T/err"
rc=$?; [ $rc -eq 1 ] || { cat "$T/out" "$T/err"; fail "canary errors: exit $rc, want 1"; }
grep -q "verdict: fail" "$T/out" || fail "canary errors: no fail verdict"
[ -f "$MARK" ] || { cat "$T/err"; fail "--on-fail did not run, or ran before --preserve"; }
[ "$(cat "$MARK")" = 'x;$(id)' ] || fail "--on-fail argument was interpreted: $(cat "$MARK")"
grep -q "exited with status 0" "$T/err" || fail "--on-fail exit status not reported"
for f in traces.json canary.txt canary.json; do [ -s "$T/evidence/$f" ] || fail "--preserve: no $f"; done
"$SONDE" ingest --db "$T/back.db" "$T/evidence/traces.json" >/dev/null 2>&1 || fail "evidence does not ingest"
"$SONDE" db info --db "$T/back.db" 2>&1 | grep -Eq "spans[^0-9]*400" || fail "evidence: want 400 spans back"
"$SONDE" traces --db "$T/back.db" --attr service.version=1 --json 2>/dev/null | grep -q traceId &&
	fail "evidence holds baseline spans"

# the verdicts on the store went into its event journal, where post-mortems and reports find them
if command -v sqlite3 >/dev/null; then
	n=$(sqlite3 "$DB" "select count(*) from journal_events where kind='canary' and summary like '%fail%'")
	[ "$n" -ge 1 ] || fail "canary verdict not recorded in the journal"
	n=$(sqlite3 "$DB" "select count(*) from journal_events where kind='compare' and summary like '%1 regression%'")
	[ "$n" -ge 1 ] || fail "compare verdict not recorded in the journal"
fi
"$SONDE" report --db "$DB" --since 2000-01-01T00:00:00Z -o "$T/r.html" 2>/dev/null || fail "report"
grep -q "canary version=2 against version=1: fail" "$T/r.html" || fail "report does not show the canary verdict"
n=$(sqlite3 "$T/back.db" "select count(*) from sqlite_master where name='journal_events'" 2>/dev/null || echo 0)
[ "${n:-0}" = 0 ] || fail "a file selection wrote a journal"

# --on-fail does not run on pass; a command that does not exist is reported, not fatal
rm -f "$MARK"
"$SONDE" canary --baseline "$T/v1.json" --current "$T/v2same.json" --on-fail touch "$MARK" >/dev/null 2>&1
[ -e "$MARK" ] && fail "--on-fail ran on pass"
"$SONDE" canary --db "$DB" --baseline version=1 --current version=2 --on-fail "$T/no such command" \
	>/dev/null 2>"$T/err"
rc=$?; [ $rc -eq 1 ] || fail "canary with a missing rollback command: exit $rc, want 1"
grep -q "exited with status 127" "$T/err" || { cat "$T/err"; fail "missing rollback command not reported"; }

# bad selections and rules: exit 2 with a message
"$SONDE" compare --db "$DB" --baseline bogus --current version=2 >/dev/null 2>"$T/err"
rc=$?; [ $rc -eq 2 ] || fail "bad SEL: exit $rc, want 2"
grep -q "is not a selector" "$T/err" || { cat "$T/err"; fail "bad SEL: unclear message"; }
"$SONDE" canary --db "$DB" --baseline version=1 --current version=9 >/dev/null 2>"$T/err"
rc=$?; [ $rc -eq 2 ] || fail "empty SEL: exit $rc, want 2"
grep -q "selects no spans" "$T/err" || { cat "$T/err"; fail "empty SEL: unclear message"; }
"$SONDE" canary --db "$DB" --baseline last:zz --current version=2 >/dev/null 2>"$T/err"
rc=$?; [ $rc -eq 2 ] || fail "bad last: exit $rc, want 2"
echo '{"resourceSpans":[{' >"$T/bad.json"
"$SONDE" compare --baseline "$T/bad.json" --current "$T/v1.json" >/dev/null 2>"$T/err"
rc=$?; [ $rc -eq 2 ] || fail "bad file: exit $rc, want 2"
grep -q "bad.json" "$T/err" || { cat "$T/err"; fail "bad file: message does not name the file"; }
"$SONDE" canary --db "$DB" --baseline version=1 --current version=2 --rule 'latency>5%' >/dev/null 2>"$T/err"
rc=$?; [ $rc -eq 2 ] || fail "bad rule: exit $rc, want 2"
grep -q "unknown metric" "$T/err" || { cat "$T/err"; fail "bad rule: unclear message"; }
echo "canary_test: ok"
