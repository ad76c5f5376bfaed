/* llm perplexity: perplexity of a model on a text file, computed like llama.cpp's
 * llama-perplexity so the numbers are comparable:
 *   - the whole file is tokenized once (BOS first when the model adds one);
 *   - chunk k is tokens [kN, (k+1)N), its first token replaced by BOS (when the model uses one);
 *   - in each chunk the tokens at positions N/2+1 .. N-1 are scored with the logits of the
 *     position before (log-softmax in double);
 *   - PPL = exp(mean negative log-likelihood over every scored token). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define PPL_GROUPS (CLI_G_MODEL | CLI_G_THREADS | CLI_G_CTX | CLI_G_PPL)
#define PPL_DEFAULT_CTX 512

static void ppl_usage(FILE *f) {
    fprintf(f, "usage: llm perplexity [-m MODEL] -f FILE [--ctx N] [--chunks K] [-t THREADS]\n"
               "Splits the tokenized FILE into chunks of N tokens (default %d) and scores the\n"
               "second half of each chunk, like llama.cpp's llama-perplexity. Prints PPL = value.\n\n",
            PPL_DEFAULT_CTX);
    cli_print_options(f, PPL_GROUPS);
}

/* -log p(target) from one row of logits, in double. */
static double nll_of(const float *logits, int32_t n_vocab, int32_t target) {
    double mx = -INFINITY;
    for (int32_t i = 0; i < n_vocab; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - mx);
    return -((double)logits[target] - mx - log(sum));
}

static llm_status tokenize_all(const llm_model *m, const char *text, size_t len, int flags,
                               int32_t **out, size_t *n_out) {
    size_t cap = len + 16, n = 0;
    int32_t *toks = malloc(cap * sizeof *toks);
    if (!toks) return LLM_ERR_OUT_OF_MEMORY;
    llm_status st = llm_tokenize(m, text, (ptrdiff_t)len, flags, toks, cap, &n);
    if (st == LLM_ERR_BUFFER_TOO_SMALL) {
        free(toks);
        cap = n;
        toks = malloc((cap ? cap : 1) * sizeof *toks);
        if (!toks) return LLM_ERR_OUT_OF_MEMORY;
        st = llm_tokenize(m, text, (ptrdiff_t)len, flags, toks, cap, &n);
    }
    if (st != LLM_OK) {
        free(toks);
        return st;
    }
    *out = toks;
    *n_out = n;
    return LLM_OK;
}

