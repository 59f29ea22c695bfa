#!/usr/bin/env bash
# flame_cli_test.sh - `sonde flame` and `sonde diff` end to end: every input and output
# format, the options, the golden SVGs through the CLI, exit codes (0 ok, 1 a regression
# asked for with --fail-above, 2 bad usage or input) and the messages for bad input.
#
# Run by CTest from the repo root with SONDE_BIN set.
set -uo pipefail

src=${SONDE_SRC:-$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)}
g=$src/tests/golden
if [ -z "${SONDE_BIN:-}" ] || [ ! -x "$SONDE_BIN" ]; then
	echo "flame_cli_test: SONDE_BIN must name the sonde executable (got '${SONDE_BIN:-}')" >&2
	exit 2
fi
work=$(mktemp -d "${SONDE_BUILD:-${TMPDIR:-/tmp}}/flame-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# expect NAME WANT_RC COMMAND... - runs COMMAND with stdout in $work/out, stderr in
# $work/err, and checks its exit code.
expect() {
	local name=$1 want=$2
	shift 2
	"$@" >"$work/out" 2>"$work/err"
	local rc=$?
	if [ "$rc" -eq "$want" ]; then
		passed=$((passed + 1))
	else
		echo "FAIL $name: exit $rc, want $want; stderr:"
		sed 's/^/    /' "$work/err" | head -5
		failed=$((failed + 1))
	fi
}
# has NAME FILE TEXT - FILE contains TEXT.
has() {
	if grep -qF -- "$3" "$2"; then
		passed=$((passed + 1))
	else
		echo "FAIL $1: $2 lacks '$3':"
		head -5 "$2" | sed 's/^/    /'
		failed=$((failed + 1))
	fi
}
same() {
	if cmp -s "$2" "$3"; then
		passed=$((passed + 1))
	else
		echo "FAIL $1: $2 and $3 differ:"
		diff "$2" "$3" | head -5 | sed 's/^/    /'
		failed=$((failed + 1))
	fi
}

S=$SONDE_BIN

# Rendering: the library's golden SVGs, through the CLI.
expect "flame svg" 0 "$S" flame -o "$work/basic.svg" "$g/flame-basic.folded"
same "flame svg golden" "$work/basic.svg" "$g/flame-basic.svg"
has "flame summary" "$work/err" "45 stacks, 58 frames, 10035 samples (count)"
expect "flame icicle" 0 "$S" flame --threads --inverted --colors module --width 800 --title "burn <threads>" \
	--subtitle "perf script, 2 threads" -o "$work/icicle.svg" "$g/perf-script-fp.txt"
same "flame icicle golden" "$work/icicle.svg" "$g/flame-icicle-module.svg"
# Standard input, and svg to standard output.
expect "flame stdin" 0 "$S" flame - <"$g/flame-basic.folded"
same "flame stdin svg" "$work/out" "$g/flame-basic.svg"
perf_stdin=$(cat "$g/perf-script-fp.txt" | "$S" flame --format folded - 2>/dev/null)
if [ "$perf_stdin" = "$(cat "$g/perf-script-fp.folded")" ]; then passed=$((passed + 1)); else
	echo "FAIL perf script from a pipe"; failed=$((failed + 1)); fi

# Conversions.
expect "folded round trip" 0 "$S" flame --format folded "$g/flame-basic.folded"
same "folded round trip identical" "$work/out" "$g/flame-basic.folded"
expect "to pprof" 0 "$S" flame --format pprof -o "$work/p.pb.gz" "$g/flame-basic.folded"
if [ "$(head -c2 "$work/p.pb.gz" | od -An -tx1 | tr -d ' ')" = 1f8b ]; then passed=$((passed + 1)); else
	echo "FAIL pprof is not gzipped"; failed=$((failed + 1)); fi
expect "pprof back" 0 "$S" flame --format folded "$work/p.pb.gz"
same "pprof back identical" "$work/out" "$g/flame-basic.folded"
expect "pprof to svg" 0 "$S" flame -o "$work/p.svg" "$work/p.pb.gz"
same "pprof svg golden" "$work/p.svg" "$g/flame-basic.svg"
expect "to speedscope" 0 "$S" flame --threads --format speedscope "$g/perf-script-inline.txt"
has "speedscope schema" "$work/out" '"$schema":"https://www.speedscope.app/file-format-schema.json"'
has "speedscope threads" "$work/out" '"name":"worker-23502"'
expect "--from" 0 "$S" flame --from perf-script --format folded "$g/perf-script-fp.txt"
same "--from perf-script" "$work/out" "$g/perf-script-fp.folded"

# Bad usage and bad input: exit 2 and a message that says where.
expect "no input" 2 "$S" flame
has "no input message" "$work/err" "no INPUT given"
expect "two inputs" 2 "$S" flame a b
expect "bad format" 2 "$S" flame --format png "$g/flame-basic.folded"
has "bad format message" "$work/err" "--format takes svg, folded, speedscope or pprof, not 'png'"
expect "bad colors" 2 "$S" flame --colors rainbow "$g/flame-basic.folded"
expect "bad min-width" 2 "$S" flame --min-width 200 "$g/flame-basic.folded"
expect "unknown option" 2 "$S" flame --frobnicate "$g/flame-basic.folded"
expect "missing file" 2 "$S" flame "$work/nope.folded"
has "missing file message" "$work/err" "nope.folded: No such file or directory"
printf 'main;run 3\nmain;walk 4\nmain;oops\n' >"$work/bad.folded"
expect "bad folded" 2 "$S" flame "$work/bad.folded"
has "bad folded message" "$work/err" "bad.folded:3: offset 23: field count: expected \"frame;frame;... COUNT\""
printf 'hello there\n' >"$work/what.txt"
expect "undetectable" 2 "$S" flame "$work/what.txt"
has "undetectable message" "$work/err" "cannot tell the profile format from the content"
head -c 300 "$work/p.pb.gz" >"$work/cut.pb.gz"
expect "truncated pprof" 2 "$S" flame "$work/cut.pb.gz"
has "truncated pprof message" "$work/err" "field gzip"
expect "unknown type" 2 "$S" flame --type cpu "$g/flame-basic.folded"
has "unknown type message" "$work/err" "the profile has no sample type 'cpu'"
expect "speedscope is write-only" 2 "$S" flame --from speedscope "$g/flame-basic.folded"

# diff: the table, JSON, the differential SVG, --fail-above.
expect "diff" 0 "$S" diff "$g/flame-basic.folded" "$g/flame-after.folded"
has "diff header" "$work/out" "before: $g/flame-basic.folded (10035 samples)"
has "diff top row" "$work/out" "   0.00%    6.89%    +6.89      0.00%    6.89%   deflate_slow"
has "diff shrank" "$work/out" "   6.98%    1.72%    -5.25      6.98%    1.72%   ksys_write"
expect "diff svg" 0 "$S" diff -o "$work/diff.svg" "$g/flame-basic.folded" "$g/flame-after.folded"
same "diff svg golden" "$work/diff.svg" "$g/flame-diff.svg"
expect "diff json" 0 "$S" diff --json --top 3 "$g/flame-basic.folded" "$g/flame-after.folded"
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["functions"])==3; assert d["functions"][0]["function"]=="deflate_slow"; assert abs(d["functions"][0]["self_change_pp"]-6.888)<0.01; assert d["after"]["total"]==11615' "$work/out"; then
	passed=$((passed + 1))
else
	echo "FAIL diff json"; failed=$((failed + 1))
fi
expect "diff fail-above trips" 1 "$S" diff --fail-above 5 "$g/flame-basic.folded" "$g/flame-after.folded"
has "diff fail-above message" "$work/err" "deflate_slow: self share grew by 6.89 percentage points (limit 5.00)"
expect "diff fail-above passes" 0 "$S" diff --fail-above 7 "$g/flame-basic.folded" "$g/flame-after.folded"
expect "diff same profile" 0 "$S" diff --fail-above 0 "$g/flame-basic.folded" "$g/flame-basic.folded"
expect "diff across formats" 0 "$S" diff "$work/p.pb.gz" "$g/flame-after.folded"
has "diff across formats row" "$work/out" "deflate_slow"
expect "diff one input" 2 "$S" diff "$g/flame-basic.folded"
expect "diff bad input" 2 "$S" diff "$work/bad.folded" "$g/flame-basic.folded"
has "diff bad input message" "$work/err" "bad.folded:3:"

# Help.
expect "help lists flame" 0 "$S" help
has "help flame" "$work/out" "flame"
has "help diff" "$work/out" "diff"
expect "flame --help" 0 "$S" flame --help
has "flame --help examples" "$work/out" "examples:"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
