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
# Every instruction-set path gives bit-identical results; run the forward-pass tests again on
# the lower paths this CPU has (the first pass used the best one).
for isa in scalar avx2; do
  if [ "$isa" = avx2 ] && ! grep -qw avx2 /proc/cpuinfo; then continue; fi
  echo "== forward-pass tests with LLM_CPU_ISA=$isa"
  LLM_CPU_ISA=$isa ctest --test-dir build --output-on-failure -j1 -L isa
done

# ASan's allocator and the leak checker need no special setup; UBSan stops at the first error.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The CUDA plugin is left out of this build: nothing runs its device code here, and its host
# side (loading, fallback) is covered by the mock-plugin tests that this build does run.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLLM_SANITIZE=ON -DLLM_WERROR=ON -DLLM_CUDA=OFF \
      -DPython3_EXECUTABLE="$PY" >/dev/null
cmake --build build-asan -j"$jobs"
# Left out here, run in the first pass only: tests that load libllm.so into an uninstrumented
# process (labels "ctypes": Python and Rust bindings; "no-asan": the install consumer), and the
# long end-to-end CLI runs on the real model (label "e2e", ~6 min under ASan for no extra
# coverage: the same library calls run instrumented in test_api).
ctest --test-dir build-asan --output-on-failure -j1 -LE "ctypes|no-asan|e2e"
