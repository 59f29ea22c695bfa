#!/usr/bin/env bash
# cli_test.sh - the sonde command as a user meets it: help, version, exit codes, error
# messages that name file, line, offset and field, and convert round trips on real data.
set -uo pipefail
sonde=${SONDE_BIN:?SONDE_BIN not set}
data=${SONDE_DATA:-../shared/data}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

check() { # check NAME COMMAND... : the command must succeed
	local name=$1
	shift
	if "$@"; then
		pass=$((pass + 1))
	else
		echo "FAIL: $name" >&2
		fail=$((fail + 1))
	fi
}

# expect_exit NAME CODE STDERR_PATTERN COMMAND...
expect_exit() {
	local name=$1 code=$2 pattern=$3
	shift 3
	"$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	if [ "$rc" != "$code" ]; then
		echo "FAIL: $name: exit $rc, expected $code; stderr: $(head -3 "$tmp/err")" >&2
		fail=$((fail + 1))
	elif [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$tmp/err"; then
		echo "FAIL: $name: stderr does not match /$pattern/: $(head -3 "$tmp/err")" >&2
		fail=$((fail + 1))
	else
		pass=$((pass + 1))
	fi
}

# Help and version.
expect_exit "help" 0 "" "$sonde" help
check "help groups verbs by job" grep -q "Investigate telemetry" "$tmp/out"
check "help lists convert" grep -q "^  convert" "$tmp/out"
expect_exit "--version" 0 "" "$sonde" --version
check "version format" grep -Eq '^sonde [0-9]+\.[0-9]+\.[0-9]+$' "$tmp/out"
# libcurl and libmicrohttpd are loaded on first use (src/cli/lazy_libs.c), not at start-up:
# a libcurl or libmicrohttpd function the CLI calls that lazy_libs.c lacks puts them back.
if command -v readelf >/dev/null; then
	readelf -d "$sonde" >"$tmp/dyn"
	check "sonde lists its needed libraries" grep -q NEEDED "$tmp/dyn"
	check "sonde does not need libcurl or libmicrohttpd at start-up" \
		bash -c "! grep -E 'NEEDED.*(libcurl|libmicrohttpd)' '$tmp/dyn' >&2"
fi
expect_exit "no verb" 2 "" "$sonde"
expect_exit "unknown verb" 2 "not a sonde verb" "$sonde" frobnicate
expect_exit "verb --help" 0 "" "$sonde" convert --help
check "convert --help has examples" grep -q "examples:" "$tmp/out"
expect_exit "help VERB" 0 "" "$sonde" help convert
expect_exit "help unknown" 2 "not a sonde verb" "$sonde" help nothing

# Usage errors.
expect_exit "convert without --to" 2 "--to FORMAT is required" "$sonde" convert x.json
expect_exit "convert bad format" 2 "unknown format 'yaml'" "$sonde" convert --to yaml x.json
expect_exit "convert bad signal" 2 "--signal takes" "$sonde" convert --signal spans --to text x.json
expect_exit "convert bad option" 2 "unknown option" "$sonde" convert --bogus --to text x.json
expect_exit "convert missing file" 2 "nope.json: No such file" "$sonde" convert --to text "$tmp/nope.json"
expect_exit "convert to read-only format" 2 "can read jaeger but not write" "$sonde" convert --to jaeger x.json
expect_exit "list formats" 0 "" "$sonde" convert --list-formats
check "list formats names otlp-proto" grep -q "^otlp-proto" "$tmp/out"

# Bad input: file:line, offset and field named, exit 2.
printf '{"resourceSpans":[{"scopeSpans":[\n{"spans":[{"traceId":"xyz"}]}]}]}\n' >"$tmp/bad_id.json"
expect_exit "bad trace id" 2 "bad_id.json:2: offset [0-9]+: field .*traceId" "$sonde" convert --to text "$tmp/bad_id.json"
printf '{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a",}]}]}]}' >"$tmp/bad_json.json"
expect_exit "bad json" 2 "bad_json.json:1: offset [0-9]+" "$sonde" convert --to text "$tmp/bad_json.json"
printf 'http_requests_total{code="200"} 1\nhttp_requests_total{code="200} 2\n' >"$tmp/bad.prom"
expect_exit "bad exposition" 2 "bad.prom:2:" "$sonde" convert --from prom --to text "$tmp/bad.prom"
printf '\001\002\377binary\000junk' >"$tmp/random.bin"
expect_exit "undetectable" 2 "cannot tell the format" "$sonde" convert --to text "$tmp/random.bin"

# Round trips through every writer that has a reader, on the specification's examples.
for f in trace metrics logs events; do
	[ -f "$data/otlp-examples/$f.json" ] || continue
	sig=traces
	case $f in metrics) sig=metrics ;; logs | events) sig=logs ;; esac
	check "$f -> otlp-json" "$sonde" convert --to otlp-json -o "$tmp/$f.a.json" "$data/otlp-examples/$f.json"
	check "$f -> otlp-proto" "$sonde" convert --to otlp-proto -o "$tmp/$f.pb" "$data/otlp-examples/$f.json"
	check "$f proto -> otlp-json" "$sonde" convert --from otlp-proto --signal $sig --to otlp-json \
		-o "$tmp/$f.b.json" "$tmp/$f.pb"
	check "$f proto round trip is identical" cmp -s "$tmp/$f.a.json" "$tmp/$f.b.json"
	check "$f -> otlp-jsonl" "$sonde" convert --to otlp-jsonl -o "$tmp/$f.jsonl" "$data/otlp-examples/$f.json"
	check "$f jsonl -> otlp-json" "$sonde" convert --from otlp-jsonl --to otlp-json -o "$tmp/$f.c.json" "$tmp/$f.jsonl"
	check "$f jsonl round trip is identical" cmp -s "$tmp/$f.a.json" "$tmp/$f.c.json"
