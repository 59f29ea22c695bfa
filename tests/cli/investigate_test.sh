#!/bin/bash
# investigate_test.sh - `sonde traces`, `trace`, `latency` and `queries` on telemetry
# ingested from real formats: OTLP JSON and protobuf made by the OpenTelemetry JS SDK
# (tests/interop/gen_otel.js), and Zipkin v2, Jaeger JSON and Chrome trace files
# (tests/cli/investigate_data/). Checks, through --json, that every span has the right
# parent, relation and duration, and that the critical path, N+1 calls and errors come out
# as worked by hand in the comments below.
#
# Run from the repository root with SONDE_BIN set (CTest does both). Skips (77) when
# `sonde ingest` is not built; the OTLP part skips when the JS SDK is not installed
# (npm ci --prefix tests/interop).
set -euo pipefail

bin=${SONDE_BIN:?SONDE_BIN must name the sonde executable}
data=tests/cli/investigate_data
command -v node >/dev/null || { echo "skip: node is not installed"; exit 77; }
"$bin" help | grep -q '^  ingest ' || { echo "skip: sonde ingest is not built"; exit 77; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# jcheck FILE DESCRIPTION EXPR: EXPR (JavaScript, with j = the parsed JSON of FILE and
# s(id) = the span with that id) must be true.
jcheck() {
	local file=$1 what=$2 expr=$3
	if ! node -e '
		const fs = require("fs");
		const j = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
		const s = (id) => (j.spans || []).find((x) => x.span_id === id) || {};
		const ok = (function () { return eval(process.argv[2]); })();
		if (!ok) process.exit(1);
	' "$file" "$expr"; then
		fail "$what: $expr"
	fi
}

db=$work/files.db
"$bin" ingest -q --db "$db" "$data/zipkin.json" "$data/jaeger.json" "$data/chrome.json" >/dev/null

# ---- Zipkin: a frontend call into a backend that queries the database five times ------
# Critical path, in ms from the root's start (root [0,100], get backend [10,70], handle
# [12,67], queries q1..q5 at [13,21] [23,31] [33,41] [43,51] [53,61]):
#   root: last child get backend ends 70 -> root [70,100]; get backend: handle ends 67 ->
#   [67,70]; handle: q5 ends 61 -> [61,67]; q5 [53,61]; back in handle before 53: q4 ->
#   [51,53], q4; [41,43], q3; [31,33], q2; [21,23], q1 [13,21]; handle [12,13];
#   get backend [10,12]; root [0,10]. In time order: root, get backend, handle, q1,
#   handle, q2, handle, q3, handle, q4, handle, q5, handle, get backend, root: 15 segments,
#   100 ms. (Absolute times in ns exceed 2^53, which JavaScript numbers cannot hold
#   exactly: the checks use durations and self times.)
z=463ac35c9f6413ad48485a3953bb6124
"$bin" trace --db "$db" "$z" --json >"$work/z.json"
jcheck "$work/z.json" "zipkin span count" 'j.span_count === 8 && j.trace_id === "'$z'"'
jcheck "$work/z.json" "zipkin parents" 's("a000000000000002").parent === "a000000000000001" &&
	s("a000000000000003").parent === "a000000000000002" && s("a000000000000001").parent === null &&
	["11","12","13","14","15"].every((k) => s("a0000000000000" + k).parent === "a000000000000003")'
jcheck "$work/z.json" "zipkin durations" 's("a000000000000001").duration_ns === 100e6 &&
	s("a000000000000002").duration_ns === 60e6 && s("a000000000000003").duration_ns === 55e6 &&
	s("a000000000000011").duration_ns === 8e6'
jcheck "$work/z.json" "zipkin self time" 's("a000000000000003").self_ns === 15e6'
jcheck "$work/z.json" "zipkin critical path" 'j.critical_path.total_ns === 100e6 &&
	j.critical_path.segments.map((g) => g.span_id.slice(14)).join() ===
		"01,02,03,11,03,12,03,13,03,14,03,15,03,02,01" &&
	j.critical_path.segments.map((g) => g.self_ns / 1e6).join() === "10,2,1,8,2,8,2,8,2,8,2,8,6,3,30" &&
	j.critical_path.segments.every((g, i, a) => i === 0 || a[i - 1].end_ns === g.start_ns)'
jcheck "$work/z.json" "zipkin N+1" 'j.nplus1.length === 1 && j.nplus1[0].count === 5 &&
	j.nplus1[0].statement === "SELECT * FROM items WHERE id = ?" &&
	j.nplus1[0].parent_span_id === "a000000000000003"'
jcheck "$work/z.json" "zipkin errors" 'j.errors.length === 1 && j.errors[0] === "a000000000000015"'
"$bin" trace --db "$db" "$z" --color=never >"$work/z.txt"
grep -q 'Repeated calls (N+1)' "$work/z.txt" || fail "trace text lacks the N+1 section"
grep -q 'SELECT \* FROM items WHERE id = ?' "$work/z.txt" || fail "trace text lacks the statement"
grep -q '^ get /api ' "$work/z.txt" || fail "trace text lacks the root row"

# ---- Jaeger: a FOLLOWS_FROM reference is a follows-from child, off the critical path --
# root [0,50] with load order [5,35]: root [35,50], load order [5,35], root [0,5] = 50 ms;
# audit [40,130] follows from the root and is left out, though it ends last.
jg=7b5c3e2a1d0f4b6a8c9d0e1f2a3b4c5d
"$bin" trace --db "$db" "$jg" --json >"$work/j.json"
jcheck "$work/j.json" "jaeger parents" 's("1000000000000002").parent === "1000000000000001" &&
	s("1000000000000002").relation === "child_of" &&
	s("1000000000000003").parent === "1000000000000001" && s("1000000000000003").relation === "follows_from"'
jcheck "$work/j.json" "jaeger durations" 's("1000000000000003").duration_ns === 90e6 &&
	s("1000000000000001").service === "orders-api" && s("1000000000000002").service === "orders-worker"'
jcheck "$work/j.json" "jaeger critical path" 'j.critical_path.total_ns === 50e6 &&
	j.critical_path.segments.map((g) => g.span_id).join() === "1000000000000001,1000000000000002,1000000000000001" &&
	s("1000000000000003").critical_ns === 0'

# ---- Chrome: nesting on one thread gives the parents ------------------------------------
# train_step [1,6] ms, forward [1.1,3.1], backward [3.2,5.7]: train_step [5.7,6],
# backward, train_step [3.1,3.2], forward, train_step [1,1.1] = 5 ms.
"$bin" traces --db "$db" --json --limit 100 >"$work/list.json"
jcheck "$work/list.json" "traces lists all three" 'j.traces.length === 3'
ct=$(node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
	console.log(j.traces.find((t) => t.root_operation === "train_step").trace_id)' "$work/list.json")
"$bin" trace --db "$db" "$ct" --json >"$work/c.json"
jcheck "$work/c.json" "chrome parents and durations" '(() => {
	const by = (n) => j.spans.find((x) => x.name === n);
	const st = by("train_step"), f = by("forward"), b = by("backward");
	return st.parent === null && f.parent === st.span_id && b.parent === st.span_id &&
		st.duration_ns === 5e6 && f.duration_ns === 2e6 && b.duration_ns === 2.5e6;
})()'
jcheck "$work/c.json" "chrome critical path" 'j.critical_path.total_ns === 5e6 && j.critical_path.segments.length === 5'
"$bin" trace --db "$db" "$ct" --color=never >"$work/c.txt"
head -1 "$work/c.txt" | grep -q "  3 spans, 1 service, 0 failed, 5ms," || fail "trace header: $(head -1 "$work/c.txt")"

