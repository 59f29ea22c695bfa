#!/usr/bin/env bash
# install_test.sh - `cmake --install` gives a user what the README promises: the sonde
# command, libsonde with its headers, a pkg-config file and a CMake package that build a
# C service against it, and libsonde_mem.so where `sonde mem` finds it.
set -euo pipefail
build=${SONDE_BUILD:?}
src=${SONDE_SRC:-$PWD}
# A sanitizer build's libsonde.so needs its runtime in the program: not what users link.
# (nm's output is read whole: grep -q closing the pipe early would fail it under pipefail)
syms=$(nm -D "$build"/libsonde.so 2>/dev/null || true)
if grep -q ' U __asan_init\| U __tsan_init' <<<"$syms"; then
	echo "skip: sanitizer build" >&2
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
[ -x "$prefix/bin/sonde" ] || fail "no bin/sonde"
libdir=$(dirname "$(find "$prefix" -name 'libsonde.so.0' -print -quit)")
[ -n "$libdir" ] && [ -e "$libdir/libsonde.so" ] || fail "no libsonde.so"
[ -f "$prefix/include/sonde/trace.h" ] || fail "no include/sonde/trace.h"
[ -f "$libdir/pkgconfig/sonde.pc" ] || fail "no pkgconfig/sonde.pc"
[ -f "$libdir/cmake/sonde/sondeConfig.cmake" ] || fail "no cmake/sonde/sondeConfig.cmake"

# A service that starts, traces one span to a file and shuts down.
cat >"$tmp/app.c" <<'C'
#include <sonde/trace.h>
#include <sonde/export.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	sonde_trace_config cfg = {0};
	cfg.service_name = "installed-app";
	sonde_exporter *ex = sonde_exporter_file_new(argv[1]);
	if (!ex)
		return 3;
	cfg.exporters[0] = ex;
	cfg.exporters_count = 1;
	if (sonde_trace_init(&cfg) != 0)
		return 4;
	sonde_span *sp = sonde_span_start(sonde_tracer_get("app", NULL, NULL), "work");
	sonde_span_end(sp);
	return sonde_trace_shutdown(2000) == 0 ? 0 : 5;
	(void)argc;
}
C
# 1. pkg-config
export PKG_CONFIG_PATH=$libdir/pkgconfig
${CC:-cc} -std=c11 -Wall -Werror -o "$tmp/app-pc" "$tmp/app.c" $(pkg-config --cflags --libs sonde)
LD_LIBRARY_PATH=$libdir "$tmp/app-pc" "$tmp/pc.jsonl" || fail "pkg-config build did not run ($?)"
grep -q '"installed-app"' "$tmp/pc.jsonl" || fail "no span from the pkg-config build"

# 2. CMake package
mkdir -p "$tmp/proj"
cp "$tmp/app.c" "$tmp/proj/"
cat >"$tmp/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.20)
project(app C)
find_package(sonde 0.1 REQUIRED)
add_executable(app app.c)
target_link_libraries(app PRIVATE sonde::sonde)
CM
cmake -S "$tmp/proj" -B "$tmp/proj/build" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cmake.log" ||
	{ cat "$tmp/cmake.log" >&2; fail "find_package(sonde) failed"; }
cmake --build "$tmp/proj/build" >>"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log" >&2; fail "CMake build failed"; }
LD_LIBRARY_PATH=$libdir "$tmp/proj/build/app" "$tmp/cm.jsonl" || fail "CMake build did not run"
grep -q '"installed-app"' "$tmp/cm.jsonl" || fail "no span from the CMake build"

# 3. The installed sonde reads what the app wrote, and finds its allocation recorder.
"$prefix/bin/sonde" convert --to text "$tmp/cm.jsonl" | grep -q 'work' || fail "installed sonde cannot read the spans"
if [ -f "$build/libsonde_mem.so" ]; then
	[ -f "$prefix/lib/sonde/libsonde_mem.so" ] || fail "no lib/sonde/libsonde_mem.so"
	SONDE_MEM_LIB= "$prefix/bin/sonde" mem -o "$tmp/true.mem" -- true 2>"$tmp/mem.log" ||
		{ cat "$tmp/mem.log" >&2; fail "installed sonde mem cannot find its library"; }
fi
echo "install: bin, libsonde, headers, pkg-config, CMake package and sonde mem work from $prefix"
