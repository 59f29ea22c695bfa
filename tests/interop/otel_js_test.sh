#!/usr/bin/env bash
# otel_js_test.sh - interop test against the OpenTelemetry JS SDK (pinned in
# tests/interop/package-lock.json): OTLP the SDK serializes as JSON and as protobuf must
# be read by `sonde convert` with every field intact, and the protobuf sonde writes must
# decode, with the SDK's own generated protobuf code, to the request the SDK sent.
#
# Run by CTest from the repo root with SONDE_BIN (the sonde CLI), SONDE_BUILD and
# SONDE_SRC set. Exits 77 (skipped) when node or tests/interop/node_modules is missing
# (`npm ci --prefix tests/interop` installs the latter). SONDE_INTEROP_KEEP=1 keeps the
# scratch directory with every file the test wrote.
set -euo pipefail

src=${SONDE_SRC:-$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)}
here=$src/tests/interop

if ! command -v node >/dev/null 2>&1; then
	echo "otel_js_test: skipped: node is not installed"
	exit 77
fi
if [ ! -d "$here/node_modules/@opentelemetry/otlp-transformer" ]; then
	echo "otel_js_test: skipped: $here/node_modules is missing (run: npm ci --prefix tests/interop)"
	exit 77
fi
if [ -z "${SONDE_BIN:-}" ] || [ ! -x "$SONDE_BIN" ]; then
	echo "otel_js_test: SONDE_BIN must name the sonde executable (got '${SONDE_BIN:-}')" >&2
	exit 2
fi

work=$(mktemp -d "${SONDE_BUILD:-${TMPDIR:-/tmp}}/interop.XXXXXX")
if [ "${SONDE_INTEROP_KEEP:-0}" = 1 ]; then
	trap 'echo "otel_js_test: files kept in $work"' EXIT
else
	trap 'rm -rf "$work"' EXIT
fi

passed=0
failed=0

# check COMMAND... - runs one check script, which prints its own ok/FAIL line.
check() {
	if "$@"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
}

# convert LABEL OUT INPUT ARGS... - runs `sonde convert ARGS -o OUT INPUT`; on failure
# shows its stderr and exit code.
convert() {
	local label=$1 out=$2 in=$3
	shift 3
	local rc=0
	"$SONDE_BIN" convert "$@" -o "$out" "$in" 2>"$out.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "FAIL $label: sonde convert $* -o $out $in exited $rc:"
		sed 's/^/       /' "$out.err" | head -20
		return 1
	fi
}

cd "$work"
node "$here/gen_otel.js" "$work"

# The comparison and the decoder are checked first against the SDK's own output: the
# SDK's protobuf must decode to its JSON, and the comparison must catch data loss.
check node "$here/otlp_selftest.js" traces.json logs.json metrics.json
for sig in traces logs metrics; do
	check node "$here/otlp_decode.js" --label "$sig: SDK protobuf decodes to SDK JSON" "$sig.pb" "$sig.json"
done

for sig in traces logs metrics; do
	l="$sig: SDK JSON -> sonde -> JSON"
	if convert "$l" "$sig.j2j.json" "$sig.json" --from otlp-json --to otlp-json; then
		check node "$here/otlp_compare.js" --label "$l" "$sig.json" "$sig.j2j.json"
	else
		failed=$((failed + 1))
	fi
	l="$sig: SDK protobuf -> sonde -> JSON"
	if convert "$l" "$sig.p2j.json" "$sig.pb" --from otlp-proto --signal "$sig" --to otlp-json; then
		check node "$here/otlp_compare.js" --label "$l" "$sig.json" "$sig.p2j.json"
	else
		failed=$((failed + 1))
	fi
	# sonde's protobuf is decoded by the SDK's own protobuf code.
	l="$sig: SDK JSON -> sonde -> protobuf"
	if convert "$l" "$sig.j2p.pb" "$sig.json" --from otlp-json --to otlp-proto; then
		check node "$here/otlp_decode.js" --label "$l" "$sig.j2p.pb" "$sig.json"
	else
		failed=$((failed + 1))
	fi
	l="$sig: SDK protobuf -> sonde -> protobuf"
	if convert "$l" "$sig.p2p.pb" "$sig.pb" --from otlp-proto --signal "$sig" --to otlp-proto; then
		check node "$here/otlp_decode.js" --label "$l" "$sig.p2p.pb" "$sig.json"
	else
		failed=$((failed + 1))
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
