# Shared by check_abi.sh and update_baseline.sh: how the ABI of libllm.so is described.
# shellcheck shell=bash

# exported_symbols LIB: the names libllm.so defines for the dynamic linker, one a line, sorted
# (without the symbol version, and without the version node itself: nm shows it as type A).
exported_symbols() {
  nm -D --defined-only "$1" | awk 'NF == 3 && $2 != "A" { sub(/@.*/, "", $3); print $3 }' | LC_ALL=C sort -u
}

# dump_abi LIB SRC OUT: libabigail's description of the public ABI (needs DWARF: libllm.so is
# built with -g). Only what include/ declares and the library exports; no locations, no build
# paths, no DT_NEEDED list, hash type ids: the same text from any checkout and build type.
dump_abi() {
  abidw --headers-dir "$2/include" --drop-private-types --drop-undefined-syms --exported-interfaces-only \
        --no-corpus-path --no-comp-dir-path --no-show-locs --no-elf-needed --type-id-style hash \
        --out-file "$3.tmp" "$1" || return 1
  # The translation units keep their source paths: make them relative to the checkout.
  sed "s|path='$2/|path='|" "$3.tmp" > "$3" && rm -f "$3.tmp"
}

soname_of() { readelf -d "$1" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p'; }
