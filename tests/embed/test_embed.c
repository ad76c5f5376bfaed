/* Embeddings and scores through the public API on the real Gemma 3 270M (argv[1]).
 *
 * Embeddings: the hidden state of token k is obtained independently as the LAST pooling of the
 * first k + 1 tokens (a causal model's state at k sees nothing after it); FIRST and LAST must
 * equal the corresponding states, MEAN their average (computed here in double), NORMALIZE the
 * same vector at unit L2 norm; the same input gives the same bits; embed_text is embed of the
 * tokenized text. Scores: the sum of log-softmax values (computed here in double) of the logits
 * llm_session_logits returns after feeding prompt + continuation with LLM_OPT_ALL_LOGITS; a
 * continuation longer than one scoring segment (32 rows on a 262144-token vocabulary);
 * classification sanity (" Paris" after "The capital of France is" beats " Berlin" and " London").
 * Both in EXACT and FAST precision. And the session's state afterwards, abort, and every kind of
 * bad argument (the session left unchanged by them). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "llm.h"

static llm_model *g_model;
static int32_t g_embd, g_vocab;

static llm_session *new_session(llm_context **ctx_out, int n_ctx, int precision, int all_logits) {
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, n_ctx);
    llm_options_set_int(o, LLM_OPT_THREADS, 2);
    llm_options_set_int(o, LLM_OPT_PRECISION, precision);
    llm_options_set_int(o, LLM_OPT_ALL_LOGITS, all_logits);
    llm_context *c = NULL;
    llm_session *s = NULL;
    llm_status st = llm_context_new(g_model, o, &c);
    CHECK(st == LLM_OK, "context_new: %s", llm_last_error(o));
    if (c) {
        st = llm_session_new(c, o, &s);
        CHECK(st == LLM_OK, "session_new: %s", llm_last_error(c));
    }
    llm_options_free(o);
    *ctx_out = c;
    return s;
}

static size_t tokenize(const char *text, int bos, int32_t *out, size_t cap) {
    size_t n = 0;
    llm_status st = llm_tokenize(g_model, text, -1, bos ? LLM_TOKENIZE_ADD_BOS : 0, out, cap, &n);
    CHECK(st == LLM_OK, "tokenize %s", text);
    return st == LLM_OK ? n : 0;
}

/* max |a - b| / max |b| */
static double rel_err_f(const float *a, const double *b, size_t n) {
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs((double)a[i] - b[i]) > d) d = fabs((double)a[i] - b[i]);
        if (fabs(b[i]) > m) m = fabs(b[i]);
    }
    return m > 0 ? d / m : d;
}

static double norm_f(const float *a, size_t n) {
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)a[i] * a[i];
    return sqrt(ss);
}

