/* llm_session_step_batch against llm_session_step: the same tokens, finishes and positions, and
 * the same logits - bit for bit where the header promises it, else within a stated tolerance -
 * on random-weight models of several architectures and weight types (tests/batch.cmake makes
 * them with tests/tools/make_model.py), in both precisions. Also: sessions finishing at
 * different times inside the batch (length, end of generation, context full), an abort inside a
 * batch of 3, a computation left by llm_session_step_timed joining, every invalid argument, a
 * batch of 1, and 1 vs 2 threads.
 *
 * usage: test_step_batch MODEL.gguf...   (a file name containing "f32" has F32 weights)
 *
 * When are the logits bitwise equal? A batch's weight products are n-token products
 * (kernels/cpu/matmul.c). In FAST precision with quantized weights on an AVX-512 VNNI pool the
 * n-token integer GEMM gives exactly the one-token fast dot, so everything is bitwise. Elsewhere
 * the n-token path is BLIS f32 tiles while one token is a row dot:
 *  - EXACT precision, F32 weights, or a scalar pool in FAST (which keeps the f32 path): the same
 *    f32 products summed in another order; each product is within cols * 2^-24 * sum|w x| of
 *    exact (matmul.c), i.e. ~1e-6 relative, grown by a few layers of a small model: TOL_F32 =
 *    1e-3 of the row's largest |logit| leaves a wide margin (observed: ~1e-6).
 *  - FAST on AVX2 (or AVX-512 without VNNI): one token's products take 8-bit activations
 *    (kernels/cpu/fast.h: an error up to d_b / 2 per activation, ~1/254 of a block's largest
 *    |x|) while the batch's are f32, so the two differ by the activation rounding itself, a few
 *    1e-3 relative per product, compounding over the layers: TOL_INT8 = 0.1 of the row's largest
 *    |logit| (observed: 2e-2 to 3.5e-2 on the test models).
 * Where logits may differ, a greedy token may too when the reference's two best logits are
 * within that tolerance: the test then checks exactly that and stops comparing the session. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "llm.h"

#define N_CTX 64
#define MAX_STEPS N_CTX
#define N_SESS 4
#define TOL_F32 1e-3
#define TOL_INT8 0.1

typedef struct spec {
    int32_t prompt_len;
    double temperature; /* 0: greedy; else uniform-ish sampling (top-k/p and min-p off) */
    int64_t seed;
    int32_t max_tokens;
} spec;

/* What one session did, step by step. */
typedef struct record {
    int n;
    int32_t tok[MAX_STEPS];
    llm_finish fin[MAX_STEPS];
    int32_t n_past[MAX_STEPS];
    float *logits; /* MAX_STEPS x n_vocab */
} record;

static int32_t g_vocab;
static int g_abort_polls, g_abort_at;

static int abort_on_poll(void *ud) {
    (void)ud;
    return ++g_abort_polls == g_abort_at;
}

static void prompt(int which, int32_t len, int32_t *out) {
    uint32_t x = 12345u + 7919u * (uint32_t)which;
    for (int32_t i = 0; i < len; i++) {
        x = x * 1664525u + 1013904223u;
        out[i] = 3 + (int32_t)((x >> 8) % (uint32_t)(g_vocab - 3));
    }
}

static llm_context *make_ctx(const llm_model *m, int threads, llm_precision prec) {
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_THREADS, threads);
    llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, N_CTX);
    llm_options_set_int(o, LLM_OPT_PRECISION, prec);
    llm_options_set_int(o, LLM_OPT_BACKEND, LLM_BACKEND_CPU);
    llm_context *c = NULL;
    llm_status st = llm_context_new(m, o, &c);
    CHECK(st == LLM_OK, "context: %s", llm_last_error(o));
    llm_options_free(o);
    return c;
}

static llm_session *make_sess(llm_context *c, const spec *sp) {
    llm_session *s = NULL;
    CHECK(llm_session_new(c, NULL, &s) == LLM_OK, "session: %s", llm_last_error(c));
    llm_session_set_float(s, LLM_OPT_TEMPERATURE, sp->temperature);
    llm_session_set_int(s, LLM_OPT_TOP_K, 0);
    llm_session_set_float(s, LLM_OPT_TOP_P, 1.0);
    llm_session_set_float(s, LLM_OPT_MIN_P, 0.0);
    llm_session_set_int(s, LLM_OPT_SEED, sp->seed);
    llm_session_set_int(s, LLM_OPT_MAX_TOKENS, sp->max_tokens);
    return s;
}

