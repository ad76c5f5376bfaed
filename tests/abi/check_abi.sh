#!/usr/bin/env bash
# Compares the ABI of the built libllm.so with the baseline tests/abi/libllm.abi (libabigail).
#   check_abi.sh LIBLLM_SO SOURCE_DIR WORK_DIR
# Added functions pass (0.x grows by additions); removed or changed functions, types or enum
# values fail, unless the SONAME and the baseline were updated on purpose. Exit 77 (skipped)
# when libabigail is not installed.
set -uo pipefail
lib=$1 src=$2 work=$3
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"
baseline="$here/libllm.abi"
if ! command -v abidiff >/dev/null || ! command -v abidw >/dev/null; then
  echo "SKIPPED: abidiff/abidw not found: install libabigail (Debian: apt-get install abigail-tools)"
  exit 77
fi
if ! readelf -S "$lib" | grep '\.debug_info' >/dev/null; then
  echo "FAILED: $lib has no debug info; the ABI check reads types from DWARF (CMakeLists.txt builds the llm target with -g)"
  exit 1
fi
if [ ! -e "$baseline" ]; then
  echo "FAILED: no baseline tests/abi/libllm.abi: create it with bash tests/abi/update_baseline.sh $(dirname "$lib")"
  exit 1
fi
mkdir -p "$work"
current="$work/libllm.abi"
dump_abi "$lib" "$src" "$current" || { echo "FAILED: abidw could not read $lib"; exit 1; }

old_soname="$(sed -n "1s/.*soname='\([^']*\)'.*/\1/p" "$baseline")"
new_soname="$(soname_of "$lib")"
if [ "$old_soname" != "$new_soname" ]; then
  echo "FAILED: the SONAME changed from $old_soname to $new_soname (a new major version):"
  echo "record the new ABI with: bash tests/abi/update_baseline.sh $(dirname "$lib")"
  exit 1
fi

# --no-added-syms: additions do not count. Exit status bits: 1 error, 2 usage error,
# 4 ABI change, 8 incompatible ABI change (e.g. a removed function).
abidiff --no-added-syms "$baseline" "$current" > "$work/abidiff.txt" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
  abidiff "$baseline" "$current" > "$work/abidiff-all.txt" 2>&1
  added="$(grep -c "^  \[A\] " "$work/abidiff-all.txt")"
  if [ "$added" -gt 0 ]; then
    echo "note: $added function(s) added since the baseline (compatible); record them with"
    echo "      bash tests/abi/update_baseline.sh $(dirname "$lib")"
    grep "^  \[A\] " "$work/abidiff-all.txt"
  fi
  echo "test_abi_compat: ABI of $new_soname compatible with tests/abi/libllm.abi: 1 passed, 0 failed"
  exit 0
fi
cat "$work/abidiff.txt"
if [ $((rc & 3)) -ne 0 ]; then
  echo "FAILED: abidiff could not compare (exit status $rc)"
else
  kind="changes"; [ $((rc & 8)) -ne 0 ] && kind="incompatible changes"
  cat <<MSG

FAILED: abidiff reports ABI $kind (exit status $rc) against tests/abi/libllm.abi.
Programs built against $new_soname would break. Either keep the old signatures (add new
functions instead), or make a new major version on purpose: raise the major version in
CMakeLists.txt's project(VERSION) (the SONAME follows), then
  bash tests/abi/update_baseline.sh $(dirname "$lib")
and commit tests/abi/libllm.abi and tests/abi/exports.txt with the change.
MSG
fi
echo "test_abi_compat: 0 passed, 1 failed"
exit 1
