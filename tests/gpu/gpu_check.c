/* The GPU correctness check (run by tests/gpu/run.sh on a machine with a GPU): every model given
 * runs on the CUDA backend and on the CPU with exact precision (the oracle: f32 activations, the
 * scalar reference arithmetic), through the public API, and the logits are compared.
 *
 *   gpu_check [--allow-refused] [--no-oom] TYPE=MODEL.gguf ...
 *
 * (--allow-refused: a model the backend refuses is not a failure; --no-oom: skip the OOM check.
 * Both serve the CI run of this program against the mock plugin, tests/backend.cmake.)
 *
 * Per model (TYPE is the weight type, used to pick the tolerances):
 *   prefill  a 600-token prompt with every position's logits: the GEMM path (dequantized tiles +
 *            cuBLAS, f16 activations except for F32/BF16 weights), two chunks of 512 + 88 tokens,
 *            attention over up to 600 keys (sliding windows for gemma3);
 *   decode   24 single-token steps (the fused dequantize x vector kernels and the decode CUDA
 *            graph), teacher-forced with the CPU's greedy token so both sides see the same history;
 *            the logits of each step are compared and the greedy (argmax) tokens must agree on
 *            F32 / F16 / BF16 models;
 *   greedy   (F32, F16) llm_session_generate with temperature 0 from a 6-token prompt: the same
 *            32 tokens on both backends;
 *   graphs   the decode steps again with LLM_CUDA_GRAPHS=0: bitwise the same logits as with graphs;
 *   abort    an abort between layers during a prefill: LLM_ERR_ABORTED-free finish, n_past kept,
 *            and the next pass still matches the CPU;
 *   batch    batched decode (llm_session_step_batch: the plugin's session_forward_batch) of 1, 4
 *            and 16 sessions with prompts of different lengths and contents, 16 steps, against the
 *            same sessions stepped one by one on the GPU: greedy tokens identical (required on
 *            F32 / F16 / BF16; counted on the others), logits within the decode tolerance up to
 *            the first differing token of a session.
 * Tolerance: max |gpu - cpu| / max |cpu| over each row of logits (a NaN fails). Decode rows and
 * F32/BF16 prefill are f32 arithmetic in another summation order: 2e-3. Prefill of f16-activation
 * products (F16 and quantized weights): 3e-2 (f16 has an 11-bit significand; the error of each
 * product is about 2^-11 relative, and it compounds over the layers).
 * Once, with the first model: device OOM by sessions with a huge context until the device is full
 * (LLM_ERR_OUT_OF_MEMORY, no crash, everything freed afterwards).
 * Prints one line per check and a summary; exit status 1 on any failure. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llm.h"

static int g_fail, g_pass, g_allow_refused, g_no_oom;

static void result(int ok, const char *model, const char *check, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void result(int ok, const char *model, const char *check, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%-4s %-6s %-8s ", ok ? "ok" : "FAIL", model, check);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    fflush(stdout);
    if (ok) g_pass++;
    else g_fail++;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float row_err(const float *g, const float *c, int32_t n) {
    float md = 0, mx = 0;
    for (int32_t i = 0; i < n; i++) {
        const float d = fabsf(g[i] - c[i]);
        if (!(d <= md)) md = d;
        if (fabsf(c[i]) > mx) mx = fabsf(c[i]);
    }
    return md / (mx > 0 ? mx : 1);
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static llm_context *make_ctx(llm_model *m, int backend, int32_t n_ctx, llm_status *st) {
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_BACKEND, backend);
    llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, n_ctx);
    llm_options_set_int(o, LLM_OPT_PRECISION, LLM_PRECISION_EXACT);
    llm_options_set_int(o, LLM_OPT_MAX_SESSIONS, 4096);
    llm_context *c = NULL;
    *st = llm_context_new(m, o, &c);
    if (*st != LLM_OK) fprintf(stderr, "context (backend %d): %s\n", backend, llm_last_error(o));
    llm_options_free(o);
    return c;
}

static llm_session *make_session(llm_context *c, int all_logits) {
    llm_options *o = llm_options_new();
    llm_options_set_float(o, LLM_OPT_TEMPERATURE, 0);
    llm_options_set_int(o, LLM_OPT_ALL_LOGITS, all_logits);
    llm_options_set_int(o, LLM_OPT_MAX_TOKENS, 32);
    llm_session *s = NULL;
    if (llm_session_new(c, o, &s) != LLM_OK) fprintf(stderr, "session: %s\n", llm_last_error(c));
    llm_options_free(o);
    return s;
}

#define N_PROMPT 600
#define N_DECODE 24

/* Teacher-forced decode: returns the worst row error; *agree counts equal argmaxes; logits of
 * the GPU steps are stored into keep (N_DECODE rows) when not NULL. */
