#!/usr/bin/env bash
# The NEON (AArch64 Advanced SIMD) path against the scalar reference, bit for bit, on an x86-64
# machine: cross-compiles the scalar kernels, the NEON kernels and the dot-equality part of
# tests/kernels/test_isa.c (-DLLM_TEST_ISA_DOTS_ONLY: the pool / llm_matmul part needs BLIS,
# which is not available for AArch64 here) and of tests/kernels/test_fast.c (the FAST-precision
# kernels) for baseline armv8-a, statically linked, checks that
# the NEON objects contain no fused multiply-add, and runs the test under qemu-aarch64.
# Independent of CMake (tests/neon.cmake registers it with ctest, label "neon").
#   tests/neon/run_neon_tests.sh [BUILD_DIR] [SEED]
# Environment: AARCH64_CC (default aarch64-linux-gnu-gcc), QEMU_AARCH64 (default qemu-aarch64),
# AARCH64_OBJDUMP (default: the objdump next to the compiler), NEON_CFLAGS (extra flags).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-}"
seed="${2:-}"
cc="${AARCH64_CC:-aarch64-linux-gnu-gcc}"
qemu="${QEMU_AARCH64:-qemu-aarch64}"
objdump="${AARCH64_OBJDUMP:-${cc%gcc}objdump}"

for tool in "$cc" "$qemu"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "run_neon_tests: $tool not found (Debian: apt-get install gcc-aarch64-linux-gnu qemu-user)" >&2
    exit 1
  fi
done
if [ -z "$out" ]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

# The project's warning set (CMakeLists.txt LLM_WARNINGS) plus the ISO C mode of its build.
cflags=(-std=c11 -O2 -march=armv8-a -Wall -Wextra -Wshadow -Wno-unused-parameter -Werror
        -D_GNU_SOURCE -I"$root/include" -I"$root/lib" -I"$root" -I"$root/tests")
# shellcheck disable=SC2206
extra=(${NEON_CFLAGS:-})

lib_srcs=("$root"/kernels/cpu/scalar/*.c "$root/kernels/dtype.c" "$root/kernels/cpu/isa.c"
          "$root/lib/util/common.c")
neon_srcs=("$root"/kernels/cpu/neon/*.c)
objs=()
compile() { # src obj [defines...]
  local src="$1" obj="$2"
  shift 2
  "$cc" "${cflags[@]}" "${extra[@]}" "$@" -c "$src" -o "$obj"
  objs+=("$obj")
}
for src in "${lib_srcs[@]}" "${neon_srcs[@]}"; do
  rel="${src#"$root"/}"
  compile "$src" "$out/$(echo "${rel%.c}" | tr / _).o" -DLLM_BUILDING
done
lib_objs=("${objs[@]}")
compile "$root/tests/kernels/test_isa.c" "$out/test_isa.o" -DLLM_TEST_ISA_DOTS_ONLY
objs=("${lib_objs[@]}")
compile "$root/tests/kernels/test_fast.c" "$out/test_fast.o" -DLLM_TEST_ISA_DOTS_ONLY

# No fused multiply-add in the NEON kernels or the scalar reference they are compared with: an
# FMLA / FMADD would round once where the reference rounds twice.
fused=0
if command -v "$objdump" >/dev/null 2>&1; then
  for o in "$out"/kernels_cpu_neon_*.o "$out/kernels_cpu_scalar_quant.o" "$out/kernels_cpu_scalar_fast_dot.o"; do
    hits="$("$objdump" -d "$o" | grep -Ei '\s(fmla|fmls|fmadd|fmsub|fnmadd|fnmsub)\s' || true)"
    if [ -n "$hits" ]; then
      echo "run_neon_tests: $(basename "$o") contains fused multiply-add instructions, e.g.:" >&2
      printf '%s\n' "$hits" | sed -n 1,5p >&2
      fused=1
    fi
  done
else
  echo "run_neon_tests: $objdump not found, fused multiply-add check skipped" >&2
fi

rc=0
for t in test_isa test_fast; do
  "$cc" -static "${lib_objs[@]}" "$out/$t.o" -lm -o "$out/${t}_neon"
  echo "run_neon_tests: built $out/${t}_neon ($cc, -march=armv8-a), running it under $qemu"
  if file "$out/${t}_neon" 2>/dev/null | grep -q 'dynamically linked'; then
    "$qemu" -L /usr/aarch64-linux-gnu "$out/${t}_neon" ${seed:+"$seed"} || rc=$?
  else
    "$qemu" "$out/${t}_neon" ${seed:+"$seed"} || rc=$?
  fi
done
if [ "$fused" != 0 ]; then
  echo "run_neon_tests: FAILED (fused multiply-add in the kernels)" >&2
  exit 1
fi
exit "$rc"
