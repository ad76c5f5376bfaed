/* Embeddings and scores (llm_session_embed*, llm_session_score*).
 *
 * Both run the model over their input in the session's own KV cache, after resetting the session
 * (llm_session_reset), and empty the cache again when done: afterwards the session holds nothing,
 * as after a reset, whether the call succeeded or not (llm_session_n_evaluated counts the tokens
 * that went through the model). Argument errors are found before anything is touched.
 *
 * Embeddings take the final hidden states (after the output norm) from llm_forward_hidden, in
 * calls of EMBED_ROWS tokens (the cache carries the positions from one call to the next, so this
 * is the same computation as one call; memory stays bounded), and pool them in double. Scores
 * evaluate the prompt without logits (its start taken from the context's prefix cache when it
 * holds it; the prompt is offered to that cache), then the continuation (but its last token,
 * whose logits predict nothing that is scored) in segments whose logits of every position fit
 * SCORE_BYTES; each token is evaluated once. The log-softmax is computed in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

#define EMBED_ROWS 512                 /* hidden-state rows per forward call */
#define SCORE_BYTES (32u << 20)        /* logits buffer of one scoring segment */
#define SCORE_MAX_ROWS 512

static int valid(const llm_session *s) { return s && s->h.magic == LLM_MAGIC_SESSION; }

/* What embed and score need of the session and its tokens: a CPU session, the tokens fitting the
 * context and the vocabulary. Nothing is changed. */
static llm_status check_input(llm_session *s, const char *what, const int32_t *a, size_t na, const int32_t *b,
                              size_t nb) {
    if (s->dev)
        return llm_fail(&s->h, LLM_ERR_UNSUPPORTED, "%s runs on CPU contexts only (this session's context uses the %s backend)",
                        what, s->ctx->dev_api && s->ctx->dev_api->name ? s->ctx->dev_api->name : "device");
    const size_t n_ctx = (size_t)llm_kv_n_ctx(s->kv);
    if (na > n_ctx || nb > n_ctx - na)
        return llm_fail(&s->h, LLM_ERR_CONTEXT_FULL, "%s: %zu tokens do not fit the context of %zu", what, na + nb,
                        n_ctx);
    for (int part = 0; part < 2; part++) {
        const int32_t *t = part ? b : a;
        const size_t n = part ? nb : na;
        for (size_t i = 0; i < n; i++)
            if (t[i] < 0 || t[i] >= s->n_vocab)
                return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "%s: token %d at index %zu%s is outside the vocabulary [0, %d)",
                                what, (int)t[i], i, b ? (part ? " of the continuation" : " of the prompt") : "",
                                (int)s->n_vocab);
    }
    return LLM_OK;
}

/* Empties the cache after a computation (its tokens counted as evaluated) and passes st on. */
static llm_status finish_run(llm_session *s, size_t evaluated, llm_status st) {
    llm_kv_truncate(s->kv, 0);
    s->n_evaluated += (int64_t)evaluated;
    return st;
}

static llm_status embed_checked(llm_session *s, const int32_t *tokens, size_t n, llm_pooling pooling, int flags,
                                float *out) {
    const size_t e = (size_t)llm_arch_hparams(s->model->arch)->n_embd;
    llm_session_reset(s);
    /* the model is causal: the first token's hidden state depends on that token alone */
    const size_t n_eval = pooling == LLM_POOLING_FIRST ? 1 : n;
    const size_t rows = n_eval < EMBED_ROWS ? n_eval : EMBED_ROWS;
    float *hidden = malloc(rows * e * sizeof *hidden);
    double *acc = calloc(e, sizeof *acc);
    if (!hidden || !acc) {
        free(hidden);
        free(acc);
        return llm_fail(&s->h, LLM_ERR_OUT_OF_MEMORY, "out of memory for %zu hidden states of %zu floats", rows, e);
    }
    llm_err err;
    llm_err_clear(&err);
    llm_status st = LLM_OK;
    size_t done = 0;
    while (done < n_eval && st == LLM_OK) {
        const size_t m = n_eval - done < rows ? n_eval - done : rows;
        st = llm_forward_hidden(s->model->arch, s->kv, tokens + done, (int32_t)m, hidden, s->ctx->pool, s->abort_fn,
                                s->abort_ud, &err);
        if (st != LLM_OK) break;
        if (pooling == LLM_POOLING_MEAN) {
            for (size_t r = 0; r < m; r++)
                for (size_t j = 0; j < e; j++) acc[j] += hidden[r * e + j];
        } else if (done + m == n_eval) { /* LAST: the last row; FIRST: the only one */
            for (size_t j = 0; j < e; j++) acc[j] = hidden[(m - 1) * e + j];
        }
        done += m;
    }
    if (st == LLM_OK) {
        if (pooling == LLM_POOLING_MEAN)
            for (size_t j = 0; j < e; j++) acc[j] /= (double)n;
        double scale = 1.0;
        if (flags & LLM_EMBED_NORMALIZE) {
            double ss = 0.0;
            for (size_t j = 0; j < e; j++) ss += acc[j] * acc[j];
            if (ss > 0.0) scale = 1.0 / sqrt(ss); /* a zero vector stays zero */
        }
        for (size_t j = 0; j < e; j++) out[j] = (float)(acc[j] * scale);
    } else {
        llm_fail(&s->h, st, "%s", err.msg);
    }
    free(hidden);
    free(acc);
    return finish_run(s, done, st);
}

