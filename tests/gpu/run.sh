#!/usr/bin/env bash
# The GPU check, ONE script for a machine with an NVIDIA GPU (sm_80 or newer), run from the
# repository root after tests/gpu/prepare.sh packed .gpu-carry/bundle.tar.xz on the build machine:
#     device run: command "bash tests/gpu/run.sh", carry [".gpu-carry"], timeout_s 600
# Without a bundle it builds from source (needs the core's dependencies: BLIS, oneDNN, utf8proc).
#
# Stages (each timed; the whole run is meant to take 4-6 minutes, and each stage has a timeout):
#   1. environment: GPU, driver, toolkit, python
#   2. binaries: unpack the bundle (or build), check that the CUDA backend loads
#   3. small random models of every weight type (tests/tools/make_model.py)
#   4. gpu_check: each model on the GPU against the CPU exact oracle (tolerances in gpu_check.c):
#      prefill (GEMM path, 600 tokens over two chunks), decode (fused kernels, CUDA graph),
#      greedy identity (F32/F16/BF16), graphs on/off bitwise, abort, device OOM, batched decode
#      of 1/4/16 sessions (session_forward_batch) against the same sessions stepped alone
#   5. Llama-3.2-1B-shaped files: F16 from make_model.py, Q8_0 and Q4_0 by `llm quantize`
#   6. `llm bench -p 512 -n 128` on the three files (GPU), as Markdown and JSON
#   7. `llm bench -p 0 -n 64 --sessions 1,4,16,64`: batched decode throughput (GPU)
# Results under $OUT (the device tool returns them): run.log, gpu_check.txt, bench.md,
# bench.json, bench_sessions.json/.txt, timings.txt. Exit status: non-zero if a stage failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1
W=${LLM_GPU_WORK:-/tmp/llm-gpu}
rm -rf "$W"
mkdir -p "$W/models"
export PYTHONUNBUFFERED=1
: > "$OUT/timings.txt"
status=0

T_STAGE=0
begin() { T_STAGE=$(date +%s.%N); echo; echo "=== [$(date -u +%T)] $*"; }
end() {
  local secs; secs=$(awk -v a="$T_STAGE" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  echo "=== $1: ${secs} s"
  printf '%-28s %8s s  %s\n' "$1" "$secs" "${2:-}" >> "$OUT/timings.txt"
}

begin "1. environment"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv || echo "nvidia-smi failed"
command -v nvcc >/dev/null && nvcc --version | tail -2 || echo "no nvcc on PATH"
python3 -c 'import sys, numpy; print("python", sys.version.split()[0], "numpy", numpy.__version__)'
nproc
end "environment"

begin "2. binaries"
if [ -f .gpu-carry/bundle.tar.xz ]; then
  tar -C "$W" -xJf .gpu-carry/bundle.tar.xz
  BIN=$W/bin LIB=$W/lib
  export PYTHONPATH=$W/py${PYTHONPATH:+:$PYTHONPATH}
else
  echo "no .gpu-carry/bundle.tar.xz (run tests/gpu/prepare.sh first): building from source"
  timeout 420 cmake -S . -B "$W/build" -DCMAKE_BUILD_TYPE=Release -DLLM_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
  timeout 420 cmake --build "$W/build" -j"$(nproc)" --target llm llm-cli llm-cuda gpu_check
  BIN=$W/build LIB=$W/build
fi
# cuBLAS from the toolkit, or from the pip wheel of the image's PyTorch
CUBLAS_PIP=$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null || true)
export LD_LIBRARY_PATH=$LIB:/usr/local/cuda/lib64${CUBLAS_PIP:+:$CUBLAS_PIP}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LLM_BACKEND_PATH=$LIB/libllm-cuda.so
# LLM_GPU_DRYRUN=PLUGIN: check this script on a machine without a GPU, with the mock plugin
# (tests/backend/mock_plugin.c, F32/F16/BF16 only) in place of the CUDA one and a small bench model
if [ -n "${LLM_GPU_DRYRUN:-}" ]; then export LLM_BACKEND_PATH=$LLM_GPU_DRYRUN; fi
ldd "$LIB/libllm-cuda.so" | grep -E 'not found|cublas' || true
ldd "$BIN/llm" | grep 'not found' && { echo "FAILED: missing libraries"; exit 1; }
end "binaries"

begin "3. small models (every weight type)"
MK="python3 tests/tools/make_model.py"
SHAPE="--n-embd 256 --n-ff 512 --n-head 4 --n-head-kv 2 --n-vocab 1024 --ctx 2048"
ARGS=()
for t in F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K; do
  timeout 120 $MK --arch llama --type "$t" $SHAPE --n-layer 2 --rope-freqs --untied --out "$W/models/llama_$t.gguf" >/dev/null
  ARGS+=("$t=$W/models/llama_$t.gguf")
done
for t in F32 F16 Q4_K; do
  timeout 120 $MK --arch gemma3 --type "$t" $SHAPE --n-layer 4 --window 16 --out "$W/models/gemma3_$t.gguf" >/dev/null
  ARGS+=("$t=$W/models/gemma3_$t.gguf")
done
ls -la "$W/models"
end "small models"

