#!/bin/bash
# incident_test.sh - `sonde incident` and `sonde postmortem` end to end over a constructed
# store: two hours of checkout traffic (web -> payments) in which payments version 2.0,
# live from 10:05 to 10:20, fails every second charge, error logs, and a latency series
# with the same burst. A whole investigation is recorded with a fixed clock (SONDE_NOW);
# `incident show` and the post-mortem are compared with golden files
# (tests/golden/incident-show.txt, tests/golden/postmortem.md), then the guard rails and
# bad input are checked.
#
# After an intended change of output: SONDE_REGEN_GOLDEN=1 rewrites the golden files
# (review `git diff tests/golden` before committing).
#
# Run from the repository root with SONDE_BIN set (CTest does both).
set -uo pipefail

bin=${SONDE_BIN:?SONDE_BIN must name the sonde executable}
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$bin" help | grep -q '^  incident ' || { echo "skip: sonde incident is not built"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib/check.sh
src=$(pwd)

# Traces, OTLP JSON. Minute i (0..119) from 2024-05-01T09:00:00Z (1714554000): trace i is
# web "POST /checkout" (root, user-<i%3>) calling payments "charge"; trace 1000+i is web
# "GET /cart" at +30 s. Payments runs 1.9 before 10:05 (i < 65), 2.0 until 10:20 (i < 80),
# then 2.0.1; under 2.0 every even i fails in both spans.
awk 'BEGIN {
	t0 = 1714554000;
	printf "{\"resourceSpans\":[";
	# web
	printf "{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"web\"}},{\"key\":\"service.version\",\"value\":{\"stringValue\":\"1.4\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"t\"},\"spans\":[";
	for (i = 0; i < 120; i++) {
		bad = i >= 65 && i < 80 && i % 2 == 0;
		s = (t0 + 60 * i) * 1000000000;
		printf "%s{\"traceId\":\"%032x\",\"spanId\":\"%016x\",\"name\":\"POST /checkout\",\"kind\":2,\"startTimeUnixNano\":\"%.0f\",\"endTimeUnixNano\":\"%.0f\",\"attributes\":[{\"key\":\"http.route\",\"value\":{\"stringValue\":\"/checkout\"}},{\"key\":\"enduser.id\",\"value\":{\"stringValue\":\"user-%d\"}}],\"status\":{\"code\":%d}}", (i ? "," : ""), i + 1, 2 * i + 1, s, s + 150000000, i % 3, bad ? 2 : 1;
		s2 = s + 30000000000;
		printf ",{\"traceId\":\"%032x\",\"spanId\":\"%016x\",\"name\":\"GET /cart\",\"kind\":2,\"startTimeUnixNano\":\"%.0f\",\"endTimeUnixNano\":\"%.0f\",\"attributes\":[{\"key\":\"http.route\",\"value\":{\"stringValue\":\"/cart\"}}],\"status\":{\"code\":1}}", 1001 + i, 5000 + i, s2, s2 + 20000000;
	}
	printf "]}]}";
	# payments, one resource per version
	split("1.9 2.0 2.0.1", ver, " ");
	for (v = 1; v <= 3; v++) {
		printf ",{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"payments\"}},{\"key\":\"service.version\",\"value\":{\"stringValue\":\"%s\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"t\"},\"spans\":[", ver[v];
		first = 1;
		for (i = 0; i < 120; i++) {
			vi = i < 65 ? 1 : i < 80 ? 2 : 3;
			if (vi != v) continue;
			bad = v == 2 && i % 2 == 0;
			s = (t0 + 60 * i) * 1000000000 + 10000000;
			printf "%s{\"traceId\":\"%032x\",\"spanId\":\"%016x\",\"parentSpanId\":\"%016x\",\"name\":\"charge\",\"kind\":2,\"startTimeUnixNano\":\"%.0f\",\"endTimeUnixNano\":\"%.0f\",\"status\":{\"code\":%d%s}}", (first ? "" : ","), i + 1, 2 * i + 2, 2 * i + 1, s, s + (bad ? 120000000 : 80000000), bad ? 2 : 1, bad ? ",\"message\":\"vault pool timeout\"" : "";
			first = 0;
		}
		printf "]}]}";
	}
	printf "]}\n";
}' >"$tmp/traces.json"