llm_status llm_session_embed(llm_session *s, const int32_t *tokens, size_t n_tokens, llm_pooling pooling, int flags,
                             float *out, size_t capacity) {
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    const size_t e = (size_t)llm_arch_hparams(s->model->arch)->n_embd;
    if (!tokens || n_tokens == 0)
        return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "llm_session_embed: no tokens");
    if (pooling != LLM_POOLING_MEAN && pooling != LLM_POOLING_LAST && pooling != LLM_POOLING_FIRST)
        return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "llm_session_embed: unknown pooling %d", (int)pooling);
    if (flags & ~LLM_EMBED_NORMALIZE)
        return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "llm_session_embed: unknown flags 0x%x", (unsigned)flags);
    if (!out) return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "llm_session_embed: out is NULL");
    if (capacity < e)
        return llm_fail(&s->h, LLM_ERR_BUFFER_TOO_SMALL, "llm_session_embed: the embedding has %zu floats, out holds %zu",
                        e, capacity);
    llm_status st = check_input(s, "llm_session_embed", tokens, n_tokens, NULL, 0);
    if (st != LLM_OK) return st;
    return embed_checked(s, tokens, n_tokens, pooling, flags, out);
}

/* Tokenizes text (BOS as the model's tokenizer asks when add_bos). */
static llm_status tokenize(llm_session *s, const char *what, const char *text, size_t len, int add_bos, int32_t **ids,
                           size_t *n) {
    llm_err err;
    llm_err_clear(&err);
    llm_status st = llm_tokenizer_encode(s->model->tok, text, len, add_bos, 0, ids, n, &err);
    if (st != LLM_OK) return llm_fail(&s->h, st, "%s: %s", what, err.msg);
    return LLM_OK;
}

llm_status llm_session_embed_text(llm_session *s, const char *text, ptrdiff_t len, llm_pooling pooling, int flags,
                                  float *out, size_t capacity) {
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    if (!text) return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "llm_session_embed_text: text is NULL");
    int32_t *ids = NULL;
    size_t n = 0;
    llm_status st = tokenize(s, "llm_session_embed_text", text, len < 0 ? strlen(text) : (size_t)len, 1, &ids, &n);
    if (st != LLM_OK) return st;
    if (n == 0) st = llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "llm_session_embed_text: the text has no tokens");
    else st = llm_session_embed(s, ids, n, pooling, flags, out, capacity);
    free(ids);
    return st;
}

