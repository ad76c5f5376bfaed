/* Conversations longer than the context (LLM_OPT_CONTEXT_SHIFT) on random models of every
 * architecture, with each KV cache type and both precisions:
 *   - a scripted conversation of ten times the context runs without error, in both shift modes;
 *   - SHIFT_RECOMPUTE: right after a shift, the logits are those of a fresh session fed exactly
 *     the kept tokens (bitwise with FAST; with EXACT within 1e-5 of the logits' range: EXACT's
 *     multi-token products are BLIS sgemm whose last bits depend on the batch's shape);
 *   - SHIFT (keys moved and rotated): layer 0's cached keys and values, which depend only on the
 *     token and its position, equal the fresh session's within the rounding of the rotation and
 *     of the cache type (F32 1e-4, F16 2e-3, Q8_0 2e-2 of the largest magnitude: one rounding of
 *     the rotated value to the type's step). The later layers carry what they saw of the dropped
 *     tokens (as in llama.cpp), so their logits only come close; the difference is printed.
 * Links the runtime statically to read the caches (lib/api/internal.h).
 *
 *   test_shift MODEL.gguf... */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "check.h"
#include "model/model_internal.h"

#define N_CTX 96
#define KEEP 4

static uint64_t g_rng = 88172645463325252ull;
static int32_t rnd(int32_t n) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (int32_t)(g_rng % (uint64_t)n);
}

static llm_context *make_context(llm_model *m, int kv_type, int precision) {
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, N_CTX);
    llm_options_set_int(o, LLM_OPT_THREADS, 2);
    llm_options_set_int(o, LLM_OPT_KV_TYPE, kv_type);
    llm_options_set_int(o, LLM_OPT_PRECISION, precision);
    llm_options_set_int(o, LLM_OPT_PREFIX_CACHE, 0);
    llm_context *c = NULL;
    CHECK(llm_context_new(m, o, &c) == LLM_OK, "context: %s", llm_last_error(o));
    llm_options_free(o);
    return c;
}

static llm_session *make_session(llm_context *c, int mode, double temperature, int keep) {
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_CONTEXT_SHIFT, mode);
    llm_options_set_int(o, LLM_OPT_SHIFT_KEEP, keep);
    llm_options_set_float(o, LLM_OPT_TEMPERATURE, temperature);
    llm_session *s = NULL;
    CHECK(llm_session_new(c, o, &s) == LLM_OK, "session: %s", llm_last_error(c));
    llm_options_free(o);
    return s;
}

/* Ten contexts' worth of turns: a user turn of random tokens, a reply of up to 24 tokens. */
static void endless(llm_context *c, int mode, const char *what) {
    llm_session *s = make_session(c, mode, 0.8, -1);
    if (!s) return;
    const int32_t nv = llm_model_n_vocab(c->model);
    llm_session_set_int(s, LLM_OPT_MAX_TOKENS, 24);
    int64_t total = 0;
    int ok = 1;
    while (ok && total < 10 * N_CTX) {
        int32_t turn[16];
        for (int i = 0; i < 16; i++) turn[i] = rnd(nv);
        ok = llm_session_feed_tokens(s, turn, 16) == LLM_OK;
        CHECK(ok, "%s: feed after %lld tokens: %s", what, (long long)total, llm_last_error(s));
        total += 16;
        for (int i = 0; ok && i < 24; i++) {
            llm_finish why;
            ok = llm_session_step(s, NULL, NULL, NULL, &why) == LLM_OK;
            CHECK(ok, "%s: step after %lld tokens: %s", what, (long long)total, llm_last_error(s));
            total++;
            CHECK(why != LLM_FINISH_CONTEXT, "%s: the context ended the reply", what);
            if (why != LLM_FINISH_NONE) break;
        }
    }
    CHECK(llm_session_n_shifts(s) >= 8, "%s: %d shifts in %lld tokens", what, (int)llm_session_n_shifts(s),
          (long long)total);
    CHECK(llm_session_n_past(s) <= N_CTX, "%s: n_past %d", what, (int)llm_session_n_past(s));
    llm_session_free(s);
}

