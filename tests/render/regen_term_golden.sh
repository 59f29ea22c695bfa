#!/bin/bash
# Regenerates the golden files of tests/render/term_test.c after an intended change to the
# terminal renderers. Usage: tests/render/regen_term_golden.sh [BUILD_DIR]  (default build)
# Review `git diff tests/render/golden` before committing.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
cmake --build "$build" --target term_test
SONDE_REGEN_GOLDEN=1 "$build/tests/term_test"
git status --short tests/render/golden
