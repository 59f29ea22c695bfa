#!/usr/bin/env bash
# dump_top_test.sh - sonde dump (every thread's stack through ptrace, names, states, JSON,
# the process left running) and sonde top in its non-interactive mode (--iterations).
set -uo pipefail
sonde=${SONDE_BIN:?SONDE_BIN not set}
src=${SONDE_SRC:-.}
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
. "$src/tests/lib/check.sh"

${CC:-gcc} -O2 -g -fno-ipa-icf -pthread "$src/tests/profile/progs/split.c" -o "$tmp/split" || exit 1

expect_exit "dump no pid" 2 "give -p PID" "$sonde" dump
expect_exit "dump bad pid" 2 "-p takes" "$sonde" dump -p x
expect_exit "dump no such process" 2 "process 999999: no such process" "$sonde" dump -p 999999
expect_exit "top no pid" 2 "give -p PID" "$sonde" top
expect_exit "top no such process" 2 "process 999999: no such process" "$sonde" top -p 999999 --iterations 1
expect_exit "top bad sort" 2 "--sort takes" "$sonde" top -p 1 --sort name

"$tmp/split" 20 2 &
pid=$!
pids+=("$pid")
# Wait until its two workers run (a loaded machine may take a while).
for _ in $(seq 100); do
	[ "$(ls "/proc/$pid/task" 2>/dev/null | wc -l)" -ge 3 ] && break
	sleep 0.05
done
sleep 0.3

# dump: may need ptrace permission.
"$sonde" dump -p "$pid" >"$tmp/dump.txt" 2>"$tmp/dump.err"
rc=$?
if [ $rc = 2 ] && grep -q "ptrace not permitted" "$tmp/dump.err"; then
	echo "note: ptrace not permitted here, dump not tested: $(cat "$tmp/dump.err")" >&2
else
	[ $rc = 0 ] && ok || bad "dump: exit $rc: $(cat "$tmp/dump.err")"
	has "$tmp/dump.txt" "^process $pid \(split\): 3 threads, paused [0-9.]+ ms$" "dump header"
	n=$(grep -c '^thread [0-9]* "split" (R running)$' "$tmp/dump.txt")
	[ "$n" = 3 ] && ok || bad "dump: expected 3 running threads, got $n"
	has "$tmp/dump.txt" "^  #0 +hot_[ab] at .*split.c:[0-9]+ \[split\]$" "dump leaf frame with a line"
	has "$tmp/dump.txt" "^  #[0-9]+ +start_thread " "dump worker thread start"
	has "$tmp/dump.txt" "^  #[0-9]+ +main at .*split.c" "dump main"
	kill -0 "$pid" 2>/dev/null && ok || bad "dump: the process did not survive"
	state=$(awk '{ print $3 }' "/proc/$pid/stat")
	[ "$state" != t ] && [ "$state" != T ] && ok || bad "dump: the process was left stopped ($state)"
	expect_exit "dump json" 0 "" "$sonde" dump -p "$pid" --json
	has "$tmp/out" "^\{\"pid\":$pid,\"name\":\"split\",\"pause_ms\":[0-9.e+-]+,\"threads\":\[\{\"tid\":" "dump json"
	has "$tmp/out" "\"function\":\"work\",\"file\":\"[^\"]*split.c\",\"line\":[1-9]" "dump json frames"
fi

# top, non-interactive: blocks of SELF/TOTAL rows.
expect_exit "top" 0 "" "$sonde" top -p "$pid" --iterations 2 --interval 0.5 -F 499 -n 5
n=$(grep -c '^sonde top: ' "$tmp/out")
[ "$n" = 2 ] && ok || bad "top: expected 2 refreshes, got $n: $(head -c 400 "$tmp/out")"
has "$tmp/out" "^ +[0-9.]+% +[0-9.]+%  hot_a$" "top hot_a row"
# Nearly all samples are inside work (a loaded machine may catch a thread on its way in).
has "$tmp/out" "^ +0\.0% +(9[5-9]|100)\.[0-9]%  work$" "top work: no self, (nearly) all total"
expect_exit "top by total, thread filter" 0 "" "$sonde" top -p "$pid" --iterations 1 --interval 0.5 --sort total --thread split --cumulative
has "$tmp/out" "sorted by total" "top sort by total"
first=$(awk '/FUNCTION/ { getline; print $3; exit }' "$tmp/out")
[ "$first" = work ] || [ "$first" = main ] || [ "$first" = worker ] || [[ "$first" == *start* ]] || [[ "$first" == *clone* ]] && ok ||
	bad "top --sort total: first row is $first"
expect_exit "top thread filter matching nothing" 0 "" "$sonde" top -p "$pid" --iterations 1 --interval 0.3 --thread nosuchthread
has "$tmp/out" "\(no samples\)" "top filter with no match"

echo "dump_top: $pass passed, $fail failed" >&2
[ $fail = 0 ]
