#!/usr/bin/env bash
# fuzz.sh BUILD_DIR SECONDS - runs every libFuzzer target in BUILD_DIR/fuzz for SECONDS
# each, starting from its seed corpus in fuzz/corpus/<name>/ (new inputs go to a scratch
# copy so the checked-in corpus stays small). Fails on the first crash, leak or timeout.
set -euo pipefail
build=$1
secs=$2
cd "$(dirname "$0")/.."
status=0
for f in "$build"/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	name=${name#fuzz_}
	work=$(mktemp -d)
	if [ -d "fuzz/corpus/$name" ]; then cp -r "fuzz/corpus/$name/." "$work/"; fi
	echo "fuzz: $name for ${secs}s" >&2
	if ! "$f" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$work/" "$work" >"$work.log" 2>&1; then
		echo "fuzz: $name FAILED; log and artifacts:" >&2
		tail -40 "$work.log" >&2
		ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null >&2 || true
		status=1
	else
		grep -E 'stat::number_of_executed_units' "$work.log" | sed "s/^/fuzz: $name: /" >&2 || true
	fi
	rm -rf "$work" "$work.log"
done
exit $status
