#!/usr/bin/env bash
# llama.cpp's side of the grammar-constrained sampling comparison: the per-token cost of
# llama.cpp's GBNF grammar sampler, measured with its own llama-completion tool and its own
# performance counters, on the same model, prompt, sampling settings and grammar as libllm's
# `llm bench --grammar FILE` rows.
#
#   tests/bench/llamacpp_grammar.sh [options] LLAMA_BIN_DIR MODEL.gguf GRAMMAR.gbnf [N]
#
# For each of REPS runs it decodes N tokens unconstrained, then N tokens under the grammar (the
# two interleaved, so that the machine's drift affects both alike), and prints per mode:
#   tokens     tokens generated per run (end-of-generation tokens not counted, as in llm bench)
#   segments   llama-completion invocations it took per run (see "early ends" below)
#   decode t/s 1 / (forward-pass time per token + sampling time per token): decoding as an app
#              sees it, which is what llm bench's "tgN sampled" / "tgN FILE" rows measure
#   eval t/s   llama.cpp's own "eval time" rate: the forward passes alone
#   sample ms/t  llama.cpp's "sampling time" per token: everything common_sampler does to pick
#              and accept a token (copying the logits into candidates, the sampler chain, and
#              with a grammar its check, the full-vocabulary masking when the chain's pick is
#              rejected, and the grammar's accept)
# and the grammar's cost per token: constrained minus unconstrained sample ms/t (paired by run).
# Values are mean +- sample standard deviation over the runs.
#
# How llama.cpp applies a grammar (common/sampling.cpp of the llama.cpp in llama-cpp-python
# 0.3.36): the chain (top-k, top-p, min-p, temperature, dist) first picks a token from the raw
# logits; the grammar then checks that one token; only when it is rejected are the logits
# reloaded, the grammar applied to the whole vocabulary and the chain run again. So its cost per
# token depends on how often the model's own pick is valid: small for a trained model writing
# JSON, the full-vocabulary path nearly every token for random weights.
#
# Early ends: llama.cpp stops when the grammar is complete (the grammar then allows only
# end-of-generation tokens). --ignore-eos cannot keep it going: it forbids those tokens too and
# llama-completion aborts ("Unexpected empty grammar stack"). So, like llm bench (which restarts
# a session that finishes early), a run that ends before N tokens starts a new llama-completion
# invocation (same prompt, next seed) for the tokens still missing, and the perf counters of the
# invocations are summed. Unconstrained runs get the same treatment (an end-of-generation token
# also ends them), so both modes use the same sampler chain: no --ignore-eos anywhere, since its
# logit-bias sampler would add work to one side only.
#
# Options:
#   -r REPS        runs per mode (default 3)
#   -t THREADS     threads (default: all cores, nproc)
#   -p PROMPT      prompt (default: llm bench's, "A person described as a JSON object:\n")
#   --temp T       temperature (default 0.8; 0 = greedy, llama.cpp's way: the chain keeps only
#                  the most probable candidate)
#   --seed S       seed of the first invocation (default 42; then S + 1000*run + segment)
#   -c CTX         context size (default 2048)
#   --max-segments K  give up a run after K invocations (default 4*N)
#   --tsv          machine-readable output: a header line, then one line per mode and one
#                  "grammar" line (the cost), tab-separated, no other text on stdout
#   --runs FILE    also write every run's raw numbers to FILE (tab-separated, with a header):
#                  mode, run, tokens, segments, eval runs, eval ms, sampling ms (to spot outliers)
#   --show         print each mode's first generated text to stderr (to see what was produced)
#   -h, --help
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

REPS=3 THREADS=$(nproc) PROMPT=$'A person described as a JSON object:\n' TEMP=0.8 SEED=42 CTX=2048
TSV=0 SHOW=0 MAX_SEG= RUNS_FILE=
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        -r) REPS=$2; shift 2 ;;
        -t) THREADS=$2; shift 2 ;;
        -p) PROMPT=$2; shift 2 ;;
        --temp) TEMP=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        -c) CTX=$2; shift 2 ;;
        --max-segments) MAX_SEG=$2; shift 2 ;;
        --tsv) TSV=1; shift ;;
        --show) SHOW=1; shift ;;
        --runs) RUNS_FILE=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "llamacpp_grammar.sh: unknown option $1" >&2; exit 2 ;;
        *) ARGS+=("$1"); shift ;;
    esac