static float decode_run(llm_session *sg, llm_session *sc, int32_t n_vocab, int *agree, float *keep) {
    float worst = 0;
    *agree = 0;
    for (int i = 0; i < N_DECODE; i++) {
        const float *lc = NULL, *lg = NULL;
        llm_session_logits(sc, -1, &lc, NULL);
        const int32_t tok = argmax(lc, n_vocab);
        if (llm_session_feed_tokens(sg, &tok, 1) != LLM_OK || llm_session_feed_tokens(sc, &tok, 1) != LLM_OK) {
            fprintf(stderr, "decode feed: %s / %s\n", llm_last_error(sg), llm_last_error(sc));
            return INFINITY;
        }
        llm_session_logits(sg, -1, &lg, NULL);
        llm_session_logits(sc, -1, &lc, NULL);
        const float e = row_err(lg, lc, n_vocab);
        if (!(e <= worst)) worst = e;
        *agree += argmax(lg, n_vocab) == argmax(lc, n_vocab);
        if (keep) memcpy(keep + (size_t)i * n_vocab, lg, (size_t)n_vocab * sizeof *lg);
    }
    return worst;
}

static int abort_after(void *ud) {
    int *n = ud;
    return (*n)-- <= 0;
}

static void oom_check(llm_model *m, const char *type) {
    llm_status st;
    llm_context *c = make_ctx(m, LLM_BACKEND_CUDA, 1 << 24, &st);
    if (!c) {
        result(st == LLM_ERR_BACKEND, type, "oom", "context of 16M tokens refused up front (%d)", st);
        return;
    }
    llm_session *ss[64];
    int n = 0;
    llm_status last = LLM_OK;
    while (n < 64) {
        llm_session *s = NULL;
        last = llm_session_new(c, NULL, &s);
        if (last != LLM_OK) break;
        ss[n++] = s;
    }
    result(last == LLM_ERR_OUT_OF_MEMORY && n >= 1, type, "oom", "%d sessions of 16M tokens, then %s: %s", n,
           llm_status_str(last), llm_last_error(c));
    for (int i = 0; i < n; i++) llm_session_free(ss[i]);
    /* the device is usable again */
    llm_session *s = make_session(c, 0);
    const int32_t t[2] = {1, 2};
    result(s && llm_session_feed_tokens(s, t, 2) == LLM_OK, type, "oom", "a session works after the OOM");
    llm_session_free(s);
    llm_context_free(c);
}

#define N_BATCH_STEPS 16

static void batch_prompt(const int32_t *prompt, int i, const int32_t **p, int *n) {
    *p = prompt + 37 * i;       /* different contents ... */
    *n = 4 + (i * 5) % 17;      /* ... and lengths: different positions in one batch */
}

