#!/usr/bin/env bash
# Installs the build into a temporary prefix, then builds and runs a consumer program twice:
# once with pkg-config flags and once through find_package(libllm).
set -euo pipefail
build="$1"; src="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir="$(dirname "$(find "$tmp/prefix" -name libllm.pc | head -1)")/.."
export PKG_CONFIG_PATH="$libdir/pkgconfig"
test -L "$libdir/libllm.so.0" || { echo "libllm.so.0 (SONAME link) not installed"; exit 1; }
cc -std=c11 -Wall -Werror "$src/consumer.c" $(pkg-config --cflags --libs libllm) -Wl,-rpath,"$libdir" -o "$tmp/c1"
"$tmp/c1"
cmake -S "$src" -B "$tmp/cb" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cb" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/cb/consumer"
readelf -d "$libdir/libllm.so" | grep -q 'SONAME.*libllm.so.0' || { echo "SONAME is not libllm.so.0"; exit 1; }
echo "check_install: 1 passed, 0 failed"
