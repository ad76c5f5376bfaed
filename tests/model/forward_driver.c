/* forward_driver: loads a GGUF with the internal components (no public API) and runs the
 * forward pass over a token list, writing the logits of every position as raw f32.
 *
 *   forward_driver MODEL --tokens 1,2,3 [--threads N] [--ctx N] [--split K] [--out FILE]
 *                  [--check-abort] [--bench N] [--fast]
 *
 * --split K: the first K tokens in one call (all logits), then the rest one call per token
 * (default K = all: one call). --check-abort: before every call, first make the same call with
 * an abort callback that fires after the first layer and check that it returns LLM_ERR_ABORTED
 * and leaves n_past unchanged. --bench N: after the tokens, decode N tokens greedily and print
 * the speed. --fast: FAST precision (8-bit activations for quantized weights, llm_pool_set_fast)
 * instead of EXACT, the default of llm_pool_new. Without --tokens it only loads the model and
 * prints its hyper-parameters.
 * Errors: "error: <STATUS> (<code>): <message>" on stderr, exit status 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf/gguf.h"
#include "gguf/gguf_source.h"
#include "kernels/kernels.h"
#include "model/model.h"

static const char *status_name(llm_status s) {
    static const char *names[] = {"OK", "INVALID_ARGUMENT", "OUT_OF_MEMORY", "IO", "FORMAT", "UNSUPPORTED",
                                  "ABORTED", "CONTEXT_FULL", "INVALID_UTF8", "NOT_FOUND", "BUFFER_TOO_SMALL",
                                  "TYPE_MISMATCH", "LIMIT", "BACKEND", "STATE", "INTERNAL"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

static int fail(llm_status st, const llm_err *err) {
    fprintf(stderr, "error: %s (%d): %s\n", status_name(st), (int)st, err->msg);
    return 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct abort_state {
    int polls;
    int fire_after;
} abort_state;

static int abort_cb(void *ud) {
    abort_state *a = ud;
    return ++a->polls > a->fire_after;
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

int main(int argc, char **argv) {
    const char *path = NULL, *tokens_arg = NULL, *out_path = NULL;
    int threads = 1, check_abort = 0, bench = 0, fast = 0;
    long ctx = 0, split = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--tokens") && next) tokens_arg = argv[++i];
        else if (!strcmp(a, "--threads") && next) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--ctx") && next) ctx = atol(argv[++i]);
        else if (!strcmp(a, "--split") && next) split = atol(argv[++i]);
        else if (!strcmp(a, "--out") && next) out_path = argv[++i];
        else if (!strcmp(a, "--bench") && next) bench = atoi(argv[++i]);
        else if (!strcmp(a, "--check-abort")) check_abort = 1;
        else if (!strcmp(a, "--fast")) fast = 1;
        else if (a[0] != '-' && !path) path = a;
        else {
            fprintf(stderr, "usage: forward_driver MODEL [--tokens a,b,c] [--threads N] [--ctx N] [--split K] "
                            "[--out FILE] [--check-abort] [--bench N] [--fast]\n");
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "forward_driver: no model given\n");
        return 2;
    }

    /* token list */
    int32_t n_tok = 0;
    int32_t *toks = NULL;
    if (tokens_arg) {
        size_t cap = 1;
        for (const char *p = tokens_arg; *p; p++) cap += *p == ',';
        toks = malloc((cap + (size_t)(bench > 0 ? bench : 0)) * sizeof *toks);
        if (!toks) return 2;
        for (const char *p = tokens_arg; *p;) {
            char *end;
            toks[n_tok++] = (int32_t)strtol(p, &end, 10);
            p = *end == ',' ? end + 1 : end;
            if (end == p && *p) break;
        }
    }

    llm_err err;
    llm_err_clear(&err);
    gguf_source src;
    memset(&src, 0, sizeof src);
    gguf_file *f = NULL;
    llm_arch_model *m = NULL;
    llm_status st = gguf_source_open_file(path, 1, &src, &err);
    if (!st) st = gguf_parse(src.data, src.size, &f, &err);
    if (!st) st = llm_arch_load(f, &m, &err);
    if (st) {
        int rc = fail(st, &err);
        gguf_free(f);
        gguf_source_close(&src);
        free(toks);
        return rc;
    }
    const llm_hparams *hp = llm_arch_hparams(m);
    printf("arch=%d n_vocab=%d n_embd=%d n_layer=%d n_head=%d n_head_kv=%d head_dim_k=%d head_dim_v=%d n_ff=%d "
           "window=%d eps=%g n_params=%llu\n",
           (int)hp->arch, hp->n_vocab, hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv, hp->head_dim_k,
           hp->head_dim_v, hp->n_ff, hp->sliding_window, (double)hp->rms_eps,
           (unsigned long long)llm_arch_n_params(m));

    int rc = 0;
    llm_kv_state *kv = NULL;
    llm_pool *pool = NULL;
    float *logits = NULL;
    if (n_tok == 0) goto done;

    if (ctx <= 0) ctx = n_tok + bench;
    st = llm_kv_new(m, (int32_t)ctx, &kv, &err);
    if (st) {
        rc = fail(st, &err);
        goto done;
    }
    pool = llm_pool_new(threads < 1 ? 1 : threads);
    if (pool) { /* the path the library would choose: best, or forced by LLM_CPU_ISA */
        const char *forced = getenv("LLM_CPU_ISA");
        int isa = forced && *forced ? llm_isa_parse(forced) : (int)llm_isa_best();
        if (isa < 0 || !llm_isa_runnable((llm_isa)isa)) {
            fprintf(stderr, "forward_driver: LLM_CPU_ISA=%s cannot run here\n", forced);
            rc = 2;
            goto done;
        }
        llm_pool_set_isa(pool, (llm_isa)isa);
        llm_pool_set_fast(pool, fast);
    }
    logits = malloc((size_t)n_tok * (size_t)hp->n_vocab * sizeof *logits);
    if (!pool || !logits) {
        fprintf(stderr, "forward_driver: out of memory\n");
        rc = 2;
        goto done;
    }
    if (split < 0 || split > n_tok) split = n_tok;

    double t0 = now_s();
    /* calls: [0, split) at once, then one token per call */
    for (int32_t pos = 0; pos < n_tok;) {
        int32_t n = pos == 0 && split > 0 ? (int32_t)split : 1;
        if (check_abort) {
            abort_state ab = {0, 1};
            int32_t before = llm_kv_n_past(kv);
            st = llm_forward(m, kv, toks + pos, n, logits + (size_t)pos * hp->n_vocab, 1, pool, abort_cb, &ab, &err);
            if (st != LLM_ERR_ABORTED || llm_kv_n_past(kv) != before) {
                fprintf(stderr, "check-abort: status %s, n_past %d -> %d\n", status_name(st), before,
                        llm_kv_n_past(kv));
                rc = 3;
                goto done;
            }
        }
        st = llm_forward(m, kv, toks + pos, n, logits + (size_t)pos * hp->n_vocab, 1, pool, NULL, NULL, &err);
        if (st) {
            rc = fail(st, &err);
            goto done;
        }
        pos += n;
    }
    double t1 = now_s();
    printf("ok n_tokens=%d n_past=%d prompt_s=%.4f argmax_last=%d\n", n_tok, llm_kv_n_past(kv), t1 - t0,
           argmax(logits + (size_t)(n_tok - 1) * hp->n_vocab, hp->n_vocab));
    if (out_path) {
        FILE *fo = fopen(out_path, "wb");
        if (!fo || fwrite(logits, sizeof(float), (size_t)n_tok * hp->n_vocab, fo) != (size_t)n_tok * hp->n_vocab) {
            fprintf(stderr, "forward_driver: cannot write %s\n", out_path);
            rc = 2;
        }
        if (fo) fclose(fo);
    }
    if (bench > 0 && rc == 0) {
        float *last = malloc((size_t)hp->n_vocab * sizeof *last);
        if (!last) goto done;
        int32_t tok = argmax(logits + (size_t)(n_tok - 1) * hp->n_vocab, hp->n_vocab);
        double b0 = now_s();
        int done_n = 0;
        for (; done_n < bench; done_n++) {
            st = llm_forward(m, kv, &tok, 1, last, 0, pool, NULL, NULL, &err);
            if (st) {
                rc = fail(st, &err);
                break;
            }
            tok = argmax(last, hp->n_vocab);
        }
        double b1 = now_s();
        printf("bench: threads=%d prompt %d tokens %.1f tok/s, decode %d tokens %.2f tok/s\n", threads, n_tok,
               n_tok / (t1 - t0), done_n, done_n / (b1 - b0));
        free(last);
    }

done:
    free(logits);
    llm_pool_free(pool);
    llm_kv_free(kv);
    llm_arch_free(m);
    gguf_free(f);
    gguf_source_close(&src);
    free(toks);
    return rc;
}