cat >"$tmp/app.jsonl" <<'LOGS'
{"time":"2024-05-01T10:06:00.500Z","level":"error","msg":"charge 1066 failed: vault pool timeout after 100 ms","service":"payments"}
{"time":"2024-05-01T10:08:00.500Z","level":"error","msg":"charge 1068 failed: vault pool timeout after 100 ms","service":"payments"}
{"time":"2024-05-01T10:12:00.500Z","level":"error","msg":"charge 1072 failed: vault pool timeout after 100 ms","service":"payments"}
{"time":"2024-05-01T10:30:00Z","level":"info","msg":"pool size 50","service":"payments"}
LOGS

# p95 latency of payments every minute from 05:00 (300 points): flat with noise, high
# from 10:06 to 10:18.
awk 'BEGIN {
	print "timestamp,charge_p95_ms";
	for (i = 0; i < 360; i++) {
		h = sin(i * 12.9898) * 43758.5453; h -= int(h); if (h < 0) h += 1;
		v = 80 + 2 * (h - 0.5);
		if (i >= 306 && i <= 318) v = 400;
		printf "%d,%.3f\n", 1714539600 + 60 * i, v;
	}
}' >"$tmp/p95.csv"

db="$tmp/t.db"
"$bin" ingest --db "$db" "$tmp/traces.json" >/dev/null 2>"$tmp/err" || bad "ingest traces: $(cat "$tmp/err")"
"$bin" ingest --db "$db" --service payments "$tmp/app.jsonl" "$tmp/p95.csv" >/dev/null 2>"$tmp/err" ||
	bad "ingest logs: $(cat "$tmp/err")"

export USER=alice COLUMNS=120 NO_COLOR=1
unset SONDE_DB
# at TIME ARGS...: runs sonde incident ARGS with the clock at 2024-05-01TTIME:00Z.
at() {
	local t=$1 sub=$2
	shift 2
	SONDE_NOW="2024-05-01T$t:00Z" "$bin" incident "$sub" --db "$db" "$@"
}

expect_exit "new" 0 "" at 10:10 new "Checkout fails after the payments release" --severity HIGH
has "$tmp/out" '^INC-1$' "new prints the id"
expect_exit "repro" 0 "" at 10:12 repro INC-1 "POST /checkout with a saved card" --attempts 5 --reproduced 3
has "$tmp/out" '^INC-1 #1 repro$' "repro prints the entry"
expect_exit "evidence trace" 0 "" at 10:13 evidence INC-1 --trace 00000000000000000000000000000043
expect_exit "evidence query" 0 "" at 10:14 evidence INC-1 --query "traces --error --service payments --limit 3"
printf 'payments 2.0 rollout notes\npool size: 5\n' >"$tmp/notes.txt"
(cd "$tmp" && at 10:15 evidence INC-1 --file notes.txt >/dev/null 2>"$tmp/err") || bad "evidence file: $(cat "$tmp/err")"
expect_exit "evidence command" 0 "" at 10:16 evidence INC-1 --command printf 'deployed %s\n' payments-2.0
expect_exit "hypothesis 1" 0 "" at 10:17 hypothesis INC-1 the card vault is slow since 10:05
expect_exit "hypothesis 2" 0 "" at 10:18 hypothesis INC-1 "payments 2.0 opens too few vault connections"
expect_exit "verify 1" 0 "" at 10:20 verify INC-1 1 --test "vault p95 unchanged on its own dashboard" --held no
expect_exit "verify 2" 0 "" at 10:22 verify INC-1 2 --test "pool raised to 50 in staging: failures stop" --held yes
# Guard rail: a symptom is not a root cause.
expect_exit "symptom root cause" 1 "only describes symptoms \(timeout, errors\)" \
	at 10:23 root-cause INC-1 "timeout errors"