/* Reset, reseed (the seed may have changed) and feed the session's prompt. */
static void start(llm_session *s, int which, const spec *sp) {
    int32_t toks[N_CTX];
    llm_session_set_int(s, LLM_OPT_SEED, sp->seed);
    llm_session_reset(s);
    prompt(which, sp->prompt_len, toks);
    CHECK(llm_session_feed_tokens(s, toks, (size_t)sp->prompt_len) == LLM_OK, "feed: %s", llm_last_error(s));
}

static void note(llm_session *s, record *r, int32_t tok, llm_finish fin) {
    if (r->n >= MAX_STEPS) return;
    const float *lg = NULL;
    r->tok[r->n] = tok;
    r->fin[r->n] = fin;
    r->n_past[r->n] = llm_session_n_past(s);
    if (llm_session_logits(s, -1, &lg, NULL) == LLM_OK)
        memcpy(r->logits + (size_t)r->n * (size_t)g_vocab, lg, (size_t)g_vocab * sizeof *lg);
    r->n++;
}

/* The reference: the session stepped on its own until it finishes. */
static void run_alone(llm_session *s, int which, const spec *sp, record *r) {
    start(s, which, sp);
    r->n = 0;
    for (int k = 0; k < MAX_STEPS; k++) {
        int32_t tok;
        llm_finish fin;
        CHECK(llm_session_step(s, &tok, NULL, NULL, &fin) == LLM_OK, "step: %s", llm_last_error(s));
        note(s, r, tok, fin);
        if (fin != LLM_FINISH_NONE) break;
    }
}

/* The sessions stepped together until every one finishes (finished ones leave the batch);
 * session i is the test's session first + i. */
static void run_batch(llm_session **ss, int n, int first, const spec *specs, record *rs) {
    llm_session *live[N_SESS];
    int idx[N_SESS], n_live = n;
    for (int i = 0; i < n; i++) {
        start(ss[i], first + i, &specs[i]);
        rs[i].n = 0;
        live[i] = ss[i];
        idx[i] = i;
    }
    for (int k = 0; k < MAX_STEPS && n_live > 0; k++) {
        int32_t toks[N_SESS];
        llm_finish fins[N_SESS];
        llm_status sts[N_SESS];
        const char *texts[N_SESS];
        size_t lens[N_SESS];
        llm_status st = llm_session_step_batch(live, (size_t)n_live, toks, texts, lens, fins, sts);
        CHECK(st == LLM_OK, "step_batch: %s", llm_status_str(st));
        int kept = 0;
        for (int j = 0; j < n_live; j++) {
            CHECK(sts[j] == LLM_OK && texts[j] != NULL, "session %d status %d", idx[j], (int)sts[j]);
            note(live[j], &rs[idx[j]], toks[j], fins[j]);
            if (fins[j] == LLM_FINISH_NONE) {
                live[kept] = live[j];
                idx[kept++] = idx[j];
            }
        }
        n_live = kept;
    }
}

/* Largest |a - b| over a logits row, relative to the row's largest |a|. */
static double rel_diff(const float *a, const float *b) {
    double d = 0, mx = 1e-30;
    for (int32_t v = 0; v < g_vocab; v++) {
        const double e = fabs((double)a[v] - (double)b[v]);
        if (e > d || isnan(e)) d = isnan(e) ? INFINITY : e;
        if (fabs(a[v]) > mx) mx = fabs(a[v]);
    }
    return d / mx;
}

/* Compares a batch record with the reference: bitwise (tol 0) or within tol. Returns the
 * largest relative logits difference seen. */
