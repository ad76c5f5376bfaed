/* Shared prompt prefixes (LLM_OPT_PREFIX_CACHE) on the real Gemma 3 270M: requests that start
 * with the same ~600-token system prompt reuse its KV pages, and their outputs are those of a
 * session that evaluated everything itself (a context without a prefix cache): bit for bit with
 * FAST precision; with EXACT, within 1e-5 of the logits' range, because EXACT's multi-token
 * products are BLIS sgemm calls whose last bits depend on the batch's shape (kernels.h), and the
 * reusing session evaluates the question in a shorter batch than the full prefill does. The
 * greedy tokens are the same in both. Eight sessions hold the prefix once. (The time to first
 * token is measured by `llm bench --shared-prompt`, not here.)
 *
 *   test_prefix MODEL.gguf */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "llm.h"

#define N_QUESTIONS 8 /* sessions sharing the prompt */
#define N_COMPARED 3  /* of them compared with a full prefill */
#define N_GEN 12

static const char *k_questions[N_QUESTIONS] = {
    "What is the capital of France?", "Name a prime number.",     "Which colour is the sky?",
    "How many legs has a spider?",    "What do bees make?",       "Translate 'cat' to German.",
    "What is 7 times 6?",             "Who wrote Hamlet?",
};

/* ~1000 tokens of system prompt: numbered rules, each different */
static char *system_prompt(void) {
    size_t cap = 16384, len = 0;
    char *p = malloc(cap);
    if (!p) return NULL;
    len += (size_t)snprintf(p, cap, "You are the support assistant of a hardware shop. Follow these rules.\n");
    for (int i = 1; i <= 24 && len + 200 < cap; i++)
        len += (size_t)snprintf(p + len, cap - len,
                                "Rule %d: when a customer asks about item %d, answer politely and mention aisle %d.\n", i,
                                i * 37 % 101, i % 9 + 1);
    return p;
}

static llm_context *make_context(llm_model *m, int precision, int64_t prefix_cache) {
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, 2048);
    llm_options_set_int(o, LLM_OPT_THREADS, 2);
    llm_options_set_int(o, LLM_OPT_MAX_SESSIONS, 16);
    llm_options_set_int(o, LLM_OPT_PRECISION, precision);
    llm_options_set_int(o, LLM_OPT_PREFIX_CACHE, prefix_cache);
    llm_context *c = NULL;
    llm_status st = llm_context_new(m, o, &c);
    CHECK(st == LLM_OK, "context: %s", llm_last_error(o));
    llm_options_free(o);
    return c;
}

typedef struct result {
    float *logits;
    int32_t tokens[N_GEN];
    int32_t n_reused;
    int64_t n_evaluated;
} result;

/* Feeds system + question as one prompt and generates N_GEN tokens greedily; the session stays
 * open (sessions kept in *out_s when non-NULL). */
static void ask(llm_context *c, const char *sys, const char *q, result *r, llm_session **out_s) {
    llm_options *o = llm_options_new();
    llm_options_set_float(o, LLM_OPT_TEMPERATURE, 0.0);
    llm_session *s = NULL;
    CHECK(llm_session_new(c, o, &s) == LLM_OK, "session: %s", llm_last_error(c));
    llm_options_free(o);
    if (!s) return;
    char text[20000];
    snprintf(text, sizeof text, "%sQuestion: %s\nAnswer:", sys, q);
    CHECK(llm_session_feed_text(s, text, -1, LLM_FEED_ADD_BOS) == LLM_OK, "feed: %s", llm_last_error(s));
    r->n_reused = llm_session_n_reused(s);
    r->n_evaluated = llm_session_n_evaluated(s);
    const float *lg = NULL;
    int32_t nv = 0;
    CHECK(llm_session_logits(s, -1, &lg, &nv) == LLM_OK, "logits");
    r->logits = malloc((size_t)nv * sizeof(float));
    if (lg && r->logits) memcpy(r->logits, lg, (size_t)nv * sizeof(float));
    for (int i = 0; i < N_GEN; i++) {
        llm_finish why;
        r->tokens[i] = -1;
        CHECK(llm_session_step(s, &r->tokens[i], NULL, NULL, &why) == LLM_OK, "step");
        if (why != LLM_FINISH_NONE) break;
    }
    if (out_s) *out_s = s;
    else llm_session_free(s);
}