# ---- traces: filters and sorting ---------------------------------------------------
"$bin" traces --db "$db" --json --sort duration >"$work/l2.json"
jcheck "$work/l2.json" "traces sorted by duration" 'j.traces[0].trace_id === "'$jg'" &&
	j.traces[0].duration_ns === 130e6 && j.traces[1].trace_id === "'$z'"'
"$bin" traces --db "$db" --json --error >"$work/l3.json"
jcheck "$work/l3.json" "traces --error" 'j.traces.length === 1 && j.traces[0].trace_id === "'$z'" &&
	j.traces[0].error_count === 1 && j.traces[0].span_count === 8'
"$bin" traces --db "$db" --json --service orders-worker >"$work/l4.json"
jcheck "$work/l4.json" "traces --service" 'j.traces.length === 1 && j.traces[0].root_service === "orders-api"'
"$bin" traces --db "$db" --json --min-duration 120ms >"$work/l5.json"
jcheck "$work/l5.json" "traces --min-duration" 'j.traces.length === 1 && j.traces[0].trace_id === "'$jg'"'
"$bin" traces --db "$db" --json --attr db.system=postgresql >"$work/l6.json"
jcheck "$work/l6.json" "traces --attr" 'j.traces.length === 1 && j.traces[0].trace_id === "'$z'"'
# The Zipkin and Jaeger traces are at 2023-11-14T22:13:20Z and 22:15:00Z.
"$bin" traces --db "$db" --json --since 2023-11-14T22:14:00Z >"$work/l7.json"
jcheck "$work/l7.json" "traces --since absolute" 'j.traces.length === 1 && j.traces[0].trace_id === "'$jg'"'
"$bin" traces --db "$db" --json --at-data --since 1m >"$work/l8.json"
jcheck "$work/l8.json" "traces --at-data --since 1m" 'j.traces.length === 1 && j.traces[0].trace_id === "'$jg'"'
"$bin" traces --db "$db" --color=never >"$work/l.txt"
grep -q "^TRACE  *START  *DURATION" "$work/l.txt" || fail "traces table header"

