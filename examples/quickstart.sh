#!/usr/bin/env bash
# Sets up everything on a fresh machine (packages, build, the default models) and starts a chat
# with SmolLM2 135M Instruct, in its own chat template. Arguments are passed to `llm chat`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install_deps.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE="$(command -v python3)" >/dev/null
cmake --build build -j"$(nproc)" --target llm-cli >/dev/null
# A 135M model wanders at the library's default temperature (0.8): 0.2 keeps its answers on topic.
# The arguments come after it, so a --temp passed to this script wins.
exec build/llm chat --temp 0.2 "$@"
