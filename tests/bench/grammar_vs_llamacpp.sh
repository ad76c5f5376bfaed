#!/usr/bin/env bash
# Grammar-constrained decode, libllm and llama.cpp in one run, on the same files, grammar, prompt
# and sampling settings (library defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05):
#
#   tests/bench/grammar_vs_llamacpp.sh LLM_BIN LLAMA_BIN_DIR GRAMMAR.gbnf MODEL.gguf [MODEL.gguf...]
#
# For each model: `llm bench -p 0 -n 128 --grammar GRAMMAR` (rows tg128 = forward passes only,
# tg128 sampled = decode with sampling, tg128 GRAMMAR = decode constrained; and the sampling time
# per token of the last two), then tests/bench/llamacpp_grammar.sh (llama.cpp's llama-completion
# with and without --grammar-file, its own perf counters). The grammar's cost per token is
# constrained minus unconstrained sampling time on both sides. REPS (environment, default 3)
# timed runs each; THREADS (default: all cores).
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
LLM=$1 LLAMA=$2 GRAMMAR=$3
shift 3
REPS=${REPS:-3} THREADS=${THREADS:-$(nproc)}
HERE=$(cd "$(dirname "$0")" && pwd)
for model in "$@"; do
    echo "## $(basename "$model")"
    echo
    echo "### libllm"
    "$LLM" bench -m "$model" -p 0 -n 128 -r "$REPS" -t "$THREADS" --grammar "$GRAMMAR"
    echo
    echo "### llama.cpp"
    bash "$HERE/llamacpp_grammar.sh" -r "$REPS" -t "$THREADS" "$LLAMA" "$model" "$GRAMMAR" 128
    echo
done