/* Batched decode of nb sessions against the same sessions stepped alone (both on the GPU). */
static void batch_check(llm_context *cg, const int32_t *prompt, int32_t n_vocab, const char *type, int nb,
                        int greedy_type, float tol) {
    const size_t row = (size_t)n_vocab;
    int32_t *ref_tok = malloc((size_t)nb * N_BATCH_STEPS * sizeof *ref_tok);
    float *ref_lg = malloc((size_t)nb * N_BATCH_STEPS * row * sizeof *ref_lg);
    llm_session **ss = calloc((size_t)nb, sizeof *ss);
    int32_t *toks = malloc((size_t)nb * sizeof *toks);
    llm_status *sts = malloc((size_t)nb * sizeof *sts);
    int *diverged = calloc((size_t)nb, sizeof *diverged);
    int ok = ref_tok && ref_lg && ss && toks && sts && diverged;
    double t_single = 0, t_batch = 0;
    float worst = 0;
    int same = 0, total = 0;
    llm_status bst = LLM_OK;
    if (!ok) {
        result(0, type, "batch", "out of memory");
        goto out;
    }
    for (int i = 0; i < nb && ok; i++) {
        llm_session *s = make_session(cg, 0);
        const int32_t *p;
        int np;
        batch_prompt(prompt, i, &p, &np);
        ok = s && llm_session_feed_tokens(s, p, (size_t)np) == LLM_OK;
        const double t0 = now_s();
        for (int k = 0; ok && k < N_BATCH_STEPS; k++) {
            llm_finish f;
            const float *lg = NULL;
            ok = llm_session_step(s, &ref_tok[i * N_BATCH_STEPS + k], NULL, NULL, &f) == LLM_OK &&
                 llm_session_logits(s, -1, &lg, NULL) == LLM_OK;
            if (ok) memcpy(ref_lg + ((size_t)i * N_BATCH_STEPS + k) * row, lg, row * sizeof *lg);
        }
        t_single += now_s() - t0;
        if (!ok) fprintf(stderr, "batch reference: %s\n", s ? llm_last_error(s) : "no session");
        llm_session_free(s);
    }
    for (int i = 0; i < nb && ok; i++) {
        ss[i] = make_session(cg, 0);
        const int32_t *p;
        int np;
        batch_prompt(prompt, i, &p, &np);
        ok = ss[i] && llm_session_feed_tokens(ss[i], p, (size_t)np) == LLM_OK;
    }
    for (int k = 0; ok && k < N_BATCH_STEPS; k++) {
        const double t0 = now_s();
        bst = llm_session_step_batch(ss, (size_t)nb, toks, NULL, NULL, NULL, sts);
        t_batch += now_s() - t0;
        if (bst != LLM_OK) {
            fprintf(stderr, "step_batch (%d sessions): %s: %s\n", nb, llm_status_str(bst), llm_last_error(ss[0]));
            ok = 0;
            break;
        }
        for (int i = 0; i < nb; i++) {
            const int32_t want = ref_tok[i * N_BATCH_STEPS + k];
            total++;
            same += toks[i] == want;
            if (diverged[i]) continue;
            const float *lg = NULL;
            llm_session_logits(ss[i], -1, &lg, NULL);
            const float e = lg ? row_err(lg, ref_lg + ((size_t)i * N_BATCH_STEPS + k) * row, n_vocab) : INFINITY;
            if (!(e <= worst)) worst = e;
            if (toks[i] != want) diverged[i] = 1; /* later steps see other histories */
        }
    }
    result(ok && worst <= tol && (!greedy_type || same == total), type, "batch",
           "%2d sessions x %d steps: tokens equal %d/%d, max rel err %.3g (tol %.0e); %.2f ms/step batched, "
           "%.2f ms/token alone%s%s",
           nb, N_BATCH_STEPS, same, total, worst, tol, t_batch * 1e3 / N_BATCH_STEPS,
           t_single * 1e3 / (nb * N_BATCH_STEPS), ok ? "" : "; failed: ", ok ? "" : llm_status_str(bst));
out:
    for (int i = 0; ss && i < nb; i++) llm_session_free(ss[i]);
    free(ref_tok);
    free(ref_lg);
    free(ss);
    free(toks);
    free(sts);
    free(diverged);
}