static void test_embeddings(llm_session *s, const char *label) {
    int32_t toks[64];
    const size_t n = tokenize("The quick brown fox jumps over the lazy dog.", 1, toks, 64);
    CHECK(n >= 8 && n < 64, "%s: %zu tokens", label, n);
    const size_t e = (size_t)g_embd;
    float *h = malloc(n * e * sizeof *h); /* h[k]: the state of token k */
    float *v = malloc(e * sizeof *v), *w = malloc(e * sizeof *w);
    double *avg = calloc(e, sizeof *avg), *dv = malloc(e * sizeof *dv);
    for (size_t k = 0; k < n; k++) {
        llm_status st = llm_session_embed(s, toks, k + 1, LLM_POOLING_LAST, 0, h + k * e, e);
        CHECK(st == LLM_OK, "%s: embed prefix %zu: %s", label, k + 1, llm_last_error(s));
        for (size_t j = 0; j < e; j++) avg[j] += h[k * e + j] / (double)n;
    }
    CHECK(llm_session_n_past(s) == 0, "%s: the session is empty after embed (%d)", label, llm_session_n_past(s));
    CHECK(llm_session_n_evaluated(s) == (int64_t)n, "%s: n_evaluated %lld", label,
          (long long)llm_session_n_evaluated(s));
    const float *lg = NULL;
    CHECK(llm_session_logits(s, -1, &lg, NULL) == LLM_ERR_STATE, "%s: no logits after embed", label);

    /* FIRST and LAST: exactly the states (the same computation) */
    CHECK(llm_session_embed(s, toks, n, LLM_POOLING_FIRST, 0, v, e) == LLM_OK, "%s: first", label);
    CHECK(memcmp(v, h, e * sizeof *v) == 0, "%s: FIRST != state 0", label);
    CHECK(llm_session_embed(s, toks, n, LLM_POOLING_LAST, 0, v, e) == LLM_OK, "%s: last", label);
    CHECK(memcmp(v, h + (n - 1) * e, e * sizeof *v) == 0, "%s: LAST != state n-1", label);
    /* the states really differ from token to token (so the relations above mean something) */
    double spread = 0;
    for (size_t j = 0; j < e; j++) spread = fmax(spread, fabs((double)h[j] - h[(n - 1) * e + j]));
    CHECK(spread > 0.1, "%s: states 0 and n-1 differ by %g only", label, spread);

    /* MEAN: the average of the states. The states above come from prefixes of other lengths
     * (other batch sizes in the products): equal within float rounding, not bit for bit. */
    CHECK(llm_session_embed(s, toks, n, LLM_POOLING_MEAN, 0, v, e) == LLM_OK, "%s: mean", label);
    double err = rel_err_f(v, avg, e);
    printf("%s: MEAN vs average of the states: max rel err %.3e\n", label, err);
    CHECK(err < 1e-4, "%s: MEAN differs from the average: %.3e", label, err);
    /* the bound is tight enough to see one state left out: its share of the mean is far above it */
    double share = 0, top = 0;
    for (size_t j = 0; j < e; j++) {
        share = fmax(share, fabs((double)h[(n - 1) * e + j]) / (double)n);
        top = fmax(top, fabs(avg[j]));
    }
    CHECK(share / top > 100 * 1e-4, "%s: one state's share (%.3e) is within the bound", label, share / top);

    /* NORMALIZE: unit norm, same direction */
    for (int p = 0; p < 3; p++) {
        CHECK(llm_session_embed(s, toks, n, (llm_pooling)p, 0, v, e) == LLM_OK, "%s: pooling %d", label, p);
        CHECK(llm_session_embed(s, toks, n, (llm_pooling)p, LLM_EMBED_NORMALIZE, w, e) == LLM_OK, "%s: normalized %d",
              label, p);
        const double nv = norm_f(v, e), nw = norm_f(w, e);
        CHECK(fabs(nw - 1.0) < 1e-5, "%s: pooling %d normalized norm %.9f", label, p, nw);
        CHECK(fabs(nv - 1.0) > 1e-3, "%s: pooling %d raw norm %.6f is already 1", label, p, nv);
        for (size_t j = 0; j < e; j++) dv[j] = v[j] / nv;
        err = rel_err_f(w, dv, e);
        CHECK(err < 1e-6, "%s: pooling %d normalized != raw / norm (%.3e)", label, p, err);
    }

    /* same input, same bits; the session's earlier content does not matter */
    CHECK(llm_session_embed(s, toks, n, LLM_POOLING_MEAN, LLM_EMBED_NORMALIZE, v, e) == LLM_OK, "%s: again", label);
    CHECK(llm_session_feed_text(s, "Something else entirely", -1, LLM_FEED_ADD_BOS) == LLM_OK, "%s: feed", label);
    CHECK(llm_session_n_past(s) > 0, "%s: fed", label);
    CHECK(llm_session_embed(s, toks, n, LLM_POOLING_MEAN, LLM_EMBED_NORMALIZE, w, e) == LLM_OK, "%s: after feed",
          label);
    CHECK(memcmp(v, w, e * sizeof *v) == 0, "%s: embed depends on what the session held", label);
    CHECK(llm_session_n_past(s) == 0, "%s: empty after embed", label);
    /* embed_text = embed of the tokenized text (BOS added: Gemma uses one) */
    CHECK(llm_session_embed_text(s, "The quick brown fox jumps over the lazy dog.", -1, LLM_POOLING_MEAN,
                                 LLM_EMBED_NORMALIZE, w, e + 10) == LLM_OK,
          "%s: embed_text: %s", label, llm_last_error(s));
    CHECK(memcmp(v, w, e * sizeof *v) == 0, "%s: embed_text != embed of its tokens", label);
    CHECK(llm_session_embed_text(s, "The quick brown fox jumps over the lazy dog.X", 44, LLM_POOLING_MEAN,
                                 LLM_EMBED_NORMALIZE, w, e) == LLM_OK, "%s: embed_text len", label);
    CHECK(memcmp(v, w, e * sizeof *v) == 0, "%s: embed_text with a length", label);
    /* another text, another embedding; similar texts closer than unrelated ones */
    float *a = malloc(e * sizeof *a), *b = malloc(e * sizeof *b);
    CHECK(llm_session_embed_text(s, "A fast brown fox leaps over a sleepy dog.", -1, LLM_POOLING_MEAN,
                                 LLM_EMBED_NORMALIZE, a, e) == LLM_OK, "%s: similar", label);
    CHECK(llm_session_embed_text(s, "Quarterly revenue grew by 7 percent in 2023.", -1, LLM_POOLING_MEAN,
                                 LLM_EMBED_NORMALIZE, b, e) == LLM_OK, "%s: unrelated", label);
    double ca = 0, cb = 0;
    for (size_t j = 0; j < e; j++) {
        ca += (double)v[j] * a[j];
        cb += (double)v[j] * b[j];
    }
    printf("%s: cosine similar %.4f, unrelated %.4f\n", label, ca, cb);
    CHECK(ca < 1.0 - 1e-6 && cb < 1.0 - 1e-6, "%s: different texts, same embedding", label);
    CHECK(ca > cb, "%s: the paraphrase (%.4f) is not closer than the unrelated text (%.4f)", label, ca, cb);
    free(a);
    free(b);
    free(h);
    free(v);
    free(w);
    free(avg);
    free(dv);
}

