#!/usr/bin/env bash
# abtest_test.sh - `sonde abtest` on inputs whose answers were computed by hand with
# statsmodels 0.13 and scipy 1.10 (the expected numbers below): a per-unit CSV and the
# same as JSON Lines, a sample ratio mismatch, Simpson's paradox (the kidney-stone data of
# Charig et al. 1986), and bad input that must exit 2 naming FILE:LINE.
set -uo pipefail
sonde=${SONDE_BIN:?SONDE_BIN not set}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/../lib/check.sh"

# near NAME JSON_FILE KEY EXPECTED: the first "KEY": number in the file is EXPECTED to a
# relative 1e-9.
near() {
	local got
	got=$(grep -oE "\"$3\": [-0-9.eE+]+" "$2" | head -1 | sed 's/.*: //')
	if [ -n "$got" ] && awk -v a="$got" -v b="$4" 'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; exit !(d <= 1e-9 * m + 1e-15) }'; then
		ok
	else
		bad "$1: $3 = '$got', expected $4"
	fi
}

# 1000 users per variant: A converts 100, B 130; values i % 13 (A) and i % 13 + 1 (B).
awk 'BEGIN { print "user,variant,converted,value"
	for (i = 1; i <= 1000; i++) printf "a%d,A,%d,%d\n", i, (i <= 100), i % 13
	for (i = 1; i <= 1000; i++) printf "b%d,B,%d,%d\n", i, (i <= 130), i % 13 + 1 }' >"$tmp/ab.csv"
expect_exit "abtest csv" 0 "" "$sonde" abtest --mde 0.02 --json "$tmp/ab.csv"
cp "$tmp/out" "$tmp/ab.json"
grep -A40 '"conversion": {' "$tmp/ab.json" >"$tmp/conv.json"
grep -A30 '"value": {' "$tmp/ab.json" >"$tmp/val.json"
# proportions_ztest([100, 130], [1000, 1000])
near "z-test" "$tmp/ab.json" z -2.102740605622114
near "z-test" "$tmp/conv.json" p 0.03548845046647471
# confint_proportions_2indep(130, 1000, 100, 1000, method='wald', compare='diff')
near "wald" "$tmp/ab.json" diff_lo 0.0020679344393763587
near "wald" "$tmp/ab.json" diff_hi 0.057932065560623636
# proportion_effectsize(0.13, 0.10); NormalIndPower: solve_power for h(0.12, 0.10), power at 1000
near "cohen h" "$tmp/ab.json" cohen_h 0.09422485965996452
near "sample size" "$tmp/ab.json" control_users_needed 3834.595739884031
near "power" "$tmp/conv.json" power 0.29865402084576337
# ttest_ind(a, b, equal_var=False); multipletests([p_z, p_t], method='holm')
near "welch" "$tmp/ab.json" t -5.977860656803071
near "welch" "$tmp/val.json" df 1998
near "welch" "$tmp/val.json" p 2.670893710149937e-09
near "holm" "$tmp/val.json" p_adjusted 5.34178742e-09
has "$tmp/ab.json" '"significant": true' "significance"
has "$tmp/ab.json" '"mismatch": false' "no srm"

# The table and its reading.
expect_exit "abtest table" 0 "" "$sonde" abtest --mde 0.02 "$tmp/ab.csv"
has "$tmp/out" '^  B +1000 +130 +13\.00% +\+3\.00 \[\+0\.21, \+5\.79\]' "conversion row"
has "$tmp/out" 'Holm over 2 tests' "holm"
has "$tmp/out" 'statistically significant' "reading"
has "$tmp/out" 'underpowered.*3835 users' "power reading"

# The same units as JSON Lines give the same answer.
awk -F, 'NR > 1 { printf "{\"variant\": \"%s\", \"converted\": %s, \"value\": %s}\n", $2, ($3 ? "true" : "false"), $4 }' \
	"$tmp/ab.csv" >"$tmp/ab.jsonl"
expect_exit "abtest jsonl" 0 "" "$sonde" abtest --json "$tmp/ab.jsonl"
near "jsonl z" "$tmp/out" z -2.102740605622114

