#!/usr/bin/env bash
# Builds the libFuzzer targets (clang++, ASan + UBSan) into build-fuzz/ and runs each for
# SECONDS, two at a time (tests/fuzz/README.md).
#   tests/fuzz/run.sh SECONDS [HARNESS...]     e.g. tests/fuzz/run.sh 20, tests/fuzz/run.sh 600 fuzz_spec
# Each harness starts from its seed corpus (tests/fuzz/corpus/<harness>, kept in the repo; every
# crash ever found is there as a regression-* input) plus what earlier runs on this machine found
# (build-fuzz/corpus/<harness>, not in the repo). Prints one line per harness — executions,
# coverage (edges), corpus size, crashes — and a total; exits 1 when any harness crashed, with
# the reproducer in build-fuzz/artifacts/ (rerun: build-fuzz/tests/fuzz/<harness> FILE).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:?usage: tests/fuzz/run.sh SECONDS [HARNESS...]}
shift
jobs=${FUZZ_JOBS:-$(nproc)}
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE=-O1 -DTASKRUNNER_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)" >/dev/null
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.cpp; do harnesses+=("$(basename "$f" .cpp)"); done
fi
mkdir -p build-fuzz/artifacts build-fuzz/logs
run_one() {
  local h=$1 seconds=$2
  mkdir -p "build-fuzz/corpus/$h"
  # -max_len: the largest seed is a 10 KiB tar. -timeout: one input taking 10 s is a hang.
  # The first corpus dir receives what is found; the repo's seeds are only read.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "build-fuzz/tests/fuzz/$h" -max_total_time="$seconds" -max_len=16384 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$h-" \
    "build-fuzz/corpus/$h" "tests/fuzz/corpus/$h" >"build-fuzz/logs/$h.log" 2>&1
  echo $? >"build-fuzz/logs/$h.rc"
}
export -f run_one
printf '%s\n' "${harnesses[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} "$seconds"
failed=0
total=0
printf '%-18s %12s %8s %8s %s\n' harness execs edges corpus result
for h in "${harnesses[@]}"; do
  log=build-fuzz/logs/$h.log
  rc=$(cat "build-fuzz/logs/$h.rc")
  execs=$(awk '/stat::number_of_executed_units/ {print $2; exit}' "$log")
  edges=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
  corpus=$(find "build-fuzz/corpus/$h" "tests/fuzz/corpus/$h" -type f | wc -l)
  result=ok
  if [ "$rc" != 0 ]; then
    result="CRASH (exit $rc): $(grep -m1 -E 'ERROR|runtime error|SUMMARY' "$log" || true); see $log"
    failed=1
  fi
  total=$((total + ${execs:-0}))
  printf '%-18s %12s %8s %8s %s\n' "$h" "${execs:-?}" "${edges:-?}" "$corpus" "$result"
done
echo "fuzz: ${#harnesses[@]} harnesses, $total executions in total, ${seconds} s each"
exit $failed
