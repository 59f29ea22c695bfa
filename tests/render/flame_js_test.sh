#!/usr/bin/env bash
# flame_js_test.sh - the flame graph's embedded script, run by node against a stand-in DOM
# (tests/render/flame_js.js): search and its matched share, zoom, reset, label fitting,
# on the golden SVG. Exits 77 (skipped) when node is missing.
set -euo pipefail
src=${SONDE_SRC:-$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)}
if ! command -v node >/dev/null 2>&1; then
	echo "flame_js_test: skipped: node is not installed"
	exit 77
fi
node "$src/tests/render/flame_js.js" "$src/tests/golden/flame-basic.svg"
