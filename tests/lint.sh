#!/usr/bin/env bash
# clang-format check and clang-tidy over runner/ (needs build/compile_commands.json).
set -euo pipefail
cd "$(dirname "$0")/.."
clang-format --dry-run --Werror $(git ls-files '*.cpp' '*.hpp')
files=$(git ls-files 'runner/*.cpp' | grep -v boost_process_src.cpp)
printf '%s\n' $files | xargs -P "$(nproc)" -n 4 clang-tidy -p build --quiet --extra-arg=-Wno-unknown-warning-option
echo "lint: clean"