static double compare(const char *what, int sess, const spec *sp, const record *ref, const record *got, double tol) {
    double worst = 0;
    for (int k = 0; k < ref->n; k++) {
        if (k >= got->n) {
            CHECK(0, "%s session %d: batch stopped at step %d, alone at %d", what, sess, got->n, ref->n);
            break;
        }
        const float *a = ref->logits + (size_t)k * (size_t)g_vocab, *b = got->logits + (size_t)k * (size_t)g_vocab;
        const double d = rel_diff(a, b);
        if (d > worst) worst = d;
        if (tol == 0) CHECK(memcmp(a, b, (size_t)g_vocab * sizeof *a) == 0, "%s session %d step %d: logits differ "
                            "(rel %.3g)", what, sess, k, d);
        else CHECK(d <= tol, "%s session %d step %d: logits differ by %.3g (tolerance %.3g)", what, sess, k, d, tol);
        if (tol > 0 && ref->tok[k] != got->tok[k]) {
            /* a near tie: the batch's token is within the tolerance of the best (greedy), or
             * sampling met logits that differ within the tolerance; the sequences part here */
            double mx = 0;
            for (int32_t v = 0; v < g_vocab; v++) mx = fabs(a[v]) > mx ? fabs(a[v]) : mx;
            const double gap = got->tok[k] >= 0 && ref->tok[k] >= 0 ? a[ref->tok[k]] - a[got->tok[k]] : INFINITY;
            CHECK(sp->temperature > 0 || gap <= 2 * tol * mx, "%s session %d step %d: token %d vs %d, gap %.3g",
                  what, sess, k, (int)ref->tok[k], (int)got->tok[k], gap);
            return worst;
        }
        CHECK(ref->tok[k] == got->tok[k] && ref->fin[k] == got->fin[k] && ref->n_past[k] == got->n_past[k],
              "%s session %d step %d: alone token %d finish %d n_past %d, batch %d %d %d", what, sess, k,
              (int)ref->tok[k], (int)ref->fin[k], (int)ref->n_past[k], (int)got->tok[k], (int)got->fin[k],
              (int)got->n_past[k]);
    }
    CHECK(got->n == ref->n || tol > 0, "%s session %d: %d steps in the batch, %d alone", what, sess, got->n, ref->n);
    return worst;
}

static int cpu_has_vnni(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return 0;
    char line[8192];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, "avx512_vnni") != NULL;
    fclose(f);
    return found;
}

static record *new_records(int n) {
    record *r = calloc((size_t)n, sizeof *r);
    for (int i = 0; i < n; i++) r[i].logits = calloc((size_t)MAX_STEPS * (size_t)g_vocab, sizeof(float));
    return r;
}

static void free_records(record *r, int n) {
    for (int i = 0; i < n; i++) free(r[i].logits);
    free(r);
}

/* Invalid arguments: nothing touched, every status set, the message on the first valid
 * session's context. */
static void test_invalid(llm_context *c, llm_session **ss, llm_session *foreign) {
    int32_t np[N_SESS];
    for (int i = 0; i < N_SESS; i++) np[i] = llm_session_n_past(ss[i]);
    llm_status sts[N_SESS];
    int32_t toks[N_SESS];
    CHECK(llm_session_step_batch(NULL, 2, toks, NULL, NULL, NULL, sts) == LLM_ERR_INVALID_ARGUMENT, "NULL array");
    CHECK(sts[0] == LLM_ERR_INVALID_ARGUMENT && toks[0] == -1, "NULL array statuses");
    CHECK(llm_session_step_batch(ss, 0, NULL, NULL, NULL, NULL, NULL) == LLM_ERR_INVALID_ARGUMENT, "n == 0");
    llm_session *with_null[3] = {ss[0], NULL, ss[1]};
    CHECK(llm_session_step_batch(with_null, 3, NULL, NULL, NULL, NULL, sts) == LLM_ERR_INVALID_ARGUMENT, "NULL entry");
    CHECK(sts[0] == LLM_ERR_INVALID_ARGUMENT && sts[2] == LLM_ERR_INVALID_ARGUMENT, "NULL entry statuses");
    CHECK(strstr(llm_last_error(c), "sessions[1]") != NULL, "message: %s", llm_last_error(c));
    llm_session *dup[3] = {ss[0], ss[1], ss[0]};
    CHECK(llm_session_step_batch(dup, 3, NULL, NULL, NULL, NULL, sts) == LLM_ERR_INVALID_ARGUMENT, "duplicate");
    CHECK(strstr(llm_last_error(c), "same") != NULL, "message: %s", llm_last_error(c));
    llm_session *too_many[N_SESS + 1] = {ss[0], ss[1], ss[2], ss[3], ss[1]};
    CHECK(llm_session_step_batch(too_many, N_SESS + 1, NULL, NULL, NULL, NULL, NULL) == LLM_ERR_INVALID_ARGUMENT,
          "more sessions than the context has");
    llm_session *mixed[2] = {ss[0], foreign};
    CHECK(llm_session_step_batch(mixed, 2, NULL, NULL, NULL, NULL, sts) == LLM_ERR_INVALID_ARGUMENT, "foreign");
    CHECK(strstr(llm_last_error(c), "different contexts") != NULL, "message: %s", llm_last_error(c));
    for (int i = 0; i < N_SESS; i++) CHECK(llm_session_n_past(ss[i]) == np[i], "session %d touched", i);
}