/* The reference: feed prompt + continuation with all logits, log-softmax in double. */
static double ref_score(llm_session *ref, const int32_t *p, size_t np, const int32_t *c, size_t nc, double *per) {
    int32_t *all = malloc((np + nc) * sizeof *all);
    memcpy(all, p, np * sizeof *p);
    memcpy(all + np, c, nc * sizeof *c);
    CHECK(llm_session_reset(ref) == LLM_OK, "reset");
    llm_status st = llm_session_feed_tokens(ref, all, np + nc);
    CHECK(st == LLM_OK, "reference feed: %s", llm_last_error(ref));
    double total = 0;
    for (size_t i = 0; i < nc && st == LLM_OK; i++) {
        const float *row = NULL;
        int32_t nv = 0;
        st = llm_session_logits(ref, (int32_t)(np - 1 + i), &row, &nv);
        CHECK(st == LLM_OK && nv == g_vocab, "reference logits row %zu", np - 1 + i);
        if (st != LLM_OK) break;
        double mx = row[0], sum = 0;
        for (int32_t k = 1; k < nv; k++) mx = fmax(mx, row[k]);
        for (int32_t k = 0; k < nv; k++) sum += exp(row[k] - mx);
        per[i] = row[c[i]] - mx - log(sum);
        total += per[i];
    }
    free(all);
    return total;
}