done
check "trace -> zipkin" "$sonde" convert --to zipkin -o "$tmp/z.json" "$data/otlp-examples/trace.json"
check "zipkin detected and read" "$sonde" convert --to text -o "$tmp/z.txt" "$tmp/z.json"
check "zipkin text names the span" grep -q '"I.m a server span"' "$tmp/z.txt"
# --pretty indents every JSON writer's output, and the indented document reads back the same.
for to in otlp-json zipkin; do
	check "$to --pretty" "$sonde" convert --to $to --pretty -o "$tmp/p.$to.json" "$data/otlp-examples/trace.json"
	check "$to --pretty is indented" grep -Eq '^ +"' "$tmp/p.$to.json"
	check "$to --pretty reads back" "$sonde" convert --to $to -o "$tmp/p2.$to.json" "$tmp/p.$to.json"
	check "$to --pretty, compact again" bash -c "'$sonde' convert --to $to '$data/otlp-examples/trace.json' 2>/dev/null | cmp -s - '$tmp/p2.$to.json'"
done
check "metrics -> prom" "$sonde" convert --to prom -o "$tmp/m.prom" "$data/otlp-examples/metrics.json"
check "prom detected and read" "$sonde" convert --to otlp-json -o "$tmp/m2.json" "$tmp/m.prom"
check "metrics -> openmetrics" "$sonde" convert --to openmetrics -o "$tmp/m.om" "$data/otlp-examples/metrics.json"
check "openmetrics ends with EOF" bash -c "tail -1 '$tmp/m.om' | grep -qx '# EOF'"
check "metrics -> influx" "$sonde" convert --to influx -o "$tmp/m.influx" "$data/otlp-examples/metrics.json"
# Several signals in one batch: one-signal formats need --signal; JSON lines takes all.
expect_exit "mixed signals need --signal" 2 "several signals" "$sonde" convert --to otlp-json \
	"$data/otlp-examples/trace.json" "$data/otlp-examples/logs.json"
expect_exit "mixed signals to jsonl" 0 "" "$sonde" convert --to otlp-jsonl -o "$tmp/mixed.jsonl" \
	"$data/otlp-examples/trace.json" "$data/otlp-examples/logs.json"
check "jsonl has two lines" bash -c "[ \$(wc -l <'$tmp/mixed.jsonl') = 2 ]"
# Standard input.
check "stdin" bash -c "'$sonde' convert --to text - <'$data/otlp-examples/trace.json' >/dev/null 2>&1"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