static void check_model(const char *type, const char *path, int first) {
    llm_options *lo = llm_options_new();
    llm_model *m = NULL;
    if (llm_model_load_file(path, lo, &m) != LLM_OK) {
        result(0, type, "load", "%s: %s", path, llm_last_error(lo));
        llm_options_free(lo);
        return;
    }
    llm_options_free(lo);
    const int32_t n_vocab = llm_model_n_vocab(m);
    const int exact_type = !strcmp(type, "F32") || !strcmp(type, "BF16");
    const int greedy_type = exact_type || !strcmp(type, "F16");
    const float tol_prefill = exact_type ? 2e-3f : 3e-2f, tol_decode = 2e-3f;
    llm_status st;
    llm_context *cg = make_ctx(m, LLM_BACKEND_CUDA, 1024, &st);
    llm_context *cc = make_ctx(m, LLM_BACKEND_CPU, 1024, &st);
    if (!cg || !cc) {
        result(g_allow_refused && !cg, type, "context", "cuda context %s", cg ? "ok" : "refused");
        goto out;
    }
    {
        llm_session *sg = make_session(cg, 1), *sc = make_session(cc, 1);
        int32_t *prompt = malloc(N_PROMPT * sizeof *prompt);
        uint32_t r = 12345;
        for (int i = 0; i < N_PROMPT; i++) {
            r = r * 1664525u + 1013904223u;
            prompt[i] = (int32_t)((r >> 8) % (uint32_t)n_vocab);
        }
        double t0 = now_s();
        st = llm_session_feed_tokens(sg, prompt, N_PROMPT);
        const double tg = now_s() - t0;
        t0 = now_s();
        llm_status stc = llm_session_feed_tokens(sc, prompt, N_PROMPT);
        const double tc = now_s() - t0;
        float worst = 0;
        int worst_row = -1;
        if (st == LLM_OK && stc == LLM_OK) {
            for (int32_t i = 0; i < N_PROMPT; i++) {
                const float *lg, *lc;
                llm_session_logits(sg, i, &lg, NULL);
                llm_session_logits(sc, i, &lc, NULL);
                const float e = row_err(lg, lc, n_vocab);
                if (!(e <= worst)) {
                    worst = e;
                    worst_row = i;
                }
            }
        }
        result(st == LLM_OK && stc == LLM_OK && worst <= tol_prefill, type, "prefill",
               "%d rows, max rel err %.3g (row %d, tol %.0e); gpu %.1f ms, cpu %.1f ms; %s", N_PROMPT, worst,
               worst_row, tol_prefill, tg * 1e3, tc * 1e3, st == LLM_OK ? "" : llm_last_error(sg));

        /* decode: single-token passes after a short prompt (fresh sessions without all-logits) */
        llm_session *dg = make_session(cg, 0), *dc = make_session(cc, 0);
        llm_session_feed_tokens(dg, prompt, 6);
        llm_session_feed_tokens(dc, prompt, 6);
        float *keep = malloc((size_t)N_DECODE * (size_t)n_vocab * sizeof *keep);
        int agree = 0;
        const float derr = decode_run(dg, dc, n_vocab, &agree, keep);
        result(derr <= tol_decode && (!greedy_type || agree == N_DECODE), type, "decode",
               "%d steps, max rel err %.3g (tol %.0e), argmax agrees %d/%d", N_DECODE, derr, tol_decode, agree,
               N_DECODE);

        /* the same decode without CUDA graphs: bitwise the same logits */
        setenv("LLM_CUDA_GRAPHS", "0", 1);
        llm_session *eg = make_session(cg, 0);
        llm_session_reset(dc);
        llm_session_feed_tokens(eg, prompt, 6);
        llm_session_feed_tokens(dc, prompt, 6);
        float *keep2 = malloc((size_t)N_DECODE * (size_t)n_vocab * sizeof *keep2);
        int agree2 = 0;
        decode_run(eg, dc, n_vocab, &agree2, keep2);
        unsetenv("LLM_CUDA_GRAPHS");
        const int same = memcmp(keep, keep2, (size_t)N_DECODE * (size_t)n_vocab * sizeof *keep) == 0;
        result(same, type, "graphs", "decode logits with and without CUDA graphs %s",
               same ? "bitwise equal" : "DIFFER");
        free(keep);
        free(keep2);
        llm_session_free(eg);

        /* greedy generation through the session API */
        if (greedy_type) {
            int32_t toks[2][32];
            int nt[2] = {0, 0};
            llm_session *gs[2] = {make_session(cg, 0), make_session(cc, 0)};
            for (int b = 0; b < 2; b++) {
                llm_session_feed_tokens(gs[b], prompt, 6);
                for (;;) {
                    int32_t t;
                    llm_finish f;
                    if (llm_session_step(gs[b], &t, NULL, NULL, &f) != LLM_OK) break;
                    if (t >= 0 && nt[b] < 32) toks[b][nt[b]++] = t;
                    if (f != LLM_FINISH_NONE) break;
                }
                llm_session_free(gs[b]);
            }
            const int eq = nt[0] == nt[1] && nt[0] > 0 && memcmp(toks[0], toks[1], (size_t)nt[0] * sizeof(int32_t)) == 0;
            result(eq, type, "greedy", "%d tokens on the gpu, %d on the cpu, %s", nt[0], nt[1],
                   eq ? "identical" : "DIFFERENT");
        }

        /* abort between layers of a prefill: n_past kept, next pass still right */
        {
            const int32_t before = llm_session_n_past(dg);
            int budget = 1;
            llm_session_set_abort(dg, abort_after, &budget);
            st = llm_session_feed_tokens(dg, prompt, 64);
            llm_session_set_abort(dg, NULL, NULL);
            const int kept = llm_session_n_past(dg) == before;
            llm_session_reset(dc);
            llm_session_reset(dg);
            llm_session_feed_tokens(dg, prompt, 20);
            llm_session_feed_tokens(dc, prompt, 20);
            const float *lg, *lc;
            llm_session_logits(dg, -1, &lg, NULL);
            llm_session_logits(dc, -1, &lc, NULL);
            const float e = row_err(lg, lc, n_vocab);
            result(st == LLM_ERR_ABORTED && kept && e <= tol_prefill, type, "abort",
                   "status %s, n_past kept %d, next pass err %.3g", llm_status_str(st), kept, e);
        }
        /* batched decode of several sessions against the same sessions alone */
        {
            static const int sizes[3] = {1, 4, 16};
            for (int b = 0; b < 3; b++) batch_check(cg, prompt, n_vocab, type, sizes[b], greedy_type, tol_decode);
        }
        llm_session_free(dg);
        llm_session_free(dc);
        llm_session_free(sg);
        llm_session_free(sc);
        free(prompt);
    }
    if (first && !g_no_oom) oom_check(m, type);
out:
    llm_context_free(cg);
    llm_context_free(cc);
    llm_model_free(m);
}

