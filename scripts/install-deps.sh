#!/usr/bin/env bash
# install-deps.sh - installs every Debian package sonde's build, tests, benchmarks and
# interop peers need, and the pinned npm packages of tests/interop. Idempotent: when all is
# present it installs nothing. `--check` only reports what is missing (exit 1 if anything).
set -euo pipefail

cd "$(dirname "$0")/.."

PACKAGES=(
	# build
	build-essential cmake pkg-config clang llvm libclang-rt-14-dev
	# libraries
	libcmocka-dev libjansson-dev zlib1g-dev libcurl4-openssl-dev
	libsqlite3-dev sqlite3 libelf-dev libdw-dev libunwind-dev libmicrohttpd-dev
	libgsl-dev libyaml-dev
	# opened at run time to inflate compressed debug sections (zlib when it is missing)
	libdeflate0
	# checks and tools the tests and CI run
	clang-format cppcheck python3
	# interop peers
	nodejs prometheus protobuf-compiler clickhouse-server heaptrack
	# the HTML report is opened in headless Chromium by its test
	chromium
	# statistics references (run by the tests with Debian's /usr/bin/python3)
	python3-scipy python3-statsmodels
)

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
# npm ships inside some nodejs builds; Debian's own nodejs needs the npm package.
if ! command -v npm >/dev/null 2>&1; then
	missing+=(npm)
fi

npm_needed=0
if [ ! -d tests/interop/node_modules ] ||
	[ tests/interop/package-lock.json -nt tests/interop/node_modules/.package-lock.json ]; then
	npm_needed=1
fi

if [ "${1:-}" = "--check" ]; then
	if [ ${#missing[@]} -gt 0 ]; then
		echo "missing Debian packages: ${missing[*]}" >&2
		exit 1
	fi
	if [ "$npm_needed" = 1 ] && [ -f tests/interop/package-lock.json ]; then
		echo "missing npm packages in tests/interop" >&2
		exit 1
	fi
	exit 0
fi

if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}" >&2
	SUDO=""
	if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$npm_needed" = 1 ] && [ -f tests/interop/package-lock.json ]; then
	echo "install-deps: npm ci in tests/interop" >&2
	(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
exit 0