done
if [ ${#ARGS[@]} -lt 3 ] || [ ${#ARGS[@]} -gt 4 ]; then usage >&2; exit 2; fi
BIN=${ARGS[0]} MODEL=${ARGS[1]} GRAMMAR=${ARGS[2]} N=${ARGS[3]:-128}
MAX_SEG=${MAX_SEG:-$((4 * N))}
EXE=$BIN/llama-completion
for f in "$EXE" "$MODEL" "$GRAMMAR"; do
    [ -e "$f" ] || { echo "llamacpp_grammar.sh: $f not found" >&2; exit 2; }
done
# libllama*.so live next to the tools in a CMake build tree (bin/); the RUNPATH normally finds
# them, this covers a copied bin dir
export LD_LIBRARY_PATH=$BIN${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# One llama-completion invocation generating at most $2 tokens with seed $3; $1 = "grammar" adds
# the grammar. Prints "gen evals eval_ms sampling_ms ended" (ended = 1 when it stopped on an
# end-of-generation token, which is then not counted in gen) and leaves the text in $TMP/out.
invoke() {
    local mode=$1 n=$2 seed=$3
    local extra=()
    [ "$mode" = grammar ] && extra=(--grammar-file "$GRAMMAR")
    # -no-cnv: a model with a chat template would otherwise switch to interactive chat
    # --no-display-prompt: stdout is then only the generated text (and llama.cpp's end marker)
    # --perf: the counters parsed below (on by default in this version; explicit for others)
    # --temp/--top-k/--top-p/--min-p: llama.cpp's defaults, spelled out so that another version's
    #   defaults cannot change the chain, and equal to libllm's defaults
    # --repeat-penalty 1: no penalties sampler, as in libllm's default sampling
    # -c: a small KV cache (0 would allocate the model's full context, 128k for Llama 3)
    # </dev/null: never wait for input
    "$EXE" -m "$MODEL" -no-cnv --no-display-prompt --perf -p "$PROMPT" -n "$n" -s "$seed" \
        -t "$THREADS" -c "$CTX" --temp "$TEMP" --top-k 40 --top-p 0.95 --min-p 0.05 \
        --repeat-penalty 1 "${extra[@]}" </dev/null >"$TMP/out" 2>"$TMP/err" || {
        echo "llamacpp_grammar.sh: llama-completion failed ($mode, seed $seed); its log:" >&2
        tail -20 "$TMP/err" >&2
        exit 1
    }
    # common_perf_print's lines (prefixed with a timestamp and level by the log):
    #   sampling time = S ms                       (common_sampler: sample + accept)
    #   samplers time = C ms / T tokens            (T = chain accepts = prompt + generated tokens)
    #   prompt eval time = A ms / P tokens ...
    #   eval time = E ms / R runs ...              (R = single-token forward passes)
    awk -v ended="$(grep -c '\[end of text\]' "$TMP/out" || true)" '
        /common_perf_print: +sampling time/ { s = $(NF - 1) }
        /common_perf_print: +samplers time/ { t = $(NF - 1) }
        /common_perf_print: prompt eval time/ { for (i = 1; i <= NF; i++) if ($i == "tokens") { p = $(i - 1); break } }
        /common_perf_print: +eval time/ { for (i = 1; i <= NF; i++) if ($i == "ms") { e = $(i - 1); break }
                                          for (i = 1; i <= NF; i++) if ($i == "runs") { r = $(i - 1); break } }
        END {
            if (s == "" || t == "" || p == "" || e == "") { print "parse-error"; exit }
            end = (ended > 0)  # (not inside printf: there ">" would redirect the output)
            printf "%d %d %.3f %.3f %d\n", t - p - end, r, e, s, end
        }' "$TMP/err"
}

# One run of a mode: invocations until N tokens. Prints "tokens segments eval_runs eval_ms
# sampling_ms".
run_mode() {
    local mode=$1 rep=$2
    local tok=0 seg=0 runs=0 ems=0 sms=0 line gen r e s ended
    while [ "$tok" -lt "$N" ]; do
        if [ "$seg" -ge "$MAX_SEG" ]; then
            echo "llamacpp_grammar.sh: $mode run $rep: only $tok tokens after $seg invocations" >&2
            exit 1
        fi
        line=$(invoke "$mode" $((N - tok)) $((SEED + 1000 * rep + seg)))
        [ "$line" = parse-error ] && { echo "llamacpp_grammar.sh: no perf counters in llama-completion's log:" >&2; tail -20 "$TMP/err" >&2; exit 1; }
        read -r gen r e s ended <<<"$line"
        if [ "$gen" -le 0 ] && [ "$ended" = 0 ]; then
            echo "llamacpp_grammar.sh: llama-completion generated nothing ($mode, seed $((SEED + 1000 * rep + seg)))" >&2
            exit 1
        fi
        if [ "$SHOW" = 1 ] && [ "$rep" = 0 ]; then
            { echo "--- $mode, run 0, invocation $seg: $gen tokens$([ "$ended" = 1 ] && echo ', then end of generation')"; cat "$TMP/out"; echo; } >&2
        fi
        tok=$((tok + gen)) seg=$((seg + 1)) runs=$((runs + r))
        ems=$(awk -v a="$ems" -v b="$e" 'BEGIN { printf "%.3f", a + b }')
        sms=$(awk -v a="$sms" -v b="$s" 'BEGIN { printf "%.3f", a + b }')
    done
    echo "$tok $seg $runs $ems $sms"
}

: >"$TMP/rows"
for ((rep = 0; rep < REPS; rep++)); do
    for mode in plain grammar; do
        row=$(run_mode "$mode" "$rep")  # (an assignment, so that a failure inside stops the script)
        echo "$mode $row" >>"$TMP/rows"
    done
done

if [ -n "$RUNS_FILE" ]; then
    { printf 'mode\trun\ttokens\tsegments\teval_runs\teval_ms\tsampling_ms\n'
      awk '{ k = ++idx[$1]; printf "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", ($1 == "plain" ? "unconstrained" : "constrained"), k - 1, $2, $3, $4, $5, $6 }' "$TMP/rows"
    } >"$RUNS_FILE"
fi

# Summary: per mode the mean and sample standard deviation of each per-run quantity; the grammar
# row pairs run i of both modes.
awk -v tsv="$TSV" -v model="$(basename "$MODEL")" -v grammar="$(basename "$GRAMMAR")" -v n="$N" \
    -v temp="$TEMP" -v threads="$THREADS" -v load="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)" '
    function add(key, v) { sum[key] += v; sq[key] += v * v; cnt[key]++ }
    function mean(key) { return cnt[key] ? sum[key] / cnt[key] : 0 }
    function sd(key, m, v) {
        m = mean(key); v = cnt[key] > 1 ? (sq[key] - cnt[key] * m * m) / (cnt[key] - 1) : 0
        return v > 0 ? sqrt(v) : 0  # (rounding can leave a tiny negative variance)
    }
    {
        mode = $1; tok = $2; seg = $3; runs = $4; ems = $5; sms = $6
        k = ++idx[mode]
        add(mode SUBSEP "tok", tok); add(mode SUBSEP "seg", seg)
        # per token: one forward pass (eval ms / runs; the last token is never evaluated, so
        # runs < tokens) plus its sampling (sampling ms / tokens)
        if (runs > 0 && ems > 0) {  # (N = 1 evaluates nothing)
            add(mode SUBSEP "dec", 1000 / (ems / runs + sms / tok))
            add(mode SUBSEP "eval", runs / (ems / 1000))
        }
        add(mode SUBSEP "smp", sms / tok)
        per[mode, k] = sms / tok
    }
    END {
        for (k = 1; k <= idx["grammar"] && k <= idx["plain"]; k++) add("cost", per["grammar", k] - per["plain", k])
        label["plain"] = "unconstrained"; label["grammar"] = "grammar " grammar
        if (tsv) {
            print "engine\tmodel\tgrammar\tn_gen\ttemp\tthreads\trow\truns\ttokens\tsegments\tdecode_ts\tdecode_ts_sd\teval_ts\teval_ts_sd\tsample_ms_per_tok\tsample_ms_per_tok_sd"
            for (i = 1; i <= 2; i++) {
                m = i == 1 ? "plain" : "grammar"
                printf "llama.cpp\t%s\t%s\t%d\t%s\t%d\t%s\t%d\t%.1f\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%.4f\t%.4f\n", model, grammar, n, temp, threads,
                    (m == "plain" ? "unconstrained" : "constrained"), cnt[m SUBSEP "tok"], mean(m SUBSEP "tok"), mean(m SUBSEP "seg"),
                    mean(m SUBSEP "dec"), sd(m SUBSEP "dec"), mean(m SUBSEP "eval"), sd(m SUBSEP "eval"), mean(m SUBSEP "smp"), sd(m SUBSEP "smp")
            }
            printf "llama.cpp\t%s\t%s\t%d\t%s\t%d\tgrammar_cost\t%d\t\t\t\t\t\t\t%.4f\t%.4f\n", model, grammar, n, temp, threads, cnt["cost"], mean("cost"), sd("cost")
            exit
        }
        printf "llama.cpp llama-completion: %s, -n %d, temp %s, %d threads, %d runs (mean +- sd), load average %s\n\n", model, n, temp, threads, cnt["plain" SUBSEP "tok"], load
        printf "| %-28s | %6s | %8s | %16s | %16s | %17s |\n", "mode", "tokens", "segments", "decode t/s", "eval t/s", "sample ms/t"
        printf "|%s|%s|%s|%s|%s|%s|\n", "------------------------------", "--------", "----------", "------------------", "------------------", "-------------------"
        for (i = 1; i <= 2; i++) {
            m = i == 1 ? "plain" : "grammar"
            printf "| %-28s | %6.1f | %8.1f | %7.2f +- %5.2f | %7.2f +- %5.2f | %7.3f +- %6.3f |\n", label[m], mean(m SUBSEP "tok"), mean(m SUBSEP "seg"),
                mean(m SUBSEP "dec"), sd(m SUBSEP "dec"), mean(m SUBSEP "eval"), sd(m SUBSEP "eval"), mean(m SUBSEP "smp"), sd(m SUBSEP "smp")
        }
        printf "\ngrammar cost: %.3f +- %.3f ms per token (constrained minus unconstrained sample ms/t, paired by run)\n", mean("cost"), sd("cost")
    }' "$TMP/rows"
