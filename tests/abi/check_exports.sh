#!/usr/bin/env bash
# Compares the symbols libllm.so exports with the checked-in list tests/abi/exports.txt.
#   check_exports.sh LIBLLM_SO SOURCE_DIR
set -uo pipefail
lib=$1 src=$2
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"
list="$here/exports.txt"
got="$(exported_symbols "$lib")"
want="$(grep -v '^#' "$list" | sed '/^$/d' | LC_ALL=C sort -u)"
if [ "$got" = "$want" ]; then
  echo "test_abi_exports: $(printf '%s\n' "$got" | wc -l) exported symbols match tests/abi/exports.txt: 1 passed, 0 failed"
  exit 0
fi
echo "libllm.so exports other symbols than tests/abi/exports.txt lists:"
diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | sed -n 's/^</  no longer exported: /p; s/^>/  newly exported:     /p'
cat <<MSG

Removing or renaming an exported function breaks the programs linked against $(soname_of "$lib"):
within a major version only additions are allowed. If the change is intended (a new function
declared in include/llm.h, or a new major version), record it with:
  bash tests/abi/update_baseline.sh $(dirname "$lib")
and commit tests/abi/exports.txt and tests/abi/libllm.abi together with the change.
test_abi_exports: 0 passed, 1 failed
MSG
exit 1
