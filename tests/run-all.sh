#!/usr/bin/env bash
# The whole test suite on a fresh Debian bookworm machine (as root): installs the build
# dependencies, builds the static binary and the tests, runs unit + end-to-end tests, then
# builds the unit tests again with AddressSanitizer + UndefinedBehaviorSanitizer and runs them,
# runs every libFuzzer harness for 20 s (tests/fuzz), and checks clang-format and clang-tidy.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash tests/install-deps.sh
PY=$(bash tests/test-python.sh)
echo "run-all: test interpreter $PY"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DTASKRUNNER_TEST_PYTHON="$PY"
cmake --build build -j "$(nproc)"
file build/taskrunner | grep -q "statically linked" || { echo "run-all: build/taskrunner is not static" >&2; exit 1; }
size=$(strip -o /tmp/taskrunner.stripped build/taskrunner && stat -c %s /tmp/taskrunner.stripped)
echo "run-all: static binary, $size bytes stripped"
[ "$size" -le 8388608 ] || { echo "run-all: stripped binary larger than 8 MB" >&2; exit 1; }
(cd build && ctest --output-on-failure -j 2)

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTASKRUNNER_SANITIZE=ON -DTASKRUNNER_E2E=OFF
cmake --build build-asan -j "$(nproc)" --target unit_tests
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j 2)
bash tests/fuzz/run.sh "${FUZZ_SECONDS:-20}"
bash tests/lint.sh
echo "run-all: passed in $(( $(date +%s) - start )) s"
