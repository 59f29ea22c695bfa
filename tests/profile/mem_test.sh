#!/usr/bin/env bash
# mem_test.sh - sonde mem as a user meets it: known allocation patterns with threads and
# a fork (--all: the peak within 1% of the truth, the leaks exactly the leaked blocks with
# their functions), sampling (totals within 10% of the truth), a program using realloc,
# posix_memalign, calloc, C++ new/delete, mmap and dlopen that prints the same with and
# without sonde mem, the report's outputs, and bad input (exit 2 naming the offset).
#
# libsonde_mem.so is built without sanitizers whatever the build (CMakeLists.txt), so this
# test runs under the ASan build too: only the sonde command itself is instrumented.
set -uo pipefail
sonde=${SONDE_BIN:?SONDE_BIN not set}
src=${SONDE_SRC:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$src/tests/lib/check.sh"
py=/usr/bin/python3

p=$src/tests/profile/progs
cc=${CC:-gcc}
$cc -O2 -g -pthread "$p/mem_pattern.c" -o "$tmp/mem_pattern" &&
	$cc -O2 -g -fPIC -shared "$p/mem_plugin.c" -o "$tmp/libmem_plugin.so" &&
	g++ -O2 -g "$p/mem_same.cc" -o "$tmp/mem_same" -ldl || {
	echo "FAIL: cannot build the test programs" >&2
	exit 1
}

# Usage and errors.
expect_exit "no command" 2 "no command to run" "$sonde" mem
expect_exit "all and sample" 2 "exclude each other" "$sonde" mem --all --sample-bytes 10 -- true
expect_exit "bad sample bytes" 2 "--sample-bytes: expected a positive" "$sonde" mem --sample-bytes 0 -- true
expect_exit "no such command" 127 "cannot run 'no-such-command-xyz'" "$sonde" mem -o "$tmp/x.mem" -- no-such-command-xyz
expect_exit "report without file" 2 "which recording" "$sonde" mem report
expect_exit "report missing file" 2 "no-such.mem: No such file" "$sonde" mem report "$tmp/no-such.mem"
expect_exit "flame without -o" 2 "go together" "$sonde" mem report "$tmp/x.mem" --flame peak
expect_exit "--help" 0 "" "$sonde" mem --help
has "$tmp/out" "^examples:" "mem --help"
expect_exit "lib override" 2 "cannot find libsonde_mem.so" env SONDE_MEM_LIB=/nonexistent/lib.so "$sonde" mem -- true
# The command's exit status passes through; its output is its own.
expect_exit "exit status" 7 "every allocation" "$sonde" mem --all -o "$tmp/sh.mem" -- sh -c 'echo hi; exit 7'
has "$tmp/out" "^hi$" "command output"

# --all: threads (one frees what another allocated), a peak, leaks, a forked child.
"$sonde" mem --all -o "$tmp/pat.mem" -- "$tmp/mem_pattern" all >"$tmp/truth" 2>"$tmp/err"
rc=$?
[ $rc = 0 ] && ok || bad "mem --all mem_pattern: exit $rc: $(cat "$tmp/err")"
has "$tmp/err" "3 threads" "summary threads"
has "$tmp/err" "a child process recorded into .*pat.mem.[0-9]+" "summary child"
cp "$tmp/err" "$tmp/summary"
"$sonde" mem report "$tmp/pat.mem" --json >"$tmp/pat.json" 2>"$tmp/err" || bad "report --json: $(cat "$tmp/err")"
# The summary looks at the record headers only (sonde_memfile_peek); its figures are the
# report's, which decodes every event.
$py - "$tmp/summary" "$tmp/pat.json" <<'PY' && ok || bad "summary figures are the report's"
import json, re, sys
m = re.search(r"([0-9]+) events, ([0-9]+) stacks, ([0-9]+) threads", open(sys.argv[1]).read())
rep = json.load(open(sys.argv[2]))
if not m or int(m.group(1)) != rep["events"] or int(m.group(3)) != rep["threads"] or int(m.group(2)) < 1:
    print("summary %s, report %d events, %d threads" % (m and m.group(0), rep["events"], rep["threads"]), file=sys.stderr)
    sys.exit(1)
PY
child=$(sed -n 's/.* child=\([0-9]*\).*/\1/p' "$tmp/truth")
"$sonde" mem report "$tmp/pat.mem.$child" --json >"$tmp/child.json" 2>"$tmp/err" || bad "child report: $(cat "$tmp/err")"
$py - "$tmp/truth" "$tmp/pat.json" "$tmp/child.json" "$tmp/mem_pattern" <<'PY' && ok || bad "mem_pattern --all figures"
import json, re, sys
truth = dict(kv.split("=") for kv in open(sys.argv[1]).read().split())
rep, child, prog = json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), sys.argv[4]
fails = []
peak = int(truth["peak"])
if abs(rep["peak"]["bytes"] - peak) > 0.01 * peak:
    fails.append("peak %d, truth %d" % (rep["peak"]["bytes"], peak))