begin "4. gpu_check (GPU against the CPU exact oracle)"
set +e
timeout 240 "$BIN/gpu_check" ${LLM_GPU_DRYRUN:+--allow-refused --no-oom} "${ARGS[@]}" | tee "$OUT/gpu_check.txt"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 0 ] || status=1
if [ "$rc" -ne 0 ]; then
  # diagnosis: the same check with the per-element decode kernel and without graphs, to tell a
  # bug of the per-block decoders or of the graph capture from one elsewhere
  echo "--- gpu_check failed: again with LLM_CUDA_MATVEC=generic LLM_CUDA_GRAPHS=0"
  LLM_CUDA_MATVEC=generic LLM_CUDA_GRAPHS=0 timeout 200 "$BIN/gpu_check" --no-oom "${ARGS[@]}" \
    > "$OUT/gpu_check_generic.txt" 2>&1 || true
  grep -E '^(FAIL|gpu_check:)' "$OUT/gpu_check_generic.txt" || true
fi
end "gpu_check" "exit $rc"

begin "5. Llama-3.2-1B-shaped files (F16, Q8_0, Q4_0)"
BIG="--n-embd 2048 --n-layer 16 --n-head 32 --n-head-kv 8 --n-ff 8192 --n-vocab 128256 --ctx 131072"
[ -n "${LLM_GPU_DRYRUN:-}" ] && BIG="--n-embd 256 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 512 --n-vocab 1024"
timeout 240 $MK --arch llama --type F16 $BIG --rope-freqs --tied --out "$W/models/1b_f16.gguf" >/dev/null
for q in Q8_0 Q4_0; do
  timeout 120 "$BIN/llm" quantize "$W/models/1b_f16.gguf" "$W/models/1b_${q,,}.gguf" "$q" >/dev/null
done
ls -la "$W/models"/1b_*
end "1B models"

begin "6. llm bench -p 512 -n 128 (GPU)"
set +e
BENCH=("$BIN/llm" bench -m "$W/models/1b_q4_0.gguf" -m "$W/models/1b_q8_0.gguf" -m "$W/models/1b_f16.gguf"
       -p 512 -n 128 -r 3 -t 4)
timeout 240 "${BENCH[@]}" -o json > "$OUT/bench.json"
rc1=$?
timeout 200 "${BENCH[@]}" -o md | tee "$OUT/bench.md"
rc2=$?
set -e
{ [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ]; } || status=1
# the Markdown table has no backend column: the JSON tells where each run went
python3 - "$OUT/bench.json" <<'PY' | tee "$OUT/bench_summary.txt" || status=1
import json, os, sys
rows = json.load(open(sys.argv[1]))
for r in rows:
    test = "pp%d" % r["n_prompt"] if r["n_prompt"] else "tg%d" % r["n_gen"]
    print("%-16s %-6s %-5s %12.1f t/s +- %.1f" % (os.path.basename(r["model_filename"]), r["backend"], test,
                                                r["avg_ts"], r["stddev_ts"]))
if any(r["backend"] != "cuda" for r in rows) and not os.environ.get("LLM_GPU_DRYRUN"):
    print("FAILED: some bench runs did not run on the cuda backend"); sys.exit(1)
PY
end "bench" "exit $rc1/$rc2"

begin "7. llm bench --sessions (batched decode of several sessions, GPU)"
# tg64 xS: S sessions of one context stepped together with llm_session_step_batch (the plugin's
# session_forward_batch); t/s is the aggregate over the S sessions. 64 sessions take the GEMM path
# of the batch (more than CU_BATCH_MATVEC_MAX = 32 tokens), the others the fused kernel.
SESS=1,4,16,64
[ -n "${LLM_GPU_DRYRUN:-}" ] && SESS=1,4 # the mock's naive forward pass is slow
set +e
timeout 120 "$BIN/llm" bench -m "$W/models/1b_q4_0.gguf" -m "$W/models/1b_q8_0.gguf" -m "$W/models/1b_f16.gguf" \
  -p 0 -n 64 -r 2 -t 4 --sessions "$SESS" -o json > "$OUT/bench_sessions.json"
rc3=$?
set -e
[ "$rc3" -eq 0 ] || status=1
python3 - "$OUT/bench_sessions.json" <<'PY' | tee "$OUT/bench_sessions.txt" || status=1
import json, os, sys
rows = json.load(open(sys.argv[1]))
for r in rows:
    s = r.get("n_sessions", 0)
    test = "tg%d x%d" % (r["n_gen"], s) if s else "tg%d" % r["n_gen"]
    print("%-16s %-6s %-9s %12.1f t/s +- %.1f" % (os.path.basename(r["model_filename"]), r["backend"], test,
                                                r["avg_ts"], r["stddev_ts"]))
if any(r["backend"] != "cuda" for r in rows) and not os.environ.get("LLM_GPU_DRYRUN"):
    print("FAILED: some bench runs did not run on the cuda backend"); sys.exit(1)
PY
end "bench sessions" "exit $rc3"

echo
echo "=== summary"
grep -E '^(FAIL|gpu_check:)' "$OUT/gpu_check.txt" || true
cat "$OUT/bench_summary.txt" 2>/dev/null || true
cat "$OUT/bench_sessions.txt" 2>/dev/null || true
cat "$OUT/timings.txt"
exit $status