int main(int argc, char **argv) {
    char text[2048];
    size_t need;
    llm_backend_describe(LLM_BACKEND_CUDA, text, sizeof text, &need);
    printf("cuda backend: %s (%s)\n", llm_backend_available(LLM_BACKEND_CUDA) ? "available" : "NOT available", text);
    for (int32_t d = 0; d < llm_backend_device_count(LLM_BACKEND_CUDA); d++) {
        uint64_t t = 0, f = 0;
        llm_backend_device_name(LLM_BACKEND_CUDA, d, text, sizeof text, &need);
        llm_backend_device_memory(LLM_BACKEND_CUDA, d, &t, &f);
        printf("device %d: %s, %.0f MiB, %.0f MiB free\n", (int)d, text, t / 1048576.0, f / 1048576.0);
    }
    int first = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--allow-refused")) {
            g_allow_refused = 1;
            continue;
        }
        if (!strcmp(argv[i], "--no-oom")) {
            g_no_oom = 1;
            continue;
        }
        char type[32];
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq - argv[i] >= (ptrdiff_t)sizeof type) {
            fprintf(stderr, "usage: gpu_check [--allow-refused] TYPE=MODEL ...\n");
            return 2;
        }
        memcpy(type, argv[i], (size_t)(eq - argv[i]));
        type[eq - argv[i]] = 0;
        check_model(type, eq + 1, first);
        first = 0;
    }
    printf("gpu_check: %d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