static void run(llm_model *m, int precision) {
    const char *pname = precision == LLM_PRECISION_EXACT ? "exact" : "fast";
    char *sys = system_prompt();
    int32_t n_sys = 0;
    {
        int32_t ids[4096];
        size_t n = 0;
        llm_tokenize(m, sys, -1, LLM_TOKENIZE_ADD_BOS, ids, 4096, &n);
        n_sys = (int32_t)n;
    }
    CHECK(n_sys >= 500 && n_sys <= 800, "the system prompt has %d tokens", (int)n_sys);
    llm_context *shared = make_context(m, precision, -1), *alone = make_context(m, precision, 0);
    const int32_t nv = llm_model_n_vocab(m);
    llm_session *open_shared[N_QUESTIONS] = {0}, *open_alone[N_QUESTIONS] = {0};
    for (int q = 0; q < N_QUESTIONS; q++) {
        result a = {0}, b = {0};
        ask(shared, sys, k_questions[q], &a, &open_shared[q]);
        if (q == 0) CHECK(a.n_reused == 0, "%s: the first request finds nothing (%d)", pname, (int)a.n_reused);
        else
            CHECK(a.n_reused >= n_sys / 64 * 64, "%s: request %d reused %d of the %d-token system prompt", pname, q,
                  (int)a.n_reused, (int)n_sys);
        if (q < N_COMPARED) {
            ask(alone, sys, k_questions[q], &b, &open_alone[q]);
            CHECK(b.n_reused == 0, "%s: no prefix cache, nothing reused", pname);
            float maxd = 0, lo = INFINITY, hi = -INFINITY;
            int same = a.logits && b.logits;
            for (int32_t i = 0; a.logits && b.logits && i < nv; i++) {
                const float d = fabsf(a.logits[i] - b.logits[i]);
                if (d > maxd) maxd = d;
                if (b.logits[i] < lo) lo = b.logits[i];
                if (b.logits[i] > hi) hi = b.logits[i];
                if (memcmp(&a.logits[i], &b.logits[i], sizeof(float)) != 0) same = 0;
            }
            if (precision == LLM_PRECISION_FAST)
                CHECK(same, "%s: request %d: logits differ from a full prefill (max |diff| %g)", pname, q, maxd);
            else
                CHECK(a.logits && b.logits && maxd <= 1e-5f * (hi - lo),
                      "%s: request %d: logits differ from a full prefill by %g (range %g)", pname, q, maxd, hi - lo);
            CHECK(memcmp(a.tokens, b.tokens, sizeof a.tokens) == 0, "%s: request %d: generated tokens differ", pname, q);
        }
        free(a.logits);
        free(b.logits);
    }
    /* memory: the prefix once for the eight sessions sharing it */
    const uint64_t kv_shared = llm_context_kv_bytes(shared);
    const uint64_t kv_alone = llm_context_kv_bytes(alone) / N_COMPARED * N_QUESTIONS; /* as many on their own */
    printf("%s: KV cache of %d sessions with a %d-token common prompt: %.1f MiB shared, %.1f MiB each on its own\n",
           pname, N_QUESTIONS, (int)n_sys, kv_shared / 1048576.0, kv_alone / 1048576.0);
    CHECK(kv_shared * 3 < kv_alone, "%s: shared %llu bytes vs %llu", pname, (unsigned long long)kv_shared,
          (unsigned long long)kv_alone);
    for (int q = 0; q < N_QUESTIONS; q++) {
        llm_session_free(open_shared[q]);
        llm_session_free(open_alone[q]);
    }
    /* the sessions are gone; the prefix cache keeps its pages, clearing it frees them */
    CHECK(llm_context_kv_bytes(alone) == 0, "%s: a context without sessions or prefixes holds no KV cache", pname);
    CHECK(llm_context_kv_bytes(shared) > 0, "%s: the prefixes stay", pname);
    llm_context_clear_prefixes(shared);
    CHECK(llm_context_kv_bytes(shared) == 0, "%s: cleared", pname);
    llm_context_free(shared);
    llm_context_free(alone);
    free(sys);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_prefix MODEL.gguf\n");
        return 2;
    }
    llm_model *m = NULL;
    if (llm_model_load_file(argv[1], NULL, &m) != LLM_OK) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        return 1;
    }
    run(m, LLM_PRECISION_EXACT);
    run(m, LLM_PRECISION_FAST);
    llm_model_free(m);
    return check_summary("test_prefix");
}