# ---- latency ---------------------------------------------------------------------------
"$bin" latency --db "$db" --json >"$work/lat.json"
jcheck "$work/lat.json" "latency by service" '(() => {
	const b = j.groups.find((g) => g.key === "backend");
	return b.count === 6 && b.errors === 1 && b.max_ns === 55e6 && b.p50_ns === 8e6 && b.exact === true;
})()'
jcheck "$work/lat.json" "latency top operations" 'j.operations[0].operation === "get /api" &&
	j.operations[0].sum_ns === 100e6 && j.operations.some((o) => o.operation === "query" && o.sum_ns === 40e6)'
jcheck "$work/lat.json" "downstream" 'j.downstream.some((d) => d.service === "backend" && d.calls === "postgresql" &&
	d.count === 5) && j.downstream.some((d) => d.service === "frontend" && d.calls === "backend")'
"$bin" latency --db "$db" --by operation --service backend --json >"$work/lat2.json"
jcheck "$work/lat2.json" "latency by operation" 'j.groups.length === 2 &&
	j.groups[0].operation === "query" && j.groups[0].count === 5'
"$bin" latency --db "$db" --color=never >"$work/lat.txt"
grep -q "P99.9" "$work/lat.txt" || fail "latency table header"

# ---- queries ---------------------------------------------------------------------------
"$bin" queries --db "$db" --json --slow 8ms >"$work/q.json"
jcheck "$work/q.json" "queries" 'j.statements.length === 1 && j.statements[0].count === 5 &&
	j.statements[0].statement === "SELECT * FROM items WHERE id = ?" && j.statements[0].errors === 1 &&
	j.statements[0].nplus1_parents === 1 && j.statements[0].nplus1_max === 5 && j.slow.length === 5'
set +e
"$bin" queries --db "$db" --fail-on-nplus1 >/dev/null
rc=$?
set -e
[ "$rc" = 1 ] || fail "queries --fail-on-nplus1 exits $rc, expected 1"

# ---- usage errors exit 2 with a message --------------------------------------------------
for args in "trace --db $db nothex" "trace --db $db ffffffffffffffffffffffffffffffff" \
	"traces --db $db --since yesterday" "latency --db $db --min-duration fast" \
	"traces --db $work/none.db" "queries --db $db --nplus1 1"; do
	set +e
	# shellcheck disable=SC2086
	"$bin" $args >/dev/null 2>"$work/err"
	rc=$?
	set -e
	[ "$rc" = 2 ] || fail "sonde $args exits $rc, expected 2"
	grep -q "^sonde " "$work/err" || fail "sonde $args says nothing on stderr"
done

# ---- OTLP from the OpenTelemetry JS SDK, as JSON and as protobuf ----------------------------
if [ -d tests/interop/node_modules/@opentelemetry ]; then
	node tests/interop/gen_otel.js "$work/otel" >/dev/null
	for f in json pb; do
		"$bin" ingest -q --db "$work/otel-$f.db" "$work/otel/traces.$f" >/dev/null
		# Trace 1: GET /checkout [0.123456789 s, 1.987654321 s] SERVER root, POST /payment
		# [0.25, 0.899999999] CLIENT child, compute [0.26, 0.260000001] under it, orders
		# publish [0.95, 0.9505] PRODUCER under the root.
		"$bin" trace --db "$work/otel-$f.db" 0af7651916cd43dd8448eb211c80319c --json >"$work/o.json"
		jcheck "$work/o.json" "otlp $f parents" 's("b7ad6b7169203331").parent === null &&
			s("00f067aa0ba902b7").parent === "b7ad6b7169203331" &&
			s("8000000000000000").parent === "00f067aa0ba902b7" &&
			s("0000000000000001").parent === "b7ad6b7169203331"'
		jcheck "$work/o.json" "otlp $f durations" 's("b7ad6b7169203331").duration_ns === 1864197532 &&
			s("00f067aa0ba902b7").duration_ns === 649999999 && s("8000000000000000").duration_ns === 1 &&
			s("0000000000000001").duration_ns === 500000'
		jcheck "$work/o.json" "otlp $f status and exception" 's("b7ad6b7169203331").status === "error" &&
			s("b7ad6b7169203331").exception.type === "PaymentError"'
		jcheck "$work/o.json" "otlp $f critical path" 'j.critical_path.total_ns === 1864197532 &&
			j.critical_path.segments.map((g) => g.span_id).join() ===
			"b7ad6b7169203331,00f067aa0ba902b7,8000000000000000,00f067aa0ba902b7,b7ad6b7169203331,0000000000000001,b7ad6b7169203331"'
	done
else
	echo "note: OTLP part skipped; npm ci --prefix tests/interop installs the JS SDK" >&2
fi

if [ "$fails" -gt 0 ]; then
	echo "$fails check(s) failed" >&2
	exit 1
fi
echo "investigate: all checks passed"