static void test_scores(llm_session *s, llm_session *ref, const char *label, double tol) {
    int32_t prompt[32], cont[128];
    const size_t np = tokenize("The capital of France is", 1, prompt, 32);
    const char *long_text = " Paris. It is the largest city of the country and its political, economic and cultural "
                            "centre, on the river Seine, with about two million inhabitants in the city proper and "
                            "more than twelve million in its metropolitan area, one of the largest in Europe.";
    const size_t nc = tokenize(long_text, 0, cont, 128);
    CHECK(nc > 40, "%s: %zu continuation tokens (more than one 32-row segment wanted)", label, nc);
    float per[128];
    double per_ref[128], total = 0;
    llm_status st = llm_session_score(s, prompt, np, cont, nc, per, &total);
    CHECK(st == LLM_OK, "%s: score: %s", label, llm_last_error(s));
    const double want = ref_score(ref, prompt, np, cont, nc, per_ref);
    double worst = 0, sum_per = 0;
    for (size_t i = 0; i < nc; i++) {
        worst = fmax(worst, fabs(per[i] - per_ref[i]));
        sum_per += per[i];
    }
    printf("%s: score of %zu tokens %.6f, reference %.6f (|diff| %.3e, worst token %.3e)\n", label, nc, total, want,
           fabs(total - want), worst);
    CHECK(fabs(total - want) < tol * nc, "%s: score %.6f != reference %.6f", label, total, want);
    CHECK(worst < tol, "%s: a token's log-probability differs by %.3e", label, worst);
    CHECK(fabs(sum_per - total) < 1e-4 * nc, "%s: total != sum of the tokens' (%.6f vs %.6f)", label, total, sum_per);
    CHECK(total < 0 && total > -1000, "%s: total %.3f", label, total);
    CHECK(llm_session_n_past(s) == 0, "%s: empty after score", label);
    CHECK(llm_session_n_evaluated(s) == (int64_t)(np + nc - 1), "%s: evaluated %lld", label,
          (long long)llm_session_n_evaluated(s));
    /* the same again, total only */
    double again = 1;
    CHECK(llm_session_score(s, prompt, np, cont, nc, NULL, &again) == LLM_OK && again == total, "%s: repeat", label);
    /* one token, a one-token prompt (just BOS) */
    double one = 0;
    CHECK(llm_session_score(s, prompt, 1, cont, 1, per, &one) == LLM_OK, "%s: bos only", label);
    const double one_ref = ref_score(ref, prompt, 1, cont, 1, per_ref);
    CHECK(fabs(one - one_ref) < tol && (float)one == per[0], "%s: bos only %.6f vs %.6f", label, one, one_ref);
    /* the empty continuation */
    double zero = 5;
    CHECK(llm_session_score(s, prompt, np, NULL, 0, NULL, &zero) == LLM_OK && zero == 0.0, "%s: empty", label);

    /* classification: labels compared by their scores */
    const char *labels[3] = {" Paris", " Berlin", " London"};
    double sc[3];
    for (int i = 0; i < 3; i++) {
        int32_t n_tok = 0;
        st = llm_session_score_text(s, "The capital of France is", labels[i], &sc[i], &n_tok);
        CHECK(st == LLM_OK && n_tok >= 1, "%s: score_text %s: %s", label, labels[i], llm_last_error(s));
        int32_t lt[8];
        const size_t nl = tokenize(labels[i], 0, lt, 8);
        CHECK((size_t)n_tok == nl, "%s: %s has %zu tokens, score_text says %d", label, labels[i], nl, (int)n_tok);
        double by_tokens = 0;
        CHECK(llm_session_score(s, prompt, np, lt, nl, NULL, &by_tokens) == LLM_OK && by_tokens == sc[i],
              "%s: score_text != score of the tokens", label);
    }
    printf("%s: Paris %.3f, Berlin %.3f, London %.3f\n", label, sc[0], sc[1], sc[2]);
    CHECK(sc[0] > sc[1] + 1 && sc[0] > sc[2] + 1, "%s: Paris does not win", label);
    double de = 0;
    CHECK(llm_session_score_text(s, "The capital of Germany is", " Berlin", &de, NULL) == LLM_OK, "%s: Germany", label);
    CHECK(de > sc[1] + 1, "%s: Berlin after Germany (%.3f) not above Berlin after France (%.3f)", label, de, sc[1]);
}

/* Several continuations of one long prompt: the later ones take the prompt from the context's
 * prefix cache (evaluating only themselves) and score as a context without that cache does. */
