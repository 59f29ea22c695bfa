# sonde - the two commands a newcomer needs are `make demo` and `make test`.
#
#   make          build (RelWithDebInfo, -Werror) into build/
#   make test     install what is missing, build, run every test: the unit, golden and
#                 interop tests (gcc), the same under clang with ASan+UBSan, the format
#                 check, and a short run of every fuzz target
#   make demo     install what is missing, build, run sonde's main job end to end
#   make check    just build + run the tests once (no sanitizers, no fuzz smoke)
#   make asan     the test suite under clang + AddressSanitizer + UndefinedBehaviorSanitizer
#   make tsan     libsonde's threaded tests under ThreadSanitizer
#   make bench    optimised build, run every benchmark in bench/
#   make fuzz     build the libFuzzer targets; run each FUZZ_SECONDS (default 60)
#   make format   reformat the sources with clang-format; make check-format checks them
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
CMAKE_FLAGS ?=

SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null | grep -v '^tests/interop/')

.PHONY: all build deps test check asan tsan clang demo bench fuzz fuzz-smoke format check-format clean

all: build

deps:
	@scripts/install-deps.sh --check 2>/dev/null || scripts/install-deps.sh

build:
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j $(JOBS)

check: build
	ctest --test-dir build --output-on-failure -j $(JOBS)

test: deps check-format check asan tsan clang fuzz-smoke
	@echo "make test: all suites passed"

asan:
	@CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSONDE_SANITIZE=ON \
		-DSONDE_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --test-dir build-asan --output-on-failure -j $(JOBS) -E '^interop/'

# libsonde's threaded tests under ThreadSanitizer (die_after_fork=0: the fork test starts
# the child's exporter thread, which TSan otherwise refuses in a multi-threaded fork).
tsan:
	@CC=clang cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSONDE_BENCH=OFF \
		-DCMAKE_C_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
		-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-tsan -j $(JOBS)
	TSAN_OPTIONS=halt_on_error=1:die_after_fork=0 ctest --test-dir build-tsan --output-on-failure \
		-j $(JOBS) -R '^instrument/|^store/(readahead|checkpoint)_test'

# Builds everything with clang -Werror too (gcc and clang warn about different things).
clang:
	@CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-clang -j $(JOBS)

build-fuzz:
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSONDE_FUZZ=ON \
		-DSONDE_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-fuzz -j $(JOBS)

fuzz: build-fuzz
	@scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

fuzz-smoke: build-fuzz
	@scripts/fuzz.sh build-fuzz 10

demo: deps build
	@scripts/demo.sh build/sonde

bench: deps
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DSONDE_WERROR=ON >/dev/null
	@cmake --build build-bench -j $(JOBS)
	@for b in build-bench/bench/*_bench; do echo "== $$b"; SONDE_DATA=$(CURDIR)/../shared/data $$b || exit 1; done

format:
	clang-format -i $(SOURCES)

check-format:
	@clang-format --dry-run --Werror $(SOURCES) && echo "check-format: ok"

clean:
	rm -rf build build-asan build-tsan build-clang build-fuzz build-bench
