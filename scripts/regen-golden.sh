#!/usr/bin/env bash
# regen-golden.sh - rewrites the golden files of the renderer tests (tests/golden/) from
# the current code, after an intended change of output. Review `git diff tests/golden`
# before committing: every change there is a change users see.
#
# usage: scripts/regen-golden.sh [BUILD_DIR]   (default: build)
set -euo pipefail
src=$(cd "${BASH_SOURCE[0]%/*}/.." && pwd)
build=${1:-$src/build}
cmake --build "$build" --target flame_test >/dev/null
cd "$src"
SONDE_REGEN_GOLDEN=1 "$build/tests/flame_test"
git -C "$src" status --short tests/golden