def own_leaks(r):
    # Leaks allocated by the program's own code (libc's thread bookkeeping is not ours).
    out = {}
    for s in r["leaks"]["stacks"]:
        f = s["frames"][0]
        if f["module"] == prog:
            c, b = out.get(f["function"], (0, 0))
            out[f["function"]] = (c + s["count"], b + s["bytes"])
    return out
want = {k: tuple(int(x) for x in truth[k].split(",")) for k in ("leak_here", "thread_leak")}
if own_leaks(rep) != want:
    fails.append("leaks %s, truth %s" % (own_leaks(rep), want))
for s in rep["leaks"]["stacks"]:
    names = [f["function"] for f in s["frames"]]
    if names[0] == "thread_leak" and names[1:3] != ["producer", "start_thread"]:
        fails.append("thread_leak stack %s" % names)
    if names[0] == "leak_here" and "run_all" not in names:
        fails.append("leak_here stack %s" % names)
cw = {"child_leak": tuple(int(x) for x in truth["child_leak"].split(","))}
if own_leaks(child) != cw:
    fails.append("child leaks %s, truth %s" % (own_leaks(child), cw))
if rep["threads"] != 3:
    fails.append("threads %d" % rep["threads"])
# The producer's 2000 malloc/free pairs are temporary; the handed-off blocks are not leaks.
if not any(s["count"] == 2000 and s["frames"][0]["function"] == "producer" for s in rep["temporary"]):
    fails.append("temporary: %s" % rep["temporary"][:2])
if fails:
    print("\n".join(fails), file=sys.stderr)
    sys.exit(1)
PY
"$sonde" mem report "$tmp/pat.mem" >"$tmp/report.txt" 2>"$tmp/err" || bad "report text"
has "$tmp/report.txt" "^leaks: live at exit" "text leaks section"
has "$tmp/report.txt" "5 blocks +leak_here \(mem_pattern.c:[0-9]+\) <- run_all" "text names the leaking function"
has "$tmp/report.txt" "^leaks by count" "text leaks by count"
has "$tmp/report.txt" "^ +5 +[0-9.]+%  leak_here \(mem_pattern.c:[0-9]+\)" "leaks by count names the function"
has "$tmp/report.txt" "^peak heap: 7\.[0-9] MiB" "text peak"
has "$tmp/report.txt" "make_peak \(mem_pattern.c:[0-9]+\)" "text peak stack"
has "$tmp/report.txt" "^  [▁▂▃▄▅▆▇█]+ " "sparkline"
expect_exit "fail on leaks" 1 "" "$sonde" mem report "$tmp/pat.mem" --fail-on-leaks

