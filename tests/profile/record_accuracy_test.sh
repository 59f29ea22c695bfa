#!/usr/bin/env bash
# record_accuracy_test.sh - sonde record against the truth and against perf: a program
# with a known CPU split (70% hot_a, 30% hot_b; two threads; -O2 -fomit-frame-pointer;
# built with gcc and with clang) must come out within 2 percentage points of the truth
# and of `perf record` on the same program, and in DWARF mode at least 99% of samples
# must unwind to main or their thread's start.
set -uo pipefail
sonde=${SONDE_BIN:?SONDE_BIN not set}
src=${SONDE_SRC:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
	echo "FAIL: $*" >&2
	fail=$((fail + 1))
}

if ! "$sonde" record -q -d 0.1 -o "$tmp/probe.folded" -- true 2>"$tmp/probe.err"; then
	if grep -q "permission denied" "$tmp/probe.err"; then
		echo "skip: perf_events not permitted here: $(cat "$tmp/probe.err")" >&2
		exit 77
	fi
	echo "FAIL: sonde record cannot record: $(cat "$tmp/probe.err")" >&2
	exit 1
fi

# shares FOLDED: prints "A B ROOTED THREADS": the self shares of hot_a and hot_b and the
# share of samples whose outermost frame under the thread marker starts a program or a
# thread (percent), and the number of distinct thread markers.
shares() {
	awk '
	{
		n = $NF; stack = $0; sub(/ [0-9]+$/, "", stack)
		k = split(stack, f, ";")
		total += n
		if (f[k] == "hot_a") a += n
		if (f[k] == "hot_b") b += n
		root = f[2]
		if (root ~ /^(_start|__libc_start_main.*|__libc_start_call_main|main|start_thread|_*clone3?|thread_start)$/) rooted += n
		threads[f[1]] = 1
	}
	END {
		nt = 0; for (t in threads) nt++
		if (total == 0) { print "0 0 0 0"; exit }
		printf "%.2f %.2f %.2f %d\n", 100 * a / total, 100 * b / total, 100 * rooted / total, nt
	}' "$1"
}

# within X Y TOL: |X - Y| <= TOL
within() { awk -v x="$1" -v y="$2" -v t="$3" 'BEGIN { d = x - y; if (d < 0) d = -d; exit !(d <= t) }'; }

have_perf=0
if command -v perf >/dev/null && perf record -q -e cpu-clock -o "$tmp/probe.data" -- true 2>/dev/null; then
	have_perf=1
else
	echo "note: perf is missing or not permitted; comparing with the truth only" >&2
fi

for cc in gcc clang; do
	if ! command -v $cc >/dev/null; then
		bad "$cc not installed"
		continue
	fi
	extra=""
	[ $cc = gcc ] && extra="-fno-ipa-icf"
	prog="$tmp/split_$cc"
	if ! $cc -O2 -g -fomit-frame-pointer $extra -pthread "$src/tests/profile/progs/split.c" -o "$prog"; then
		bad "$cc cannot build split.c"
		continue
	fi
	# sonde, DWARF, per thread.
	if ! "$sonde" record -q -F 4999 --call-graph dwarf --threads -o "$tmp/$cc.folded" -- "$prog" 1.5 1; then
		bad "$cc: sonde record failed"
		continue
	fi
	read -r a b rooted nthreads < <(shares "$tmp/$cc.folded")
	echo "$cc: sonde hot_a $a% hot_b $b% rooted $rooted% threads $nthreads" >&2
	ab=$(awk -v a="$a" -v b="$b" 'BEGIN { if (a + b > 0) printf "%.2f", 100 * a / (a + b); else print 0 }')
	within "$ab" 70 2 && ok || bad "$cc: hot_a is $ab% of hot_a + hot_b, expected 70 +- 2"
	within "$a" 70 2 && ok || bad "$cc: hot_a self $a%, expected 70 +- 2"
	within "$b" 30 2 && ok || bad "$cc: hot_b self $b%, expected 30 +- 2"
	awk -v r="$rooted" 'BEGIN { exit !(r >= 99) }' && ok || bad "$cc: only $rooted% of samples unwound to main or thread start (need 99)"
	[ "$nthreads" = 2 ] && ok || bad "$cc: expected 2 thread markers, got $nthreads"
	grep -Eq '^split_[a-z]*-[0-9]*;_*clone3?;start_thread;worker;work;hot_a ' "$tmp/$cc.folded" && ok ||
		bad "$cc: no worker-thread stack start_thread;worker;work;hot_a"
	grep -Eq '^split_[a-z]*-[0-9]*;_start;__libc_start_main[^;]*;__libc_start_call_main;main;work;hot_b ' "$tmp/$cc.folded" && ok ||
		bad "$cc: no main-thread stack _start;...;main;work;hot_b"

	# perf on the same program.
	if [ $have_perf = 1 ]; then
		perf record -q -e cpu-clock:u -F 4999 -g -o "$tmp/$cc.data" -- "$prog" 1.5 1 2>/dev/null
		perf report -i "$tmp/$cc.data" --stdio --no-children --sort symbol 2>/dev/null >"$tmp/$cc.report"
		pa=$(awk '$3 == "hot_a" { sub(/%/, "", $1); print $1; exit }' "$tmp/$cc.report")
		pb=$(awk '$3 == "hot_b" { sub(/%/, "", $1); print $1; exit }' "$tmp/$cc.report")
		echo "$cc: perf hot_a ${pa:-?}% hot_b ${pb:-?}%" >&2
		if [ -z "$pa" ] || [ -z "$pb" ]; then
			bad "$cc: cannot read perf report"
		else
			within "$a" "$pa" 2 && ok || bad "$cc: hot_a sonde $a% vs perf $pa%"
			within "$b" "$pb" 2 && ok || bad "$cc: hot_b sonde $b% vs perf $pb%"
		fi
	fi
done

echo "record_accuracy: $pass passed, $fail failed" >&2
[ $fail = 0 ]