expect_exit "root cause = evidence" 1 "repeats a symptom" \
	at 10:23 root-cause INC-1 "Checkout fails after the payments release"
expect_exit "root cause" 0 "" at 10:24 root-cause INC-1 \
	"payments 2.0 shrank the vault connection pool from 50 to 5, so charges queued until they timed out"
expect_exit "fix" 0 "" at 10:26 fix INC-1 "payments 2.0.1 restores a pool of 50" \
	--verified-by "error rate back to 0% for 10 minutes"
expect_exit "action 1" 0 "" at 10:27 action INC-1 "alert on the payments error rate above 5%" \
	--owner carol --due 2024-05-08 --priority P1
expect_exit "action 2" 0 "" at 10:28 action INC-1 "a pool-size check in the release checklist" \
	--owner bob --due 2024-05-15 --priority P2 --status done
expect_exit "action 3" 0 "" at 10:28 action INC-1 "load-test payments before each release" \
	--owner alice --due 2024-05-10 --priority P0
expect_exit "note well" 0 "" at 10:29 note INC-1 "the first evidence was captured within 3 minutes" --tag went-well
expect_exit "note wrong" 0 "" at 10:29 note INC-1 "2.0 went to every host at once, without a canary" --tag went-wrong
expect_exit "note factor" 0 "" at 10:30 note INC-1 "the pool size is set in two places" --tag contributing
expect_exit "resolve" 0 "" at 10:40 resolve INC-1
has "$tmp/out" '^INC-1 resolved$' "resolve says so"

# golden NAME FILE: FILE equals tests/golden/NAME (or replaces it with SONDE_REGEN_GOLDEN=1).
golden() {
	local want="tests/golden/$1"
	if [ "${SONDE_REGEN_GOLDEN:-}" = 1 ]; then
		cp "$2" "$want"
		ok
	elif [ ! -f "$want" ]; then
		bad "$want is missing; run with SONDE_REGEN_GOLDEN=1"
	elif diff -u "$want" "$2" >"$tmp/diff"; then
		ok
	else
		bad "$1 differs from the golden file (SONDE_REGEN_GOLDEN=1 updates it):$(head -40 "$tmp/diff")"
	fi
}

expect_exit "show" 0 "" "$bin" incident show INC-1 --db "$db"
golden incident-show.txt "$tmp/out"
expect_exit "postmortem" 0 "" env SONDE_NOW=2024-05-01T10:45:00Z "$bin" postmortem INC-1 --db "$db" -o "$tmp/pm.md"
golden postmortem.md "$tmp/pm.md"

# The post-mortem's content, independently of the golden file.
has "$tmp/pm.md" '^# Post-mortem: INC-1 Checkout fails after the payments release$' "title"
has "$tmp/pm.md" 'From 2024-05-01 10:06:00Z to 2024-05-01 10:19:00Z \(13m 00s\), 7 of 26 requests failed \(26\.9%\) for 3 users on 1 endpoint' "summary impact"
has "$tmp/pm.md" '^\| /checkout \| 7 \| 13 \| 53\.8% \|$' "endpoint table"
has "$tmp/pm.md" 'First error: web: POST /checkout failed' "first error in the timeline"
has "$tmp/pm.md" '10:05:00Z \| Version change: payments runs version 2\.0 \(was 1\.9\)' "version change"
has "$tmp/pm.md" '10:20:00Z \| Version change: payments runs version 2\.0\.1 \(was 2\.0\)' "second version change"
has "$tmp/pm.md" 'Anomaly onset: charge\\_p95\\_ms of payments' "anomaly onset"
has "$tmp/pm.md" '10:19:00Z \| Recovery: error rate back to the baseline' "recovery"
has "$tmp/pm.md" 'Root cause found: payments 2\.0 shrank' "root cause in the timeline"
"$py" - "$tmp/pm.md" <<'PY' && ok || bad "action items are not in priority order"
import re, sys
rows = [l for l in open(sys.argv[1]) if re.match(r'^\| P[0-3] \|', l)]
assert [r.split('|')[1].strip() for r in rows] == ['P0', 'P1', 'P2'], rows
assert 'alice' in rows[0] and '2024-05-10' in rows[0] and 'done' in rows[2], rows
PY
"$py" - "$tmp/pm.md" <<'PY' && ok || bad "timeline is not in time order"
import re, sys
times = re.findall(r'^\| (2024-\S+ \S+) \|', open(sys.argv[1]).read(), re.M)
assert len(times) > 10 and times == sorted(times), times
PY

