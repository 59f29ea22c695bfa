#!/usr/bin/env bash
# record_test.sh - sonde record as a user meets it: spawn, attach (with threads started
# later), a target that exits mid-recording, Ctrl-C, exec, a child process, dlopen, JIT
# code named in /tmp/perf-PID.map, inlined frames, separate debug files (debuglink and
# build-id), kernel frames, output formats, and the errors for the real failure modes.
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

if ! "$sonde" record -q -d 0.1 -o "$tmp/probe.folded" -- true 2>"$tmp/probe.err"; then
	if grep -q "permission denied" "$tmp/probe.err"; then
		echo "skip: perf_events not permitted here: $(cat "$tmp/probe.err")" >&2
		exit 77
	fi
fi

p=$src/tests/profile/progs
cc=${CC:-gcc}
$cc -O2 -g -fno-omit-frame-pointer -fno-ipa-icf -pthread "$p/split.c" -o "$tmp/split" &&
	$cc -O2 -g -fPIC -shared "$p/dlhot.c" -o "$tmp/libdlhot.so" &&
	$cc -O2 -g "$p/dlmain.c" -o "$tmp/dlmain" -ldl &&
	$cc -O2 -g "$p/inl.c" -o "$tmp/inl" &&
	$cc -O2 -g "$p/jit.c" -o "$tmp/jit" || {
	echo "FAIL: cannot build the test programs" >&2
	exit 1
}

# Usage and errors.
expect_exit "no target" 2 "give -p PID or -- COMMAND" "$sonde" record
expect_exit "both targets" 2 "not both" "$sonde" record -p 1 -- true
expect_exit "bad -F" 2 "-F takes" "$sonde" record -F 0 -- true
expect_exit "bad -p" 2 "-p takes" "$sonde" record -p abc
expect_exit "bad call graph" 2 "--call-graph takes" "$sonde" record --call-graph lbr -- true
expect_exit "bad format" 2 "unknown format 'png'" "$sonde" record --format png -- true
expect_exit "no such process" 2 "process 999999: no such process" "$sonde" record -p 999999 -d 0.1
expect_exit "no such command" 2 "cannot run 'no-such-command-xyz'" "$sonde" record -- no-such-command-xyz
expect_exit "--help" 0 "" "$sonde" record --help
has "$tmp/out" "^examples:" "record --help"

# Spawn, frame pointers, a summary on stderr. The frame-pointer walk starts from the
# caller's frame when the sampled leaf function keeps none (gcc omits it in leaves even
# with -fno-omit-frame-pointer), and glibc has no frame pointers: only what is between is
# certain.
expect_exit "spawn fp" 0 "samples, 0 lost" "$sonde" record --call-graph fp -F 499 -o "$tmp/fp.folded" -- "$tmp/split" 0.5 1
has "$tmp/fp.folded" "__libc_start_call_main;main;(work;)?hot_a [0-9]+$" "fp main stack"
has "$tmp/fp.folded" "start_thread;worker;(work;)?hot_b [0-9]+$" "fp worker stack"
# auto: DWARF where frame pointers are missing, so nothing is skipped.
expect_exit "spawn auto" 0 "" "$sonde" record -F 499 -o "$tmp/auto.folded" -- "$tmp/split" 0.5 1
has "$tmp/auto.folded" "^_start;__libc_start_main[^;]*;__libc_start_call_main;main;work;hot_a [0-9]+$" "auto main stack"
has "$tmp/auto.folded" "^_*clone3?;start_thread;worker;work;hot_b [0-9]+$" "auto worker stack"
has "$tmp/err" "top functions by self share" "summary"
has "$tmp/err" "2 threads in 1 process" "summary threads"

# Attach to a running process whose second thread starts after the attach.
"$tmp/split" 2.5 0 &
pid=$!
pids+=("$pid")
sleep 0.2
expect_exit "attach" 0 "" "$sonde" record -p "$pid" -d 0.8 --threads -o "$tmp/attach.folded"
has "$tmp/attach.folded" "^split-$pid;_start;.*;main;work;hot_a [0-9]+$" "attach main thread"
wait "$pid"

# Threads started after the attach are sampled too (inherited events).
cat >"$tmp/late.sh" <<EOS
sleep 0.4
exec "$tmp/split" 0.8 2
EOS
bash "$tmp/late.sh" &
pid=$!
pids+=("$pid")
sleep 0.1
expect_exit "attach before exec and threads" 0 "exited" "$sonde" record -p "$pid" --threads -o "$tmp/late.folded"
has "$tmp/late.folded" "^split-[0-9]+;_*clone3?;start_thread;worker;work;hot_a [0-9]+$" "threads started after attach"
n=$(cut -d';' -f1 "$tmp/late.folded" | sort -u | grep -c '^split-')
[ "$n" = 3 ] && ok || bad "expected 3 split threads after exec, got $n: $(cut -d';' -f1 "$tmp/late.folded" | sort -u | tr '\n' ' ')"

# The target exits mid-recording: output still written, exit 0, a note on stderr.
"$tmp/split" 0.6 0 &
pid=$!
pids+=("$pid")
sleep 0.1
expect_exit "target exits" 0 "target exited after" "$sonde" record -p "$pid" -d 30 -o "$tmp/exit.folded"
has "$tmp/exit.folded" ";hot_a [0-9]+$" "target exits: profile written"