/* Feeds the kept tokens to a fresh session as the shifting one evaluated them: all but the last
 * as one batch, then the last alone. */
static llm_session *fresh_with(llm_context *c, const int32_t *kept, int32_t n) {
    llm_session *f = make_session(c, LLM_SHIFT_NONE, 0.0, -1);
    if (!f) return NULL;
    CHECK(llm_session_feed_tokens(f, kept, (size_t)n - 1) == LLM_OK, "fresh feed: %s", llm_last_error(f));
    CHECK(llm_session_feed_tokens(f, kept + n - 1, 1) == LLM_OK, "fresh feed: %s", llm_last_error(f));
    return f;
}

static float max_abs(const float *x, int64_t n) {
    float m = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabsf(x[i]) > m) m = fabsf(x[i]);
    return m;
}

/* Layer 0's K and V rows of both sessions, converted to f32, for positions [0, n). */
static void compare_layer0(llm_session *a, llm_session *b, int32_t n, int kv_type, const char *what) {
    llm_kv_state *ka = a->kv, *kb = b->kv;
    const double tol = kv_type == LLM_KV_F32 ? 1e-4 : kv_type == LLM_KV_F16 ? 2e-3 : 2e-2;
    const uint32_t dt = kv_type == LLM_KV_F32 ? LLM_DT_F32 : kv_type == LLM_KV_F16 ? LLM_DT_F16 : LLM_DT_Q8_0;
    for (int is_v = 0; is_v < 2; is_v++) {
        const size_t rb = llm_kv_row_bytes(ka, is_v);
        const int64_t elems = is_v ? ka->v_row : ka->k_row;
        unsigned char *ra = malloc(rb * (size_t)n), *rbuf = malloc(rb * (size_t)n);
        float *fa = malloc((size_t)elems * (size_t)n * sizeof(float)), *fb = malloc((size_t)elems * (size_t)n * sizeof(float));
        llm_err err;
        CHECK(llm_kv_read_rows(ka, 0, is_v, 0, n, ra, &err) == LLM_OK && llm_kv_read_rows(kb, 0, is_v, 0, n, rbuf, &err) == LLM_OK,
              "%s: read rows", what);
        for (int32_t p = 0; p < n; p++) {
            llm_dequantize_row(dt, ra + rb * (size_t)p, fa + elems * p, elems);
            llm_dequantize_row(dt, rbuf + rb * (size_t)p, fb + elems * p, elems);
        }
        const float scale = max_abs(fb, elems * n);
        float worst = 0;
        int32_t at = -1;
        for (int64_t i = 0; i < elems * n; i++)
            if (fabsf(fa[i] - fb[i]) > worst) {
                worst = fabsf(fa[i] - fb[i]);
                at = (int32_t)(i / elems);
            }
        CHECK(worst <= tol * scale, "%s: layer 0 %s differ by %g at position %d (largest magnitude %g)", what,
              is_v ? "values" : "keys", worst, (int)at, scale);
        free(ra);
        free(rbuf);
        free(fa);
        free(fb);
    }
}