# Flame graphs and profiles through the CPU profiler's writers, and the plot.
expect_exit "flame leak folded" 0 "" "$sonde" mem report "$tmp/pat.mem" --flame leak -o "$tmp/leak.folded"
has "$tmp/leak.folded" ";main;run_all(_\[i\])?;leak_here 5010$" "leak folded"
expect_exit "flame peak svg" 0 "" "$sonde" mem report "$tmp/pat.mem" --flame peak -o "$tmp/peak.svg"
has "$tmp/peak.svg" "make_peak" "peak svg"
expect_exit "flame alloc speedscope" 0 "" "$sonde" mem report "$tmp/pat.mem" --flame alloc -o "$tmp/alloc.json"
has "$tmp/alloc.json" "speedscope" "speedscope"
expect_exit "flame alloc pprof" 0 "" "$sonde" mem report "$tmp/pat.mem" --flame alloc -o "$tmp/alloc.pb.gz"
[ "$(head -c 2 "$tmp/alloc.pb.gz" | od -An -tx1 | tr -d ' ')" = 1f8b ] && ok || bad "pprof is not gzip"
expect_exit "pprof reads back" 0 "" "$sonde" flame "$tmp/alloc.pb.gz" --type alloc_space -o "$tmp/back.folded"
has "$tmp/back.folded" "make_peak" "pprof read back"
expect_exit "flame bad kind" 2 "expected peak, alloc or leak" "$sonde" mem report "$tmp/pat.mem" --flame free -o "$tmp/x.svg"
expect_exit "plot" 0 "" "$sonde" mem report "$tmp/pat.mem" --plot "$tmp/heap.svg"
has "$tmp/heap.svg" "<polyline" "plot line"
has "$tmp/heap.svg" "peak 7\.[0-9] MiB" "plot peak"

# Eight threads freeing each other's blocks: every allocation counted, none left over.
"$sonde" mem --all -q -o "$tmp/st.mem" -- "$tmp/mem_pattern" stress >"$tmp/sttruth" 2>"$tmp/err" || bad "stress run: $(cat "$tmp/err")"
"$sonde" mem report "$tmp/st.mem" --json >"$tmp/st.json" 2>"$tmp/err" || bad "stress report: $(cat "$tmp/err")"
$py - "$tmp/sttruth" "$tmp/st.json" <<'PY' && ok || bad "stress figures"
import json, sys
want = int(open(sys.argv[1]).read().split("=")[1])
rep = json.load(open(sys.argv[2]))
got = sum(s["count"] for s in rep["top_by_count"] if s["frames"][0]["function"] == "stress_worker")
leaked = [s for s in rep["leaks"]["stacks"] if any(f["function"] == "stress_worker" for f in s["frames"])]
if got != want or leaked or rep["threads"] != 9 or rep["lost_events"]:
    print("stress: %d allocations (truth %d), leaks %s, %d threads" % (got, want, leaked, rep["threads"]), file=sys.stderr)
    sys.exit(1)
PY

# Sampling: estimates over many allocations within 10% of the truth.
"$sonde" mem -q -o "$tmp/s.mem" -- "$tmp/mem_pattern" sample >"$tmp/struth" 2>"$tmp/err" || bad "sampling run: $(cat "$tmp/err")"
"$sonde" mem report "$tmp/s.mem" --json >"$tmp/s.json" 2>"$tmp/err" || bad "sampling report: $(cat "$tmp/err")"
$py - "$tmp/struth" "$tmp/s.json" <<'PY' && ok || bad "sampling estimates"
import json, sys
truth = dict(kv.split("=") for kv in open(sys.argv[1]).read().split())
rep = json.load(open(sys.argv[2]))
fails = []
if rep["mode"] != "sampled":
    fails.append("mode %s" % rep["mode"])
for k in ("alloc_bytes", "alloc_count"):
    t = int(truth[k])
    if abs(rep[k] - t) > 0.10 * t:
        fails.append("%s %d, truth %d" % (k, rep[k], t))
if rep["events"] > 20000:
    fails.append("%d events: not sampled" % rep["events"])
if fails:
    print("\n".join(fails), file=sys.stderr)
    sys.exit(1)
PY

# Sampling while hundreds of sampled blocks are live, half of the frees on another thread:
# the free of every sampled block is still seen (a missed one would show as a leak), so the
# leaks are the large blocks leaked on purpose, within 10%.
"$sonde" mem -q --sample-bytes 8192 -o "$tmp/live.mem" -- "$tmp/mem_pattern" live >"$tmp/ltruth" 2>"$tmp/err" || bad "sampling live run: $(cat "$tmp/err")"
"$sonde" mem report "$tmp/live.mem" --json >"$tmp/live.json" 2>"$tmp/err" || bad "sampling live report: $(cat "$tmp/err")"
$py - "$tmp/ltruth" "$tmp/live.json" <<'PY' && ok || bad "sampling with live blocks"
import json, sys
truth = dict(kv.split("=") for kv in open(sys.argv[1]).read().split())
rep = json.load(open(sys.argv[2]))
fails = []
for k, got in (("alloc_bytes", rep["alloc_bytes"]), ("alloc_count", rep["alloc_count"]),
               ("leak_bytes", rep["leaks"]["bytes"])):
    t = int(truth[k])
    if abs(got - t) > 0.10 * t:
        fails.append("%s %d, truth %d" % (k, got, t))