# Ctrl-C writes the output cleanly and stops the command.
"$sonde" record -o "$tmp/int.folded" -- "$tmp/split" 20 0 2>"$tmp/int.err" &
spid=$!
pids+=("$spid")
sleep 1
kill -INT "$spid"
wait "$spid"
rc=$?
[ "$rc" = 0 ] && ok || bad "Ctrl-C: exit $rc: $(cat "$tmp/int.err")"
has "$tmp/int.folded" ";hot_a [0-9]+$" "Ctrl-C: profile written"
pgrep -f "$tmp/split 20" >/dev/null && bad "Ctrl-C: the command still runs" || ok

# exec, and a child process that execs.
expect_exit "exec" 0 "" "$sonde" record -o "$tmp/exec.folded" -- sh -c "exec '$tmp/split' 0.5 0"
has "$tmp/exec.folded" "main;work;hot_a [0-9]+$" "exec: the new image is symbolized"
expect_exit "child process" 0 "" "$sonde" record -o "$tmp/child.folded" -- sh -c "'$tmp/split' 0.5 0; true"
has "$tmp/child.folded" "main;work;hot_a [0-9]+$" "child process is sampled and symbolized"

# dlopen: a library mapped after the start.
for cg in fp dwarf; do
	expect_exit "dlopen $cg" 0 "" "$sonde" record --call-graph $cg -o "$tmp/dl.folded" -- "$tmp/dlmain" "$tmp/libdlhot.so" 0.5
	has "$tmp/dl.folded" ";dl_hot [0-9]+$" "dlopen $cg: dl_hot symbolized"
done
has "$tmp/dl.folded" "^_start;.*;main;dl_hot [0-9]+$" "dlopen dwarf: full stack"

# JIT code through /tmp/perf-PID.map.
expect_exit "jit" 0 "" "$sonde" record --call-graph dwarf -o "$tmp/jit.folded" -- "$tmp/jit" 0.5
has "$tmp/jit.folded" "main;jit_spin_loop_\[j\] [0-9]+$" "jit: perf map symbol"
for f in /tmp/perf-*.map; do
	grep -q jit_spin_loop "$f" 2>/dev/null && rm -f "$f"
done

# Inlined frames with source lines (pprof keeps lines), then separate debug files.
expect_exit "inline" 0 "" "$sonde" record --call-graph dwarf -o "$tmp/inl.folded" -- "$tmp/inl" 0.5
has "$tmp/inl.folded" "main;outer_fn;inline_hot_\[i\] [0-9]+$" "inlined frame"
cp "$tmp/inl" "$tmp/inl.full"
objcopy --only-keep-debug "$tmp/inl.full" "$tmp/inl.debug"
strip --strip-all "$tmp/inl"
objcopy --add-gnu-debuglink="$tmp/inl.debug" "$tmp/inl"
expect_exit "debuglink" 0 "" "$sonde" record --call-graph dwarf -o "$tmp/dbg.folded" -- "$tmp/inl" 0.5
has "$tmp/dbg.folded" "main;outer_fn;inline_hot_\[i\] [0-9]+$" "separate debug file by .gnu_debuglink"
buildid=$(readelf -n "$tmp/inl.full" | awk '/Build ID/ { print $3 }')
mkdir -p "$tmp/dbgdir/.build-id/${buildid:0:2}"
mv "$tmp/inl.debug" "$tmp/dbgdir/.build-id/${buildid:0:2}/${buildid:2}.debug"
expect_exit "no debug file" 0 "" "$sonde" record --call-graph dwarf -o "$tmp/nodbg.folded" -- "$tmp/inl" 0.3
grep -q "outer_fn" "$tmp/nodbg.folded" && bad "stripped, no debug file: outer_fn should be unknown" || ok
has "$tmp/nodbg.folded" "inl\+0x[0-9a-f]+ [0-9]+$" "unresolved frames are module+0xOFFSET"
expect_exit "build-id" 0 "" "$sonde" record --call-graph dwarf --debug-dir "$tmp/dbgdir" -o "$tmp/bid.folded" -- "$tmp/inl" 0.5
has "$tmp/bid.folded" "main;outer_fn;inline_hot_\[i\] [0-9]+$" "separate debug file by build-id"

# Output formats from the file name.
expect_exit "pprof" 0 "wrote .*prof.pb.gz \(pprof\)" "$sonde" record -o "$tmp/prof.pb.gz" -- "$tmp/split" 0.3 0
[ "$(head -c 2 "$tmp/prof.pb.gz" | od -An -tx1 | tr -d ' ')" = 1f8b ] && ok || bad "pprof output is not gzipped"
expect_exit "speedscope" 0 "" "$sonde" record --threads -o "$tmp/prof.json" -- "$tmp/split" 0.3 0
has "$tmp/prof.json" "speedscope" "speedscope output"
expect_exit "svg" 0 "" "$sonde" record -o "$tmp/prof.svg" -- "$tmp/split" 0.3 0
has "$tmp/prof.svg" "^<svg " "flame graph output"
has "$tmp/prof.svg" "hot_a" "flame graph frames"

# Kernel frames, when permitted.
paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo 3)
if [ "$(id -u)" = 0 ] || [ "$paranoid" -le 1 ]; then
	expect_exit "kernel" 0 "" "$sonde" record --kernel -F 999 -o "$tmp/k.folded" -- dd if=/dev/zero of=/dev/null bs=64k count=200000
	has "$tmp/k.folded" "_\[k\] [0-9]+$" "kernel frames"
else
	expect_exit "kernel denied" 2 "perf_event_paranoid = $paranoid" "$sonde" record --kernel -- true
fi

echo "record: $pass passed, $fail failed" >&2
[ $fail = 0 ]