/* Feeds 90 random tokens and decodes greedily until the first shift; compares with a fresh session. */
static void right_after_shift(llm_context *c, int mode, int kv_type, int precision, const char *what) {
    llm_session *s = make_session(c, mode, 0.0, KEEP);
    if (!s) return;
    const int32_t nv = llm_model_n_vocab(c->model);
    int32_t cache[N_CTX + 1];
    int32_t n = 90;
    for (int32_t i = 0; i < n; i++) cache[i] = rnd(nv);
    CHECK(llm_session_feed_tokens(s, cache, (size_t)n) == LLM_OK, "%s: feed: %s", what, llm_last_error(s));
    int32_t pending = -1;
    for (int i = 0; i < 3 * N_CTX && llm_session_n_shifts(s) == 0; i++) {
        const int32_t before = llm_session_n_past(s);
        int32_t tok = -1;
        llm_finish why;
        if (llm_session_step(s, &tok, NULL, NULL, &why) != LLM_OK) {
            CHECK(0, "%s: step: %s", what, llm_last_error(s));
            break;
        }
        if (llm_session_n_shifts(s) > 0) {
            /* the pending token went in after the shift */
            const int32_t after = llm_session_n_past(s), n_discard = before + 1 - after;
            CHECK(n_discard >= 1 && pending >= 0, "%s: discard %d", what, (int)n_discard);
            int32_t kept[N_CTX + 1], k = 0;
            for (int32_t j = 0; j < KEEP; j++) kept[k++] = cache[j];
            for (int32_t j = KEEP + n_discard; j < before; j++) kept[k++] = cache[j];
            kept[k++] = pending;
            CHECK(k == after, "%s: %d kept tokens, n_past %d", what, (int)k, (int)after);
            llm_session *f = fresh_with(c, kept, k);
            const float *la = NULL, *lb = NULL;
            CHECK(llm_session_logits(s, -1, &la, NULL) == LLM_OK && f && llm_session_logits(f, -1, &lb, NULL) == LLM_OK,
                  "%s: logits", what);
            if (la && lb) {
                float worst = 0, lo = INFINITY, hi = -INFINITY;
                int same = 1;
                for (int32_t v = 0; v < nv; v++) {
                    if (fabsf(la[v] - lb[v]) > worst) worst = fabsf(la[v] - lb[v]);
                    if (memcmp(&la[v], &lb[v], sizeof(float))) same = 0;
                    lo = lb[v] < lo ? lb[v] : lo;
                    hi = lb[v] > hi ? lb[v] : hi;
                }
                if (mode == LLM_SHIFT_RECOMPUTE && precision == LLM_PRECISION_FAST)
                    CHECK(same, "%s: recompute: logits differ from a fresh session's by %g", what, worst);
                else if (mode == LLM_SHIFT_RECOMPUTE)
                    CHECK(worst <= 1e-5f * (hi - lo), "%s: recompute: logits differ by %g (range %g)", what, worst,
                          hi - lo);
                else
                    printf("%s: after a shift the logits differ from a fresh session's by at most %.3g (range %.3g)\n",
                           what, worst, hi - lo);
            }
            if (f) compare_layer0(s, f, k, kv_type, what);
            llm_session_free(f);
            break;
        }
        if (why != LLM_FINISH_NONE) { /* an end-of-generation token: feed one more and go on */
            int32_t t = rnd(nv);
            CHECK(llm_session_feed_tokens(s, &t, 1) == LLM_OK, "%s: feed", what);
            n = llm_session_n_past(s);
            cache[n - 1] = t;
            pending = -1;
            continue;
        }
        if (pending >= 0) cache[before] = pending;
        pending = tok;
    }
    CHECK(llm_session_n_shifts(s) == 1, "%s: no shift happened", what);
    llm_session_free(s);
}

/* Copy-on-write of shared pages: B attaches A's prompt pages, then B shifts (rewriting those
 * positions) and A goes on: A's logits are the same as in a context where nothing is shared, and
 * B's as those of its own fresh evaluation. */