# JSON of show and list.
expect_exit "show json" 0 "" "$bin" incident show INC-1 --db "$db" --json
"$py" - "$tmp/out" <<'PY' && ok || bad "show --json: $(head -c 600 "$tmp/out")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j['id'] == 'INC-1' and j['status'] == 'resolved' and j['severity'] == 'HIGH', j
assert j['resolved'] == '2024-05-01T10:40:00.000Z' and j['checks'] == [], j
kinds = [e['kind'] for e in j['entries']]
assert kinds[:4] == ['repro', 'evidence', 'evidence', 'evidence'], kinds
ev = j['entries'][1]
assert ev['source'] == 'trace' and ev['detail']['trace_id'] == '00000000000000000000000000000043', ev
assert ev['detail']['spans'] == 2 and ev['detail']['failed_spans'] == 2, ev
q = j['entries'][2]['detail']
assert q['exit_status'] == 0 and 'payments' in q['output'], q
f = j['entries'][3]['detail']
assert f['content'] == 'payments 2.0 rollout notes\npool size: 5\n', f
c = j['entries'][4]['detail']
assert c['command'] == ['printf', 'deployed %s\\n', 'payments-2.0'] and c['output'] == 'deployed payments-2.0\n', c
v = [e for e in j['entries'] if e['kind'] == 'verify']
assert [(e['hypothesis'], e['detail']['held']) for e in v] == [(1, False), (2, True)], v
assert all(e['author'] == 'alice' for e in j['entries'])
PY
expect_exit "list json" 0 "" "$bin" incident list --db "$db" --json
"$py" -c 'import json,sys; j=json.load(open(sys.argv[1])); assert len(j)==1 and j[0]["entries"]==17, j' \
	"$tmp/out" && ok || bad "list --json: $(cat "$tmp/out")"

# Guard rails on a second incident: no verified hypothesis.
expect_exit "new 2" 0 "" at 11:00 new "search is slow" --severity low
expect_exit "resolve unverified" 1 "no hypothesis was verified" at 11:05 resolve INC-2
expect_exit "postmortem unverified" 1 "no hypothesis was verified" "$bin" postmortem INC-2 --db "$db"
has "$tmp/out" 'No hypothesis was verified' "the post-mortem says so"
expect_exit "postmortem --force" 0 "warning" "$bin" postmortem INC-2 --db "$db" --force
expect_exit "resolve --force" 0 "warning: INC-2" at 11:06 resolve INC-2 --force
expect_exit "forced root cause" 0 "recorded because of --force" at 11:07 root-cause INC-2 slow --force
expect_exit "show flags" 0 "" "$bin" incident show INC-2 --db "$db"
has "$tmp/out" 'flagged, recorded with --force' "show marks the forced entry"
has "$tmp/out" '! the root cause restates a symptom' "show lists the check"
expect_exit "list" 0 "" "$bin" incident list --db "$db"
has "$tmp/out" '^INC-2 +LOW +resolved +2024-05-01 11:00:00Z +1  search is slow$' "list row"

