#!/usr/bin/env bash
# Runs every test: installs dependencies, builds libllm twice (optimised, and with
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs the whole ctest suite on both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install_deps.sh >/dev/null
jobs=$(nproc)
PY="$(command -v "${PYTHON:-python3}")"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLLM_WERROR=ON -DPython3_EXECUTABLE="$PY" >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j1

# ASan's allocator and the leak checker need no special setup; UBSan stops at the first error.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLLM_SANITIZE=ON -DLLM_WERROR=ON \
      -DPython3_EXECUTABLE="$PY" >/dev/null
cmake --build build-asan -j"$jobs"
# Tests that load libllm.so into the Python interpreter itself (label "ctypes") run in the first
# pass only; everything else, pytest suites driving instrumented executables included, runs here.
ctest --test-dir build-asan --output-on-failure -j1 -LE ctypes