static void test_prefix_reuse(llm_session *s, int precision, const char *label) {
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, 256);
    llm_options_set_int(o, LLM_OPT_THREADS, 2);
    llm_options_set_int(o, LLM_OPT_PRECISION, precision);
    llm_options_set_int(o, LLM_OPT_PREFIX_CACHE, 0);
    llm_context *c = NULL;
    llm_session *plain = NULL;
    CHECK(llm_context_new(g_model, o, &c) == LLM_OK, "context without prefix cache: %s", llm_last_error(o));
    if (c) CHECK(llm_session_new(c, o, &plain) == LLM_OK, "session: %s", llm_last_error(c));
    llm_options_free(o);
    int32_t prompt[256];
    const size_t np = tokenize("Review: I ordered the soup and the fish. The soup arrived cold, the fish was dry and "
                               "overcooked, and the waiter ignored us for twenty minutes before bringing the bill "
                               "with two dishes we never had. When we pointed it out he shrugged and walked away. "
                               "We will not be coming back to this place again.\nSentiment:",
                               1, prompt, 256);
    CHECK(np > 64 && np < 200, "%s: prompt of %zu tokens (more than one 64-position page wanted)", label, np);
    const char *labels[3] = {" negative", " positive", " neutral"};
    double sc[3] = {0}, want[3] = {0};
    for (int i = 0; i < 3 && plain; i++) {
        int32_t lt[8];
        const size_t nl = tokenize(labels[i], 0, lt, 8);
        CHECK(llm_session_score(s, prompt, np, lt, nl, NULL, &sc[i]) == LLM_OK, "%s: score: %s", label,
              llm_last_error(s));
        const int32_t reused = llm_session_n_reused(s);
        const int64_t evaluated = llm_session_n_evaluated(s);
        CHECK(llm_session_score(plain, prompt, np, lt, nl, NULL, &want[i]) == LLM_OK, "%s: plain", label);
        CHECK(llm_session_n_reused(plain) == 0 && llm_session_n_evaluated(plain) == (int64_t)(np + nl - 1),
              "%s: the context without prefix cache evaluates everything (%lld)", label,
              (long long)llm_session_n_evaluated(plain));
        if (i > 0) {
            /* the prompt's whole pages at least (the partial last one may be copied as well) */
            CHECK(reused >= 64 && reused <= (int32_t)np - 1, "%s: %s reused %d of the prompt's %zu", label, labels[i],
                  (int)reused, np);
            CHECK(evaluated == (int64_t)(np + nl - 1) - reused, "%s: evaluated %lld", label, (long long)evaluated);
        }
        CHECK(fabs(sc[i] - want[i]) < 1e-3 * (double)nl, "%s: %s with the prefix cache %.6f, without %.6f", label,
              labels[i], sc[i], want[i]);
    }
    printf("%s: long review: negative %.3f, positive %.3f, neutral %.3f (without prefix cache %.3f %.3f %.3f)\n",
           label, sc[0], sc[1], sc[2], want[0], want[1], want[2]);
    CHECK(sc[0] > sc[1], "%s: the review is not negative", label);
    llm_session_free(plain);
    llm_context_free(c);
}

static int abort_now(void *ud) {
    (void)ud;
    return 1;
}

