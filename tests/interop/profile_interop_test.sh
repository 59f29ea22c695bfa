#!/usr/bin/env bash
# profile_interop_test.sh - interop tests of sonde's profile formats against real peers:
#  - pprof that `sonde flame --format pprof` writes decodes with protoc against
#    tests/interop/profile.proto (written from pprof's published field numbers) and with
#    the npm pprof-format reader, whose stacks must be the ones sonde folds;
#  - a profile protoc encodes from a hand-written text profile reads into the expected
#    stacks;
#  - speedscope JSON validates against speedscope's own schema (npm speedscope, with
#    ajv) and holds the same stacks.
# Inputs: tests/golden/ (folded, perf script with and without threads).
#
# Run by CTest from the repo root with SONDE_BIN set. Exits 77 (skipped) when node, protoc
# or tests/interop/node_modules is missing (`npm ci --prefix tests/interop` installs it).
set -euo pipefail

src=${SONDE_SRC:-$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)}
here=$src/tests/interop
golden=$src/tests/golden

for tool in node protoc; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "profile_interop_test: skipped: $tool is not installed"
		exit 77
	fi
done
if [ ! -d "$here/node_modules/pprof-format" ] || [ ! -d "$here/node_modules/speedscope" ] ||
	[ ! -d "$here/node_modules/ajv" ]; then
	echo "profile_interop_test: skipped: $here/node_modules lacks pprof-format, speedscope or ajv (run: npm ci --prefix tests/interop)"
	exit 77
fi
if [ -z "${SONDE_BIN:-}" ] || [ ! -x "$SONDE_BIN" ]; then
	echo "profile_interop_test: SONDE_BIN must name the sonde executable (got '${SONDE_BIN:-}')" >&2
	exit 2
fi

work=$(mktemp -d "${SONDE_BUILD:-${TMPDIR:-/tmp}}/profile-interop.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

ok() {
	echo "ok $1"
	passed=$((passed + 1))
}
bad() {
	echo "FAIL $1"
	failed=$((failed + 1))
}
check() {
	if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

# case NAME INPUT [FLAGS...]
case_() {
	local name=$1 in=$2
	shift 2
	local d=$work/$name
	mkdir -p "$d"
	if ! "$SONDE_BIN" flame "$@" --format folded -o "$d/expected.folded" "$in" 2>"$d/err"; then
		bad "$name: sonde flame --format folded: $(cat "$d/err")"
		return
	fi
	if ! "$SONDE_BIN" flame "$@" --format pprof -o "$d/out.pb.gz" "$in" 2>"$d/err"; then
		bad "$name: sonde flame --format pprof: $(cat "$d/err")"
		return
	fi
	gzip -dc "$d/out.pb.gz" >"$d/out.pb"
	if protoc --proto_path="$here" --decode perftools.profiles.Profile profile.proto <"$d/out.pb" >"$d/decoded.txt" 2>"$d/err" &&
		grep -q '^string_table: ""$' "$d/decoded.txt" && grep -q '^sample_type {' "$d/decoded.txt" &&
		grep -q '^location {' "$d/decoded.txt" && grep -q '^function {' "$d/decoded.txt"; then
		# protoc must have known every field: unknown ones show as bare numbers.
		if grep -qE '^ *[0-9]+: ' "$d/decoded.txt"; then
			bad "$name: protoc --decode met fields profile.proto does not define"
		else
			ok "$name: protoc --decode perftools.profiles.Profile ($(grep -c '^sample {' "$d/decoded.txt") samples)"
		fi
	else
		bad "$name: protoc --decode failed: $(cat "$d/err")"
	fi
	check node "$here/pprof_check.js" "$d/out.pb.gz" "$d/expected.folded" "$name: pprof-format reads sonde's pprof"
	# sonde reads its own pprof back to the same stacks.
	if "$SONDE_BIN" flame --format folded -o "$d/back.folded" "$d/out.pb.gz" 2>"$d/err" &&
		cmp -s "$d/back.folded" "$d/expected.folded"; then
		ok "$name: pprof -> sonde -> folded"
	else
		bad "$name: pprof read back differs: $(diff "$d/expected.folded" "$d/back.folded" | head -5)"
	fi
	if "$SONDE_BIN" flame "$@" --format speedscope -o "$d/out.speedscope.json" "$in" 2>"$d/err"; then
		check node "$here/speedscope_check.js" "$d/out.speedscope.json" "$d/expected.folded" "$name: speedscope schema and stacks"
	else
		bad "$name: sonde flame --format speedscope: $(cat "$d/err")"
	fi
}

case_ folded "$golden/flame-basic.folded"
case_ perf-script "$golden/perf-script-fp.txt"
case_ perf-script-threads "$golden/perf-script-inline.txt" --threads

# A profile protoc encodes (what other writers produce) reads into the expected stacks.
if protoc --proto_path="$here" --encode perftools.profiles.Profile profile.proto <"$here/pprof-handmade.txtpb" >"$work/hand.pb" 2>"$work/hand.err" &&
	"$SONDE_BIN" flame --format folded -o "$work/hand.folded" "$work/hand.pb" 2>>"$work/hand.err" &&
	cmp -s "$work/hand.folded" "$here/pprof-handmade.folded"; then
	ok "protoc --encode -> sonde reads the stacks"
else
	bad "protoc --encode -> sonde: $(cat "$work/hand.err"; diff "$here/pprof-handmade.folded" "$work/hand.folded" 2>/dev/null | head -5)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