# Sample ratio mismatch: 10000 against 9500 users for a 50/50 split (chisquare: p 3.43e-4).
expect_exit "srm" 0 "" "$sonde" abtest --json --counts A:500/10000 B:480/9500
has "$tmp/out" '"mismatch": true' "srm flagged"
near "srm" "$tmp/out" chi2 12.820512820512821
grep -A5 '"srm"' "$tmp/out" >"$tmp/srm.json"
near "srm p" "$tmp/srm.json" p 0.0003428397416111479
expect_exit "srm table" 0 "" "$sonde" abtest --counts A:500/10000 B:480/9500
has "$tmp/out" 'MISMATCH' "srm table"
has "$tmp/out" 'Sample ratio mismatch' "srm reading"
# ... and none when the split says 10000:9500 is expected.
expect_exit "srm split" 0 "" "$sonde" abtest --json --split 100/95 --counts A:500/10000 B:480/9500
has "$tmp/out" '"mismatch": false' "split honoured"

# Simpson's paradox: treatment B wins pooled (289/350 against 273/350) and loses in both
# segments (small stones 234/270 against 81/87; large 55/80 against 192/263).
cat >"$tmp/simpson.csv" <<'EOF'
variant,segment,users,conversions
A,small,87,81
A,large,263,192
B,small,270,234
B,large,80,55
EOF
expect_exit "simpson" 0 "" "$sonde" abtest --json "$tmp/simpson.csv"
has "$tmp/out" '"simpson_paradox": true' "simpson detected"
near "simpson z" "$tmp/out" z -1.5200619980786936
expect_exit "simpson table" 0 "" "$sonde" abtest "$tmp/simpson.csv"
has "$tmp/out" "SIMPSON'S PARADOX" "simpson table"
has "$tmp/out" "Simpson's paradox: pooled, B looks better" "simpson reading"
# Without the segments there is nothing to contradict.
expect_exit "no simpson" 0 "" "$sonde" abtest --json --counts A:273/350 B:289/350
has "$tmp/out" '"simpson_paradox": false' "no simpson"

# Zero counts: nobody converts anywhere -> the test is undefined, not a crash.
expect_exit "zero counts" 0 "" "$sonde" abtest --counts A:0/100 B:0/120
has "$tmp/out" 'cannot be tested: nobody converted' "zero counts"
has "$tmp/out" 'zero variance +A: none of 100' "zero variance"

# Bad input: exit 2 naming the file and the line.
printf 'variant,converted\nA,1\nB,0\nA,maybe\n' >"$tmp/bad.csv"
expect_exit "bad cell" 2 'bad\.csv:4: .*field converted: expected 0, 1, true or false' "$sonde" abtest "$tmp/bad.csv"
printf 'variant,converted\nA,1\nB,0,7\n' >"$tmp/cells.csv"
expect_exit "bad cells" 2 'cells\.csv:3: .*expected 2 cells' "$sonde" abtest "$tmp/cells.csv"
printf 'name,converted\nA,1\n' >"$tmp/nohead.csv"
expect_exit "no variant column" 2 'nohead\.csv:1: .*variant' "$sonde" abtest "$tmp/nohead.csv"
printf '{"variant":"A","converted":1}\n{"variant":"B","converted":2}\n' >"$tmp/bad.jsonl"
expect_exit "bad jsonl" 2 'bad\.jsonl:2: .*converted' "$sonde" abtest "$tmp/bad.jsonl"
printf 'variant,users,conversions\nA,10,11\n' >"$tmp/agg.csv"
expect_exit "conversions above users" 2 'agg\.csv:2: .*conversions <= users' "$sonde" abtest "$tmp/agg.csv"
expect_exit "one variant" 2 'at least two variants' "$sonde" abtest --counts A:1/10
expect_exit "bad counts" 2 'expected NAME:CONVERSIONS/USERS' "$sonde" abtest --counts A:11/10 B:1/10
expect_exit "bad control" 2 "no such variant" "$sonde" abtest --control Z --counts A:1/10 B:1/10
expect_exit "missing file" 2 "nonexistent" "$sonde" abtest "$tmp/nonexistent.csv"

echo "abtest_test: $pass passed, $fail failed"
[ "$fail" = 0 ]