static void test_errors(llm_session *s, int n_ctx) {
    const size_t e = (size_t)g_embd;
    float *v = malloc((e + 1) * sizeof *v);
    int32_t toks[8] = {2, 818, 5279, 529, 7001, 563, 9079, 236761};
    /* the session holds something: argument errors must leave it so */
    CHECK(llm_session_feed_tokens(s, toks, 4) == LLM_OK, "feed");
    v[0] = 12345.f;
    CHECK(llm_session_embed(NULL, toks, 4, LLM_POOLING_MEAN, 0, v, e) == LLM_ERR_INVALID_ARGUMENT, "NULL session");
    CHECK(llm_session_embed(s, NULL, 4, LLM_POOLING_MEAN, 0, v, e) == LLM_ERR_INVALID_ARGUMENT, "NULL tokens");
    CHECK(llm_session_embed(s, toks, 0, LLM_POOLING_MEAN, 0, v, e) == LLM_ERR_INVALID_ARGUMENT, "no tokens");
    CHECK(llm_session_embed(s, toks, 4, LLM_POOLING_MEAN, 0, NULL, e) == LLM_ERR_INVALID_ARGUMENT, "NULL out");
    CHECK(llm_session_embed(s, toks, 4, LLM_POOLING_MEAN, 0, v, e - 1) == LLM_ERR_BUFFER_TOO_SMALL, "capacity");
    CHECK(strstr(llm_last_error(s), "floats") != NULL, "message: %s", llm_last_error(s));
    CHECK(llm_session_embed(s, toks, 4, (llm_pooling)3, 0, v, e) == LLM_ERR_INVALID_ARGUMENT, "pooling 3");
    CHECK(llm_session_embed(s, toks, 4, (llm_pooling)-1, 0, v, e) == LLM_ERR_INVALID_ARGUMENT, "pooling -1");
    CHECK(llm_session_embed(s, toks, 4, LLM_POOLING_MEAN, 2, v, e) == LLM_ERR_INVALID_ARGUMENT, "flags");
    int32_t bad[3] = {2, g_vocab, 5};
    CHECK(llm_session_embed(s, bad, 3, LLM_POOLING_MEAN, 0, v, e) == LLM_ERR_INVALID_ARGUMENT, "token n_vocab");
    CHECK(strstr(llm_last_error(s), "vocabulary") != NULL, "message: %s", llm_last_error(s));
    bad[1] = -1;
    CHECK(llm_session_embed(s, bad, 3, LLM_POOLING_FIRST, 0, v, e) == LLM_ERR_INVALID_ARGUMENT, "token -1 (first)");
    int32_t *longer = calloc((size_t)n_ctx + 1, sizeof *longer);
    longer[0] = 2;
    CHECK(llm_session_embed(s, longer, (size_t)n_ctx + 1, LLM_POOLING_LAST, 0, v, e) == LLM_ERR_CONTEXT_FULL,
          "too long");
    CHECK(llm_session_embed_text(s, NULL, -1, LLM_POOLING_MEAN, 0, v, e) == LLM_ERR_INVALID_ARGUMENT, "NULL text");
    CHECK(llm_session_embed_text(s, "\xff", -1, LLM_POOLING_MEAN, 0, v, e) == LLM_ERR_INVALID_UTF8, "bad UTF-8");
    CHECK(v[0] == 12345.f, "out written on failure");
    double t = 0;
    float per[8];
    CHECK(llm_session_score(NULL, toks, 2, toks, 2, per, &t) == LLM_ERR_INVALID_ARGUMENT, "score NULL session");
    CHECK(llm_session_score(s, toks, 0, toks, 2, per, &t) == LLM_ERR_INVALID_ARGUMENT, "score no prompt");
    CHECK(llm_session_score(s, NULL, 2, toks, 2, per, &t) == LLM_ERR_INVALID_ARGUMENT, "score NULL prompt");
    CHECK(llm_session_score(s, toks, 2, NULL, 2, per, &t) == LLM_ERR_INVALID_ARGUMENT, "score NULL continuation");
    CHECK(llm_session_score(s, toks, 2, bad, 3, per, &t) == LLM_ERR_INVALID_ARGUMENT, "score bad token");
    CHECK(strstr(llm_last_error(s), "continuation") != NULL, "message: %s", llm_last_error(s));
    CHECK(llm_session_score(s, longer, (size_t)n_ctx, toks, 1, per, &t) == LLM_ERR_CONTEXT_FULL, "score too long");
    CHECK(llm_session_score(s, toks, 1, longer, (size_t)n_ctx, per, &t) == LLM_ERR_CONTEXT_FULL, "score too long 2");
    CHECK(llm_session_score(s, toks, 1, longer, SIZE_MAX, per, &t) == LLM_ERR_CONTEXT_FULL, "score overflow");
    CHECK(llm_session_score_text(s, NULL, "x", &t, NULL) == LLM_ERR_INVALID_ARGUMENT, "score_text NULL");
    CHECK(llm_session_score_text(s, "x", NULL, &t, NULL) == LLM_ERR_INVALID_ARGUMENT, "score_text NULL 2");
    CHECK(llm_session_n_past(s) == 4, "argument errors changed the session (n_past %d)", llm_session_n_past(s));
    /* n_ctx tokens exactly fit */
    CHECK(llm_session_score(s, longer, (size_t)n_ctx - 1, toks, 1, NULL, &t) == LLM_OK, "a full context: %s",
          llm_last_error(s));
    CHECK(llm_session_embed(s, longer, (size_t)n_ctx, LLM_POOLING_MEAN, 0, v, e) == LLM_OK, "a full context: %s",
          llm_last_error(s));
    /* abort: the session ends up empty, and works afterwards */
    CHECK(llm_session_feed_tokens(s, toks, 4) == LLM_OK, "feed");
    llm_session_set_abort(s, abort_now, NULL);
    CHECK(llm_session_embed(s, toks, 8, LLM_POOLING_MEAN, 0, v, e) == LLM_ERR_ABORTED, "embed abort");
    CHECK(llm_session_n_past(s) == 0, "aborted embed leaves %d", llm_session_n_past(s));
    CHECK(llm_session_score(s, toks, 3, toks + 3, 5, per, &t) == LLM_ERR_ABORTED, "score abort");
    CHECK(llm_session_n_past(s) == 0, "aborted score leaves %d", llm_session_n_past(s));
    llm_session_set_abort(s, NULL, NULL);
    CHECK(llm_session_score(s, toks, 3, toks + 3, 5, per, &t) == LLM_OK, "score after abort");
    /* a generation can start after a score (the session is empty: feed first) */
    CHECK(llm_session_feed_tokens(s, toks, 3) == LLM_OK, "feed after score: %s", llm_last_error(s));
    int32_t tok = -1;
    CHECK(llm_session_step(s, &tok, NULL, NULL, NULL) == LLM_OK && tok >= 0, "step after score");
    free(longer);
    free(v);
}

