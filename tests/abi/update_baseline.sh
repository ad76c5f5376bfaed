#!/usr/bin/env bash
# Records the ABI of a built libllm.so as the new baseline: tests/abi/libllm.abi (libabigail)
# and tests/abi/exports.txt (exported symbols). Run it on purpose, after a change to llm.h:
#   bash tests/abi/update_baseline.sh [BUILD_DIR]      (default: build)
# It refuses to record a removal or change of existing API under the same SONAME unless
# FORCE=1 is set: raise the major version in CMakeLists.txt instead.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
build="${1:-$src/build}"
lib="$build/libllm.so"
. "$here/common.sh"
[ -e "$lib" ] || { echo "no $lib: build first (cmake -S . -B build && cmake --build build)"; exit 1; }
command -v abidw >/dev/null || { echo "abidw not found: apt-get install abigail-tools"; exit 1; }
readelf -S "$lib" | grep '\.debug_info' >/dev/null || { echo "$lib has no debug info (-g)"; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
dump_abi "$lib" "$src" "$tmp/libllm.abi" || { echo "abidw failed"; exit 1; }

if [ -e "$here/libllm.abi" ]; then
  old_soname="$(sed -n "1s/.*soname='\([^']*\)'.*/\1/p" "$here/libllm.abi")"
  abidiff --no-added-syms "$here/libllm.abi" "$tmp/libllm.abi" > "$tmp/diff.txt" 2>&1
  rc=$?
  if [ "$rc" -ne 0 ] && [ "$old_soname" = "$(soname_of "$lib")" ] && [ "${FORCE:-0}" != 1 ]; then
    cat "$tmp/diff.txt"
    echo "refusing: this changes or removes API of $old_soname (abidiff exit status $rc)."
    echo "Raise the major version in CMakeLists.txt, or set FORCE=1 to record it anyway."
    exit 1
  fi
fi
cp "$tmp/libllm.abi" "$here/libllm.abi"
{
  echo "# Symbols exported by $(soname_of "$lib"), checked by test_abi_exports."
  echo "# Regenerate with tests/abi/update_baseline.sh, never by hand."
  exported_symbols "$lib"
} > "$here/exports.txt"
echo "updated tests/abi/libllm.abi and tests/abi/exports.txt ($(grep -vc '^#' "$here/exports.txt") symbols)"