static void shared_then_shift(llm_model *m, int kv_type, const char *what) {
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, N_CTX);
    llm_options_set_int(o, LLM_OPT_THREADS, 2);
    llm_options_set_int(o, LLM_OPT_KV_TYPE, kv_type);
    llm_options_set_int(o, LLM_OPT_PRECISION, LLM_PRECISION_FAST);
    llm_context *c = NULL, *ref = NULL;
    CHECK(llm_context_new(m, o, &c) == LLM_OK, "%s: context", what);
    llm_options_set_int(o, LLM_OPT_PREFIX_CACHE, 0);
    CHECK(llm_context_new(m, o, &ref) == LLM_OK, "%s: context", what);
    llm_options_free(o);
    if (!c || !ref) {
        llm_context_free(c);
        llm_context_free(ref);
        return;
    }
    const int32_t nv = llm_model_n_vocab(m);
    int32_t prompt[80];
    for (int i = 0; i < 80; i++) prompt[i] = rnd(nv);
    llm_session *a = make_session(c, LLM_SHIFT, 0.0, KEEP), *b = make_session(c, LLM_SHIFT, 0.0, KEEP);
    llm_session *ra = make_session(ref, LLM_SHIFT, 0.0, KEEP);
    CHECK(a && b && ra, "%s: sessions", what);
    if (a && b && ra) {
        CHECK(llm_session_feed_tokens(a, prompt, 70) == LLM_OK, "%s: feed a", what);
        CHECK(llm_session_feed_tokens(ra, prompt, 70) == LLM_OK, "%s: feed ra", what);
        CHECK(llm_session_feed_tokens(b, prompt, 80) == LLM_OK, "%s: feed b", what);
        CHECK(llm_session_n_reused(b) == 64, "%s: b reused %d positions", what, (int)llm_session_n_reused(b));
        /* b runs through several shifts, writing over the positions it shared with a */
        for (int i = 0; i < 60; i++) {
            llm_finish why;
            CHECK(llm_session_step(b, NULL, NULL, NULL, &why) == LLM_OK, "%s: step b", what);
            if (why != LLM_FINISH_NONE) {
                int32_t t = rnd(nv);
                llm_session_feed_tokens(b, &t, 1);
            }
        }
        CHECK(llm_session_n_shifts(b) >= 1, "%s: b did not shift", what);
        /* a's cache is untouched: its next tokens are those of the unshared reference */
        for (int i = 0; i < 8; i++) {
            int32_t ta = -1, tr = -2;
            llm_session_step(a, &ta, NULL, NULL, NULL);
            llm_session_step(ra, &tr, NULL, NULL, NULL);
            const float *la = NULL, *lr = NULL;
            llm_session_logits(a, -1, &la, NULL);
            llm_session_logits(ra, -1, &lr, NULL);
            CHECK(ta == tr && la && lr && memcmp(la, lr, (size_t)nv * sizeof(float)) == 0,
                  "%s: step %d of the session whose pages were shared differs (%d vs %d)", what, i, (int)ta, (int)tr);
        }
    }
    llm_session_free(a);
    llm_session_free(b);
    llm_session_free(ra);
    CHECK(llm_context_kv_bytes(ref) == 0, "%s: pages left without sessions", what);
    llm_context_free(c);
    llm_context_free(ref);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_shift MODEL.gguf...\n");
        return 2;
    }
    static const char *kv_names[3] = {"f32", "f16", "q8_0"};
    for (int a = 1; a < argc; a++) {
        llm_model *m = NULL;
        if (llm_model_load_file(argv[a], NULL, &m) != LLM_OK) {
            CHECK(0, "cannot load %s", argv[a]);
            continue;
        }
        const char *base = strrchr(argv[a], '/') ? strrchr(argv[a], '/') + 1 : argv[a];
        for (int kv_type = 0; kv_type < 3; kv_type++)
            for (int precision = 0; precision < 2; precision++) {
                char what[256];
                snprintf(what, sizeof what, "%s kv %s %s", base, kv_names[kv_type],
                         precision == LLM_PRECISION_FAST ? "fast" : "exact");
                llm_context *c = make_context(m, kv_type, precision);
                if (!c) continue;
                char w2[300];
                snprintf(w2, sizeof w2, "%s shift", what);
                right_after_shift(c, LLM_SHIFT, kv_type, precision, w2);
                snprintf(w2, sizeof w2, "%s recompute", what);
                right_after_shift(c, LLM_SHIFT_RECOMPUTE, kv_type, precision, w2);
                if (precision == LLM_PRECISION_FAST) {
                    snprintf(w2, sizeof w2, "%s endless shift", what);
                    endless(c, LLM_SHIFT, w2);
                    snprintf(w2, sizeof w2, "%s endless recompute", what);
                    endless(c, LLM_SHIFT_RECOMPUTE, w2);
                }
                llm_context_free(c);
            }
        for (int kv_type = 0; kv_type < 3; kv_type += 2) {
            char what[256];
            snprintf(what, sizeof what, "%s kv %s shared pages", base, kv_names[kv_type]);
            shared_then_shift(m, kv_type, what);
        }
        llm_model_free(m);
    }
    return check_summary("test_shift");
}