/* One model in one precision. */
static void test_model(const char *path, llm_precision prec) {
    llm_options *o = llm_options_new();
    llm_model *m = NULL;
    if (llm_model_load_file(path, o, &m) != LLM_OK) {
        CHECK(0, "load %s: %s", path, llm_last_error(o));
        llm_options_free(o);
        return;
    }
    llm_options_free(o);
    g_vocab = llm_model_n_vocab(m);
    llm_context *c = make_ctx(m, 2, prec);
    const int quant = strstr(path, "f32") == NULL;
    const char *isa = llm_context_isa(c);
    const int int8_gemm = (!strcmp(isa, "avx512") || !strcmp(isa, "amx")) && cpu_has_vnni();
    const int int8_dot = strcmp(isa, "scalar") != 0;
    const double tol = prec == LLM_PRECISION_FAST && quant && int8_gemm ? 0
                       : prec == LLM_PRECISION_FAST && quant && int8_dot ? TOL_INT8
                                                                          : TOL_F32;
    char what[512];
    snprintf(what, sizeof what, "%s %s %s", path, prec == LLM_PRECISION_FAST ? "fast" : "exact", isa);

    /* finishing at different times: length (s0), end of generation (s1: a seed whose
     * near-uniform sampling meets the end-of-generation token), context full (s2, s3) */
    spec specs[N_SESS] = {{3, 0.0, 1, 9}, {11, 100.0, 1, 0}, {20, 0.0, 1, 0}, {40, 0.0, 1, 0}};
    llm_session *ss[N_SESS];
    for (int i = 0; i < N_SESS; i++) ss[i] = make_sess(c, &specs[i]);
    record *ref = new_records(N_SESS), *got = new_records(N_SESS);
    for (int64_t seed = 1; seed < 2000; seed++) {
        specs[1].seed = seed;
        run_alone(ss[1], 1, &specs[1], &ref[1]);
        if (ref[1].fin[ref[1].n - 1] == LLM_FINISH_EOG) break;
    }
    CHECK(ref[1].fin[ref[1].n - 1] == LLM_FINISH_EOG, "%s: no seed ends with the end-of-generation token", what);
    for (int i = 0; i < N_SESS; i++)
        if (i != 1) run_alone(ss[i], i, &specs[i], &ref[i]);
    CHECK(ref[0].fin[ref[0].n - 1] == LLM_FINISH_LENGTH && ref[0].n == 9, "%s: s0 finish %d after %d", what,
          (int)ref[0].fin[ref[0].n - 1], ref[0].n);
    CHECK(ref[3].fin[ref[3].n - 1] == LLM_FINISH_CONTEXT, "%s: s3 finish %d", what, (int)ref[3].fin[ref[3].n - 1]);

    run_batch(ss, N_SESS, 0, specs, got);
    double worst = 0;
    for (int i = 0; i < N_SESS; i++) {
        const double d = compare(what, i, &specs[i], &ref[i], &got[i], tol);
        worst = d > worst ? d : worst;
    }

    /* a batch of 1 is the single-session pass: bitwise in every mode */
    for (int i = 0; i < N_SESS; i++) {
        run_batch(&ss[i], 1, i, &specs[i], &got[i]);
        compare(what, i, &specs[i], &ref[i], &got[i], 0);
    }

    /* 1 vs 2 threads: the batched pass does not depend on the thread count */
    {
        llm_context *c1 = make_ctx(m, 1, prec);
        llm_session *s1[N_SESS];
        record *got1 = new_records(N_SESS);
        for (int i = 0; i < N_SESS; i++) s1[i] = make_sess(c1, &specs[i]);
        run_batch(ss, N_SESS, 0, specs, got);
        run_batch(s1, N_SESS, 0, specs, got1);
        for (int i = 0; i < N_SESS; i++) compare(what, i, &specs[i], &got[i], &got1[i], 0);
        test_invalid(c, ss, s1[0]);
        for (int i = 0; i < N_SESS; i++) llm_session_free(s1[i]);
        free_records(got1, N_SESS);
        llm_context_free(c1);
    }

    /* an abort inside a batch of 3 (s0, s2, s3; s2 aborts after its first layer at the third
     * step): s2 finishes ABORTED with its cache and logits as before, the others go on; then s2
     * evaluates the same pending token again and continues as it would have */
    {
        llm_session *b3[3] = {ss[0], ss[2], ss[3]};
        const spec *sp3[3] = {&specs[0], &specs[2], &specs[3]};
        const int which[3] = {0, 2, 3};
        for (int j = 0; j < 3; j++) start(b3[j], which[j], sp3[j]);
        int32_t toks[3];
        llm_finish fins[3];
        llm_status sts[3];
        for (int k = 0; k < 2; k++) llm_session_step_batch(b3, 3, toks, NULL, NULL, fins, sts);
        const int32_t np = llm_session_n_past(ss[2]);
        const float *lg = NULL;
        llm_session_logits(ss[2], -1, &lg, NULL);
        float *before = malloc((size_t)g_vocab * sizeof *before);
        memcpy(before, lg, (size_t)g_vocab * sizeof *before);
        g_abort_polls = 0;
        g_abort_at = 2;
        llm_session_set_abort(ss[2], abort_on_poll, NULL);
        llm_status st = llm_session_step_batch(b3, 3, toks, NULL, NULL, fins, sts);
        llm_session_set_abort(ss[2], NULL, NULL);
        CHECK(st == LLM_OK && sts[1] == LLM_OK, "%s abort: status %d", what, (int)st);
        CHECK(fins[1] == LLM_FINISH_ABORTED && toks[1] == -1, "%s abort: finish %d token %d", what, (int)fins[1],
              (int)toks[1]);
        CHECK(llm_session_n_past(ss[2]) == np, "%s abort: n_past moved", what);
        llm_session_logits(ss[2], -1, &lg, NULL);
        CHECK(memcmp(lg, before, (size_t)g_vocab * sizeof *lg) == 0, "%s abort: logits changed", what);
        free(before);
        CHECK(tol > 0 || (toks[0] == ref[0].tok[2] && toks[2] == ref[3].tok[2]), "%s abort: others %d %d vs %d %d",
              what, (int)toks[0], (int)toks[2], (int)ref[0].tok[2], (int)ref[3].tok[2]);
        llm_session_step_batch(b3, 3, toks, NULL, NULL, fins, sts);
        CHECK(sts[1] == LLM_OK && (tol > 0 || toks[1] == ref[2].tok[2]), "%s after the abort: %d vs %d", what,
              (int)toks[1], (int)ref[2].tok[2]);
    }

    /* a computation left in flight by llm_session_step_timed finishes on its own, then the
     * step samples: the same token and logits as the reference */
    {
        start(ss[2], 2, &specs[2]);
        start(ss[3], 3, &specs[3]);
        int32_t tok;
        llm_finish fin;
        llm_session_step(ss[2], &tok, NULL, NULL, &fin);
        llm_session_step(ss[3], &tok, NULL, NULL, &fin);
        llm_session_step_timed(ss[2], 1, &tok, NULL, NULL, &fin); /* one unit, not ready */
        llm_session *b2[2] = {ss[2], ss[3]};
        int32_t toks[2];
        llm_status sts[2];
        CHECK(llm_session_step_batch(b2, 2, toks, NULL, NULL, NULL, sts) == LLM_OK, "%s timed join", what);
        const float *lg = NULL;
        llm_session_logits(ss[2], -1, &lg, NULL);
        CHECK(tok != -1 || (toks[0] == ref[2].tok[1] &&
                            memcmp(lg, ref[2].logits + (size_t)g_vocab, (size_t)g_vocab * sizeof *lg) == 0),
              "%s timed join: token %d vs %d", what, (int)toks[0], (int)ref[2].tok[1]);
        CHECK(tol > 0 || toks[1] == ref[3].tok[1], "%s timed join, other: %d vs %d", what, (int)toks[1],
              (int)ref[3].tok[1]);
    }

    printf("%s: tolerance %g, largest relative logits difference %.3g\n", what, tol, worst);
    for (int i = 0; i < N_SESS; i++) llm_session_free(ss[i]);
    free_records(ref, N_SESS);
    free_records(got, N_SESS);
    llm_context_free(c);
    llm_model_free(m);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        test_model(argv[i], LLM_PRECISION_FAST);
        test_model(argv[i], LLM_PRECISION_EXACT);
    }
    return check_summary("test_step_batch");
}