named = sum(s["bytes"] for s in rep["leaks"]["stacks"] if s["frames"][0]["function"] == "sample_leak")
if abs(named - int(truth["leak_bytes"])) > 0.10 * int(truth["leak_bytes"]):
    fails.append("sample_leak leaks %d, truth %s" % (named, truth["leak_bytes"]))
if fails:
    print("\n".join(fails), file=sys.stderr)
    sys.exit(1)
PY

# The same output with and without sonde mem (realloc, aligned, calloc, C++, mmap, dlopen).
"$tmp/mem_same" "$tmp/libmem_plugin.so" >"$tmp/plain.out" 2>&1
"$sonde" mem --all -q -o "$tmp/same.mem" -- "$tmp/mem_same" "$tmp/libmem_plugin.so" >"$tmp/all.out" 2>&1
"$sonde" mem -q --sample-bytes 4096 -o "$tmp/same_s.mem" -- "$tmp/mem_same" "$tmp/libmem_plugin.so" >"$tmp/sampled.out" 2>&1
has "$tmp/plain.out" "^hash [0-9a-f]{16}$" "mem_same output"
cmp -s "$tmp/plain.out" "$tmp/all.out" && ok || bad "output differs under --all: $(cat "$tmp/all.out")"
cmp -s "$tmp/plain.out" "$tmp/sampled.out" && ok || bad "output differs under sampling: $(cat "$tmp/sampled.out")"
"$sonde" mem report "$tmp/same.mem" --top 40 >"$tmp/same.txt" 2>"$tmp/err" || bad "mem_same report"
# The library was closed before exit; its frames still have names.
has "$tmp/same.txt" "^ +300 B .*plugin_work \(mem_plugin.c:[0-9]+\) <- main" "dlclosed library leak"
has "$tmp/same.txt" "operator new\(unsigned long\) <- .*main" "C++ new"
has "$tmp/same.txt" "^ +1\.0 MiB .*main \(mem_same.cc:[0-9]+\)" "mmap at the peak"

# Bad input: exit 2 naming the offset and what was expected.
size=$(stat -c %s "$tmp/pat.mem")
head -c $((size - 7)) "$tmp/pat.mem" >"$tmp/trunc.mem"
expect_exit "truncated" 2 "trunc.mem: offset [0-9]+: field record length: expected [0-9]+ bytes" "$sonde" mem report "$tmp/trunc.mem"
printf 'NOTAMEMFILE%.0s' 1 2 3 4 5 >"$tmp/magic.mem"
expect_exit "bad magic" 2 "offset 0: field magic: expected \"SONDEMEM\"" "$sonde" mem report "$tmp/magic.mem"
: >"$tmp/empty.mem"
expect_exit "empty" 2 "field header: expected a 48-byte header" "$sonde" mem report "$tmp/empty.mem"
cp "$tmp/pat.mem" "$tmp/kind.mem"
# The first record after the header: make its type unknown.
printf '\x09' | dd of="$tmp/kind.mem" bs=1 seek=48 conv=notrunc status=none
expect_exit "bad record type" 2 "offset 48: field record type" "$sonde" mem report "$tmp/kind.mem"
# An ALLOC flagged SAME (0x21: its ptr is the last one of its size class) first in its
# record, where no size class has a ptr yet.
{
	head -c 48 "$tmp/pat.mem"
	printf '\x03\x08\x00\x00\x00\x01\x00\x00\x00\x21\x01\x10\x00'
} >"$tmp/same.mem"
expect_exit "SAME without a ptr" 2 "offset 57: field size class: expected an earlier ALLOC or TEMP" "$sonde" mem report "$tmp/same.mem"

[ $fail = 0 ] && echo "mem_test: $pass checks passed"
[ $fail = 0 ]