static llm_status score_checked(llm_session *s, const int32_t *prompt, size_t n_prompt, const int32_t *cont,
                                size_t n_cont, float *token_logprobs, double *total) {
    llm_session_reset(s);
    if (n_cont == 0) {
        if (total) *total = 0.0;
        return LLM_OK;
    }
    /* positions 0 .. n_eval-1 are evaluated; the logits of position p score token p + 1, so the
     * continuation's are those of positions n_prompt - 1 .. n_eval - 1 */
    const size_t n_eval = n_prompt + n_cont - 1, nv = (size_t)s->n_vocab;
    size_t seg = SCORE_BYTES / (nv * sizeof(float));
    if (seg < 1) seg = 1;
    if (seg > SCORE_MAX_ROWS) seg = SCORE_MAX_ROWS;
    if (seg > n_cont) seg = n_cont;
    int32_t *seq = malloc((n_eval + 1) * sizeof *seq);
    float *logits = malloc(seg * nv * sizeof *logits);
    if (!seq || !logits) {
        free(seq);
        free(logits);
        return llm_fail(&s->h, LLM_ERR_OUT_OF_MEMORY, "out of memory for %zu rows of logits", seg);
    }
    memcpy(seq, prompt, n_prompt * sizeof *seq);
    memcpy(seq + n_prompt, cont, n_cont * sizeof *seq);
    llm_err err;
    llm_err_clear(&err);
    llm_status st = LLM_OK;
    size_t pos = 0, reused = 0; /* positions in the cache, of which from the prefix cache */
    memcpy(s->history, seq, n_eval * sizeof *seq); /* what the cache holds once evaluated */
    if (n_prompt > 1) {
        /* a prompt that starts like one the context keeps: those positions are attached, not
         * computed (never its last token, whose logits score the first continuation token); the
         * prompt is then offered to the context, so that the next continuation of the same prompt
         * (labels, candidates) evaluates only itself */
        const int32_t r = llm_session_reuse_prefix(s, seq, (int32_t)n_prompt);
        reused = r > 0 ? (size_t)r : 0;
        s->n_reused = (int32_t)reused;
        pos = reused;
        if (pos < n_prompt - 1)
            st = llm_forward(s->model->arch, s->kv, seq + pos, (int32_t)(n_prompt - 1 - pos), NULL, 0, s->ctx->pool,
                             s->abort_fn, s->abort_ud, &err);
        if (st == LLM_OK) {
            pos = n_prompt - 1;
            llm_session_share_prefix(s);
        }
    }
    double sum = 0.0;
    while (st == LLM_OK && pos < n_eval) {
        const size_t m = n_eval - pos < seg ? n_eval - pos : seg;
        st = llm_forward(s->model->arch, s->kv, seq + pos, (int32_t)m, logits, 1, s->ctx->pool, s->abort_fn,
                         s->abort_ud, &err);
        if (st != LLM_OK) break;
        for (size_t r = 0; r < m; r++) {
            const size_t i = pos + r + 1 - n_prompt; /* the continuation token row r scores */
            const float *row = logits + r * nv; /* log softmax(row)[token], in double */
            const double lp = (double)row[seq[pos + r + 1]] - llm_logsumexp(row, s->n_vocab);
            if (token_logprobs) token_logprobs[i] = (float)lp;
            sum += lp;
        }
        pos += m;
    }
    free(seq);
    free(logits);
    if (st != LLM_OK) return finish_run(s, pos > reused ? pos - reused : 0, llm_fail(&s->h, st, "%s", err.msg));
    if (total) *total = sum;
    return finish_run(s, n_eval - reused, LLM_OK);
}

llm_status llm_session_score(llm_session *s, const int32_t *prompt, size_t n_prompt, const int32_t *continuation,
                             size_t n_continuation, float *token_logprobs, double *total) {
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    if (!prompt || n_prompt == 0)
        return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "llm_session_score: the prompt needs at least one token");
    if (!continuation && n_continuation)
        return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "llm_session_score: continuation is NULL");
    llm_status st = check_input(s, "llm_session_score", prompt, n_prompt, continuation ? continuation : prompt,
                                n_continuation);
    if (st != LLM_OK) return st;
    return score_checked(s, prompt, n_prompt, continuation, n_continuation, token_logprobs, total);
}

llm_status llm_session_score_text(llm_session *s, const char *prompt, const char *continuation, double *total,
                                  int32_t *n_tokens) {
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    if (!prompt || !continuation)
        return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "llm_session_score_text: prompt or continuation is NULL");
    int32_t *p = NULL, *c = NULL;
    size_t np = 0, nc = 0;
    llm_status st = tokenize(s, "llm_session_score_text", prompt, strlen(prompt), 1, &p, &np);
    if (st == LLM_OK) st = tokenize(s, "llm_session_score_text", continuation, strlen(continuation), 0, &c, &nc);
    if (st == LLM_OK && np == 0)
        st = llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT,
                      "llm_session_score_text: the prompt has no tokens (the model adds no BOS to an empty text)");
    if (st == LLM_OK && nc > INT32_MAX)
        st = llm_fail(&s->h, LLM_ERR_CONTEXT_FULL, "llm_session_score_text: the continuation is too long");
    if (st == LLM_OK) st = llm_session_score(s, p, np, c ? c : p, nc, NULL, total);
    if (st == LLM_OK && n_tokens) *n_tokens = (int32_t)nc;
    free(p);
    free(c);
    return st;
}