# Bad input: exit 2 with a message.
expect_exit "no sub-command" 2 "which sub-command" "$bin" incident --db "$db"
expect_exit "unknown sub-command" 2 "not a sub-command" "$bin" incident close INC-1 --db "$db"
expect_exit "bad severity" 2 "expected CRITICAL, HIGH, MEDIUM or LOW" "$bin" incident new x --severity urgent --db "$db"
expect_exit "no severity" 2 "needs --severity" "$bin" incident new x --db "$db"
expect_exit "bad id" 2 "not an incident id" "$bin" incident note INC-x hello --db "$db"
expect_exit "no such incident" 2 "no incident INC-9" "$bin" incident note INC-9 hello --db "$db"
expect_exit "no such trace" 2 "no trace 0000000000000000000000000000ffff" \
	"$bin" incident evidence INC-1 --trace 0000000000000000000000000000ffff --db "$db"
expect_exit "bad trace id" 2 "32 hex digits" "$bin" incident evidence INC-1 --trace xyz --db "$db"
expect_exit "two sources" 2 "exactly one of" "$bin" incident evidence INC-1 --file a --trace b --db "$db"
expect_exit "query verb" 2 "not a query verb" "$bin" incident evidence INC-1 --query "incident list" --db "$db"
expect_exit "query quote" 2 "balanced" "$bin" incident evidence INC-1 --query "traces 'x" --db "$db"
expect_exit "missing file" 2 "--file /nonexistent" "$bin" incident evidence INC-1 --file /nonexistent --db "$db"
expect_exit "missing command" 2 "cannot run no-such-command-xyz" \
	"$bin" incident evidence INC-1 --db "$db" --command no-such-command-xyz
expect_exit "reproduced > attempts" 2 "no more reproductions" \
	"$bin" incident repro INC-1 steps --attempts 2 --reproduced 3 --db "$db"
expect_exit "bad held" 2 "expected yes or no" "$bin" incident verify INC-1 1 --test t --held maybe --db "$db"
expect_exit "no hypothesis 7" 2 "no hypothesis 7" "$bin" incident verify INC-1 7 --test t --held yes --db "$db"
expect_exit "bad priority" 2 "P0, P1, P2 or P3" \
	"$bin" incident action INC-1 x --owner o --due 2024-01-01 --priority P5 --db "$db"
expect_exit "bad due" 2 "YYYY-MM-DD" "$bin" incident action INC-1 x --owner o --due tomorrow --priority P1 --db "$db"
expect_exit "bad tag" 2 "went-well, went-wrong or contributing" "$bin" incident note INC-1 x --tag lucky --db "$db"
expect_exit "option of another sub-command" 2 "does not take --held" "$bin" incident note INC-1 x --held yes --db "$db"
expect_exit "bad SONDE_NOW" 2 "SONDE_NOW 'soon'" env SONDE_NOW=soon "$bin" incident list --db "$db"
expect_exit "postmortem no id" 2 "which incident" "$bin" postmortem --db "$db"
expect_exit "postmortem unknown" 2 "no incident INC-5" "$bin" postmortem INC-5 --db "$db"
expect_exit "postmortem since after the end" 2 "window is empty.*2024-05-01 10:40:00Z.*give --until" \
	"$bin" postmortem INC-1 --since 2024-05-01T12:00:00Z --db "$db"
expect_exit "postmortem until before since" 2 "window is empty" \
	"$bin" postmortem INC-1 --since 2024-05-01T10:00:00Z --until 2024-05-01T09:00:00Z --db "$db"
expect_exit "postmortem bad since" 2 "--since 'yesterday'" "$bin" postmortem INC-1 --since yesterday --db "$db"
expect_exit "show on a missing store" 2 "no such store" "$bin" incident show INC-1 --db "$tmp/none.db"
expect_exit "note on a missing store" 2 "no such store" "$bin" incident note INC-1 x --db "$tmp/none.db"
[ ! -e "$tmp/none.db" ] && ok || bad "a note on a missing store created it"
# The store without any incident reads as empty.
"$bin" ingest --db "$tmp/empty.db" "$tmp/app.jsonl" >/dev/null 2>&1
expect_exit "list empty" 0 "" "$bin" incident list --db "$tmp/empty.db"
has "$tmp/out" '^no incidents' "empty list"

echo "incident_test: $pass passed, $fail failed"
[ "$fail" = 0 ]