int main(int argc, char **argv) {
    if (argc < 2 || !argv[1][0]) {
        fprintf(stderr, "usage: test_embed MODEL.gguf (the Gemma 3 270M package is not installed?)\n");
        return 1;
    }
    llm_status st = llm_model_load_file(argv[1], NULL, &g_model);
    if (st != LLM_OK) {
        fprintf(stderr, "load %s: %s\n", argv[1], llm_status_str(st));
        return 1;
    }
    g_embd = llm_model_n_embd(g_model);
    g_vocab = llm_model_n_vocab(g_model);
    CHECK(g_embd == 640, "n_embd %d", g_embd);
    const int precisions[2] = {LLM_PRECISION_EXACT, LLM_PRECISION_FAST};
    /* score tolerances per token (nats): EXACT differs from the reference feed only by the f32 GEMM's
     * batch composition (float rounding); FAST's integer products of 8-bit activations likewise do
     * not depend on it, measured differences are printed */
    const double tols[2] = {1e-3, 1e-2};
    for (int i = 0; i < 2; i++) {
        const char *label = i == 0 ? "exact" : "fast";
        llm_context *c = NULL, *rc = NULL;
        llm_session *s = new_session(&c, 256, precisions[i], 0);
        llm_session *ref = new_session(&rc, 256, precisions[i], 1);
        if (s && ref) {
            test_embeddings(s, label);
            test_scores(s, ref, label, tols[i]);
            test_prefix_reuse(s, precisions[i], label);
            if (i == 0) test_errors(s, 256);
        }
        llm_session_free(s);
        llm_session_free(ref);
        llm_context_free(c);
        llm_context_free(rc);
    }
    llm_model_free(g_model);
    return check_summary("test_embed");
}
