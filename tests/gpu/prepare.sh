#!/usr/bin/env bash
# Prepares the GPU check: run it on the build machine (no GPU needed), in the repository root,
# just before the device call that runs tests/gpu/run.sh:
#     bash tests/gpu/prepare.sh
#     device run: command "bash tests/gpu/run.sh", carry [".gpu-carry"], timeout_s 600
#
# Why a prebuilt bundle: the device machine's image has CUDA, CMake and Python with numpy, but
# not the core's build dependencies (BLIS, oneDNN, utf8proc), and nothing can be installed there.
# So libllm.so, the llm CLI, gpu_check and libllm-cuda.so are built here (x86-64, glibc 2.36:
# runs on the device's newer glibc) and packed with the non-system libraries they load and the
# pure-Python gguf package that tests/tools/make_model.py imports, into .gpu-carry/bundle.tar.xz
# (about 20 MB, well under the 64 MiB a device call carries). .gpu-carry/ is made ignored by git
# (.git/info/exclude), as the device README asks for carried folders.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${LLM_GPU_BUILD:-build-gpu}
archs=${LLM_CUDA_ARCHS:-80-real;89-real;90}
t0=$(date +%s)
echo "== configure $build (CUDA architectures $archs)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DLLM_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$archs" >/dev/null
echo "== build llm, llm-cuda, gpu_check"
cmake --build "$build" -j"$(nproc)" --target llm llm-cli llm-cuda gpu_check
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" "$stage/py"
cp "$build/llm" "$build/gpu_check" "$stage/bin/"
cp -P "$build"/libllm.so* "$stage/lib/"
cp "$build/libllm-cuda.so" "$stage/lib/"
# the libraries of the build machine that the device image may lack (not glibc, libstdc++, libgcc)
for f in "$build/libllm.so" "$build/llm"; do
  ldd "$f" | awk '/=>/ {print $3}' | grep -E 'dnnl|blis|utf8proc|OpenCL|gomp' || true
done | sort -u | while read -r lib; do cp -L "$lib" "$stage/lib/"; done
gguf_dir=$(python3 -c 'import gguf, os; print(os.path.dirname(gguf.__file__))')
cp -r "$gguf_dir" "$stage/py/"
find "$stage/py" -name __pycache__ -prune -exec rm -rf {} +
mkdir -p .gpu-carry
tar -C "$stage" -cJf .gpu-carry/bundle.tar.xz .
if [ -d .git ] && ! grep -qx '/.gpu-carry/' .git/info/exclude 2>/dev/null; then
  echo '/.gpu-carry/' >> .git/info/exclude
fi
ls -la .gpu-carry/bundle.tar.xz
tar -tJf .gpu-carry/bundle.tar.xz | sed 's/^/  /'
echo "== prepared in $(( $(date +%s) - t0 )) s: now run tests/gpu/run.sh on the device with carry [\".gpu-carry\"]"