int cli_perplexity(int argc, char **argv) {
    cli_args a;
    int pr = cli_parse(argc, argv, PPL_GROUPS, &a);
    if (pr == 1) {
        ppl_usage(stdout);
        return CLI_OK;
    }
    if (pr < 0) return CLI_ERR_USAGE;
    if (!a.file) {
        fprintf(stderr, "llm perplexity: missing -f FILE\n\n");
        ppl_usage(stderr);
        return CLI_ERR_USAGE;
    }
    if (a.ctx <= 0) a.ctx = PPL_DEFAULT_CTX;
    const int N = a.ctx;
    if (N < 4) {
        fprintf(stderr, "llm perplexity: --ctx must be at least 4\n");
        return CLI_ERR_USAGE;
    }
    size_t text_len = 0;
    char *text = cli_read_file(a.file, &text_len);
    if (!text) return CLI_ERR_RUNTIME;

    cli_env env;
    if (cli_open(&a, 0, &env)) {
        free(text);
        return CLI_ERR_RUNTIME;
    }
    int rc = CLI_ERR_RUNTIME;
    int32_t *toks = NULL, *chunk = NULL;
    size_t n_toks = 0;
    llm_options *so = NULL;

    /* Does the model add a BOS? Compare a tokenization with and without the flag. */
    const int32_t bos = llm_token_bos(env.model);
    int add_bos = 0;
    {
        int32_t t1[8], t2[8];
        size_t n1 = 0, n2 = 0;
        if (llm_tokenize(env.model, "a", 1, LLM_TOKENIZE_ADD_BOS, t1, 8, &n1) == LLM_OK &&
            llm_tokenize(env.model, "a", 1, 0, t2, 8, &n2) == LLM_OK)
            add_bos = bos >= 0 && n1 > n2 && t1[0] == bos;
    }

    double t0 = cli_now();
    llm_status st = tokenize_all(env.model, text, text_len, LLM_TOKENIZE_ADD_BOS, &toks, &n_toks);
    if (st != LLM_OK) {
        cli_report("cannot tokenize the file", st, NULL);
        goto done;
    }
    fprintf(stderr, "tokenized %zu bytes into %zu tokens in %.2f s\n", text_len, n_toks, cli_now() - t0);

    size_t n_chunks = n_toks / (size_t)N;
    if (n_chunks == 0) {
        fprintf(stderr, "llm perplexity: the file has %zu tokens, fewer than one chunk of %d; "
                        "use a longer text or a smaller --ctx\n", n_toks, N);
        goto done;
    }
    if (a.chunks > 0 && (size_t)a.chunks < n_chunks) n_chunks = (size_t)a.chunks;

    /* The session: every position's logits, context exactly one chunk. */
    so = llm_options_new();
    if (!so || llm_options_set_int(so, LLM_OPT_ALL_LOGITS, 1) != LLM_OK) {
        cli_report("cannot set up the session options", LLM_ERR_OUT_OF_MEMORY, so);
        goto done;
    }
    st = llm_session_new(env.context, so, &env.session);
    if (st != LLM_OK) {
        cli_report("cannot create a session", st, env.context);
        goto done;
    }
    if (llm_context_n_ctx(env.context) < N) {
        fprintf(stderr, "llm perplexity: the context holds %d tokens, fewer than --ctx %d\n",
                (int)llm_context_n_ctx(env.context), N);
        goto done;
    }
    chunk = malloc((size_t)N * sizeof *chunk);
    if (!chunk) {
        fprintf(stderr, "llm: out of memory\n");
        goto done;
    }

    const int first = N / 2;
    double nll_sum = 0.0, nll2_sum = 0.0;
    size_t count = 0;
    fprintf(stderr, "computing perplexity over %zu chunks of %d tokens (%d scored per chunk)\n",
            n_chunks, N, N - 1 - first);
    for (size_t k = 0; k < n_chunks; k++) {
        double tc = cli_now();
        memcpy(chunk, toks + k * (size_t)N, (size_t)N * sizeof *chunk);
        if (add_bos) chunk[0] = bos;
        st = llm_session_reset(env.session);
        if (st == LLM_OK) st = llm_session_feed_tokens(env.session, chunk, (size_t)N);
        if (st != LLM_OK) {
            fprintf(stderr, "\n");
            cli_report("cannot evaluate a chunk", st, env.session);
            goto done;
        }
        for (int i = first; i < N - 1; i++) {
            const float *logits = NULL;
            int32_t n_vocab = 0;
            st = llm_session_logits(env.session, i, &logits, &n_vocab);
            if (st != LLM_OK) {
                fprintf(stderr, "\n");
                cli_report("cannot read logits", st, env.session);
                goto done;
            }
            int32_t target = chunk[i + 1];
            if (target < 0 || target >= n_vocab) {
                fprintf(stderr, "\nllm perplexity: token %d out of the vocabulary\n", (int)target);
                goto done;
            }
            double v = nll_of(logits, n_vocab, target);
            nll_sum += v;
            nll2_sum += v * v;
            count++;
        }
        fprintf(stderr, "[%zu]%.4f,", k + 1, exp(nll_sum / (double)count));
        if (k == 0) {
            double dt = cli_now() - tc;
            fprintf(stderr, " (%.2f s per chunk, about %.0f s in all) ", dt, dt * (double)n_chunks);
        }
        fflush(stderr);
    }
    fprintf(stderr, "\n");

    double mean = nll_sum / (double)count;
    double var = nll2_sum / (double)count - mean * mean;
    double ppl = exp(mean);
    double err = count > 1 && var > 0 ? ppl * sqrt(var / (double)(count - 1)) : 0.0;
    fprintf(stderr, "scored %zu tokens in %.2f s; estimate +/- %.4f\n", count, cli_now() - t0, err);
    printf("PPL = %.4f\n", ppl);
    fflush(stdout);
    rc = CLI_OK;

done:
    free(chunk);
    free(toks);
    free(text);
    cli_close(&env);
    llm_options_free(so);
    return rc;
}
